#include "rollout/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "testing/test_util.h"

namespace rf::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kMinute = 60'000'000;

Plan ParseOrDie(std::string_view text, std::string_view name = "t.yaml") {
  Result<Plan> p = ParsePlan(text, name);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : Plan{};
}

Plan LoadSample(const std::string& file) {
  std::string path = rf::testing::SourcePath("samples/plans/" + file);
  return ParseOrDie(rf::testing::ReadFileOrDie(path), file);
}

std::vector<std::string> Rules(const std::vector<LintFinding>& findings) {
  std::vector<std::string> out;
  for (const LintFinding& f : findings) out.push_back(f.rule);
  return out;
}

// ----- samples -----

TEST(PlanSampleTest, StandardParsesAsWritten) {
  Plan p = LoadSample("standard.yaml");
  EXPECT_EQ(p.name, "standard");
  EXPECT_EQ(p.filename, "standard.yaml");
  ASSERT_EQ(p.waves.size(), 5u);
  const Wave& canary = p.waves[0];
  EXPECT_EQ(canary.name, "canary");
  EXPECT_EQ(canary.devices, WaveSize::Share(0.0001));
  EXPECT_THAT(canary.stratify, ElementsAre("os", "agent_version"));
  EXPECT_EQ(canary.min_per_stratum, 50);
  EXPECT_EQ(canary.dispatch_micros, 10 * kMinute);
  EXPECT_EQ(canary.bake_micros, 30 * kMinute);
  EXPECT_EQ(canary.line, 5u);
  EXPECT_EQ(p.waves[1].devices, WaveSize::Share(0.001));
  EXPECT_TRUE(p.waves[1].stratify.empty());
  EXPECT_EQ(p.waves[1].min_per_stratum, 0);
  EXPECT_EQ(p.waves[2].dispatch_micros, 15 * kMinute);
  EXPECT_EQ(p.waves[4].devices, WaveSize::Share(1.0));
  EXPECT_EQ(p.waves[4].bake_micros, 60 * kMinute);
  EXPECT_THAT(p.stratify, ElementsAre("os", "agent_version"));
  EXPECT_DOUBLE_EQ(p.gate.alpha, 0.01);
  EXPECT_THAT(p.gate.signals, ElementsAre(Signal::kSilence, Signal::kCrash, Signal::kError));
  EXPECT_EQ(p.gate.silence_after_micros, 90'000'000);
  EXPECT_DOUBLE_EQ(p.gate.holdback, 0.01);
  EXPECT_EQ(p.on_failure, FailureAction::kRollback);
  EXPECT_EQ(p.gate_line, 10u);
  EXPECT_TRUE(LintPlan(p).empty()) << CheckPlan(p).ToString();
  EXPECT_TRUE(CheckPlan(p).ok());
}

TEST(PlanSampleTest, EmergencyParsesAndLintsClean) {
  Plan p = LoadSample("emergency.yaml");
  EXPECT_EQ(p.name, "emergency");
  ASSERT_EQ(p.waves.size(), 3u);
  EXPECT_EQ(p.waves[0].min_per_stratum, 30);
  EXPECT_EQ(p.waves[1].devices, WaveSize::Share(0.01));
  EXPECT_EQ(p.waves[2].dispatch_micros, 15 * kMinute);
  EXPECT_TRUE(LintPlan(p).empty()) << CheckPlan(p).ToString();
}

TEST(PlanTest, WavesOfARelease) {
  Plan p = LoadSample("standard.yaml");
  EXPECT_EQ(WaveCount(p), 6);
  EXPECT_FALSE(IsHoldbackWave(p, 4));
  EXPECT_TRUE(IsHoldbackWave(p, 5));
  EXPECT_EQ(WaveName(p, 0), "canary");
  EXPECT_EQ(WaveName(p, 5), "holdback");
  EXPECT_EQ(WaveDispatchMicros(p, 1), 10 * kMinute);
  EXPECT_EQ(WaveBakeMicros(p, 2), 60 * kMinute);
  // The holdback wave: the last wave's dispatch window, no bake of its own.
  EXPECT_EQ(WaveDispatchMicros(p, 5), 60 * kMinute);
  EXPECT_EQ(WaveBakeMicros(p, 5), 0);

  p.gate.holdback = 0;
  EXPECT_EQ(WaveCount(p), 5);
  EXPECT_FALSE(IsHoldbackWave(p, 5));
}

