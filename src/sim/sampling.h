// Random variates the simulator draws from an rf::Random: exact binomial counts, so that a tick of
// a 10-million-device fleet costs a handful of draws rather than one per device.
//
// Every function consumes values only from the Random it is given, so a simulation seeded with
// rf::SeededRandom(seed) is reproducible bit for bit on the same build.
#ifndef RINGFENCE_SIM_SAMPLING_H_
#define RINGFENCE_SIM_SAMPLING_H_

#include <algorithm>
#include <cstdint>

#include "platform/env.h"

namespace rf::sim {

// A draw from Binomial(n, p): how many of n independent devices have an event of probability p.
// n <= 0 or p <= 0 gives 0; p >= 1 gives n. Exact: inversion by geometric waiting times when
// n·min(p, 1-p) is small (cost O(n·p)), libstdc++'s rejection sampler otherwise (cost O(1)).
int64_t SampleBinomial(Random& rng, int64_t n, double p);

// Splits `n` devices whose event times are uniform in [lo, hi) (in any unit) into bins of width
// `width` starting at 0: calls emit(bin, count) for every non-empty bin, bins in increasing order.
// A multinomial draw done as a chain of binomials. REQUIRES: 0 <= lo <= hi, width > 0.
template <typename Emit>
void SplitUniform(Random& rng, int64_t n, double lo, double hi, double width, Emit&& emit);

// ----- inline implementation -----

template <typename Emit>
void SplitUniform(Random& rng, int64_t n, double lo, double hi, double width, Emit&& emit) {
  if (n <= 0) return;
  const double span = hi - lo;
  int64_t first = static_cast<int64_t>(lo / width);
  if (span <= 0) {
    emit(first, n);
    return;
  }
  int64_t last = static_cast<int64_t>(hi / width);
  if (static_cast<double>(last) * width >= hi) --last;  // hi itself is excluded
  if (last < first) last = first;
  int64_t left = n;
  double mass_left = 1.0;
  for (int64_t b = first; b <= last && left > 0; ++b) {
    const double a = std::max(lo, static_cast<double>(b) * width);
    const double z = std::min(hi, static_cast<double>(b + 1) * width);
    const double mass = (z - a) / span;
    int64_t k = b == last ? left : SampleBinomial(rng, left, mass_left > 0 ? mass / mass_left : 1.0);
    if (k > 0) emit(b, k);
    left -= k;
    mass_left -= mass;
  }
}

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_SAMPLING_H_
