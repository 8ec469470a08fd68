#include "sim/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace rf::sim {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int kSilence = static_cast<int>(FailureSignal::kSilence);
constexpr int kCrash = static_cast<int>(FailureSignal::kCrash);
constexpr int kError = static_cast<int>(FailureSignal::kError);

// A fleet of `devices`: 60% windows (eligible, fails as `failure` says), 30% macos (eligible,
// healthy), 10% linux (ineligible).
Scenario MakeScenario(int64_t devices, const std::string& failure, double online = 1.0,
                      const std::string& baseline = "{}") {
  const std::string text = R"(scenario: test
fleet:
  devices: )" + std::to_string(devices) + R"(
  poll_interval: 60s
  online: )" + std::to_string(online) + R"(
  offline_spell: 5m
  strata:
    - {attrs: {os: windows}, share: 0.6, capabilities: {t: {schema_versions: [1], inputs: 3}}}
    - {attrs: {os: macos}, share: 0.3, capabilities: {t: {schema_versions: [1], inputs: 3}}}
    - {attrs: {os: linux}, share: 0.1, capabilities: {}}
  baseline: )" + baseline + R"(
release:
  content_type: t
  failure: )" + failure + R"(
plan: p.yaml
)";
  auto s = ParseScenario(text, "test.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

// Follows a fixed script: at each step's time, raise every eligible class to `share` of its
// devices, optionally stop or roll back. Records every telemetry it receives.
class ScriptedPolicy final : public RolloutPolicy {
 public:
  struct Step {
    int64_t at = 0;
    double share = 0;
    bool stop = false;
    bool rollback = false;
    bool pause = false;
    bool resume = false;
  };
  explicit ScriptedPolicy(std::vector<Step> steps) : steps_(std::move(steps)) {}
  std::string_view name() const override { return "scripted"; }
  Status Start(const SimContext& ctx, PolicyAction& action) override {
    ctx_ = ctx;
    sent_.assign(ctx.classes.size(), 0);
    Run(0, action);
    return Status::Ok();
  }
  Status OnTick(const Telemetry& t, PolicyAction& action) override {
    seen.push_back(t);
    Run(t.now_micros, action);
    return Status::Ok();
  }
  bool Finished() const override { return next_ == steps_.size(); }
  std::string Outcome() const override { return "scripted"; }

  std::vector<Telemetry> seen;

 private:
  void Run(int64_t now, PolicyAction& action) {
    while (next_ < steps_.size() && steps_[next_].at <= now) {
      const Step& s = steps_[next_++];
      for (size_t c = 0; c < ctx_.classes.size(); ++c) {
        if (!ctx_.classes[c].eligible) continue;
        const auto target = static_cast<int64_t>(s.share * static_cast<double>(ctx_.classes[c].devices));
        if (target > sent_[c]) {
          action.dispatch[c] += target - sent_[c];
          sent_[c] = target;
        }
      }
      action.stop_dispatch = action.stop_dispatch || s.stop;
      action.rollback = action.rollback || s.rollback;
      action.pause_dispatch = action.pause_dispatch || s.pause;
      action.resume_dispatch = action.resume_dispatch || s.resume;
    }
  }
  std::vector<Step> steps_;
  size_t next_ = 0;
  SimContext ctx_;
  std::vector<int64_t> sent_;
};

SimulationOptions NoLag() {
  SimulationOptions o;
  o.telemetry_lag_micros = 0;
  o.max_duration_micros = 3 * 3600 * kSecond;
  return o;
}

int64_t Sum(const Telemetry& t, int signal, bool treated) {
  int64_t n = 0;
  for (const ClassTelemetry& c : t.classes) n += (treated ? c.treated : c.control).events[signal];
  return n;
}

TEST(EngineTest, ExposureNeverExceedsEligibilityAndIneligibleDevicesAreNeverTouched) {
  const Scenario s = MakeScenario(
      20000, "[{match: {os: windows}, p: 1, after: 5s, signal: silence, repeats_on_boot: true}]",
      0.8);
  ScriptedPolicy all({{0, 1.0}});
  auto r = RunSimulation(s, all, NoLag(), 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->eligible, 18000);
  EXPECT_LE(r->exposed, r->eligible);
  EXPECT_EQ(r->exposed, r->eligible);  // everyone comes back online within 3 hours
  ASSERT_EQ(r->strata.size(), 3u);
  EXPECT_FALSE(r->strata[2].eligible);
  EXPECT_EQ(r->strata[2].dispatched, 0);
  EXPECT_EQ(r->strata[2].exposed, 0);
  EXPECT_EQ(r->strata[0].harmed, r->strata[0].exposed);  // p = 1
  EXPECT_EQ(r->strata[1].harmed, 0);                     // does not match
  EXPECT_EQ(r->harmed, 12000);
  EXPECT_FALSE(r->halted);
  ASSERT_TRUE(r->full_dispatch_micros.has_value());
  EXPECT_EQ(*r->full_dispatch_micros, 0);
  for (const Telemetry& t : all.seen) {
    int64_t applied = 0;
    for (size_t c = 0; c < t.classes.size(); ++c) {
      applied += t.classes[c].applied;
      EXPECT_LE(t.classes[c].applied, t.classes[c].dispatched);
    }
    EXPECT_LE(applied, r->eligible);
    EXPECT_EQ(t.classes[2].applied, 0);
  }
}

TEST(EngineTest, HaltStopsNewExposureWithinOnePollInterval) {
  const Scenario s = MakeScenario(100000, "[]", 0.5);
  const int64_t halt = 30 * kSecond;
  ScriptedPolicy policy({{0, 1.0}, {halt, 1.0, /*stop=*/true}});
  auto r = RunSimulation(s, policy, NoLag(), 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->halted);
  EXPECT_EQ(*r->halt_micros, halt);
  int64_t applied_at_halt = -1;
  for (const Telemetry& t : policy.seen) {
    int64_t applied = 0;
    for (const ClassTelemetry& c : t.classes) applied += c.applied;
    if (t.observed_micros == halt) applied_at_halt = applied;
    if (t.observed_micros >= halt + s.fleet.poll_interval_micros) {
      EXPECT_EQ(applied, applied_at_halt) << "applied after halt at " << t.observed_micros;
    }
  }
  ASSERT_GT(applied_at_halt, 0);
  EXPECT_EQ(r->exposed, applied_at_halt);
  // Half were offline and half of the online ones had not checked in yet: far from everyone.
  EXPECT_LT(r->exposed, 45000);
  EXPECT_GT(r->exposed, 15000);
}

TEST(EngineTest, PauseRevokesOffersNotYetAppliedAndResumeReoffersThem) {
  const Scenario s = MakeScenario(100000, "[]", 0.5);
  const int64_t pause = 30 * kSecond, resume = 10 * 60 * kSecond;
  ScriptedPolicy::Step p{pause, 1.0};
  p.pause = true;
  ScriptedPolicy::Step r{resume, 1.0};
  r.resume = true;
  ScriptedPolicy policy({{0, 1.0}, p, r});
  auto result = RunSimulation(s, policy, NoLag(), 2);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_FALSE(result->halted);
  int64_t at_pause = -1;
  for (const Telemetry& t : policy.seen) {
    int64_t applied = 0, dispatched = 0;
    for (const ClassTelemetry& c : t.classes) {
      applied += c.applied;
      dispatched += c.dispatched;
    }
    if (t.observed_micros == pause) at_pause = applied;
    if (t.observed_micros > pause && t.observed_micros < resume) {
      EXPECT_EQ(applied, at_pause) << "applied while paused at " << t.observed_micros;
      // In-flight offers are revoked at the devices' next check-in, within one poll interval.
      if (t.observed_micros >= pause + s.fleet.poll_interval_micros) {
        EXPECT_EQ(dispatched, applied);
      }
    }
  }
  ASSERT_GT(at_pause, 0);
  EXPECT_LT(at_pause, 45000);
  EXPECT_EQ(result->exposed, 90000);  // everyone gets it after the resume
}

TEST(EngineTest, SameSeedSameRunDifferentSeedDifferentRun) {
  const Scenario s = MakeScenario(
      50000, "[{match: {os: windows}, p: 0.3, after: 1m, signal: crash, repeats_on_boot: true}]",
      0.85, "{silence_per_day: 0.01, crash_per_day: 0.01, error_per_day: 0.1}");
  auto run = [&](uint64_t seed) {
    ScriptedPolicy p({{0, 0.1}, {10 * 60 * kSecond, 1.0}, {20 * 60 * kSecond, 1.0, true, true}});
    auto r = RunSimulation(s, p, SimulationOptions{}, seed);
    EXPECT_TRUE(r.ok());
    std::vector<int64_t> trace;
    for (const Telemetry& t : p.seen) {
      for (const ClassTelemetry& c : t.classes) {
        trace.push_back(c.applied);
        trace.push_back(c.treated.events[kCrash]);
        trace.push_back(c.control.events[kError]);
      }
    }
    return std::make_pair(*r, trace);
  };
  auto [a, trace_a] = run(11);
  auto [b, trace_b] = run(11);
  auto [c, trace_c] = run(12);
  EXPECT_EQ(a.exposed, b.exposed);
  EXPECT_EQ(a.harmed, b.harmed);
  EXPECT_EQ(a.end_micros, b.end_micros);
  EXPECT_EQ(trace_a, trace_b);
  EXPECT_NE(trace_a, trace_c);
  EXPECT_NE(a.harmed, c.harmed);
}

TEST(EngineTest, SilenceIsSeenAtLastHeartbeatPlusSilenceAfter) {
  const Scenario s = MakeScenario(
      1000, "[{match: {os: windows}, p: 1, after: 5s, signal: silence, repeats_on_boot: true}]");
  ScriptedPolicy policy({{0, 1.0}});
  SimulationOptions o = NoLag();
  o.silence_after_micros = 90 * kSecond;
  auto r = RunSimulation(s, policy, o, 3);
  ASSERT_TRUE(r.ok());
  int64_t events = 0;
  int64_t first = -1, last = -1;
  for (const Telemetry& t : policy.seen) {
    const int64_t n = Sum(t, kSilence, true);
    EXPECT_EQ(Sum(t, kCrash, true) + Sum(t, kError, true), 0);  // a crashed host reports nothing
    if (n > 0) {
      if (first < 0) first = t.observed_micros;
      last = t.observed_micros;
    }
    events += n;
  }
  EXPECT_EQ(events, 600);  // every failed device, once
  EXPECT_EQ(r->harmed, 600);
  // Applied within the first poll interval (60 s), silent 90 s after that check-in.
  EXPECT_GE(first, 90 * kSecond);
  EXPECT_LE(last, (60 + 90 + 20) * kSecond);
}

TEST(EngineTest, CrashLoopsReportAtEveryCheckInUntilRolledBack) {
  const Scenario s = MakeScenario(
      10000, "[{match: {os: windows}, p: 1, after: 3s, signal: crash, repeats_on_boot: true}]");
  const int64_t rollback = 10 * 60 * kSecond;
  ScriptedPolicy policy({{0, 1.0}, {rollback, 1.0, true, true}});
  auto r = RunSimulation(s, policy, NoLag(), 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->harmed, 6000);
  int64_t before = 0, after_one_poll = 0;
  for (const Telemetry& t : policy.seen) {
    const int64_t n = Sum(t, kCrash, true);
    if (t.observed_micros <= rollback) before += n;
    if (t.observed_micros > rollback + 70 * kSecond) after_one_poll += n;
  }
  // ~6000 devices x ~9 check-ins between their first crash report and the rollback.
  EXPECT_GT(before, 6000 * 8);
  EXPECT_LT(before, 6000 * 11);
  EXPECT_EQ(after_one_poll, 0);
}

TEST(EngineTest, ErrorsContinueWithoutRollbackAndComeFromExposedDevicesOnly) {
  const Scenario s = MakeScenario(10000, "[{match: {os: macos}, p: 1, after: 0s, signal: error}]");
  ScriptedPolicy policy({{0, 0.5}});
  auto r = RunSimulation(s, policy, NoLag(), 5);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(static_cast<double>(r->harmed), 1500, 1);
  int64_t late = 0;
  for (const Telemetry& t : policy.seen) {
    EXPECT_EQ(Sum(t, kError, false), 0);  // no baseline: control has nothing
    if (t.observed_micros > 5 * 60 * kSecond) late += Sum(t, kError, true);
  }
  EXPECT_GT(late, 0);
}

TEST(EngineTest, RollbackBeforeALateFailureSavesTheDevice) {
  const Scenario s = MakeScenario(10000, "[{match: {os: windows}, p: 1, after: 10m, signal: crash}]");
  ScriptedPolicy policy({{0, 1.0}, {2 * 60 * kSecond, 1.0, true, true}});
  auto r = RunSimulation(s, policy, NoLag(), 6);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->exposed, 8000);
  EXPECT_EQ(r->harmed, 0);
  // Without the rollback they all fail.
  ScriptedPolicy no_rollback({{0, 1.0}});
  auto r2 = RunSimulation(s, no_rollback, NoLag(), 6);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->harmed, 6000);
}

