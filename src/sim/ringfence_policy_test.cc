#include "sim/ringfence_policy.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "sim/engine.h"
#include "testing/test_util.h"

namespace rf::sim {
namespace {

constexpr int64_t kMinute = 60'000'000;

rollout::Plan LoadPlan(const std::string& name) {
  const std::string path = testing::SourcePath("samples/plans/" + name + ".yaml");
  auto plan = rollout::ParsePlan(testing::ReadFileOrDie(path), path);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return *plan;
}

// Windows 7.11 (60%) and 7.15 (39.9%) split by region in two classes each, plus a tiny 7.16
// stratum (0.1%): strata by (os, agent_version) are 3, classes 5.
Scenario Fleet(int64_t devices, const std::string& failure, const std::string& baseline = "{}") {
  const std::string text = R"(scenario: rf
fleet:
  devices: )" + std::to_string(devices) + R"(
  poll_interval: 60s
  online: 0.85
  strata:
    - {attrs: {os: windows, agent_version: "7.11", region: eu}, share: 0.3, capabilities: {ipc_rule: {schema_versions: [3], inputs: 20}}}
    - {attrs: {os: windows, agent_version: "7.11", region: us}, share: 0.3, capabilities: {ipc_rule: {schema_versions: [3], inputs: 20}}}
    - {attrs: {os: windows, agent_version: "7.15", region: eu}, share: 0.2, capabilities: {ipc_rule: {schema_versions: [3], inputs: 20}}}
    - {attrs: {os: windows, agent_version: "7.15", region: us}, share: 0.199, capabilities: {ipc_rule: {schema_versions: [3], inputs: 20}}}
    - {attrs: {os: windows, agent_version: "7.16", region: us}, share: 0.001, capabilities: {ipc_rule: {schema_versions: [3], inputs: 21}}}
  baseline: )" + baseline + R"(
release:
  content_type: ipc_rule
  failure: )" + failure + R"(
plan: p.yaml
)";
  auto s = ParseScenario(text, "rf.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

const char kSilentBootLoop[] =
    "[{match: {agent_version: [\"7.11\", \"7.15\"]}, p: 1, after: 5s, signal: silence, "
    "repeats_on_boot: true}]";

TEST(RingfencePolicyTest, CanaryCoversEveryStratumWithItsFloorPacedOverTheWindow) {
  const Scenario s = Fleet(200000, "[]");
  RingfencePolicy policy(LoadPlan("standard"));
  SimulationOptions o;
  o.max_duration_micros = 5 * kMinute;  // half of the canary's 10-minute dispatch window
  auto half = RunSimulation(s, policy, o, 1);
  ASSERT_TRUE(half.ok()) << half.status().ToString();
  RingfencePolicy policy2(LoadPlan("standard"));
  o.max_duration_micros = 11 * kMinute;
  auto full = RunSimulation(s, policy2, o, 1);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  // 0.01% of 200,000 is 20, but every (os, agent_version) stratum gets its floor of 50 exactly,
  // shared by the region classes of the stratum.
  const auto& st = full->strata;
  EXPECT_EQ(st[0].dispatched + st[1].dispatched, 50);
  EXPECT_EQ(st[2].dispatched + st[3].dispatched, 50);
  EXPECT_EQ(st[4].dispatched, 50);
  EXPECT_GT(st[0].dispatched, 10);  // both regions get some: ranks are random within a stratum
  EXPECT_GT(st[1].dispatched, 10);
  // Paced: about half of it by half of the window.
  int64_t at_half = 0;
  for (const StratumOutcome& o2 : half->strata) at_half += o2.dispatched;
  EXPECT_GT(at_half, 55);
  EXPECT_LT(at_half, 95);
  EXPECT_FALSE(full->halted);
  EXPECT_EQ(policy2.state().phase, rollout::Phase::kBaking);
  EXPECT_EQ(policy2.state().wave, 0);
  // 1% of each stratum is held back.
  EXPECT_NEAR(static_cast<double>(policy2.HeldBackDevices()), 2000, 150);
}

TEST(RingfencePolicyTest, SilentBootLoopIsHaltedAndRolledBackWithinMinutes) {
  const Scenario s = Fleet(1'000'000, kSilentBootLoop, "{silence_per_day: 0.002}");
  RingfencePolicy policy(LoadPlan("emergency"));
  auto r = RunSimulation(s, policy, SimulationOptions{}, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->halted);
  EXPECT_LE(*r->halt_micros, 5 * kMinute);
  EXPECT_EQ(policy.state().phase, rollout::Phase::kRolledBack);
  EXPECT_NE(r->outcome.find("silence"), std::string::npos) << r->outcome;
  EXPECT_LT(r->harmed, 100);
  EXPECT_GT(r->harmed, 0);
  EXPECT_EQ(r->strata[4].harmed, 0);  // 7.16 supplies the 21st input
  EXPECT_LE(r->exposed, 150);         // the canary floors: 3 strata x 30
  bool paged = false;
  for (const std::string& line : r->log) paged = paged || line.find("PAGE:") != std::string::npos;
  EXPECT_TRUE(paged);
}

TEST(RingfencePolicyTest, PausePlanHaltsWithoutRollingBack) {
  rollout::Plan plan = LoadPlan("emergency");
  plan.on_failure = rollout::FailureAction::kPause;
  const Scenario s = Fleet(1'000'000,
                           "[{match: {agent_version: \"7.11\"}, p: 1, after: 3s, signal: crash, "
                           "repeats_on_boot: true}]");
  RingfencePolicy policy(plan);
  auto r = RunSimulation(s, policy, SimulationOptions{}, 4);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->halted);
  EXPECT_EQ(policy.state().phase, rollout::Phase::kHalted);
  EXPECT_LT(r->harmed, 60);
}

TEST(RingfencePolicyTest, HealthyReleaseIsNeverHalted) {
  const Scenario s = Fleet(200000, "[]", "{silence_per_day: 0.01, crash_per_day: 0.001, error_per_day: 0.02}");
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    RingfencePolicy policy(LoadPlan("standard"));
    SimulationOptions o;
    o.max_duration_micros = 8 * 60 * kMinute;
    auto r = RunSimulation(s, policy, o, seed);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->halted) << "seed " << seed << ": " << r->outcome;
    EXPECT_LE(r->exposed, r->eligible);
  }
}

