#include "agent/backoff.h"

#include <algorithm>

namespace rf::agent {

FullJitterBackoff::FullJitterBackoff(int64_t base_ms, int64_t max_ms, Random* random)
    : base_ms_(std::max<int64_t>(1, base_ms)), max_ms_(std::max(base_ms_, max_ms)), random_(random) {}

int64_t FullJitterBackoff::NextDelayMs() {
  int64_t ceiling = base_ms_;
  for (int64_t i = 0; i < attempt_ && ceiling < max_ms_; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, max_ms_);
  ++attempt_;
  return static_cast<int64_t>(random_->Below(static_cast<uint64_t>(ceiling)));
}

int64_t JitteredPollDelayMs(int64_t poll_after_s, int64_t min_s, int64_t max_s, Random* random) {
  const int64_t s = std::clamp(poll_after_s, min_s, std::max(min_s, max_s));
  const double factor = 0.9 + 0.2 * random->Uniform();
  return static_cast<int64_t>(static_cast<double>(s) * 1000.0 * factor);
}

}  // namespace rf::agent