TEST(EngineTest, BaselineNoiseHasTheSameRateInBothArms) {
  const Scenario s =
      MakeScenario(200000, "[]", 0.85, "{silence_per_day: 0.5, crash_per_day: 0.5, error_per_day: 2}");
  ScriptedPolicy policy({{0, 0.5}});
  SimulationOptions o = NoLag();
  o.max_duration_micros = 2 * 3600 * kSecond;
  o.settle_micros = o.max_duration_micros;  // keep observing after the policy is done
  auto r = RunSimulation(s, policy, o, 7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->end_micros, o.max_duration_micros);
  for (int signal : {kSilence, kCrash, kError}) {
    double treated_events = 0, control_events = 0, treated_risk = 0, control_risk = 0;
    for (const Telemetry& t : policy.seen) {
      if (t.observed_micros < 10 * 60 * kSecond) continue;  // after everyone applied
      for (size_t k = 0; k < 2; ++k) {  // the eligible classes
        const ClassTelemetry& c = t.classes[k];
        treated_events += static_cast<double>(c.treated.events[signal]);
        control_events += static_cast<double>(c.control.events[signal]);
        treated_risk += static_cast<double>(c.treated.at_risk);
        control_risk += static_cast<double>(c.control.at_risk);
      }
    }
    ASSERT_GT(control_events, 2000);
    const double per_day = signal == kError ? 2 : 0.5;
    const double expected = -std::expm1(-per_day * 10.0 / 86400);  // per device per 10-s tick
    EXPECT_NEAR(treated_events / treated_risk, expected, 0.1 * expected)
        << FailureSignalName(static_cast<FailureSignal>(signal));
    EXPECT_NEAR(control_events / control_risk, expected, 0.1 * expected)
        << FailureSignalName(static_cast<FailureSignal>(signal));
  }
}

