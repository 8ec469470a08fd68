#include "rollout/gate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <utility>
#include <vector>

#include "platform/sim_env.h"

// Counts allocations so that the "no allocation per tick" contract can be tested. Every
// non-aligned form of operator new/delete is replaced (malloc/free plus a counter), never just
// some: under ASan an unreplaced form (e.g. the nothrow new std::stable_sort uses) would be
// ASan's own and its memory would reach our delete, an alloc-dealloc mismatch. Aligned forms are
// left to the runtime as a complete set.
namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// GCC 12 cannot see that operator new above is malloc-based and flags the matching free().
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}

namespace rf::rollout {
namespace {

constexpr double kTol = 1e-9;

SequentialGate MakeGate(std::vector<MetricSpec> metrics, int num_strata, GateOptions options = {}) {
  Result<SequentialGate> gate = SequentialGate::Create(std::move(metrics), num_strata, options);
  EXPECT_TRUE(gate.ok()) << gate.status().ToString();
  return std::move(gate).value();
}

GateOptions SinglePointCountGrid(double r) {
  GateOptions o;
  o.count_grid = {r};
  return o;
}

// Poisson(mean) by inversion of the CDF; fine for the small means used here.
int64_t Poisson(Random& rng, double mean) {
  const double u = rng.Uniform();
  double p = std::exp(-mean);
  double cdf = p;
  int64_t k = 0;
  while (u > cdf && k < 1000) {
    ++k;
    p *= mean / static_cast<double>(k);
    cdf += p;
  }
  return k;
}

// ---------------------------------------------------------------------------------------------
// The increments and the log-sum-exp, against values computed by hand.

TEST(CountLogIncrementTest, HandComputedValues) {
  // r = 2, r0 = 1, rho = 1/2, one treated event:
  //   ln 2 + 1·[log1p(0) − log1p(1/2)] = ln 2 − ln 1.5 = ln(4/3).
  EXPECT_NEAR(CountLogIncrement(2, 1, 0.5, 1, 0), std::log(4.0 / 3.0), kTol);
  // One control event at rho = 99/199: −log1p(99/199) = −ln(298/199).
  EXPECT_NEAR(CountLogIncrement(2, 1, 99.0 / 199.0, 0, 1), -std::log(298.0 / 199.0), kTol);
  // Error-count null r0 = 1.2, r = 3, rho = 1/4, x = 2, y = 1:
  //   2·ln(3/1.2) + 3·[log1p(0.05) − log1p(0.5)] = 2 ln 2.5 + 3 ln(1.05/1.5) = ln(6.25·0.343)
  //   = ln 2.14375.
  EXPECT_NEAR(CountLogIncrement(3, 1.2, 0.25, 2, 1), std::log(2.14375), kTol);
  // rho = 1 (no control devices left): every event is treated under any r, so no evidence.
  EXPECT_NEAR(CountLogIncrement(100, 1, 1.0, 5, 0), 0.0, kTol);
  // No events, no change.
  EXPECT_EQ(CountLogIncrement(10, 1, 0.3, 0, 0), 0.0);
}

TEST(SignLogIncrementTest, HandComputedValues) {
  // theta = 0.6, theta0 = 0.5, three Z = 1 and one Z = 0: 3 ln 1.2 + ln 0.8 = ln(1.728·0.8).
  EXPECT_NEAR(SignLogIncrement(0.6, 0.5, 3, 1), std::log(1.3824), kTol);
  // theta0 = 0.52, theta = 0.7, one Z = 0: ln(0.3/0.48) = ln 0.625.
  EXPECT_NEAR(SignLogIncrement(0.7, 0.52, 0, 1), std::log(0.625), kTol);
}

TEST(LogMeanExpTest, StableAndExact) {
  const double a[] = {0.0, std::log(3.0)};  // mean(1, 3) = 2
  EXPECT_NEAR(LogMeanExp(a), std::log(2.0), kTol);
  const double big[] = {1000.0, 1000.0};  // exp(1000) overflows; the log-mean does not
  EXPECT_NEAR(LogMeanExp(big), 1000.0, kTol);
  const double tiny[] = {-1000.0, -1000.0 + std::log(3.0)};
  EXPECT_NEAR(LogMeanExp(tiny), -1000.0 + std::log(2.0), kTol);
  EXPECT_EQ(LogMeanExp({}), -std::numeric_limits<double>::infinity());
}

// ---------------------------------------------------------------------------------------------
// The count gate.

TEST(CountGateTest, SinglePointGridUsesRhoBeforeTickAndDecrementsAtRisk) {
  SequentialGate gate = MakeGate({MetricSpec::Crash()}, 1, SinglePointCountGrid(2));
  ASSERT_TRUE(gate.SetAtRisk(0, 100, 100).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 1, 0).ok());
  gate.Tick();
  // Tick 1: rho = 100/200, one treated event: E = 2/(1 + 0.5) = 4/3.
  EXPECT_NEAR(gate.Report(0, 0).e_value(), 4.0 / 3.0, kTol);
  // The treated device that failed left the at-risk set: R_T = 99, R_C = 100. Tick 2 (no
  // SetAtRisk) has one control event at rho = 99/199: factor 1/(1 + 99/199) = 199/298, so
  // E = 4/3 · 199/298 = 398/447. (Without the decrement it would be 4/3 · 2/3 = 8/9.)
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 0, 1).ok());
  gate.Tick();
  EXPECT_NEAR(gate.Report(0, 0).e_value(), 398.0 / 447.0, kTol);
  // With one stratum the pooled test sees the same increments.
  EXPECT_NEAR(gate.Report(0, SequentialGate::kPooled).e_value(), 398.0 / 447.0, kTol);
  EXPECT_EQ(gate.Report(0, 0).treated_events, 1);
  EXPECT_EQ(gate.Report(0, 0).control_events, 1);
}

TEST(CountGateTest, DefaultGridMixtureAndPooling) {
  // Two strata, default grid r_g in {1.5, 2, 3, 5, 10, 30, 100, 1e3, 1e4, 1e5}, r0 = 1.
  // Stratum 0: rho = 1/100 (R_T = 10, R_C = 990), one treated event. Per grid point
  //   exp(Delta) = r/(1 + 0.01·(r − 1)):
  //   1.5/1.005 = 1.492537, 2/1.01 = 1.980198, 3/1.02 = 2.941176, 5/1.04 = 4.807692,
  //   10/1.09 = 9.174312, 30/1.29 = 23.255814, 100/1.99 = 50.251256, 1e3/10.99 = 90.991811,
  //   1e4/100.99 = 99.019705, 1e5/1000.99 = 99.901098; mean = 38.38155998443953.
  // Stratum 1: rho = 1/2 (R_T = R_C = 500), one control event: exp(Delta) = 1/(1 + 0.5·(r − 1)),
  //   mean over the grid = 0.2568354272848463.
  // Pooled: the same grid point's increments add: mean of the products = 0.9954422173738398
  //   (not the product of the two means: the mixture is over a common r).
  SequentialGate gate = MakeGate({MetricSpec::Silence()}, 2);
  ASSERT_TRUE(gate.SetAtRisk(0, 10, 990).ok());
  ASSERT_TRUE(gate.SetAtRisk(1, 500, 500).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 1, 0).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 1, 0, 1).ok());
  gate.Tick();
  EXPECT_NEAR(gate.Report(0, 0).e_value(), 38.38155998443953, kTol);
  EXPECT_NEAR(gate.Report(0, 1).e_value(), 0.2568354272848463, kTol);
  EXPECT_NEAR(gate.Report(0, SequentialGate::kPooled).e_value(), 0.9954422173738398, kTol);
  EXPECT_EQ(gate.Report(0, SequentialGate::kPooled).treated_events, 1);
  EXPECT_EQ(gate.Report(0, SequentialGate::kPooled).control_events, 1);
}

TEST(CountGateTest, ErrorNullToleranceShiftsTheTest) {
  // r0 = 1.2, grid {3}, rho = 1/4 (R_T = 100, R_C = 300), x = 2, y = 1: E = 2.14375 (see
  // CountLogIncrementTest). The same data against r0 = 1 gives
  //   2 ln 3 + 3·(−log1p(0.5)) = ln(9/3.375) = ln(2.6666...): a tolerant null is harder to reject.
  GateOptions o = SinglePointCountGrid(3);
  SequentialGate gate = MakeGate({MetricSpec::ErrorIncidence(), MetricSpec::Crash()}, 1, o);
  ASSERT_TRUE(gate.SetAtRisk(0, 100, 300).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 2, 1).ok());
  ASSERT_TRUE(gate.AddCountEvents(1, 0, 2, 1).ok());
  gate.Tick();
  EXPECT_NEAR(gate.Report(0, 0).e_value(), 2.14375, kTol);
  EXPECT_NEAR(gate.Report(1, 0).e_value(), 8.0 / 3.0, kTol);
}