TEST(RingfencePolicyTest, HoldbackIsReleasedOnlyAfterTheLastPlanWaveBaked) {
  const Scenario s = Fleet(200000, "[]");
  RingfencePolicyOptions options;
  // Neutralise the PROMOTE bound (see docs/simulator.md, "Findings") so the schedule shows.
  options.gate.harm_budget = 1e12;
  RingfencePolicy policy(LoadPlan("standard"), options);
  auto r = RunSimulation(s, policy, SimulationOptions{}, 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(policy.state().phase, rollout::Phase::kCompleted) << r->outcome;
  EXPECT_EQ(r->exposed, r->eligible);
  // Dispatch + bake of the five plan waves: 40 + 40 + 75 + 90 + 120 = 365 min; the holdback is
  // then handed out over the last wave's 60-minute window.
  ASSERT_TRUE(r->full_dispatch_micros.has_value());
  // (The last holdback device may fall below the cutoff a tick before the window ends.)
  EXPECT_LE(*r->full_dispatch_micros, (365 + 60) * kMinute);
  EXPECT_GT(*r->full_dispatch_micros, (365 + 59) * kMinute);
  ASSERT_TRUE(r->reach_99_outside_holdback_micros.has_value());
  EXPECT_LT(*r->reach_99_outside_holdback_micros, 6 * 60 * kMinute);
  ASSERT_TRUE(r->reach_99_micros.has_value());
  EXPECT_GT(*r->reach_99_micros, 365 * kMinute);
}

// A healthy release on a noisy fleet: background events keep the promotion bound from being met
// in the small early waves (docs/gate.md, "Promotion"), and the hold is bounded: after half a
// bake of holding (the default), the gate waives the bound, the adapter pages and audits, and the
// release goes on.
TEST(RingfencePolicyTest, PromotionBoundHoldIsBoundedPagedAndCompletes) {
  const Scenario s =
      Fleet(200000, "[]", "{silence_per_day: 0.01, crash_per_day: 0.001, error_per_day: 0.02}");
  const rollout::Plan plan = LoadPlan("standard");
  int waivers = 0;
  uint64_t waived_seed = 0;
  std::optional<int64_t> waived_reach_99;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    RingfencePolicy policy(plan);
    auto r = RunSimulation(s, policy, SimulationOptions{}, seed);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->halted) << r->outcome;
    EXPECT_EQ(policy.state().phase, rollout::Phase::kCompleted)
        << "seed " << seed << ": " << r->outcome;
    // Every waiver is paged, after exactly half the wave's bake of holding on the bound.
    std::string refused_wave;
    for (const std::string& line : r->log) {
      const size_t at = line.find("promotion_bound_not_met");
      if (at != std::string::npos) refused_wave = line;
      if (line.find("PAGE:") == std::string::npos) continue;
      ASSERT_NE(line.find("on the promotion bound, waived: PROMOTE:"), std::string::npos) << line;
      ++waivers;
      if (waived_seed == 0) {
        waived_seed = seed;
        waived_reach_99 = r->reach_99_micros;
      }
      int wave = -1;
      for (int w = 0; w < static_cast<int>(plan.waves.size()); ++w) {
        if (line.find("promotion of '" + plan.waves[w].name + "'") != std::string::npos) wave = w;
      }
      ASSERT_GE(wave, 0) << line;
      EXPECT_NE(line.find("held " + FormatSimTime(plan.waves[wave].bake_micros / 2) + " on"),
                std::string::npos)
          << line;
      EXPECT_NE(refused_wave.find("promotion of '" + plan.waves[wave].name + "' not yet"),
                std::string::npos)
          << refused_wave;
    }
  }
  ASSERT_GT(waivers, 0);  // the seeds do exercise the waiver

  // Without a maximum hold (0 = indefinitely) the same release waits, unpaged, until enough
  // background has accumulated for the relative budget to cover its excess bound, or forever
  // (seed 1: 99 % reached at 7:09:50 instead of 6:54:00; at tau = 1 the wait was about 9 hours).
  RingfencePolicyOptions options;
  options.max_promotion_hold_bakes = 0;
  RingfencePolicy stalled(plan, options);
  SimulationOptions o;
  o.max_duration_micros = 24 * 60 * kMinute;
  auto r = RunSimulation(s, stalled, o, waived_seed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->halted);
  ASSERT_TRUE(waived_reach_99.has_value());
  if (r->reach_99_micros.has_value()) {
    EXPECT_GT(*r->reach_99_micros, *waived_reach_99);
  }
  for (const std::string& line : r->log) EXPECT_EQ(line.find("PAGE:"), std::string::npos) << line;
}

