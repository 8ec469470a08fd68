#include "sim/sampling.h"

#include <cmath>
#include <limits>
#include <random>

namespace rf::sim {
namespace {

// Adapts rf::Random to the standard UniformRandomBitGenerator requirements.
class Urbg {
 public:
  using result_type = uint64_t;
  explicit Urbg(Random& rng) : rng_(rng) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<uint64_t>::max(); }
  result_type operator()() { return rng_.Next64(); }

 private:
  Random& rng_;
};

// Inversion by waiting times: the gaps between successes are geometric. Expected cost n·p + 1.
int64_t BinomialByWaitingTimes(Random& rng, int64_t n, double p) {
  const double log_q = std::log1p(-p);
  int64_t successes = 0;
  int64_t position = 0;
  while (true) {
    double u = rng.Uniform();
    if (u <= 0) u = 0x1.0p-53;
    // Trials up to and including the next success.
    const double gap = std::floor(std::log(u) / log_q) + 1;
    if (gap > static_cast<double>(n - position)) return successes;
    position += static_cast<int64_t>(gap);
    ++successes;
  }
}

}  // namespace

int64_t SampleBinomial(Random& rng, int64_t n, double p) {
  if (n <= 0 || !(p > 0)) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - SampleBinomial(rng, n, 1 - p);
  if (static_cast<double>(n) * p < 16) return BinomialByWaitingTimes(rng, n, p);
  Urbg urbg(rng);
  std::binomial_distribution<int64_t> dist(n, p);
  return dist(urbg);
}

}  // namespace rf::sim