TEST(CountGateTest, SetMetricAtRiskOverridesOneMetric) {
  SequentialGate gate =
      MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 1, SinglePointCountGrid(2));
  ASSERT_TRUE(gate.SetAtRisk(0, 100, 100).ok());
  ASSERT_TRUE(gate.SetMetricAtRisk(1, 0, 100, 300).ok());  // crash: rho = 1/4
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 1, 0).ok());
  ASSERT_TRUE(gate.AddCountEvents(1, 0, 1, 0).ok());
  gate.Tick();
  EXPECT_NEAR(gate.Report(0, 0).e_value(), 2.0 / 1.5, kTol);   // rho = 1/2
  EXPECT_NEAR(gate.Report(1, 0).e_value(), 2.0 / 1.25, kTol);  // rho = 1/4
}

TEST(CountGateTest, EventsAccumulateWithinATick) {
  // Two AddCountEvents calls in one tick are one batch: x = 2 at rho = 1/2 gives (4/3)^2.
  SequentialGate gate = MakeGate({MetricSpec::Crash()}, 1, SinglePointCountGrid(2));
  ASSERT_TRUE(gate.SetAtRisk(0, 100, 100).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 1, 0).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 1, 0).ok());
  EXPECT_EQ(gate.Report(0, 0).treated_events, 0);  // nothing applied before Tick
  gate.Tick();
  EXPECT_NEAR(gate.Report(0, 0).e_value(), 16.0 / 9.0, kTol);
  // A tick without events changes nothing.
  gate.Tick();
  EXPECT_NEAR(gate.Report(0, 0).e_value(), 16.0 / 9.0, kTol);
}

