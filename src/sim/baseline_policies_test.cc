#include "sim/baseline_policies.h"

#include <gtest/gtest.h>

#include <string>

#include "sim/engine.h"

namespace rf::sim {
namespace {

constexpr int64_t kMinute = 60'000'000;

// 20,000 devices checking in every 30 s: 80% "edge" (eligible; fails as `failure` says), 20%
// "dns" (eligible, healthy). Light baseline noise.
Scenario Fleet(const std::string& failure) {
  const std::string text = R"(scenario: small
fleet:
  devices: 20000
  poll_interval: 30s
  online: 0.99
  strata:
    - {attrs: {role: edge}, share: 0.8, capabilities: {t: {schema_versions: [1], inputs: 3}}}
    - {attrs: {role: dns}, share: 0.2, capabilities: {t: {schema_versions: [1], inputs: 3}}}
  baseline: {silence_per_day: 0.001, crash_per_day: 0.001, error_per_day: 0.01}
release:
  content_type: t
  failure: )" + failure + R"(
plan: p.yaml
)";
  auto s = ParseScenario(text, "small.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

const char kErrors[] = "[{match: {role: edge}, p: 1, after: 20s, signal: error}]";
const char kCrashLoop[] =
    "[{match: {role: edge}, p: 1, after: 3s, signal: crash, repeats_on_boot: true}]";
const char kSilence[] =
    "[{match: {role: edge}, p: 1, after: 5s, signal: silence, repeats_on_boot: true}]";

SimResult Simulate(RolloutPolicy& policy, const std::string& failure, uint64_t seed = 1) {
  auto r = RunSimulation(Fleet(failure), policy, SimulationOptions{}, seed);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SimResult{};
}

// Lines of the run's log containing `text`.
int LogLines(const SimResult& r, const std::string& text) {
  int n = 0;
  for (const std::string& l : r.log) n += l.find(text) != std::string::npos;
  return n;
}

TEST(AllAtOncePolicyTest, EveryoneAtOnceNoHalt) {
  AllAtOncePolicy p;
  SimResult r = Simulate(p, kErrors);
  EXPECT_EQ(*r.full_dispatch_micros, 0);
  EXPECT_FALSE(r.halted);
  EXPECT_EQ(r.exposed, 20000);
  EXPECT_EQ(r.harmed, 16000);
}

TEST(AppConfigCanaryPolicyTest, GrowsExponentiallyOverTwentyMinutesThenBakes) {
  AppConfigCanaryPolicy p;
  SimResult r = Simulate(p, "[]");
  EXPECT_FALSE(r.halted);
  EXPECT_EQ(r.outcome, "completed");
  // 10% at 0, 20% at 4 min, 40% at 8, 80% at 12, 100% at 16.
  ASSERT_TRUE(r.full_dispatch_micros.has_value());
  EXPECT_EQ(*r.full_dispatch_micros, 16 * kMinute);
  EXPECT_EQ(LogLines(r, "deployment step"), 5);
  EXPECT_EQ(LogLines(r, "00:00 deployment step 1: 10%"), 1);
  EXPECT_EQ(LogLines(r, "04:00 deployment step 2: 20%"), 1);
  EXPECT_EQ(LogLines(r, "30:00 bake over"), 1);
}

TEST(AppConfigCanaryPolicyTest, AlarmOnErrorsRollsBack) {
  AppConfigCanaryPolicy p;
  SimResult r = Simulate(p, kErrors);
  ASSERT_TRUE(r.halted);
  EXPECT_LE(*r.halt_micros, 3 * kMinute);
  // The first 10% step went out at once: about 2,000 exposed, 1,600 of them failing.
  EXPECT_LT(r.exposed, 2200);
  EXPECT_GT(r.harmed, 1400);
}

TEST(AppConfigCanaryPolicyTest, SilenceNeverRaisesTheAlarm) {
  AppConfigCanaryPolicy p;
  SimResult r = Simulate(p, kSilence);
  EXPECT_FALSE(r.halted);
  EXPECT_EQ(r.harmed, 16000);
}

TEST(ArgoThresholdPolicyTest, StepsEveryTenMinutesWithoutFailures) {
  ArgoThresholdPolicy p;
  SimResult r = Simulate(p, "[]");
  EXPECT_FALSE(r.halted);
  EXPECT_EQ(*r.full_dispatch_micros, 40 * kMinute);
  EXPECT_EQ(LogLines(r, "setWeight"), 5);
  EXPECT_EQ(LogLines(r, "measurement failed"), 0);
}

TEST(ArgoThresholdPolicyTest, AbortsAfterThreeFailedMeasurements) {
  ArgoThresholdPolicy p;
  SimResult r = Simulate(p, kCrashLoop);
  ASSERT_TRUE(r.halted);
  EXPECT_EQ(LogLines(r, "measurement failed"), 3);
  EXPECT_NE(r.outcome.find("3 failed measurements"), std::string::npos);
  EXPECT_LE(*r.halt_micros, 5 * kMinute);
  EXPECT_LT(r.exposed, 4200);  // the 20% first step
}

TEST(ArgoThresholdPolicyTest, SilentHostsAreNotMeasured) {
  ArgoThresholdPolicy p;
  SimResult r = Simulate(p, kSilence);
  EXPECT_FALSE(r.halted);  // the healthy 'dns' canaries keep the success rate at 100%
  EXPECT_EQ(r.harmed, 16000);
}

TEST(KayentaPolicyTest, PassingCanaryGoesToEveryoneAfterItsLifetime) {
  KayentaPolicy p;
  SimResult r = Simulate(p, "[]");
  EXPECT_FALSE(r.halted);
  EXPECT_EQ(LogLines(r, "judgement passed"), 3);
  EXPECT_EQ(*r.full_dispatch_micros, 60 * kMinute);
}

TEST(KayentaPolicyTest, CrashLoopFailsTheFirstJudgement) {
  KayentaPolicy p;
  SimResult r = Simulate(p, kCrashLoop);
  ASSERT_TRUE(r.halted);
  EXPECT_EQ(*r.halt_micros, 20 * kMinute);
  EXPECT_NE(r.outcome.find("crash rate"), std::string::npos);
  EXPECT_NEAR(static_cast<double>(r.exposed), 200, 3);  // the 1% canary
  EXPECT_NEAR(static_cast<double>(r.harmed), 160, 3);
}

TEST(KayentaPolicyTest, NoDataPassesSoSilenceShipsToEveryone) {
  KayentaPolicy p;
  SimResult r = Simulate(p, kSilence);
  EXPECT_FALSE(r.halted);
  EXPECT_EQ(r.harmed, 16000);
}

TEST(PhasedReleasePolicyTest, SevenDailySteps) {
  PhasedReleasePolicy p;
  SimResult r = Simulate(p, kErrors);
  EXPECT_FALSE(r.halted);
  EXPECT_EQ(LogLines(r, "day "), 7);
  EXPECT_EQ(*r.full_dispatch_micros, 6 * 24 * 60 * kMinute);
  EXPECT_EQ(r.harmed, 16000);
}

TEST(MannWhitneyTest, ClassifiesAShiftAsHighOnlyWhenClear) {
  const std::vector<double> base = {0.01, 0.02, 0.015, 0.012, 0.018, 0.011, 0.02, 0.013,
                                    0.016, 0.014, 0.017, 0.019};
  std::vector<double> high;
  for (double b : base) high.push_back(b + 0.5);
  EXPECT_TRUE(MannWhitneyHigh(high, base, 0.98, 0.25));
  EXPECT_FALSE(MannWhitneyHigh(base, high, 0.98, 0.25));  // lower is not High
  EXPECT_FALSE(MannWhitneyHigh(base, base, 0.98, 0.25));  // identical: pass
  EXPECT_FALSE(MannWhitneyHigh({}, base, 0.98, 0.25));    // no data: pass
  EXPECT_FALSE(MannWhitneyHigh({0.9}, {0.1}, 0.98, 0.25));  // too few points for an interval
  std::vector<double> zeros(12, 0.0);
  EXPECT_FALSE(MannWhitneyHigh(zeros, zeros, 0.98, 0.25));
  std::vector<double> slightly = base;
  slightly[0] += 0.001;
  EXPECT_FALSE(MannWhitneyHigh(slightly, base, 0.98, 0.25));
}

}  // namespace
}  // namespace rf::sim