TEST(PlanTest, DefaultsAndAbsoluteCounts) {
  Plan p = ParseOrDie(R"(plan: counts
waves:
  - {name: canary, devices: 1100, stratify: [os], dispatch: 10m, bake: 30m}
  - {name: all, devices: 100%, dispatch: 1h, bake: 1h}
)");
  EXPECT_EQ(p.waves[0].devices, WaveSize::Count(1100));
  EXPECT_EQ(p.waves[0].devices.ToString(), "1100");
  EXPECT_EQ(p.waves[1].devices.ToString(), "100%");
  EXPECT_EQ(WaveSize::Share(0.0001).ToString(), "0.01%");
  EXPECT_EQ(p.waves[0].min_per_stratum, 50);  // STATS §3.4 m_min
  EXPECT_EQ(p.gate, GateSettings{});          // gate omitted: the defaults
  EXPECT_EQ(p.gate_line, 0u);
  EXPECT_EQ(p.on_failure, FailureAction::kRollback);
}

TEST(PlanTest, PauseOnFailureAndSignalSubset) {
  Plan p = ParseOrDie(R"(plan: x
waves:
  - {name: canary, devices: 0.5%, stratify: [os], min_per_stratum: 0, dispatch: 90s, bake: 2h}
  - {name: all, devices: 100%, stratify: [os], min_per_stratum: 100, dispatch: 1h, bake: 1d}
gate: {alpha: 0.05, signals: [crash, silence], silence_after: 2m, holdback: 0.5%}
on_failure: pause
)");
  EXPECT_EQ(p.on_failure, FailureAction::kPause);
  EXPECT_THAT(p.gate.signals, ElementsAre(Signal::kCrash, Signal::kSilence));
  EXPECT_EQ(p.gate.silence_after_micros, 2 * kMinute);
  EXPECT_DOUBLE_EQ(p.gate.holdback, 0.005);
  EXPECT_DOUBLE_EQ(p.gate.alpha, 0.05);
  EXPECT_EQ(p.waves[0].min_per_stratum, 0);
  EXPECT_EQ(p.waves[1].min_per_stratum, 100);
  EXPECT_EQ(p.waves[1].bake_micros, 24 * 60 * kMinute);
  EXPECT_EQ(p.waves[0].dispatch_micros, 90'000'000);
}

TEST(PlanTest, NamesAndParses) {
  EXPECT_EQ(SignalName(Signal::kError), "error");
  EXPECT_EQ(SignalFromName("silence"), Signal::kSilence);
  EXPECT_EQ(SignalFromName("Silence"), std::nullopt);
  EXPECT_EQ(FailureActionName(FailureAction::kPause), "pause");
}

// ----- parse errors: every one names file, line and key -----

// A valid plan, one key per line, so that each case can replace exactly one line.
const std::vector<std::string> kBase = {
    "plan: t",                            // 1
    "waves:",                             // 2
    "  - name: canary",                   // 3
    "    devices: 0.01%",                 // 4
    "    stratify: [os, agent_version]",  // 5
    "    min_per_stratum: 50",            // 6
    "    dispatch: 10m",                  // 7
    "    bake: 30m",                      // 8
    "  - name: all",                      // 9
    "    devices: 100%",                  // 10
    "    dispatch: 60m",                  // 11
    "    bake: 60m",                      // 12
    "gate:",                              // 13
    "  alpha: 0.01",                      // 14
    "  signals: [silence, crash, error]", // 15
    "  silence_after: 90s",               // 16
    "  holdback: 1%",                     // 17
    "on_failure: rollback",               // 18
};

