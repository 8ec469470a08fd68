// Real-time waiting, behind a seam like the rest of the Env: the agent's main loop sleeps only
// through a Sleeper, so tests drive it with a SimulatedClock.
#ifndef RINGFENCE_AGENT_SLEEPER_H_
#define RINGFENCE_AGENT_SLEEPER_H_

#include <cstdint>

#include "platform/sim_env.h"

namespace rf::agent {

class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Returns after about `micros` (earlier when a signal interrupts the sleep).
  virtual void SleepMicros(int64_t micros) = 0;
};

// nanosleep(2).
class RealSleeper final : public Sleeper {
 public:
  void SleepMicros(int64_t micros) override;
};

// Advances a SimulatedClock instead of waiting.
class SimulatedSleeper final : public Sleeper {
 public:
  explicit SimulatedSleeper(SimulatedClock* clock) : clock_(clock) {}
  void SleepMicros(int64_t micros) override { clock_->AdvanceMicros(micros); }

 private:
  SimulatedClock* clock_;
};

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_SLEEPER_H_
