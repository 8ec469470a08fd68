#include "sim/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "platform/sim_env.h"

namespace rf::sim {
namespace {

TEST(SamplingTest, BinomialEdgeCases) {
  SeededRandom rng(1);
  EXPECT_EQ(SampleBinomial(rng, 0, 0.5), 0);
  EXPECT_EQ(SampleBinomial(rng, -3, 0.5), 0);
  EXPECT_EQ(SampleBinomial(rng, 100, 0), 0);
  EXPECT_EQ(SampleBinomial(rng, 100, -1), 0);
  EXPECT_EQ(SampleBinomial(rng, 100, 1), 100);
  EXPECT_EQ(SampleBinomial(rng, 100, 2), 100);
  for (int i = 0; i < 1000; ++i) {
    const int64_t k = SampleBinomial(rng, 7, 0.3);
    EXPECT_GE(k, 0);
    EXPECT_LE(k, 7);
  }
}

// Mean and variance of many draws match n·p and n·p·(1-p), in each sampler regime.
TEST(SamplingTest, BinomialMomentsMatchInEveryRegime) {
  struct Case {
    int64_t n;
    double p;
  };
  for (Case c : {Case{10, 0.2}, Case{1000, 0.001}, Case{10'000'000, 1e-6}, Case{5000, 0.3},
                 Case{10'000'000, 0.85}, Case{40, 0.9}}) {
    SeededRandom rng(42);
    const int draws = 20000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < draws; ++i) {
      const auto k = static_cast<double>(SampleBinomial(rng, c.n, c.p));
      sum += k;
      sum2 += k * k;
    }
    const double mean = sum / draws;
    const double var = sum2 / draws - mean * mean;
    const double n = static_cast<double>(c.n);
    const double expected_var = n * c.p * (1 - c.p);
    // 5 standard errors of the mean; variance within 10%.
    EXPECT_NEAR(mean, n * c.p, 5 * std::sqrt(expected_var / draws)) << c.n << " " << c.p;
    EXPECT_NEAR(var, expected_var, 0.1 * expected_var) << c.n << " " << c.p;
  }
}

TEST(SamplingTest, SameSeedSameDraws) {
  SeededRandom a(7), b(7);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(SampleBinomial(a, 1'000'000, 0.01), SampleBinomial(b, 1'000'000, 0.01));
  }
}

TEST(SamplingTest, SplitUniformConservesCountAndStaysInRange) {
  SeededRandom rng(3);
  std::map<int64_t, int64_t> bins;
  int64_t total = 0;
  SplitUniform(rng, 100000, 25, 85, 10, [&](int64_t bin, int64_t k) {
    bins[bin] += k;
    total += k;
  });
  EXPECT_EQ(total, 100000);
  EXPECT_EQ(bins.begin()->first, 2);   // [25, 30)
  EXPECT_EQ(bins.rbegin()->first, 8);  // [80, 85)
  // Bin 2 holds 5/60 of the mass, bins 3..7 10/60 each.
  EXPECT_NEAR(static_cast<double>(bins[2]) / 100000, 5.0 / 60, 0.01);
  EXPECT_NEAR(static_cast<double>(bins[5]) / 100000, 10.0 / 60, 0.01);

  int64_t point = 0;
  SplitUniform(rng, 5, 30, 30, 10, [&](int64_t bin, int64_t k) {
    EXPECT_EQ(bin, 3);
    point += k;
  });
  EXPECT_EQ(point, 5);
  SplitUniform(rng, 0, 0, 10, 10, [&](int64_t, int64_t) { FAIL() << "nothing to split"; });
  int64_t exact = 0;
  SplitUniform(rng, 9, 0, 10, 10, [&](int64_t bin, int64_t k) {
    EXPECT_EQ(bin, 0);  // [0, 10) is one bin; 10 itself is excluded
    exact += k;
  });
  EXPECT_EQ(exact, 9);
}

}  // namespace
}  // namespace rf::sim