// kBase with line `line` (1-based) replaced by `text` ("" deletes it; may hold several lines).
std::string With(int line, const std::string& text) {
  std::string out;
  for (size_t i = 0; i < kBase.size(); ++i) {
    if (static_cast<int>(i) + 1 == line) {
      if (!text.empty()) out += text + "\n";
    } else {
      out += kBase[i] + "\n";
    }
  }
  return out;
}

std::string Joined() { return With(0, ""); }

struct ErrorCase {
  std::string name;
  std::string yaml;
  int line;         // expected line in the message
  std::string key;  // expected key in the message
  std::string reason_part;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class PlanErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(PlanErrorTest, NamesFileLineAndKey) {
  const ErrorCase& c = GetParam();
  Result<Plan> p = ParsePlan(c.yaml, "f.yaml");
  ASSERT_FALSE(p.ok()) << c.name;
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  const std::string m = p.status().message();
  EXPECT_THAT(m, StartsWith("f.yaml:" + std::to_string(c.line) + ":")) << m;
  EXPECT_THAT(m, HasSubstr("key '" + c.key + "'")) << m;
  EXPECT_THAT(m, HasSubstr(c.reason_part)) << m;
}

std::vector<ErrorCase> ErrorCases() {
  return {
        ErrorCase{"UnknownTopLevelKey", With(18, "on_failure: rollback\nowner: me"), 19, "owner",
                  "unknown key"},
        ErrorCase{"MissingPlanName", With(1, ""), 1, "plan", "required"},
        ErrorCase{"EmptyPlanName", With(1, "plan: ''"), 1, "plan", "must not be empty"},
        ErrorCase{"WavesNotAList", "plan: t\nwaves: 3\n", 2, "waves", "non-empty list"},
        ErrorCase{"WavesEmpty", "plan: t\nwaves: []\n", 2, "waves", "non-empty list"},
        ErrorCase{"WavesMissing", "plan: t\non_failure: pause\n", 1, "waves", "required"},
        ErrorCase{"WaveNotAMapping", "plan: t\nwaves:\n  - canary\n", 3, "waves", "mapping"},
        ErrorCase{"UnknownWaveKey", With(8, "    bak: 30m"), 8, "bak", "unknown key in wave"},
        ErrorCase{"WaveNameMissing", "plan: t\nwaves:\n  - {devices: 1%, dispatch: 1m, bake: 1m}\n",
                  3, "name", "required"},
        ErrorCase{"DuplicateWaveName", With(9, "  - name: canary"), 9, "name", "used twice"},
        ErrorCase{"ZeroShare", With(4, "    devices: 0%"), 4, "devices", "(0%, 100%]"},
        ErrorCase{"ShareAbove100", With(10, "    devices: 150%"), 10, "devices", "(0%, 100%]"},
        ErrorCase{"FractionWithoutPercent", With(4, "    devices: 0.5"), 4, "devices",
                  "% sign"},
        ErrorCase{"GarbagePercent", With(4, "    devices: lots%"), 4, "devices",
                  "not a percentage"},
        ErrorCase{"ZeroCount", With(4, "    devices: 0"), 4, "devices", "at least 1"},
        ErrorCase{"DevicesMissing", With(10, ""), 9, "devices", "required"},
        ErrorCase{"DevicesAList", With(10, "    devices: [1]"), 10, "devices", "expected a share"},
        ErrorCase{"BadDispatch", With(7, "    dispatch: 10x"), 7, "dispatch", "not a duration"},
        ErrorCase{"NegativeBake", With(8, "    bake: -5m"), 8, "bake", "not a duration"},
        ErrorCase{"BakeMissing", With(12, ""), 9, "bake", "required"},
        ErrorCase{"DispatchMissing", With(7, ""), 3, "dispatch", "required"},
        ErrorCase{"StratifyNotAList", With(5, "    stratify: os"), 5, "stratify",
                  "list of attribute names"},
        ErrorCase{"StratifyEmpty", With(5, "    stratify: []"), 5, "stratify",
                  "list of attribute names"},
        ErrorCase{"StratifyDuplicate", With(5, "    stratify: [os, os]"), 5, "stratify",
                  "listed twice"},
        ErrorCase{"StratifyNested", With(5, "    stratify: [[os]]"), 5, "stratify",
                  "non-empty strings"},
        ErrorCase{"MinPerStratumWithoutStratify", With(12, "    bake: 60m\n    min_per_stratum: 5"),
                  13, "min_per_stratum", "needs 'stratify'"},
        ErrorCase{"NegativeMinPerStratum", With(6, "    min_per_stratum: -1"), 6,
                  "min_per_stratum", ">= 0"},
        ErrorCase{"NonIntegerMinPerStratum", With(6, "    min_per_stratum: many"), 6,
                  "min_per_stratum", "expected an integer"},
        ErrorCase{"DifferentStrata", With(12, "    bake: 60m\n    stratify: [os]"), 13, "stratify",
                  "same attributes (as the wave on line 3)"},
        ErrorCase{"GateNotAMapping",
                  "plan: t\nwaves:\n  - {name: a, devices: 1%, dispatch: 1m, bake: 1m}\n"
                  "gate: strict\n",
                  4, "gate", "expected a mapping"},
        ErrorCase{"UnknownGateKey", With(17, "  holdbak: 1%"), 17, "holdbak", "unknown key in gate"},
        ErrorCase{"AlphaNotANumber", With(14, "  alpha: high"), 14, "alpha", "expected a number"},
        ErrorCase{"AlphaQuoted", With(14, "  alpha: '0.01'"), 14, "alpha", "expected a number"},
        ErrorCase{"UnknownSignal", With(15, "  signals: [silence, smoke]"), 15, "signals",
                  "unknown signal 'smoke'"},
        ErrorCase{"DuplicateSignal", With(15, "  signals: [crash, crash]"), 15, "signals",
                  "listed twice"},
        ErrorCase{"SignalsNotAList", With(15, "  signals: crash"), 15, "signals", "expected a list"},
        ErrorCase{"BadSilenceAfter", With(16, "  silence_after: soon"), 16, "silence_after",
                  "not a duration"},
        ErrorCase{"HoldbackWithoutPercent", With(17, "  holdback: 0.01"), 17, "holdback",
                  "share such as 1%"},
        ErrorCase{"HoldbackAll", With(17, "  holdback: 100%"), 17, "holdback", "below 100%"},
        ErrorCase{"UnknownOnFailure", With(18, "on_failure: explode"), 18, "on_failure",
                  "rollback or pause"},
        ErrorCase{"OnFailureList", With(18, "on_failure: [pause]"), 18, "on_failure",
                  "rollback or pause"},
  };
}

INSTANTIATE_TEST_SUITE_P(All, PlanErrorTest, ::testing::ValuesIn(ErrorCases()),
                         [](const ::testing::TestParamInfo<ErrorCase>& p) { return p.param.name; });

TEST(PlanErrorTest, BaseIsValid) {
  // The base of the table above must parse, or every case would pass for the wrong reason.
  Result<Plan> p = ParsePlan(Joined(), "f.yaml");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(LintPlan(*p).empty());
}

TEST(PlanErrorTest, SyntaxErrorsNameFileAndLine) {
  Result<Plan> p = ParsePlan("plan: t\nwaves: [\n", "f.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), StartsWith("f.yaml:"));

  p = ParsePlan("", "empty.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), StartsWith("empty.yaml:1:1: the plan is empty"));

  p = ParsePlan("- a\n- b\n", "list.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), StartsWith("list.yaml:1:1: a plan must be a mapping"));
}

// ----- linter: each rule -----

class LintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plan_ = ParseOrDie(Joined(), "p.yaml");
    ASSERT_TRUE(LintPlan(plan_).empty());
  }
  Plan plan_;
};

TEST_F(LintTest, FirstWaveMustBeStratified) {
  plan_.waves[0].stratify.clear();
  auto f = LintPlan(plan_);
  EXPECT_THAT(Rules(f), ElementsAre("first-wave-stratified"));
  EXPECT_EQ(f[0].wave, 0);
  EXPECT_THAT(f[0].message, StartsWith("p.yaml:3: wave 'canary': the first wave must be stratified"));
}

TEST_F(LintTest, FirstWaveFloorMustBePositive) {
  plan_.waves[0].min_per_stratum = 0;
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("first-wave-stratified"));
}

TEST_F(LintTest, FirstWaveAtMostOnePercent) {
  plan_.waves[0].devices = WaveSize::Share(0.01);  // exactly 1%: allowed
  EXPECT_TRUE(LintPlan(plan_).empty());
  plan_.waves[0].devices = WaveSize::Share(0.02);
  auto f = LintPlan(plan_);
  EXPECT_THAT(Rules(f), ElementsAre("first-wave-size"));
  EXPECT_THAT(f[0].message, HasSubstr("first wave is 2%"));
}

TEST_F(LintTest, FirstWaveCountNeedsFleetSizeToBeJudged) {
  plan_.waves[0].devices = WaveSize::Count(50'000);
  EXPECT_TRUE(LintPlan(plan_).empty());  // unknown fleet: a count cannot be compared
  LintOptions big;
  big.fleet_size = 10'000'000;  // 0.5%
  EXPECT_TRUE(LintPlan(plan_, big).empty());
  LintOptions small;
  small.fleet_size = 1'000'000;  // 5%
  EXPECT_THAT(Rules(LintPlan(plan_, small)), ElementsAre("first-wave-size"));
}

TEST_F(LintTest, EveryWaveNeedsBake) {
  plan_.waves[1].bake_micros = 0;
  auto f = LintPlan(plan_);
  EXPECT_THAT(Rules(f), ElementsAre("bake-required"));
  EXPECT_EQ(f[0].wave, 1);
  EXPECT_THAT(f[0].message, StartsWith("p.yaml:9: wave 'all':"));
}

TEST_F(LintTest, EveryWaveNeedsDispatchWindow) {
  plan_.waves[0].dispatch_micros = 0;
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("dispatch-required"));
}

TEST_F(LintTest, SizesMustIncrease) {
  Wave copy = plan_.waves[0];
  plan_.waves.insert(plan_.waves.begin() + 1, copy);
  plan_.waves[1].name = "again";
  plan_.waves[1].stratify.clear();
  plan_.waves[1].min_per_stratum = 0;
  auto f = LintPlan(plan_);  // 0.01% then 0.01%
  EXPECT_THAT(Rules(f), ElementsAre("increasing-sizes"));
  EXPECT_EQ(f[0].wave, 1);

  plan_.waves[1].devices = WaveSize::Share(0.00005);  // decreasing
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("increasing-sizes"));
  plan_.waves[1].devices = WaveSize::Share(0.001);
  EXPECT_TRUE(LintPlan(plan_).empty());
}

