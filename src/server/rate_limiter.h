// TokenBucket: a per-server rate limit (the enrollment limit of docs/protocol.md "Device
// credentials", "Rate limit"). Holds up to `burst` tokens, refilled at `rate_per_s`; TryTake() takes one or says how
// long until one is available. Times come from the caller (Clock::MonotonicMicros), so tests are
// deterministic. Thread-safe.
#ifndef RINGFENCE_SERVER_RATE_LIMITER_H_
#define RINGFENCE_SERVER_RATE_LIMITER_H_

#include <cstdint>
#include <mutex>

namespace rf::server {

class TokenBucket {
 public:
  // REQUIRES: rate_per_s > 0, burst >= 1. Starts full.
  TokenBucket(double rate_per_s, double burst);

  // 0 if a token was taken at monotonic time `now_micros`, else the micros until one will be
  // available (nothing taken).
  int64_t TryTake(int64_t now_micros);

 private:
  std::mutex mu_;
  const double rate_per_micro_;
  const double burst_;
  double tokens_;             // GUARDED_BY(mu_)
  int64_t last_micros_ = -1;  // GUARDED_BY(mu_); -1 before the first call
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_RATE_LIMITER_H_
