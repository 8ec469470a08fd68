// Retry and poll pacing with injected randomness (Envoy's JitteredExponentialBackOffStrategy).
#ifndef RINGFENCE_AGENT_BACKOFF_H_
#define RINGFENCE_AGENT_BACKOFF_H_

#include <cstdint>

#include "platform/env.h"

namespace rf::agent {

// "Full jitter": the n-th consecutive failure waits uniform[0, min(max, base * 2^n)) ms, which
// spreads a fleet that failed together (a server restart) over the whole window instead of letting
// it return in synchronized waves. Not thread-safe; `random` must outlive it.
class FullJitterBackoff {
 public:
  // REQUIRES: 0 < base_ms <= max_ms.
  FullJitterBackoff(int64_t base_ms, int64_t max_ms, Random* random);
  // The delay after one more failure.
  int64_t NextDelayMs();
  // After a success.
  void Reset() { attempt_ = 0; }
  int64_t attempt() const { return attempt_; }

 private:
  int64_t base_ms_, max_ms_;
  Random* random_;
  int64_t attempt_ = 0;
};

// The wait before the next regular check-in: the server's poll_after_s clamped to [min_s, max_s],
// times a uniform factor in [0.9, 1.1) so a fleet does not poll in lockstep.
int64_t JitteredPollDelayMs(int64_t poll_after_s, int64_t min_s, int64_t max_s, Random* random);

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_BACKOFF_H_