TEST_F(LintTest, CountsMustIncreaseAndMixedKindsNeedFleetSize) {
  plan_.waves[0].devices = WaveSize::Count(1000);
  Wave mid = plan_.waves[1];
  mid.name = "mid";
  mid.devices = WaveSize::Count(900);
  plan_.waves.insert(plan_.waves.begin() + 1, mid);
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("increasing-sizes"));

  // 1000 devices then 0.005%: not comparable without a fleet size ...
  plan_.waves[1].devices = WaveSize::Share(0.00005);
  EXPECT_TRUE(LintPlan(plan_).empty());
  // ... and decreasing in a fleet of 10M (1000 = 0.01%).
  LintOptions o;
  o.fleet_size = 10'000'000;
  EXPECT_THAT(Rules(LintPlan(plan_, o)), ElementsAre("increasing-sizes"));
}

TEST_F(LintTest, LastWaveMustBeAll) {
  plan_.waves[1].devices = WaveSize::Share(0.9);
  auto f = LintPlan(plan_);
  EXPECT_THAT(Rules(f), ElementsAre("last-wave-all"));
  EXPECT_THAT(f[0].message, HasSubstr("must be 100% (it is 90%)"));
  plan_.waves[1].devices = WaveSize::Count(10'000'000);
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("last-wave-all"));
}