// Too few baked devices is not waived (docs/gate.md): the wave holds, and after the maximum hold
// (half a bake) the adapter pages once.
TEST(RingfencePolicyTest, InsufficientExposureHoldsAndPagesOnce) {
  RingfencePolicyOptions options;
  options.min_baked_share = 2;  // twice the devices the canary can have: never met
  RingfencePolicy policy(LoadPlan("standard"), options);
  SimulationOptions o;
  o.max_duration_micros = 3 * 60 * kMinute;
  auto r = RunSimulation(Fleet(200000, "[]"), policy, o, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(policy.state().wave, 0);
  EXPECT_EQ(policy.state().phase, rollout::Phase::kBaking);
  int pages = 0;
  for (const std::string& line : r->log) {
    if (line.find("PAGE:") == std::string::npos) continue;
    ++pages;
    // Bake over at 40:00; held half a bake (15 min) later.
    EXPECT_EQ(line.rfind("55:00 PAGE: release", 0), 0u) << line;
    EXPECT_NE(line.find("'canary' held 15:00 on insufficient_exposure"), std::string::npos) << line;
  }
  EXPECT_EQ(pages, 1);
}

TEST(RingfencePolicyTest, RefusesAnUnsafePlan) {
  const std::string text = R"(plan: reckless
waves:
  - {name: everyone, devices: 100%, dispatch: 1m, bake: 0s}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 90s, holdback: 1%}
on_failure: rollback
)";
  auto plan = rollout::ParsePlan(text, "reckless.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  RingfencePolicy policy(*plan);
  auto r = RunSimulation(Fleet(1000, "[]"), policy, SimulationOptions{}, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("unsafe plan"), std::string::npos) << r.status().message();
}

TEST(RingfencePolicyTest, SameSeedSameDecisions) {
  const Scenario s = Fleet(300000, kSilentBootLoop, "{silence_per_day: 0.01}");
  auto run = [&](uint64_t seed) {
    RingfencePolicy policy(LoadPlan("emergency"));
    auto r = RunSimulation(s, policy, SimulationOptions{}, seed);
    EXPECT_TRUE(r.ok());
    return *r;
  };
  const SimResult a = run(9), b = run(9);
  EXPECT_EQ(a.log, b.log);
  EXPECT_EQ(a.harmed, b.harmed);
  EXPECT_EQ(a.halt_micros, b.halt_micros);
  for (size_t i = 0; i < a.strata.size(); ++i) EXPECT_EQ(a.strata[i].dispatched, b.strata[i].dispatched);
}

}  // namespace
}  // namespace rf::sim