TEST(CountGateTest, TickInputsAndDecisionsDoNotAllocate) {
  SequentialGate gate =
      MakeGate({MetricSpec::Silence(), MetricSpec::Crash(), MetricSpec::ErrorIncidence(),
                MetricSpec::Count("p99_exceedance", 1.0, false), MetricSpec::SignTest("cpu", 0.5)},
               100);
  const double ratios[] = {1, 1, 1, 1, 1};
  HealthSignals health;
  health.control_rate_ratio = ratios;
  const int64_t before = g_allocations.load();
  bool inputs_ok = true;
  bool halted = false;
  for (int tick = 0; tick < 10; ++tick) {
    for (int s = 0; s < 100; ++s) {
      // Null-like data (treated share of events ~ rho ~ 1 %), so that the gate keeps going.
      inputs_ok &= gate.SetAtRisk(s, 1000 + s, 100'000).ok();
      for (int m = 0; m < 4; ++m) {
        inputs_ok &= gate.AddCountEvents(m, s, (tick + s + m) % 2, 50 + m).ok();
      }
      inputs_ok &= gate.AddSignPairs(4, s, 1 + (tick + s) % 2, 1 + (tick + s + 1) % 2, 1).ok();
    }
    gate.Tick();
    const Decision d = gate.Decide(health);
    const Decision p = gate.DecideAtBakeEnd(health, {10'000, 1'000, 100'000});
    halted |= d.verdict == Verdict::kHalt || p.verdict == Verdict::kHalt;
  }
  const int64_t allocations = g_allocations.load() - before;
  EXPECT_TRUE(inputs_ok);
  EXPECT_FALSE(halted);
  EXPECT_EQ(allocations, 0);
  // The counter does count: a rejected call builds an error message.
  const int64_t before_error = g_allocations.load();
  EXPECT_FALSE(gate.AddCountEvents(0, 0, -1, 0).ok());
  EXPECT_GT(g_allocations.load() - before_error, 0);
}

TEST(CountGateTest, RejectsEventsBeyondAtRiskAndChangesNothing) {
  SequentialGate gate = MakeGate({MetricSpec::Crash(), MetricSpec::SignTest("cpu", 0.5)}, 2);
  EXPECT_EQ(gate.AddCountEvents(0, 0, 1, 0).code(), StatusCode::kInvalidArgument);  // R_T = 0
  ASSERT_TRUE(gate.SetAtRisk(0, 2, 5).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 2, 0).ok());
  EXPECT_EQ(gate.AddCountEvents(0, 0, 1, 0).code(), StatusCode::kInvalidArgument);  // 3 > 2
  EXPECT_EQ(gate.AddCountEvents(0, 0, 0, 6).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(gate.AddCountEvents(0, 0, -1, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(gate.AddCountEvents(0, 2, 0, 0).code(), StatusCode::kInvalidArgument);  // stratum
  EXPECT_EQ(gate.AddCountEvents(2, 0, 0, 0).code(), StatusCode::kInvalidArgument);  // metric
  EXPECT_EQ(gate.AddCountEvents(1, 0, 0, 0).code(), StatusCode::kInvalidArgument);  // sign test
  EXPECT_EQ(gate.SetAtRisk(0, 1, 5).code(), StatusCode::kInvalidArgument);  // below pending 2
  EXPECT_EQ(gate.SetAtRisk(0, -1, 5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(gate.SetAtRisk(-1, 1, 5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(gate.SetMetricAtRisk(1, 0, 1, 1).code(), StatusCode::kInvalidArgument);
  gate.Tick();
  // Only the accepted events were applied: x = 2 at rho = 2/7, default grid.
  std::vector<double> expected;
  for (double r : GateOptions{}.count_grid)
    expected.push_back(CountLogIncrement(r, 1, 2.0 / 7, 2, 0));
  EXPECT_NEAR(gate.Report(0, 0).log_e_value, LogMeanExp(expected), kTol);
  EXPECT_EQ(gate.Report(0, 0).treated_events, 2);
  EXPECT_EQ(gate.Report(0, 0).control_events, 0);
}

// ---------------------------------------------------------------------------------------------
// The continuous gate (sign test).

TEST(SignGateTest, HandComputedMixture) {
  // theta0 = 0.5, grid {0.55, 0.6, 0.65, 0.7, 0.8, 0.9}, 3 pairs with Z = 1 and 1 with Z = 0:
  //   E = mean_g (2θ)^3·2(1 − θ) = mean(1.197900, 1.382400, 1.537900, 1.646400, 1.638400,
  //   1.166400) = 8.5694/6 = 1.4282333...
  // Ties are dropped: they are only counted.
  SequentialGate gate = MakeGate({MetricSpec::SignTest("latency", 0.5)}, 3);
  ASSERT_TRUE(gate.AddSignPairs(0, 1, 2, 1, 4).ok());
  ASSERT_TRUE(gate.AddSignPairs(0, 1, 1, 0).ok());
  gate.Tick();
  EXPECT_NEAR(gate.Report(0, 1).e_value(), 8.5694 / 6, kTol);
  EXPECT_NEAR(gate.Report(0, SequentialGate::kPooled).e_value(), 8.5694 / 6, kTol);
  EXPECT_EQ(gate.Report(0, 0).log_e_value, 0.0);
  EXPECT_EQ(gate.Report(0, 1).treated_events, 3);
  EXPECT_EQ(gate.Report(0, 1).control_events, 1);
  EXPECT_EQ(gate.ties(0, 1), 4);
  EXPECT_EQ(gate.ties(0, SequentialGate::kPooled), 4);
}

TEST(SignGateTest, NoisyNull) {
  // theta0 = 0.52, same data: E = mean_g (θ/0.52)^3·(1 − θ)/0.48 = 1.3225981590268295.
  SequentialGate gate = MakeGate({MetricSpec::SignTest("cpu", 0.52)}, 1);
  ASSERT_TRUE(gate.AddSignPairs(0, 0, 3, 1).ok());
  gate.Tick();
  EXPECT_NEAR(gate.Report(0, 0).e_value(), 1.3225981590268295, kTol);
}

TEST(SignGateTest, RejectsBadInput) {
  SequentialGate gate = MakeGate({MetricSpec::Crash(), MetricSpec::SignTest("cpu", 0.5)}, 1);
  EXPECT_EQ(gate.AddSignPairs(0, 0, 1, 0).code(), StatusCode::kInvalidArgument);  // count metric
  EXPECT_EQ(gate.AddSignPairs(1, 0, -1, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(gate.AddSignPairs(1, 1, 1, 0).code(), StatusCode::kInvalidArgument);
}

TEST(SignGateTest, DetectsAShiftWithinTheExpectedNumberOfPairs) {
  // True P(treated higher) = 0.7, ties none. docs/gate.md, "Sign test": ~110 pairs pooled, ~130
  // per stratum at the default thresholds (M = 5, S = 10). Seeded: 20 runs, each must halt within
  // 400 pairs, and the median must be below 200.
  std::vector<int> pairs_needed;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SeededRandom rng(seed);
    std::vector<MetricSpec> metrics = {
        MetricSpec::Silence(), MetricSpec::Crash(), MetricSpec::ErrorIncidence(),
        MetricSpec::Count("p99_exceedance", 1.0, false), MetricSpec::SignTest("cpu", 0.5)};
    SequentialGate gate = MakeGate(metrics, 10);
    int n = 0;
    for (; n < 400; ++n) {
      const bool treated_higher = rng.Uniform() < 0.7;
      ASSERT_TRUE(gate.AddSignPairs(4, 0, treated_higher ? 1 : 0, treated_higher ? 0 : 1).ok());
      gate.Tick();
      if (gate.Decide({}).verdict == Verdict::kHalt) break;
    }
    ASSERT_LT(n, 400) << "seed " << seed;
    pairs_needed.push_back(n + 1);
  }
  std::nth_element(pairs_needed.begin(), pairs_needed.begin() + 10, pairs_needed.end());
  std::printf("sign test, theta = 0.7, seeds 1..20: median %d pairs to halt\n", pairs_needed[10]);
  EXPECT_LT(pairs_needed[10], 200);
  EXPECT_GT(pairs_needed[10], 40);  // and evidence is not free
}

// ---------------------------------------------------------------------------------------------
// Multiplicity and e-BH.

TEST(ThresholdTest, WeightedBonferroni) {
  EXPECT_NEAR(PooledThreshold(0.01, 5), 1000, kTol);
  EXPECT_NEAR(StratumThreshold(0.01, 5, 10), 10000, kTol);
  EXPECT_NEAR(PooledThreshold(0.04, 2), 100, kTol);
  EXPECT_NEAR(StratumThreshold(0.04, 2, 3), 300, kTol);
  SequentialGate gate =
      MakeGate({MetricSpec::Silence(), MetricSpec::Crash(), MetricSpec::ErrorIncidence(),
                MetricSpec::Count("p99_exceedance", 1.0, false), MetricSpec::SignTest("cpu", 0.52)},
               10);
  EXPECT_NEAR(gate.LogThreshold(SequentialGate::kPooled), std::log(1000.0), kTol);
  EXPECT_NEAR(gate.LogThreshold(3), std::log(10000.0), kTol);
  EXPECT_NEAR(gate.Report(4, 9).threshold(), 10000, 1e-6);
}

// M = 2 metrics, S = 3 strata, alpha = 0.04: pooled threshold 100, per stratum 300. Grid {5},
// rho = 1000/(1000 + 999'999'000) = 1e-6, so one treated event multiplies E by
// f = 5/(1 + 4e-6) = 4.99998, and three give f^3 = 124.9985.
class ThresholdDecisionTest : public ::testing::Test {
 protected:
  ThresholdDecisionTest()
      : gate_(MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 3, Opts())) {
    for (int s = 0; s < 3; ++s) EXPECT_TRUE(gate_.SetAtRisk(s, 1000, 999'999'000).ok());
  }
  static GateOptions Opts() {
    GateOptions o = SinglePointCountGrid(5);
    o.alpha = 0.04;
    return o;
  }
  SequentialGate gate_;
};

TEST_F(ThresholdDecisionTest, PooledFiresAt100ButStratumNeeds300) {
  // 3 treated events in stratum 0: E_0 = E_pool = 124.9985: over 100, under 300.
  ASSERT_TRUE(gate_.AddCountEvents(1, 0, 3, 0).ok());
  gate_.Tick();
  EXPECT_NEAR(gate_.Report(1, 0).e_value(), std::pow(5 / (1 + 4e-6), 3), 1e-6);
  Decision d = gate_.Decide({});
  ASSERT_EQ(d.verdict, Verdict::kHalt);
  EXPECT_EQ(d.reason, Reason::kEvidence);
  EXPECT_EQ(d.test.metric, 1);
  EXPECT_EQ(d.test.stratum, SequentialGate::kPooled);
  EXPECT_NEAR(d.test.threshold(), 100, 1e-9);
  EXPECT_EQ(d.test.treated_events, 3);
  EXPECT_EQ(d.tests_fired, 1);
  EXPECT_EQ(DescribeDecision(d, gate_.metrics()),
            "HALT: crash pooled: E=125 >= 100 (3 treated, 0 control events; 1 test fired)");
}

TEST_F(ThresholdDecisionTest, StratumFiresAlonePooledDilutedByOtherStrata) {
  // Stratum 0: 4 treated events, E_0 = f^4 = 624.99 >= 300. Stratum 1 at rho = 1/2 with 3 control
  // events: each multiplies by 1/(1 + 0.5·4) = 1/3, so E_pool = 624.99/27 = 23.1 < 100.
  ASSERT_TRUE(gate_.SetAtRisk(1, 500, 500).ok());
  ASSERT_TRUE(gate_.AddCountEvents(0, 0, 4, 0).ok());
  ASSERT_TRUE(gate_.AddCountEvents(0, 1, 0, 3).ok());
  gate_.Tick();
  EXPECT_NEAR(gate_.Report(0, SequentialGate::kPooled).e_value(), std::pow(5 / (1 + 4e-6), 4) / 27,
              1e-6);
  Decision d = gate_.Decide({});
  ASSERT_EQ(d.verdict, Verdict::kHalt);
  EXPECT_EQ(d.test.metric, 0);
  EXPECT_EQ(d.test.stratum, 0);
  EXPECT_NEAR(d.test.threshold(), 300, 1e-9);
  EXPECT_EQ(d.tests_fired, 1);
}

TEST_F(ThresholdDecisionTest, BelowEveryThresholdContinues) {
  ASSERT_TRUE(gate_.AddCountEvents(0, 2, 2, 0).ok());  // f^2 = 25
  gate_.Tick();
  EXPECT_EQ(gate_.Decide({}).verdict, Verdict::kContinue);
  EXPECT_EQ(DescribeDecision(gate_.Decide({}), gate_.metrics()), "CONTINUE");
}

TEST_F(ThresholdDecisionTest, LargestMarginIsReported) {
  // Metric 0 stratum 0: 4 events (625 vs 300; pooled 625 vs 100, margin ln 6.25);
  // metric 1 stratum 2: 3 events (pooled 125 vs 100). Three tests fire; metric 0 pooled wins.
  ASSERT_TRUE(gate_.AddCountEvents(0, 0, 4, 0).ok());
  ASSERT_TRUE(gate_.AddCountEvents(1, 2, 3, 0).ok());
  gate_.Tick();
  Decision d = gate_.Decide({});
  ASSERT_EQ(d.verdict, Verdict::kHalt);
  EXPECT_EQ(d.tests_fired, 3);
  EXPECT_EQ(d.test.metric, 0);
  EXPECT_EQ(d.test.stratum, SequentialGate::kPooled);
}

TEST(EbhTest, HandExample) {
  // n = 4, level 0.1: k = 1: 100 >= 4/0.1 = 40 yes; k = 2: 30 >= 4/0.2 = 20 yes;
  // k = 3: 5 >= 13.3 no; k = 4: 1 >= 10 no. Rejected: the two largest, indices {0, 3}.
  // Bonferroni (e >= n/level = 40) would have taken index 0 only.
  const double e[] = {100, 5, 1, 30};
  EXPECT_EQ(EBenjaminiHochberg(e, 0.1), (std::vector<int>{0, 3}));
  const double none[] = {39, 1, 1, 1};
  EXPECT_TRUE(EBenjaminiHochberg(none, 0.1).empty());
  // k* is the largest k that passes, even when a smaller k fails: with {30, 30, 30, 0},
  // k = 1: 30 >= 40 fails, k = 2: 30 >= 20 and k = 3: 30 >= 13.3 pass, so all three are taken.
  const double three[] = {30, 0, 30, 30};
  EXPECT_EQ(EBenjaminiHochberg(three, 0.1), (std::vector<int>{0, 2, 3}));
}

TEST(EbhTest, GateReportsStrataAtItsPerStratumBudget) {
  // One metric, S = 4, alpha = 0.08: e-BH level alpha/(2M) = 0.04; k = 1 needs E >= 100,
  // k = 2 needs E >= 50. Grid {10}, rho ~ 0 (1 treated of 1e9 + 1): each treated event ~x10.
  GateOptions o = SinglePointCountGrid(10);
  o.alpha = 0.08;
  SequentialGate gate = MakeGate({MetricSpec::Crash()}, 4, o);
  for (int s = 0; s < 4; ++s) ASSERT_TRUE(gate.SetAtRisk(s, 10, 1'000'000'000).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 1, 3, 0).ok());  // ~1000
  ASSERT_TRUE(gate.AddCountEvents(0, 3, 2, 0).ok());  // ~100 - a hair: fails k = 1, passes k = 2
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 1, 0).ok());  // ~10
  gate.Tick();
  EXPECT_LT(gate.Report(0, 3).e_value(), 100);
  EXPECT_EQ(gate.EbhStrata(0), (std::vector<int>{1, 3}));
}

// ---------------------------------------------------------------------------------------------
// Decisions: the minimum-events rule, power, HOLD, PROMOTE.

// One stratum of a 10-stratum fleet with M = 5 (threshold 10,000 per stratum, 1,000 pooled):
// 50 treated devices and 3,000,000 control devices, so rho = 50/3,000,050 = 1.6666e-5. At the top
// grid point r = 1e5 one treated event is worth ln(1e5) − log1p(1.6666e-5·99,999) = 11.513 − 0.981
// = 10.53 nats. After one event E = mean_g r_g/(1 + rho·(r_g − 1)) ≈ (37,500 + 8,571 + 984 +
// ...)/10 ≈ 4,720: over the pooled threshold (the other strata are quiet, so E_pool = E_stratum)
// but under the stratum's; after two events E ≈ 37,500²/10 ≈ 1.4e8, over both. Only the minimum
// number of treated events decides when the gate halts: one lone silent device must not halt a
// release.
TEST(MinEventsTest, HaltWaitsForTheMinimumNumberOfTreatedEvents) {
  for (int64_t min_events : {3, 2, 1}) {
    GateOptions o;
    o.min_treated_events = min_events;
    SequentialGate gate = MakeGate(
        {MetricSpec::Silence(), MetricSpec::Crash(), MetricSpec::ErrorIncidence(),
         MetricSpec::Count("p99_exceedance", 1.0, false), MetricSpec::SignTest("cpu", 0.5)},
        10, o);
    int halted_at = -1;
    for (int event = 1; event <= 5 && halted_at < 0; ++event) {
      ASSERT_TRUE(gate.SetAtRisk(4, 50, 3'000'000).ok());
      ASSERT_TRUE(gate.AddCountEvents(0, 4, 1, 0).ok());
      gate.Tick();
      const TestReport r = gate.Report(0, 4);
      if (event == 1) {
        EXPECT_LT(r.e_value(), 10'000);
        EXPECT_GT(r.e_value(), 1'000);
      } else {
        EXPECT_GE(r.e_value(), 10'000);
      }
      const Decision d = gate.Decide({});
      if (d.verdict == Verdict::kHalt) {
        halted_at = event;
        EXPECT_EQ(d.test.metric, 0);
        EXPECT_EQ(d.test.treated_events, event);
        // At event 1 only the pooled test is over its threshold; from event 2 on both are.
        EXPECT_EQ(d.tests_fired, event == 1 ? 1 : 2);
      }
    }
    EXPECT_EQ(halted_at, min_events) << "min_treated_events " << min_events;
  }
}

// Scenario A of docs/gate.md, "Reference simulation", as a seeded mini-simulation: 10 strata
// (30/25/15/10/5/5/4/3/2/1 % of a 10M fleet), wave 0 dispatched at 110 devices/min in 10-s
// ticks, every treated device of the 30 % stratum goes silent within 60 s of apply and is
// detected 2 min later, baseline silence 1e-6 per device-minute in both arms, M = 5. Reference:
// halted in ~2.2 min with ~266 exposed.
TEST(PowerTest, ThirtyPercentStratumFailingIsHaltedAfterAboutThreeEvents) {
  const double shares[] = {.30, .25, .15, .10, .05, .05, .04, .03, .02, .01};
  constexpr int kStrata = 10;
  constexpr double kFleet = 10'000'000;
  constexpr double kTickMin = 1.0 / 6;
  double sum_minutes = 0, sum_exposed = 0;
  constexpr int kRuns = 20;
  for (uint64_t seed = 1; seed <= kRuns; ++seed) {
    SeededRandom rng(seed);
    SequentialGate gate = MakeGate(
        {MetricSpec::Silence(), MetricSpec::Crash(), MetricSpec::ErrorIncidence(),
         MetricSpec::Count("p99_exceedance", 1.0, false), MetricSpec::SignTest("cpu", 0.5)},
        kStrata);
    int64_t treated[kStrata] = {}, control[kStrata];
    for (int s = 0; s < kStrata; ++s) control[s] = static_cast<int64_t>(shares[s] * kFleet);
    std::vector<int> detect_tick;  // detection tick of each doomed stratum-0 device
    int64_t dispatched = 0;
    int tick = 1;
    bool halted = false;
    for (; tick <= 180 && !halted; ++tick) {
      // Dispatch: cumulative floor(110/min · t), each device to a stratum by share.
      const int64_t target = static_cast<int64_t>(110.0 * tick * kTickMin);
      for (; dispatched < target; ++dispatched) {
        double u = rng.Uniform();
        int s = 0;
        while (s < kStrata - 1 && u >= shares[s]) u -= shares[s++];
        ++treated[s];
        --control[s];
        if (s == 0) {  // fails within 60 s of apply, detected 120 s later
          const double fail_min = (tick - rng.Uniform()) * kTickMin + rng.Uniform() + 2.0;
          detect_tick.push_back(static_cast<int>(std::ceil(fail_min / kTickMin)));
        }
      }
      for (int s = 0; s < kStrata; ++s) {
        ASSERT_TRUE(gate.SetAtRisk(s, treated[s], control[s]).ok());
        int64_t x = Poisson(rng, 1e-6 * kTickMin * static_cast<double>(treated[s]));
        if (s == 0) x += std::count(detect_tick.begin(), detect_tick.end(), tick);
        x = std::min(x, treated[s]);
        const int64_t y = Poisson(rng, 1e-6 * kTickMin * static_cast<double>(control[s]));
        ASSERT_TRUE(gate.AddCountEvents(0, s, x, y).ok());
        treated[s] -= x;
        control[s] -= y;
      }
      gate.Tick();
      const Decision d = gate.Decide({});
      if (d.verdict == Verdict::kHalt) {
        halted = true;
        EXPECT_EQ(d.test.metric, 0) << "seed " << seed;
        EXPECT_TRUE(d.test.stratum == 0 || d.test.stratum == SequentialGate::kPooled);
        EXPECT_GE(d.test.treated_events, 3);
        EXPECT_LE(d.test.treated_events, 8) << "seed " << seed;
        sum_minutes += tick * kTickMin;
        sum_exposed += static_cast<double>(dispatched);
      }
    }
    ASSERT_TRUE(halted) << "seed " << seed;
  }
  std::printf("scenario A, seeds 1..%d: mean %.2f min to halt, %.0f exposed\n", kRuns,
              sum_minutes / kRuns, sum_exposed / kRuns);
  // Spec (without the 3-event minimum): 2.2 min and 266 exposed on average.
  EXPECT_LT(sum_minutes / kRuns, 3.0);
  EXPECT_LT(sum_exposed / kRuns, 320);
}

// Ville / type I: under the null the false-halt probability is at most alpha however often the
// gate looks. The thresholds are made small (alpha = 0.2 with one metric: pooled 10, per stratum
// 40, no minimum event count) so that a wrong increment would show in 2,000 runs; at the defaults
// a correct and a subtly wrong gate would both show ~0 false halts.
struct NullRates {
  double pooled_crossed;  // P(sup_t E_pool >= 10), Ville bound 0.1
  double any_halt;        // P(any HALT), Bonferroni bound alpha = 0.2
};

NullRates CountNullRates(double r_true, MetricSpec metric, uint64_t seed) {
  constexpr int kRuns = 2000, kStrata = 4, kTicks = 150;
  GateOptions o;
  o.alpha = 0.2;
  o.min_treated_events = 0;
  int pooled_crossed = 0, any_halt = 0;
  SeededRandom rng(seed);
  for (int run = 0; run < kRuns; ++run) {
    SequentialGate gate = MakeGate({metric}, kStrata, o);
    int64_t treated[kStrata] = {}, control[kStrata];
    for (int64_t& c : control) c = 100'000;
    bool crossed = false, halted = false;
    for (int t = 0; t < kTicks; ++t) {
      for (int s = 0; s < kStrata; ++s) {
        // Dispatch 400 devices per tick, keeping a holdback of 1,000 in control.
        const int64_t moved = std::clamp<int64_t>(control[s] - 1000, 0, 400);
        treated[s] += moved;
        control[s] -= moved;
        EXPECT_TRUE(gate.SetAtRisk(s, treated[s], control[s]).ok());
        // Hazard 1e-5 per device per tick in control, r_true times that in treated.
        const int64_t x = std::min(treated[s], Poisson(rng, 1e-5 * r_true * treated[s]));
        const int64_t y = std::min(control[s], Poisson(rng, 1e-5 * control[s]));
        EXPECT_TRUE(gate.AddCountEvents(0, s, x, y).ok());
        treated[s] -= x;
        control[s] -= y;
      }
      gate.Tick();
      crossed |= gate.Report(0, SequentialGate::kPooled).log_e_value >= std::log(10.0);
      halted |= gate.Decide({}).verdict == Verdict::kHalt;
    }
    pooled_crossed += crossed;
    any_halt += halted;
  }
  return {pooled_crossed / double{kRuns}, any_halt / double{kRuns}};
}

TEST(NullTest, CountGateFalseHaltRateIsBoundedAtTheNullBoundary) {
  // r = r0 = 1 (crash/silence) and r = r0 = 1.2 (errors), ~150 looks each. Margins: the Ville
  // bound plus 3 binomial standard deviations (sqrt(0.1·0.9/2000) = 0.0067).
  for (const auto& [r, metric] :
       {std::pair{1.0, MetricSpec::Crash()}, std::pair{1.2, MetricSpec::ErrorIncidence()}}) {
    const NullRates rates = CountNullRates(r, metric, 20240719);
    std::printf("null %s r=%.1f seed 20240719: P(sup E_pool >= 10) = %.4f, P(halt) = %.4f\n",
                metric.name.c_str(), r, rates.pooled_crossed, rates.any_halt);
    EXPECT_LE(rates.pooled_crossed, 0.1 + 0.02) << metric.name;
    EXPECT_LE(rates.any_halt, 0.2 + 0.027) << metric.name;
    // Not vacuous: the test does produce evidence excursions to look at.
    EXPECT_GT(rates.pooled_crossed, 0.0) << metric.name;
  }
  // Well inside the null (r < r0) crossings are rarer still.
  const NullRates inside = CountNullRates(1.0, MetricSpec::ErrorIncidence(), 7);
  std::printf("null error r=1.0 < r0 seed 7: P(sup E_pool >= 10) = %.4f\n", inside.pooled_crossed);
  EXPECT_LE(inside.pooled_crossed, 0.05);
}

TEST(NullTest, SignTestFalseHaltRateIsBounded) {
  // Z ~ Bernoulli(theta0) exactly at the null boundary, 300 pairs per run in 3 strata.
  for (double theta0 : {0.5, 0.52}) {
    constexpr int kRuns = 2000;
    GateOptions o;
    o.alpha = 0.2;
    o.min_treated_events = 0;
    SeededRandom rng(99);
    int crossed_runs = 0, halted_runs = 0;
    for (int run = 0; run < kRuns; ++run) {
      SequentialGate gate = MakeGate({MetricSpec::SignTest("latency", theta0)}, 3, o);
      bool crossed = false, halted = false;
      for (int t = 0; t < 100; ++t) {
        for (int s = 0; s < 3; ++s) {
          const bool z = rng.Uniform() < theta0;
          ASSERT_TRUE(gate.AddSignPairs(0, s, z ? 1 : 0, z ? 0 : 1).ok());
        }
        gate.Tick();
        crossed |= gate.Report(0, SequentialGate::kPooled).log_e_value >= std::log(10.0);
        halted |= gate.Decide({}).verdict == Verdict::kHalt;
      }
      crossed_runs += crossed;
      halted_runs += halted;
    }
    std::printf("null sign theta0=%.2f seed 99: P(sup E_pool >= 10) = %.4f, P(halt) = %.4f\n",
                theta0, crossed_runs / double{kRuns}, halted_runs / double{kRuns});
    EXPECT_LE(crossed_runs / double{kRuns}, 0.1 + 0.02) << theta0;
    EXPECT_LE(halted_runs / double{kRuns}, 0.2 + 0.027) << theta0;
    EXPECT_GT(crossed_runs, 0) << theta0;
  }
}

TEST(HoldTest, HealthSignalsHoldWithReason) {
  SequentialGate gate = MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 2);
  HealthSignals ok;
  EXPECT_EQ(gate.Decide(ok).verdict, Verdict::kContinue);

  HealthSignals lag;
  lag.telemetry_lag_seconds = 120;  // "> 2 min": exactly 2 min is fine
  EXPECT_EQ(gate.Decide(lag).verdict, Verdict::kContinue);
  lag.telemetry_lag_seconds = 121;
  Decision d = gate.Decide(lag);
  EXPECT_EQ(d.verdict, Verdict::kHold);
  EXPECT_EQ(d.reason, Reason::kTelemetryLag);
  EXPECT_EQ(d.value, 121);
  EXPECT_EQ(d.limit, 120);
  EXPECT_EQ(DescribeDecision(d, gate.metrics()), "HOLD: telemetry lag 121 s > 120 s");

  HealthSignals missing;
  missing.treated_devices = 1000;
  missing.treated_without_data = 99;  // 9.9 %
  EXPECT_EQ(gate.Decide(missing).verdict, Verdict::kContinue);
  missing.treated_without_data = 100;  // ">= 10 %"
  d = gate.Decide(missing);
  EXPECT_EQ(d.reason, Reason::kTreatedWithoutData);
  EXPECT_NEAR(d.value, 0.1, kTol);

  HealthSignals spike;
  const double ratios[] = {5.0, 7.5};  // silence at exactly 5x is fine; crash at 7.5x is not
  spike.control_rate_ratio = ratios;
  d = gate.Decide(spike);
  EXPECT_EQ(d.verdict, Verdict::kHold);
  EXPECT_EQ(d.reason, Reason::kControlRateSpike);
  EXPECT_EQ(d.metric, 1);
  EXPECT_EQ(d.value, 7.5);
  EXPECT_EQ(DescribeDecision(d, gate.metrics()),
            "HOLD: crash control event rate 7.50x its trailing rate > 5.00x");

  HealthSignals srm = spike;
  srm.sample_ratio_mismatch = true;  // SRM is reported first
  EXPECT_EQ(gate.Decide(srm).reason, Reason::kSampleRatioMismatch);
}

TEST(HoldTest, HaltTakesPrecedenceOverHold) {
  SequentialGate gate = MakeGate({MetricSpec::Silence()}, 1, SinglePointCountGrid(1e5));
  ASSERT_TRUE(gate.SetAtRisk(0, 10, 1'000'000'000).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 3, 0).ok());
  gate.Tick();
  HealthSignals bad;
  bad.telemetry_lag_seconds = 600;
  bad.sample_ratio_mismatch = true;
  EXPECT_EQ(gate.Decide(bad).verdict, Verdict::kHalt);
  EXPECT_EQ(gate.DecideAtBakeEnd(bad, {1000, 0, 0}).verdict, Verdict::kHalt);
}

TEST(PromotionTest, PoissonUcbAgainstHandValues) {
  // gamma_p_inv(1, 0.95) solves 1 − e^{−mu} = 0.95: mu = −ln 0.05 = 2.995732273553991 (rule of 3).
  EXPECT_NEAR(PoissonRateUcb(0, 1, 0.05), 2.995732273553991, kTol);
  // gamma_p_inv(2, 0.95) solves 1 − e^{−mu}(1 + mu) = 0.95: mu = 4.743864518390578
  // (check: e^{−4.743865}·5.743865 = 0.008703·5.743865 = 0.0500). λ_2 = 4.74 in docs/gate.md,
  // "Exposure math".
  EXPECT_NEAR(PoissonRateUcb(1, 1, 0.05), 4.743864518390578, kTol);
  // gamma_p_inv(3, 0.95): 1 − e^{−mu}(1 + mu + mu²/2) = 0.95 at mu = 6.295793621871990 (6.30).
  EXPECT_NEAR(PoissonRateUcb(2, 1, 0.05), 6.295793621871990, kTol);
  EXPECT_NEAR(PoissonRateUcb(0, 1100, 0.05), 2.995732273553991 / 1100, kTol);
}

TEST(PromotionTest, BakeEndDecision) {
  // Wave 0 baked n_H = 1,100 devices; the next wave has 10,000: limit B/n = 30/10,000 = 0.003.
  SequentialGate gate =
      MakeGate({MetricSpec::Silence(), MetricSpec::Crash(), MetricSpec::ErrorIncidence()}, 1);
  const BakeSummary bake{1100, 1000, 10'000};
  // No events: p_UCB = 2.995732/1100 = 0.0027234 <= 0.003: PROMOTE.
  Decision d = gate.DecideAtBakeEnd({}, bake);
  EXPECT_EQ(d.verdict, Verdict::kPromote);
  EXPECT_EQ(d.reason, Reason::kPromotionBoundMet);
  EXPECT_EQ(d.metric, 0);
  EXPECT_NEAR(d.value, 2.995732273553991 / 1100, kTol);
  EXPECT_NEAR(d.limit, 0.003, kTol);
  // Not enough baked devices: HOLD.
  d = gate.DecideAtBakeEnd({}, {999, 1000, 10'000});
  EXPECT_EQ(d.verdict, Verdict::kHold);
  EXPECT_EQ(d.reason, Reason::kInsufficientExposure);
  EXPECT_EQ(d.value, 999);
  EXPECT_EQ(d.limit, 1000);
  // Error events do not enter the bound (promotion_bound = false).
  ASSERT_TRUE(gate.SetAtRisk(0, 1100, 1'000'000).ok());
  ASSERT_TRUE(gate.AddCountEvents(2, 0, 1, 5).ok());
  gate.Tick();
  EXPECT_EQ(gate.DecideAtBakeEnd({}, bake).verdict, Verdict::kPromote);
  // One treated crash and no control crash: the background bound mu_L is 0 (a Poisson lower
  // bound after 0 events), so nothing is subtracted, and b_next = 0 leaves the budget at B:
  // p_ex = 4.743865/1100 = 0.0043126 > 0.003: HOLD naming crash. (Its e-value, about
  // mean_g r_g/(1 + 0.0011·(r_g − 1)) ≈ 235, is far below the threshold 2·3/0.01 = 600.)
  ASSERT_TRUE(gate.AddCountEvents(1, 0, 1, 0).ok());
  gate.Tick();
  d = gate.DecideAtBakeEnd({}, bake);
  EXPECT_EQ(d.verdict, Verdict::kHold);
  EXPECT_EQ(d.reason, Reason::kPromotionBoundNotMet);
  EXPECT_EQ(d.metric, 1);
  EXPECT_NEAR(d.value, 4.743864518390578 / 1100, kTol);
  EXPECT_EQ(d.bound.control_events, 0);
  EXPECT_EQ(d.bound.background_lcb, 0);
  EXPECT_EQ(d.bound.budget, 30);
  EXPECT_EQ(DescribeDecision(d, gate.metrics()),
            "HOLD: crash excess p_UCB 0.00431 > 0.003 (budget 30 / next wave 10000; 1 treated "
            "events, background >= 0)");
  // More bake: n_H = 1,600 gives 0.0029649 <= 0.003: PROMOTE.
  EXPECT_EQ(gate.DecideAtBakeEnd({}, {1600, 1000, 10'000}).verdict, Verdict::kPromote);
  // Last wave (nothing next): no bound.
  d = gate.DecideAtBakeEnd({}, {1100, 1000, 0});
  EXPECT_EQ(d.verdict, Verdict::kPromote);
  EXPECT_EQ(d.reason, Reason::kPromotionBoundMet);
  EXPECT_EQ(DescribeDecision(d, gate.metrics()), "PROMOTE: no next wave");
  // A health HOLD also blocks promotion.
  HealthSignals lag;
  lag.telemetry_lag_seconds = 300;
  EXPECT_EQ(gate.DecideAtBakeEnd(lag, {1600, 1000, 10'000}).reason, Reason::kTelemetryLag);
}

TEST(PromotionTest, PoissonLcbAgainstHandValues) {
  // No events: no lower bound above 0.
  EXPECT_EQ(PoissonMeanLcb(0, 0.05), 0.0);
  // One event: P(Pois(mu) >= 1) = 1 − e^{−mu} = 0.05 at mu = −ln 0.95 = 0.0512932943875505.
  EXPECT_NEAR(PoissonMeanLcb(1, 0.05), 0.0512932943875505, kTol);
  // 100 and 200 events: chi²_{0.05}(2x)/2 (Garwood), by bisection on P(x, mu) = 0.05 in 40-digit
  // arithmetic (mpmath): 84.13927721831420 and 177.3204870330412 (normal approximation
  // x − 1.645·√x: 83.6 and 176.7).
  EXPECT_NEAR(PoissonMeanLcb(100, 0.05), 84.139277218314198, kTol);
  EXPECT_NEAR(PoissonMeanLcb(200, 0.05), 177.32048703304124, kTol);
  EXPECT_NEAR(PoissonMeanLcb(20, 0.05), 13.254651598346555, kTol);
  // Lower and upper bounds bracket the count.
  EXPECT_LT(PoissonMeanLcb(7, 0.05), 7);
  EXPECT_GT(PoissonRateUcb(7, 1, 0.05), 7);
}

// The bound of docs/gate.md, "Promotion", against values computed by hand (40-digit mpmath for
// the gamma inverses; the rest is arithmetic).
TEST(PromotionBoundTest, HandComputedValues) {
  // x_T = 4 treated events over E_T = 2·10⁶ device-ticks; x_C = 100 control events over
  // E_C = 4·10⁷; n_H = 10,000 baked devices, n_next = 90,000.
  //   U    = gamma_p_inv(5, 0.95)   = 9.1535190266375733
  //   mu_L = gamma_p_inv(100, 0.05)·E_T/E_C = 84.139277218314198·0.05 = 4.2069638609157099
  //   p_ex = (U − mu_L)/n_H = 4.9465551657218635e-4
  //   b_next = (100/4·10⁷)·(2·10⁶/10⁴)·90,000 = 2.5e-6·200·90,000 = 45
  //   B_eff = max(30, 1·45) = 45, limit = 45/90,000 = 5e-4 >= p_ex: met (44.52 excess devices).
  // The relative budget decides it: with tau = 0 (B = 30 alone) the limit is 3.33e-4 and it is
  // not; the old bound (U/n_H, no background, B = 30) gave 9.15e-4 against 3.33e-4.
  PromotionBound b = ComputePromotionBound(4, 2e6, 100, 4e7, 10'000, 90'000, 0.05, 30, 1.0);
  EXPECT_EQ(b.treated_events, 4);
  EXPECT_EQ(b.control_events, 100);
  EXPECT_EQ(b.baked_devices, 10'000);
  EXPECT_EQ(b.next_wave_devices, 90'000);
  EXPECT_NEAR(b.treated_ucb, 9.1535190266375733, kTol);
  EXPECT_NEAR(b.background_lcb, 4.2069638609157099, kTol);
  EXPECT_NEAR(b.excess_rate_ucb, 4.9465551657218635e-4, kTol);
  EXPECT_NEAR(b.background_next, 45, kTol);
  EXPECT_NEAR(b.budget, 45, kTol);
  EXPECT_NEAR(b.limit, 5e-4, kTol);
  EXPECT_TRUE(b.met());
  b = ComputePromotionBound(4, 2e6, 100, 4e7, 10'000, 90'000, 0.05, 30, 0.0);
  EXPECT_NEAR(b.background_next, 45, kTol);
  EXPECT_NEAR(b.budget, 30, kTol);
  EXPECT_NEAR(b.limit, 30.0 / 90'000, kTol);
  EXPECT_FALSE(b.met());

  // x_T = 3 over E_T = 10,000; x_C = 200 over E_C = 990,000; n_H = 1,000, n_next = 9,000:
  //   U = gamma_p_inv(4, 0.95) = 7.7536565279327268
  //   mu_L = 177.32048703304124·10,000/990,000 = 1.7911160306367802
  //   p_ex = (7.7536565279327268 − 1.7911160306367802)/1,000 = 5.9625404972959467e-3
  //   b_next = (200/990,000)·(10,000/1,000)·9,000 = 18.181818181818182 < B: B_eff = 30,
  //   limit = 30/9,000 = 3.3333e-3 < p_ex: not met (53.7 excess devices possible).
  b = ComputePromotionBound(3, 10'000, 200, 990'000, 1'000, 9'000, 0.05, 30, 1.0);
  EXPECT_NEAR(b.treated_ucb, 7.7536565279327268, kTol);
  EXPECT_NEAR(b.background_lcb, 1.7911160306367802, kTol);
  EXPECT_NEAR(b.excess_rate_ucb, 5.9625404972959467e-3, kTol);
  EXPECT_NEAR(b.background_next, 18.181818181818182, kTol);
  EXPECT_NEAR(b.budget, 30, kTol);
  EXPECT_NEAR(b.limit, 30.0 / 9'000, kTol);
  EXPECT_FALSE(b.met());
  // The same wave before a 20,000-device one: b_next = 40.404040404040404 > B is the budget,
  // limit 2.0202020202020202e-3, still not met.
  b = ComputePromotionBound(3, 10'000, 200, 990'000, 1'000, 20'000, 0.05, 30, 1.0);
  EXPECT_NEAR(b.background_next, 40.404040404040404, kTol);
  EXPECT_NEAR(b.budget, 40.404040404040404, kTol);
  EXPECT_NEAR(b.limit, 2.0202020202020202e-3, kTol);
  EXPECT_FALSE(b.met());

  // Fewer treated events than the background's lower bound: U(2) = 6.2957936218719897 <
  // mu_L = gamma_p_inv(20, 0.05)·1 = 13.254651598346555, so p_ex = 0 (not negative).
  b = ComputePromotionBound(2, 1'000, 20, 1'000, 100, 1'000, 0.05, 30, 1.0);
  EXPECT_NEAR(b.treated_ucb, 6.2957936218719897, kTol);
  EXPECT_NEAR(b.background_lcb, 13.254651598346555, kTol);
  EXPECT_EQ(b.excess_rate_ucb, 0.0);
  EXPECT_NEAR(b.background_next, 200, kTol);  // (20/1,000)·(1,000/100)·1,000
  EXPECT_NEAR(b.limit, 0.2, kTol);
  EXPECT_TRUE(b.met());

  // No control exposure: nothing is known about the background; mu_L = b_next = 0, B_eff = B.
  // U(5) = 10.513034908741533, p_ex = 0.10513034908741533 > 30/1,000.
  b = ComputePromotionBound(5, 1'000, 7, 0, 100, 1'000, 0.05, 30, 1.0);
  EXPECT_NEAR(b.treated_ucb, 10.513034908741533, kTol);
  EXPECT_EQ(b.background_lcb, 0.0);
  EXPECT_EQ(b.background_next, 0.0);
  EXPECT_NEAR(b.excess_rate_ucb, 0.10513034908741533, kTol);
  EXPECT_NEAR(b.budget, 30, kTol);
  EXPECT_FALSE(b.met());

  // No next wave: no limit.
  b = ComputePromotionBound(50, 1'000, 7, 1'000, 100, 0, 0.05, 30, 1.0);
  EXPECT_EQ(b.limit, std::numeric_limits<double>::infinity());
  EXPECT_TRUE(b.met());
}

TEST(PromotionBoundTest, ExposureIsTheAtRiskCountBeforeEachTicksEvents) {
  SequentialGate gate =
      MakeGate({MetricSpec::Crash(), MetricSpec::SignTest("cpu", 0.5), MetricSpec::Silence()}, 2);
  ASSERT_TRUE(gate.SetAtRisk(0, 100, 1000).ok());
  ASSERT_TRUE(gate.SetAtRisk(1, 50, 500).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 1, 2).ok());  // crash, stratum 0
  gate.Tick();
  // Tick 1: the counts as set, for every count metric, with or without events.
  EXPECT_EQ(gate.Report(0, 0).treated_exposure, 100);
  EXPECT_EQ(gate.Report(0, 0).control_exposure, 1000);
  EXPECT_EQ(gate.Report(0, 1).treated_exposure, 50);
  EXPECT_EQ(gate.Report(2, 1).control_exposure, 500);
  EXPECT_EQ(gate.Report(0, SequentialGate::kPooled).treated_exposure, 150);
  EXPECT_EQ(gate.Report(0, SequentialGate::kPooled).control_exposure, 1500);
  // Tick 2 without SetAtRisk: the gate removed tick 1's failed devices from crash's at-risk set
  // (99 and 998 in stratum 0), not from silence's.
  gate.Tick();
  EXPECT_EQ(gate.Report(0, SequentialGate::kPooled).treated_exposure, 150 + 149);
  EXPECT_EQ(gate.Report(0, SequentialGate::kPooled).control_exposure, 1500 + 1498);
  EXPECT_EQ(gate.Report(2, SequentialGate::kPooled).treated_exposure, 300);
  EXPECT_EQ(gate.Report(2, SequentialGate::kPooled).control_exposure, 3000);
  // Sign tests have no exposure.
  EXPECT_EQ(gate.Report(1, SequentialGate::kPooled).treated_exposure, 0);
}

// The bound through the gate, and the bounded hold. Silence and crash, two strata, 10 ticks at
// R_T = 600 + 400 and R_C = 59,400 + 39,600: E_T = 10,000 and E_C = 990,000 for both metrics.
// Silence: 3 treated, 200 control events (the second hand example above: p_ex = 5.9625e-3 >
// limit 3.3333e-3 before a 9,000-device wave). Crash: none (p_ex = 2.995732/1,000 <= 3.3333e-3).
// The fixture uses tau = 1, the hand example's: at the default tau = 3 the same data meet the
// bound (DefaultToleranceMeetsTheSameBound).
GateOptions ToleranceOne() {
  GateOptions o;
  o.relative_harm_tolerance = 1;
  return o;
}

class BoundedHoldTest : public ::testing::Test {
 protected:
  BoundedHoldTest()
      : gate_(MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 2, ToleranceOne())) {
    for (int tick = 0; tick < 10; ++tick) {
      EXPECT_TRUE(gate_.SetAtRisk(0, 600, 59'400).ok());
      EXPECT_TRUE(gate_.SetAtRisk(1, 400, 39'600).ok());
      if (tick == 0) {
        EXPECT_TRUE(gate_.AddCountEvents(0, 0, 2, 120).ok());
        EXPECT_TRUE(gate_.AddCountEvents(0, 1, 1, 80).ok());
      }
      gate_.Tick();
    }
  }
  static BakeSummary Bake(int64_t held, int64_t max_hold) {
    return {1'000, 0, 9'000, held, max_hold};
  }
  SequentialGate gate_;
  static constexpr int64_t kBake = 30LL * 60 * 1'000'000;  // 30 min
};

TEST_F(BoundedHoldTest, HoldsOnTheExcessBoundWithHandValues) {
  EXPECT_EQ(gate_.Decide({}).verdict, Verdict::kContinue);  // E far below any threshold
  const Decision d = gate_.DecideAtBakeEnd({}, Bake(0, kBake));
  EXPECT_EQ(d.verdict, Verdict::kHold);
  EXPECT_EQ(d.reason, Reason::kPromotionBoundNotMet);
  EXPECT_EQ(d.metric, 0);  // silence: 1.79 x its limit; crash: 0.90 x
  EXPECT_NEAR(d.value, 5.9625404972959467e-3, kTol);
  EXPECT_NEAR(d.limit, 30.0 / 9'000, kTol);
  EXPECT_EQ(d.bound.treated_events, 3);
  EXPECT_EQ(d.bound.control_events, 200);
  EXPECT_EQ(d.bound.treated_exposure, 10'000);
  EXPECT_EQ(d.bound.control_exposure, 990'000);
  EXPECT_NEAR(d.bound.background_lcb, 1.7911160306367802, kTol);
  EXPECT_NEAR(d.bound.background_next, 18.181818181818182, kTol);
  EXPECT_NEAR(d.bound.budget, 30, kTol);
  EXPECT_EQ(DescribeDecision(d, gate_.metrics()),
            "HOLD: silence excess p_UCB 0.00596 > 0.00333 (budget 30 / next wave 9000; 3 treated "
            "events, background >= 1.79)");
  // Crash alone would pass: U(0)/1,000 = 2.9957e-3 <= 3.3333e-3.
  const PromotionBound crash = gate_.Bound(1, 1'000, 9'000);
  EXPECT_NEAR(crash.excess_rate_ucb, 2.995732273553991e-3, kTol);
  EXPECT_TRUE(crash.met());
}

TEST_F(BoundedHoldTest, WaivedOnceHeldForTheMaximum) {
  // Held for less than the maximum: still HOLD.
  EXPECT_EQ(gate_.DecideAtBakeEnd({}, Bake(kBake - 1, kBake)).reason,
            Reason::kPromotionBoundNotMet);
  // Held for the maximum: PROMOTE, waived, with the same values for the page and the audit.
  const Decision d = gate_.DecideAtBakeEnd({}, Bake(kBake, kBake));
  EXPECT_EQ(d.verdict, Verdict::kPromote);
  EXPECT_EQ(d.reason, Reason::kPromotionBoundWaived);
  EXPECT_EQ(d.metric, 0);
  EXPECT_NEAR(d.value, 5.9625404972959467e-3, kTol);
  EXPECT_NEAR(d.limit, 30.0 / 9'000, kTol);
  EXPECT_EQ(ReasonName(d.reason), "promotion_bound_waived");
  EXPECT_EQ(DescribeDecision(d, gate_.metrics()),
            "PROMOTE: silence bound waived after the maximum hold: excess p_UCB 0.00596 > 0.00333 "
            "(budget 30 / next wave 9000; 3 treated events, background >= 1.79)");
  // max_promotion_hold_micros = 0: hold however long it has been held.
  EXPECT_EQ(gate_.DecideAtBakeEnd({}, Bake(1'000 * kBake, 0)).verdict, Verdict::kHold);
  // The waiver is for the promotion bound only: a health HOLD or too few baked devices still
  // hold, and a HALT still halts.
  HealthSignals lag;
  lag.telemetry_lag_seconds = 300;
  EXPECT_EQ(gate_.DecideAtBakeEnd(lag, Bake(kBake, kBake)).reason, Reason::kTelemetryLag);
  EXPECT_EQ(gate_.DecideAtBakeEnd({}, {1'000, 2'000, 9'000, kBake, kBake}).reason,
            Reason::kInsufficientExposure);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(gate_.SetAtRisk(0, 600, 59'400).ok());
    ASSERT_TRUE(gate_.AddCountEvents(1, 0, 3, 0).ok());  // 9 crashes at rho = 0.01
    gate_.Tick();
  }
  EXPECT_EQ(gate_.DecideAtBakeEnd({}, Bake(kBake, kBake)).verdict, Verdict::kHalt);
}

// The same data at the default tau = 3: B_eff = max(30, 3·18.181818181818182) = 54.545454545454547,
// limit 54.545454545454547/9,000 = 6.0606060606060606e-3 >= p_ex = 5.9625404972959467e-3: met
// (53.66 excess devices possible against 54.55), with no hold and no waiver.
TEST(PromotionBoundTest, DefaultToleranceMeetsTheSameBound) {
  SequentialGate gate = MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 2);
  for (int tick = 0; tick < 10; ++tick) {
    ASSERT_TRUE(gate.SetAtRisk(0, 600, 59'400).ok());
    ASSERT_TRUE(gate.SetAtRisk(1, 400, 39'600).ok());
    if (tick == 0) {
      ASSERT_TRUE(gate.AddCountEvents(0, 0, 2, 120).ok());
      ASSERT_TRUE(gate.AddCountEvents(0, 1, 1, 80).ok());
    }
    gate.Tick();
  }
  const PromotionBound b = gate.Bound(0, 1'000, 9'000);
  EXPECT_NEAR(b.excess_rate_ucb, 5.9625404972959467e-3, kTol);
  EXPECT_NEAR(b.budget, 54.545454545454547, kTol);
  EXPECT_NEAR(b.limit, 6.0606060606060606e-3, kTol);
  EXPECT_TRUE(b.met());
  const Decision d = gate.DecideAtBakeEnd({}, {1'000, 0, 9'000, 0, 0});
  EXPECT_EQ(d.verdict, Verdict::kPromote);
  EXPECT_EQ(d.reason, Reason::kPromotionBoundMet);
  // One more treated silence over the same exposure is not met: U(4) = gamma_p_inv(5, 0.95) =
  // 9.1535190266375733, p_ex = (9.1535190266375733 − 1.7911160306367802)/1,000 =
  // 7.3624029960007931e-3 > 6.06e-3.
  const PromotionBound four = ComputePromotionBound(4, 10'000, 200, 990'000, 1'000, 9'000, 0.05,
                                                    30, GateOptions{}.relative_harm_tolerance);
  EXPECT_NEAR(four.excess_rate_ucb, 7.3624029960007931e-3, kTol);
  EXPECT_NEAR(four.limit, 6.0606060606060606e-3, kTol);
  EXPECT_FALSE(four.met());
}

TEST_F(BoundedHoldTest, MetBoundIsNotAWaiver) {
  // Before a 900-device wave the same data pass: limit 30/900 = 0.0333 >= 5.96e-3.
  const Decision d = gate_.DecideAtBakeEnd({}, {1'000, 0, 900, kBake, kBake});
  EXPECT_EQ(d.verdict, Verdict::kPromote);
  EXPECT_EQ(d.reason, Reason::kPromotionBoundMet);
  EXPECT_EQ(DescribeDecision(d, gate_.metrics()),
            "PROMOTE: silence excess p_UCB 0.00596 <= 0.0333 (budget 30 / next wave 900; 3 treated "
            "events, background >= 1.79)");
}

// ---------------------------------------------------------------------------------------------
// Validation.

TEST(CreateTest, RejectsBadConfiguration) {
  auto create = [](std::vector<MetricSpec> metrics, int strata, GateOptions o = {}) {
    return SequentialGate::Create(std::move(metrics), strata, o).status().code();
  };
  const StatusCode kBad = StatusCode::kInvalidArgument;
  EXPECT_EQ(create({}, 1), kBad);
  EXPECT_EQ(create({MetricSpec::Crash()}, 0), kBad);
  EXPECT_EQ(create({MetricSpec::Crash(), MetricSpec::Crash()}, 1), kBad);  // duplicate name
  EXPECT_EQ(create({MetricSpec::Count("", 1, false)}, 1), kBad);
  EXPECT_EQ(create({MetricSpec::Count("c", 0, false)}, 1), kBad);
  EXPECT_EQ(create({MetricSpec::Count("c", 1.5, false)}, 1), kBad);  // grid point 1.5 not > r0
  EXPECT_EQ(create({MetricSpec::SignTest("l", 0.55)}, 1), kBad);     // grid point 0.55 not > θ0
  EXPECT_EQ(create({MetricSpec::SignTest("l", 1.0)}, 1), kBad);
  MetricSpec sign_with_bound = MetricSpec::SignTest("l", 0.5);
  sign_with_bound.promotion_bound = true;
  EXPECT_EQ(create({sign_with_bound}, 1), kBad);
  for (double alpha : {0.0, 1.0, -0.1}) {
    GateOptions o;
    o.alpha = alpha;
    EXPECT_EQ(create({MetricSpec::Crash()}, 1, o), kBad) << alpha;
  }
  GateOptions o;
  o.count_grid = {};
  EXPECT_EQ(create({MetricSpec::Crash()}, 1, o), kBad);
  EXPECT_EQ(create({MetricSpec::SignTest("l", 0.5)}, 1, o), StatusCode::kOk);  // unused grid
  o = {};
  o.sign_grid = {0.6, 1.0};
  EXPECT_EQ(create({MetricSpec::SignTest("l", 0.5)}, 1, o), kBad);
  o = {};
  o.min_treated_events = -1;
  EXPECT_EQ(create({MetricSpec::Crash()}, 1, o), kBad);
  o = {};
  o.promotion_alpha = 1;
  EXPECT_EQ(create({MetricSpec::Crash()}, 1, o), kBad);
  o = {};
  o.harm_budget = 0;
  EXPECT_EQ(create({MetricSpec::Crash()}, 1, o), kBad);
  for (double tau :
       {-0.1, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    o = {};
    o.relative_harm_tolerance = tau;
    EXPECT_EQ(create({MetricSpec::Crash()}, 1, o), kBad) << tau;
  }
  o = {};
  o.relative_harm_tolerance = 0;  // the absolute budget alone
  EXPECT_EQ(create({MetricSpec::Crash()}, 1, o), StatusCode::kOk);
  EXPECT_EQ(create({MetricSpec::Silence(), MetricSpec::Crash(), MetricSpec::ErrorIncidence(),
                    MetricSpec::SignTest("cpu", 0.52)},
                   100),
            StatusCode::kOk);
}

TEST(CreateTest, DefaultsMatchTheSpec) {
  const GateOptions o;
  EXPECT_EQ(o.alpha, 0.01);
  EXPECT_EQ(o.count_grid, (std::vector<double>{1.5, 2, 3, 5, 10, 30, 100, 1e3, 1e4, 1e5}));
  EXPECT_EQ(o.sign_grid, (std::vector<double>{0.55, 0.6, 0.65, 0.7, 0.8, 0.9}));
  EXPECT_EQ(o.min_treated_events, 3);
  EXPECT_EQ(o.promotion_alpha, 0.05);
  EXPECT_EQ(o.harm_budget, 30);
  EXPECT_EQ(o.relative_harm_tolerance, 3.0);
  const BakeSummary bake;
  EXPECT_EQ(bake.max_promotion_hold_micros, 0);  // no waiver unless the caller asks for one
  EXPECT_EQ(MetricSpec::Silence().null_ratio, 1.0);
  EXPECT_EQ(MetricSpec::Crash().null_ratio, 1.0);
  EXPECT_EQ(MetricSpec::ErrorIncidence().null_ratio, 1.2);
  EXPECT_TRUE(MetricSpec::Silence().promotion_bound);
  EXPECT_FALSE(MetricSpec::ErrorIncidence().promotion_bound);
}

}  // namespace
}  // namespace rf::rollout

namespace rf::rollout {
namespace {

// Feeds the same seeded ticks to a gate (a restart after `restart_after` ticks restores a fresh
// gate from the saved state) and returns every test's final log e-value.
std::vector<double> RunTicks(int ticks, int restart_after) {
  const std::vector<MetricSpec> metrics = {MetricSpec::Silence(), MetricSpec::Crash(),
                                           MetricSpec::ErrorIncidence(),
                                           MetricSpec::SignTest("cpu", 0.5)};
  SequentialGate gate = MakeGate(metrics, 3);
  SeededRandom rng(7);
  for (int t = 0; t < ticks; ++t) {
    if (t == restart_after) {
      const std::string saved = gate.EncodeState();
      SequentialGate fresh = MakeGate(metrics, 3);
      EXPECT_TRUE(fresh.RestoreState(saved).ok());
      EXPECT_EQ(fresh.EncodeState(), saved);
      gate = std::move(fresh);
    }
    for (int s = 0; s < 3; ++s) {
      EXPECT_TRUE(gate.SetAtRisk(s, 100 + 10 * t, 10'000).ok());
      for (int m = 0; m < 3; ++m) {
        EXPECT_TRUE(gate.AddCountEvents(m, s, static_cast<int64_t>(rng.Below(3)),
                                        static_cast<int64_t>(rng.Below(20))).ok());
      }
      EXPECT_TRUE(gate.AddSignPairs(3, s, static_cast<int64_t>(rng.Below(5)),
                                    static_cast<int64_t>(rng.Below(5)), 1).ok());
    }
    gate.Tick();
  }
  std::vector<double> out;
  for (int m = 0; m < gate.num_metrics(); ++m) {
    for (int s = SequentialGate::kPooled; s < 3; ++s) {
      out.push_back(gate.Report(m, s).log_e_value);
      out.push_back(static_cast<double>(gate.Report(m, s).treated_events));
      out.push_back(gate.Report(m, s).treated_exposure);
    }
  }
  return out;
}

TEST(GateStateTest, ARestoredGateContinuesExactlyWhereTheSavedOneWas) {
  const std::vector<double> straight = RunTicks(40, -1);
  const std::vector<double> restarted = RunTicks(40, 17);
  ASSERT_EQ(straight.size(), restarted.size());
  for (size_t i = 0; i < straight.size(); ++i) EXPECT_DOUBLE_EQ(straight[i], restarted[i]) << i;
}

TEST(GateStateTest, MismatchedOrMalformedStateIsRefusedAndChangesNothing) {
  SequentialGate gate = MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 2);
  ASSERT_TRUE(gate.SetAtRisk(0, 10, 1000).ok());
  ASSERT_TRUE(gate.AddCountEvents(0, 0, 2, 1).ok());
  gate.Tick();
  const std::string saved = gate.EncodeState();

  SequentialGate other_strata = MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 3);
  Status s = other_strata.RestoreState(saved);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("other metrics or strata"), std::string::npos) << s.message();
  SequentialGate other_metric = MakeGate({MetricSpec::Silence(), MetricSpec::ErrorIncidence()}, 2);
  EXPECT_FALSE(other_metric.RestoreState(saved).ok());
  GateOptions other_alpha;
  other_alpha.alpha = 0.002;
  SequentialGate stricter = MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 2, other_alpha);
  EXPECT_NE(stricter.RestoreState(saved).message().find("thresholds"), std::string::npos);

  SequentialGate target = MakeGate({MetricSpec::Silence(), MetricSpec::Crash()}, 2);
  const std::string before = target.EncodeState();
  for (const std::string& bad :
       {std::string(""), std::string("rfgate 2"), saved.substr(0, saved.size() / 2),
        saved + " 1", std::string("hello"), [&] {
          std::string t = saved;
          t[t.find('\n') + 1] = '-';  // a negative event count
          return t;
        }()}) {
    EXPECT_FALSE(target.RestoreState(bad).ok()) << bad;
    EXPECT_EQ(target.EncodeState(), before);
  }
  EXPECT_TRUE(target.RestoreState(saved).ok());
  EXPECT_EQ(target.Report(0, 0).treated_events, 2);
  EXPECT_DOUBLE_EQ(target.Report(0, 0).log_e_value, gate.Report(0, 0).log_e_value);
}

}  // namespace
}  // namespace rf::rollout