TEST_F(LintTest, AlphaInRange) {
  for (double ok : {0.1, 0.05, 1e-6}) {
    plan_.gate.alpha = ok;
    EXPECT_TRUE(LintPlan(plan_).empty()) << ok;
  }
  for (double bad : {0.0, -0.01, 0.11, 1.0}) {
    plan_.gate.alpha = bad;
    auto f = LintPlan(plan_);
    EXPECT_THAT(Rules(f), ElementsAre("alpha-range")) << bad;
    EXPECT_EQ(f[0].wave, -1);
    EXPECT_THAT(f[0].message, StartsWith("p.yaml:13: gate alpha"));
  }
}

TEST_F(LintTest, HoldbackInRange) {
  plan_.gate.holdback = 0.10;
  EXPECT_TRUE(LintPlan(plan_).empty());
  for (double bad : {0.0, 0.11, 0.5}) {
    plan_.gate.holdback = bad;
    EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("holdback-range")) << bad;
  }
}

TEST_F(LintTest, SilenceMustBeWatched) {
  plan_.gate.signals = {Signal::kCrash, Signal::kError};
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("silence-signal"));
  plan_.gate.signals = {};
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("silence-signal"));
}

TEST_F(LintTest, SilenceAfterPositive) {
  plan_.gate.silence_after_micros = 0;
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("silence-after"));
}

