// The simulator's acceptance claims, on the shipped scenarios (samples/scenarios/), with a few
// seeds each. The full-size claims (100 seeds, 10 M devices) are measured with `ringfence sim`
// and reported in docs/simulator.md; these tests keep them from regressing.
#include <gtest/gtest.h>

#include <string>

#include "platform/env.h"
#include "sim/runner.h"
#include "testing/test_util.h"

namespace rf::sim {
namespace {

constexpr int64_t kMinute = 60'000'000;

struct Loaded {
  Scenario scenario;
  ScenarioFiles files;
};

Loaded Load(const std::string& name, const std::string& edit_from = "",
            const std::string& edit_to = "") {
  const std::string path = testing::SourcePath("samples/scenarios/" + name + ".yaml");
  std::string text = testing::ReadFileOrDie(path);
  if (!edit_from.empty()) {
    const size_t at = text.find(edit_from);
    EXPECT_NE(at, std::string::npos);
    text.replace(at, edit_from.size(), edit_to);
  }
  auto s = ParseScenario(text, path);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  Env env = PosixEnv();
  auto files = LoadScenarioFiles(*s, *env.fs);
  EXPECT_TRUE(files.ok()) << files.status().ToString();
  return {*std::move(s), *std::move(files)};
}

const PolicySummary& Find(const ScenarioRun& run, const std::string& policy) {
  for (const PolicySummary& p : run.policies) {
    if (p.policy == policy) return p;
  }
  ADD_FAILURE() << "no policy " << policy;
  return run.policies.front();
}

class IncidentTest : public ::testing::TestWithParam<const char*> {};

// Layer 1 switched off: the rollout alone must contain the incident, harming at least 100x fewer
// devices than shipping to everyone and fewer than every baseline.
TEST_P(IncidentTest, RingfenceHarmsFarFewerThanEveryBaseline) {
  const Loaded l = Load(GetParam());
  RunOptions options;
  options.policies = PolicyNames();
  options.skip_layer1 = true;
  options.runs = 3;
  auto run = RunScenario(l.scenario, l.files, options);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const PolicySummary& rf = Find(*run, "ringfence");
  EXPECT_EQ(rf.halted_runs, 3);
  const PolicySummary& all = Find(*run, "all-at-once");
  EXPECT_LE(100 * rf.max_harmed, all.mean_harmed) << FormatCompareTable(*run);
  for (const PolicySummary& p : run->policies) {
    if (p.policy == "ringfence") continue;
    EXPECT_LT(rf.mean_harmed, p.mean_harmed) << p.policy << "\n" << FormatCompareTable(*run);
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, IncidentTest,
                         ::testing::Values("cf291", "cloudflare-2019-waf", "fastly-2021",
                                           "google-2025-service-control"));

TEST(AcceptanceTest, Cf291IsHaltedWithinFiveMinutesHarmingUnderAThousand) {
  const Loaded l = Load("cf291");
  RunOptions options;
  options.skip_layer1 = true;
  options.runs = 5;
  auto run = RunScenario(l.scenario, l.files, options);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const PolicySummary& rf = run->policies.front();
  EXPECT_EQ(rf.halted_runs, 5);
  EXPECT_LE(*rf.max_halt_micros, 5 * kMinute);
  EXPECT_LE(rf.max_harmed, 1000);
}

TEST(AcceptanceTest, Cf291IsStoppedByLayerOneBeforeAnyDeviceSeesIt) {
  const Loaded l = Load("cf291");
  RunOptions options;
  options.policies = {"ringfence", "all-at-once"};
  auto run = RunScenario(l.scenario, l.files, options);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->layer1.state, Layer1Outcome::State::kRejected);
  EXPECT_TRUE(run->blocked_by_layer1);
  for (const PolicySummary& p : run->policies) EXPECT_EQ(p.runs.front().exposed, 0);
  bool names_inputs = false;
  for (const Finding& f : run->layer1.report.findings) names_inputs |= f.check == "consumer.inputs";
  EXPECT_TRUE(names_inputs);
}

// A healthy release on a noisy fleet (scaled to 1 M devices) is never halted.
TEST(AcceptanceTest, GoodReleaseIsNeverHalted) {
  for (const char* name : {"good-release", "good-release-emergency"}) {
    const Loaded l = Load(name, "devices: 10000000", "devices: 1000000");
    RunOptions options;
    options.runs = 10;
    auto run = RunScenario(l.scenario, l.files, options);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->policies.front().halted_runs, 0) << name;
    EXPECT_EQ(run->policies.front().max_harmed, 0) << name;
  }
}

// The plan's own schedule, with the gate's PROMOTE bound neutralised (docs/simulator.md,
// "Findings"): 99% of the devices outside the holdback within 6 h on the standard plan.
TEST(AcceptanceTest, GoodReleaseScheduleOnTheStandardPlan) {
  const Loaded l = Load("good-release", "devices: 10000000", "devices: 1000000");
  RunOptions options;
  options.runs = 3;
  options.ringfence.gate.harm_budget = 1e12;
  auto run = RunScenario(l.scenario, l.files, options);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const PolicySummary& rf = run->policies.front();
  EXPECT_EQ(rf.halted_runs, 0);
  EXPECT_EQ(rf.full_runs, 3);
  EXPECT_LE(*rf.max_reach_99_outside_holdback_micros, 6 * 60 * kMinute);
}

}  // namespace
}  // namespace rf::sim
