#include "agent/fault_points.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>

namespace rf::agent {

void FaultPoints::Hit(std::string_view name) {
  ++hits_;
  if (trace_) {
    std::fprintf(stderr, "fault-point %lld %.*s\n", static_cast<long long>(hits_),
                 static_cast<int>(name.size()), name.data());
  }
  if (hook_) hook_(name);
  if (kill_at_ > 0 && hits_ == kill_at_) {
    std::fflush(stderr);
    ::raise(SIGKILL);
  }
}

}  // namespace rf::agent
