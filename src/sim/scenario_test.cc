#include "sim/scenario.h"

#include <gtest/gtest.h>

#include <string>

#include "platform/sim_env.h"
#include "testing/test_util.h"

namespace rf::sim {
namespace {

constexpr char kGood[] = R"(scenario: small
fleet:
  devices: 1001
  poll_interval: 60s
  online: 0.9
  offline_spell: 5m
  strata:
    - {attrs: {os: windows, agent_version: "7.11"}, share: 0.5, capabilities: {ipc_rule: {schema_versions: [3], inputs: 20}}}
    - {attrs: {os: windows, agent_version: 7.15}, share: 0.3, capabilities: {ipc_rule: {schema_versions: [2, 3], inputs: 21, max_items: 10}}}
    - {attrs: {os: linux, agent_version: "7.15"}, share: 0.2, capabilities: {}}
  baseline: {silence_per_day: 0.002, crash_per_day: 0.0002, error_per_day: 0.01}
release:
  content_type: ipc_rule
  type: content/t.yaml
  bundle: content/b.yaml
  failure:
    - {match: {os: windows, agent_version: ["7.11", "7.15"]}, p: 0.5, after: 5s, signal: silence, repeats_on_boot: true}
    - {match: {os: linux}, p: 1, signal: error}
plan: plans/p.yaml
)";

// `text` with the first occurrence of `from` replaced by `to`.
std::string Edit(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// Asserts that parsing fails with a message naming the file, `line` and `key`.
void ExpectError(const std::string& text, int line, const std::string& key,
                 const std::string& fragment = "") {
  auto s = ParseScenario(text, "dir/s.yaml");
  ASSERT_FALSE(s.ok()) << "expected an error about " << key;
  const Status st = s.status();
  const std::string m = st.message();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << m;
  EXPECT_NE(m.find("dir/s.yaml:" + std::to_string(line) + ":"), std::string::npos) << m;
  if (!key.empty()) {
    EXPECT_NE(m.find("'" + key + "'"), std::string::npos) << m;
  }
  if (!fragment.empty()) {
    EXPECT_NE(m.find(fragment), std::string::npos) << m;
  }
}

// Regression (2026-11-26): without `offline_spell` a spell lasts one poll interval, the reading of
// the scenario format's "share of devices online at any time" (it used to be a fixed 10 minutes).
TEST(ScenarioTest, OfflineSpellDefaultsToOnePollInterval) {
  auto s = ParseScenario(Edit(Edit(kGood, "  offline_spell: 5m\n", ""), "poll_interval: 60s",
                              "poll_interval: 90s"),
                         "dir/s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->fleet.offline_spell_micros, 90'000'000);
}

TEST(ScenarioTest, ParsesEveryField) {
  auto s = ParseScenario(kGood, "dir/s.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "small");
  EXPECT_EQ(s->fleet.devices, 1001);
  EXPECT_EQ(s->fleet.poll_interval_micros, 60'000'000);
  EXPECT_DOUBLE_EQ(s->fleet.online, 0.9);
  EXPECT_EQ(s->fleet.offline_spell_micros, 300'000'000);
  ASSERT_EQ(s->fleet.strata.size(), 3u);
  // Largest remainder: 500.5, 300.3, 200.2 -> 501, 300, 200.
  EXPECT_EQ(s->fleet.strata[0].devices, 501);
  EXPECT_EQ(s->fleet.strata[1].devices, 300);
  EXPECT_EQ(s->fleet.strata[2].devices, 200);
  EXPECT_EQ(s->fleet.strata[1].attrs.at("agent_version"), "7.15");  // plain 7.15 is the text
  EXPECT_EQ(s->fleet.strata[1].capabilities.at("ipc_rule").max_items, 10);
  EXPECT_EQ(s->fleet.strata[1].capabilities.at("ipc_rule").schema_versions.size(), 2u);
  EXPECT_TRUE(s->Eligible(s->fleet.strata[0]));
  EXPECT_FALSE(s->Eligible(s->fleet.strata[2]));
  EXPECT_EQ(s->EligibleDevices(), 801);
  EXPECT_DOUBLE_EQ(s->fleet.baseline.error_per_day, 0.01);
  EXPECT_EQ(s->release.type_path, "dir/content/t.yaml");
  EXPECT_EQ(s->release.bundle_path, "dir/content/b.yaml");
  EXPECT_EQ(s->plan_path, "dir/plans/p.yaml");
  EXPECT_EQ(s->plan_line, 19u);
  ASSERT_EQ(s->release.failures.size(), 2u);
  const FailureRule& f = s->release.failures[0];
  EXPECT_DOUBLE_EQ(f.p, 0.5);
  EXPECT_EQ(f.after_micros, 5'000'000);
  EXPECT_EQ(f.signal, FailureSignal::kSilence);
  EXPECT_TRUE(f.repeats_on_boot);
  EXPECT_EQ(f.line, 17u);
  EXPECT_TRUE(f.Matches(s->fleet.strata[0].attrs));
  EXPECT_TRUE(f.Matches(s->fleet.strata[1].attrs));
  EXPECT_FALSE(f.Matches(s->fleet.strata[2].attrs));
  EXPECT_EQ(s->release.failures[1].signal, FailureSignal::kError);
  EXPECT_FALSE(s->release.failures[1].repeats_on_boot);
  EXPECT_EQ(s->release.failures[1].after_micros, 0);
}

TEST(ScenarioTest, FleetForStageOneKeepsCountsAndManifests) {
  auto s = ParseScenario(kGood, "s.yaml");
  ASSERT_TRUE(s.ok());
  Fleet f = s->ToFleet();
  ASSERT_EQ(f.strata.size(), 3u);
  EXPECT_EQ(f.strata[0].devices, 501);
  EXPECT_EQ(f.strata[0].capabilities.at("ipc_rule").inputs, 20);
  EXPECT_EQ(f.strata[2].capabilities.size(), 0u);
}

TEST(ScenarioTest, MatchNeedsEveryAttributeAndAnyValue) {
  FailureRule r;
  r.match = {{"os", {"windows"}}, {"agent_version", {"7.11", "7.15"}}};
  EXPECT_TRUE(r.Matches({{"os", "windows"}, {"agent_version", "7.15"}}));
  EXPECT_FALSE(r.Matches({{"os", "windows"}, {"agent_version", "7.16"}}));
  EXPECT_FALSE(r.Matches({{"os", "windows"}}));  // a missing attribute does not match
  FailureRule all;
  EXPECT_TRUE(all.Matches({{"os", "linux"}}));
}

TEST(ScenarioTest, ErrorsNameFileLineAndKey) {
  const std::string g = kGood;
  ExpectError(Edit(g, "scenario: small", "scenario: small\nextra: 1"), 2, "extra", "unknown key");
  ExpectError(Edit(g, "  devices: 1001\n", ""), 3, "devices", "missing");
  ExpectError(Edit(g, "devices: 1001", "devices: many"), 3, "devices", "integer");
  ExpectError(Edit(g, "devices: 1001", "devices: 0"), 3, "devices");
  ExpectError(Edit(g, "poll_interval: 60s", "poll_interval: soon"), 4, "poll_interval");
  ExpectError(Edit(g, "online: 0.9", "online: 1.5"), 5, "online");
  ExpectError(Edit(g, "share: 0.3", "share: 0.4"), 8, "strata", "add up to");
  ExpectError(Edit(g, "share: 0.3", "share: -0.3"), 9, "share");
  ExpectError(Edit(g, "inputs: 21", "inputs: lots"), 9, "inputs");
  ExpectError(Edit(g, "schema_versions: [3]", "schema_versions: []"), 8, "schema_versions");
  ExpectError(Edit(g, "max_items: 10", "max_rules: 10"), 9, "max_rules", "unknown key");
  ExpectError(Edit(g, "agent_version: 7.15}, share: 0.3", "agent_version: \"7.11\"}, share: 0.3"),
              9, "attrs", "duplicate");
  ExpectError(Edit(g, "crash_per_day: 0.0002", "crash_per_day: -2"), 11, "crash_per_day");
  ExpectError(Edit(g, "content_type: ipc_rule", "content_type: Ipc-Rule"), 13, "content_type");
  ExpectError(Edit(g, "content_type: ipc_rule", "content_type: waf_rule"), 13, "content_type",
              "no stratum");
  ExpectError(Edit(g, "  bundle: content/b.yaml\n", ""), 14, "type", "go together");
  ExpectError(Edit(g, "p: 0.5", "p: 1.5"), 17, "p", "[0, 1]");
  ExpectError(Edit(g, "signal: silence", "signal: smoke"), 17, "signal", "smoke");
  ExpectError(Edit(g, "after: 5s", "after: later"), 17, "after");
  ExpectError(Edit(g, "repeats_on_boot: true", "repeats_on_boot: often"), 17, "repeats_on_boot");
  ExpectError(Edit(g, "repeats_on_boot: true", "repeat_on_boot: true"), 17, "repeat_on_boot");
  ExpectError(Edit(g, "agent_version: [\"7.11\", \"7.15\"]", "agent_version: []"), 17,
              "agent_version");
  ExpectError(Edit(g, "plan: plans/p.yaml\n", ""), 1, "plan", "missing");
}

TEST(ScenarioTest, SyntaxAndShapeErrors) {
  auto empty = ParseScenario("", "e.yaml");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("e.yaml:1"), std::string::npos);
  auto syntax = ParseScenario("scenario: x\nfleet: [1, 2\n", "x.yaml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("x.yaml:"), std::string::npos);
  ExpectError("- 1\n- 2\n", 1, "", "");  // no key to name: the root must be a mapping
}

TEST(ScenarioTest, ResolvesPathsAgainstTheScenarioDirectory) {
  EXPECT_EQ(ResolveRelative("a/b/s.yaml", "plans/p.yaml"), "a/b/plans/p.yaml");
  EXPECT_EQ(ResolveRelative("s.yaml", "plans/p.yaml"), "plans/p.yaml");
  EXPECT_EQ(ResolveRelative("a/s.yaml", "/abs/p.yaml"), "/abs/p.yaml");
  EXPECT_EQ(ResolveRelative("/x/s.yaml", "../p.yaml"), "/x/../p.yaml");
}

TEST(ScenarioTest, LoadsReferencedFilesThroughTheFilesystem) {
  MemFilesystem fs;
  auto s = ParseScenario(kGood, "dir/s.yaml");
  ASSERT_TRUE(s.ok());
  auto missing = LoadScenarioFiles(*s, fs);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("dir/s.yaml:19: key 'plan'"), std::string::npos)
      << missing.status().message();
  ASSERT_TRUE(fs.CreateDirs("dir/plans", 0755).ok());
  ASSERT_TRUE(fs.CreateDirs("dir/content", 0755).ok());
  ASSERT_TRUE(fs.WriteFileAtomic("dir/plans/p.yaml", "plan text", 0644).ok());
  auto no_type = LoadScenarioFiles(*s, fs);
  ASSERT_FALSE(no_type.ok());
  EXPECT_NE(no_type.status().message().find("dir/s.yaml:14: key 'type'"), std::string::npos)
      << no_type.status().message();
  ASSERT_TRUE(fs.WriteFileAtomic("dir/content/t.yaml", "type text", 0644).ok());
  ASSERT_TRUE(fs.WriteFileAtomic("dir/content/b.yaml", "bundle text", 0644).ok());
  auto files = LoadScenarioFiles(*s, fs);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->plan_text, "plan text");
  EXPECT_EQ(files->type_text, "type text");
  EXPECT_EQ(files->bundle_text, "bundle text");
}

TEST(ScenarioTest, EveryShippedScenarioParsesAndLoads) {
  Env env = PosixEnv();
  for (const char* name : {"cf291", "cloudflare-2019-waf", "fastly-2021", "good-release",
                           "good-release-emergency", "google-2025-service-control",
                           "stats-reference-good"}) {
    const std::string path = testing::SourcePath(std::string("samples/scenarios/") + name + ".yaml");
    auto s = ParseScenario(testing::ReadFileOrDie(path), path);
    ASSERT_TRUE(s.ok()) << name << ": " << s.status().ToString();
    int64_t sum = 0;
    for (const ScenarioStratum& st : s->fleet.strata) sum += st.devices;
    EXPECT_EQ(sum, s->fleet.devices) << name;
    auto files = LoadScenarioFiles(*s, *env.fs);
    ASSERT_TRUE(files.ok()) << name << ": " << files.status().ToString();
    EXPECT_FALSE(files->plan_text.empty());
  }
}

}  // namespace
}  // namespace rf::sim
