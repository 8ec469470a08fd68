#include "server/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace rf::server {

TokenBucket::TokenBucket(double rate_per_s, double burst)
    : rate_per_micro_(rate_per_s / 1e6), burst_(burst), tokens_(burst) {}

int64_t TokenBucket::TryTake(int64_t now_micros) {
  std::lock_guard l(mu_);
  if (last_micros_ >= 0 && now_micros > last_micros_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_micros - last_micros_) * rate_per_micro_);
  }
  last_micros_ = std::max(last_micros_, now_micros);
  if (tokens_ >= 1.0 - 1e-9) {  // (refills are sums of products: allow rounding)
    tokens_ -= 1.0;
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - 1e-9 - tokens_) / rate_per_micro_)));
}

}  // namespace rf::server
