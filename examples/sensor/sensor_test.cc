// The example sensor: its manifest, its interpreter, and its process behaviour in both
// integration modes (real subprocesses; the legacy mode really crashes).
#include <gtest/gtest.h>
#include <signal.h>

#include "core/bundle.h"
#include "core/content_type.h"
#include "examples/sensor/ipc_sensor.h"
#include "examples/sensor/rules.h"
#include "platform/process.h"
#include "testing/test_util.h"

// As in app/main.cc: under AddressSanitizer the legacy integration's out-of-bounds read must
// still end the (death-test child) process with SIGSEGV rather than ASan's report-and-exit(1).
extern "C" const char* __asan_default_options() { return "handle_segv=0:handle_sigbus=0"; }

namespace sensor {
namespace {

using rf::testing::SourcePath;

std::string Cf291Payload(bool without_ipc_0003 = false) {
  auto type = rf::ParseContentType(
      rf::testing::ReadFileOrDie(SourcePath("samples/content/ipc_rule.type.yaml")), "type");
  EXPECT_TRUE(type.ok());
  std::vector<rf::Finding> findings;
  auto b = rf::DecodeBundleSource(
      rf::testing::ReadFileOrDie(SourcePath("samples/content/cf291.bundle.yaml")), "cf291",
      *type, &findings);
  EXPECT_TRUE(b.ok() && findings.empty());
  if (without_ipc_0003) b->items.pop_back();
  return rf::EncodeCanonicalPayload(*b, *type);
}

const char* kIpc0003Event =
    R"({"pipe_name":"\\\\.\\pipe\\status_7","is_remote":true,"logon_type":3,)"
    R"("peer_pipe_regex":"\\\\host-1\\pipe\\x"})";

TEST(SensorManifestTest, InputsComeFromTheIntegration) {
  IpcSensor legacy({.integration = Integration::kLegacy});
  IpcSensor correct({.integration = Integration::kCorrect});
  EXPECT_EQ(legacy.Manifest(),
            "{\"ipc_rule\":{\"inputs\":20,\"max_bundle_bytes\":4194304,\"max_items\":5000,"
            "\"schema_versions\":[3]}}");
  EXPECT_NE(correct.Manifest().find("\"inputs\":21"), std::string::npos);
  EXPECT_EQ(SuppliedInputs(Integration::kCorrect), kTemplateFields);
}

TEST(SensorTest, CorrectIntegrationMatchesEveryCf291Rule) {
  IpcSensor s({.integration = Integration::kCorrect});
  ASSERT_TRUE(s.Validate(Cf291Payload()).ok());
  ASSERT_TRUE(s.Load(Cf291Payload()).ok());
  EXPECT_EQ(s.active_rules(), 3u);
  std::vector<std::string> ids;
  ASSERT_TRUE(s.Match(kIpc0003Event, &ids).ok());
  EXPECT_EQ(ids, std::vector<std::string>{"ipc-0003"});
  ids.clear();
  ASSERT_TRUE(s.Match(R"({"pipe_name":"\\\\.\\pipe\\postex_00ff","is_remote":false,)"
                      R"("image_path":"c:\\windows\\system32\\RUNDLL32.exe","integrity_level":"high"})",
                      &ids)
                  .ok());
  EXPECT_EQ(ids, std::vector<std::string>{"ipc-0002"});
  ids.clear();
  ASSERT_TRUE(s.Match(R"({"pipe_name":"\\\\.\\pipe\\status_7","is_remote":true,"logon_type":4})", &ids).ok());
  EXPECT_TRUE(ids.empty());
  EXPECT_EQ(s.Match("not json", &ids).code(), RF_REJECTED);
  EXPECT_EQ(s.Match(R"({"logon_type":[1]})", &ids).code(), RF_REJECTED);
}

TEST(SensorTest, LegacyIntegrationLoadsContentThatLeavesTheTwentyFirstFieldWildcard) {
  IpcSensor s({.integration = Integration::kLegacy});
  ASSERT_TRUE(s.Load(Cf291Payload(/*without_ipc_0003=*/true)).ok());
  std::vector<std::string> ids;
  ASSERT_TRUE(s.Match(R"({"pipe_name":"\\\\.\\pipe\\msagent_3f"})", &ids).ok());
  EXPECT_EQ(ids, std::vector<std::string>{"ipc-0001"});
  // Validation (decode + compile) passes even with the 21st field: it never evaluates a rule.
  EXPECT_TRUE(s.Validate(Cf291Payload()).ok());
}

TEST(SensorDeathTest, LegacyIntegrationReadsPastItsInputArray) {
  IpcSensor s({.integration = Integration::kLegacy});
  EXPECT_EXIT(s.Load(Cf291Payload()).ok(), ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(RulesTest, RefusesWhatItCannotInterpret) {
  RuleSet r;
  EXPECT_NE(DecodeRules("[]", &r), "");
  EXPECT_NE(DecodeRules("{\"content_type\":\"other\",\"schema_version\":3,\"items\":[]}", &r)
                .find("only 'ipc_rule'"),
            std::string::npos);
  EXPECT_NE(DecodeRules("{\"content_type\":\"ipc_rule\",\"schema_version\":2,\"items\":[]}", &r)
                .find("version 3"),
            std::string::npos);
  EXPECT_NE(DecodeRules("{\"content_type\":\"ipc_rule\",\"schema_version\":3,\"items\":"
                        "[{\"id\":\"a\",\"nope\":\"x\"}]}",
                        &r)
                .find("unknown field 'nope'"),
            std::string::npos);
  EXPECT_NE(DecodeRules("{\"content_type\":\"ipc_rule\",\"schema_version\":3,\"items\":"
                        "[{\"id\":\"a\",\"logon_type\":\"3\"}]}",
                        &r)
                .find("expected an integer"),
            std::string::npos);
  EXPECT_EQ(DecodeRules("{\"channel\":\"1\",\"content_type\":\"ipc_rule\",\"items\":"
                        "[{\"id\":\"a\",\"logon_type\":3,\"pipe_name\":\"*\"}],"
                        "\"schema_version\":3,\"version\":2}",
                        &r),
            "");
  ASSERT_EQ(r.rules.size(), 1u);
  ASSERT_EQ(r.rules[0].fields.size(), 1u);  // the wildcard is not a matcher
  EXPECT_EQ(r.rules[0].fields[0].int_value, 3);
  std::unique_ptr<CompiledRules> c;
  RuleSet bad;
  ASSERT_EQ(DecodeRules("{\"content_type\":\"ipc_rule\",\"schema_version\":3,\"items\":"
                        "[{\"id\":\"a\",\"pipe_name\":\"(\"}]}",
                        &bad),
            "");
  EXPECT_NE(CompiledRules::Compile(bad, RegexEngine::kRe2, &c), "");
  EXPECT_NE(CompiledRules::Compile(bad, RegexEngine::kBacktracking, &c), "");
}

TEST(InterpreterTest, GlobAndPrefixes) {
  EXPECT_TRUE(GlobMatch("C:\\Windows\\*.exe", "c:\\windows\\system32\\cmd.EXE"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
  EXPECT_FALSE(GlobMatch("*.dll", "x.exe"));
  uint32_t net, mask, addr;
  ASSERT_TRUE(ParseIpv4Prefix("10.1.0.0/16", &net, &mask));
  ASSERT_TRUE(ParseIpv4("10.1.200.3", &addr));
  EXPECT_EQ(addr & mask, net);
  EXPECT_FALSE(ParseIpv4Prefix("10.1.0.0/33", &net, &mask));
  EXPECT_FALSE(ParseIpv4("10.1.0", &addr));
  EXPECT_FALSE(ParseIpv4("10.1.0.256", &addr));
}

// The process, as layer 2 and the agent's pre-flight run it.
class SensorProcessTest : public ::testing::Test {
 protected:
  rf::ProcessResult Run(std::vector<std::string> args) {
    rf::ProcessOptions o;
    o.argv = {rf::testing::BinaryPath("examples/sensor/ringfence-sensor")};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    auto r = rf::RunProcess(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : rf::ProcessResult{};
  }
  rf::testing::TempDir dir_;
};

TEST_F(SensorProcessTest, ManifestPerIntegration) {
  auto legacy = Run({"--integration", "legacy", "manifest"});
  EXPECT_EQ(legacy.exit_code, 0);
  EXPECT_NE(legacy.out.find("\"inputs\":20"), std::string::npos) << legacy.out;
  auto correct = Run({"--integration=correct", "manifest"});
  EXPECT_NE(correct.out.find("\"inputs\":21"), std::string::npos) << correct.out;
  EXPECT_EQ(Run({"--integration", "bogus", "manifest"}).exit_code, 2);
  EXPECT_EQ(Run({}).exit_code, 2);
}

TEST_F(SensorProcessTest, LegacyLoadCrashesCorrectLoadSucceeds) {
  const std::string payload = dir_.File("cf291.json");
  rf::testing::WriteFileOrDie(payload, Cf291Payload());
  auto legacy = Run({"--integration", "legacy", "load", payload});
  EXPECT_EQ(legacy.signal, SIGSEGV) << legacy.err;
  auto correct = Run({"--integration", "correct", "load", payload});
  EXPECT_EQ(correct.exit_code, 0) << correct.err;
  EXPECT_NE(correct.err.find("health: ok: 3 rules active"), std::string::npos) << correct.err;
  EXPECT_EQ(Run({"--integration", "legacy", "validate", payload}).exit_code, 0);
}

TEST_F(SensorProcessTest, ReplayPrintsMatchesPerEvent) {
  const std::string payload = dir_.File("cf291.json");
  rf::testing::WriteFileOrDie(payload, Cf291Payload());
  auto r = Run({"replay", payload, SourcePath("examples/sensor/testdata/events.jsonl")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"event\":1,\"matches\":[\"ipc-0001\"]}\n"
            "{\"event\":2,\"matches\":[\"ipc-0002\"]}\n"
            "{\"event\":3,\"matches\":[\"ipc-0003\"]}\n"
            "{\"event\":4,\"matches\":[]}\n");
}

TEST_F(SensorProcessTest, RefusesBadFiles) {
  const std::string bad = dir_.File("bad.json");
  rf::testing::WriteFileOrDie(bad, "{\"content_type\":\"ipc_rule\"");
  auto r = Run({"load", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not JSON"), std::string::npos) << r.err;
  EXPECT_EQ(Run({"load", dir_.File("missing.json")}).exit_code, 2);
}

}  // namespace
}  // namespace sensor