TEST(EngineTest, OfflineDevicesApplyWhenTheyComeBack) {
  const Scenario s = MakeScenario(100000, "[]", 0.5);
  ScriptedPolicy policy({{0, 1.0}});
  auto r = RunSimulation(s, policy, NoLag(), 8);
  ASSERT_TRUE(r.ok());
  int64_t at_one_poll = 0;
  for (const Telemetry& t : policy.seen) {
    if (t.observed_micros != 60 * kSecond) continue;
    for (const ClassTelemetry& c : t.classes) at_one_poll += c.applied;
  }
  // The online half within one poll interval, plus the offline ones back within a minute:
  // 45,000 + 45,000·(1 - exp(-1/5)) ~ 53,000.
  EXPECT_GT(at_one_poll, 51000);
  EXPECT_LT(at_one_poll, 55000);
  EXPECT_EQ(r->exposed, 90000);
  ASSERT_TRUE(r->reach_99_micros.has_value());
  // 1% of 90,000 still offline after t: 45,000·exp(-t/5 min) <= 900 -> t ~ 20 min.
  EXPECT_GT(*r->reach_99_micros, 15 * 60 * kSecond);
  EXPECT_LT(*r->reach_99_micros, 25 * 60 * kSecond);
}

TEST(EngineTest, RejectsAPollIntervalShorterThanATick) {
  const Scenario s = MakeScenario(100, "[]");
  ScriptedPolicy policy({{0, 1.0}});
  SimulationOptions o;
  o.tick_micros = 120 * kSecond;
  auto r = RunSimulation(s, policy, o, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(EngineTest, FormatsSimulatedTime) {
  EXPECT_EQ(FormatSimTime(0), "00:00");
  EXPECT_EQ(FormatSimTime(150 * kSecond), "02:30");
  EXPECT_EQ(FormatSimTime(3 * 3600 * kSecond + 61 * kSecond), "3:01:01");
}

}  // namespace
}  // namespace rf::sim
