#include "agent/sleeper.h"

#include <time.h>

namespace rf::agent {

void RealSleeper::SleepMicros(int64_t micros) {
  if (micros <= 0) return;
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(micros / 1'000'000);
  ts.tv_nsec = static_cast<long>((micros % 1'000'000) * 1000);
  ::nanosleep(&ts, nullptr);  // EINTR: return early, the loop re-checks its stop flag
}

}  // namespace rf::agent