TEST_F(LintTest, WaveShadowedByHoldback) {
  Wave mid = plan_.waves[1];
  mid.name = "almost";
  mid.devices = WaveSize::Share(0.995);
  plan_.waves.insert(plan_.waves.begin() + 1, mid);
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("holdback-shadows-wave"));
  plan_.waves[1].devices = WaveSize::Share(0.98);
  EXPECT_TRUE(LintPlan(plan_).empty());
}

TEST_F(LintTest, NoWaves) {
  plan_.waves.clear();
  EXPECT_THAT(Rules(LintPlan(plan_)), ElementsAre("last-wave-all"));
}

TEST_F(LintTest, SeveralFindingsInOrderAndCheckPlanListsThemAll) {
  plan_.gate.alpha = 0.5;
  plan_.waves[0].stratify.clear();
  plan_.waves[0].devices = WaveSize::Share(0.05);
  plan_.waves[1].bake_micros = 0;
  EXPECT_THAT(Rules(LintPlan(plan_)),
              ElementsAre("alpha-range", "first-wave-stratified", "first-wave-size",
                          "bake-required"));
  Status st = CheckPlan(plan_);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), StartsWith("unsafe plan 't': "));
  for (const char* rule : {"[alpha-range]", "[first-wave-stratified]", "[first-wave-size]",
                           "[bake-required]"}) {
    EXPECT_THAT(st.message(), HasSubstr(rule));
  }
}

TEST_F(LintTest, OptionsMoveTheLimits) {
  plan_.gate.alpha = 0.2;
  plan_.gate.holdback = 0.2;
  plan_.waves[0].devices = WaveSize::Share(0.05);
  LintOptions o;
  o.max_alpha = 0.25;
  o.max_holdback = 0.25;
  o.max_first_wave_share = 0.05;
  EXPECT_TRUE(LintPlan(plan_, o).empty());
  EXPECT_EQ(LintPlan(plan_).size(), 3u);
}

}  // namespace
}  // namespace rf::rollout
