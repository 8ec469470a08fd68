// Named crash points for fault-injection tests of real agent processes.
//
// Code that changes durable state calls Hit("name") between its steps. In production no plan is
// set and Hit() only counts. A test sets a plan (ringfence-agent reads RINGFENCE_AGENT_KILL_AT=K):
// the K-th Hit() of the process raises SIGKILL, which is exactly `kill -9` at that point.
#ifndef RINGFENCE_AGENT_FAULT_POINTS_H_
#define RINGFENCE_AGENT_FAULT_POINTS_H_

#include <cstdint>
#include <functional>
#include <string_view>

namespace rf::agent {

// Thread-compatible (the agent is single-threaded); Hit() is cheap when no plan is set.
class FaultPoints {
 public:
  // 0 = never kill.
  void KillAt(int64_t k) { kill_at_ = k; }
  // Also print each hit ("fault-point N NAME") to stderr, so a test can learn the range of K.
  void set_trace(bool trace) { trace_ = trace; }
  // In-process tests: called with the point's name at every Hit(), before any planned kill (to
  // hold the agent at a point while the test arranges a race).
  void set_hook(std::function<void(std::string_view)> hook) { hook_ = std::move(hook); }
  void Hit(std::string_view name);
  int64_t hits() const { return hits_; }

 private:
  int64_t kill_at_ = 0;
  int64_t hits_ = 0;
  bool trace_ = false;
  std::function<void(std::string_view)> hook_;
};

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_FAULT_POINTS_H_
