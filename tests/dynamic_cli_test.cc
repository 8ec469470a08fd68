// `ringfence check --dynamic`: layer 2 from the command line, with the example sensor as the
// consumer (real processes end to end).
#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "testing/test_util.h"

namespace rf {
namespace {

using testing::RingfenceBinary;
using testing::RunCommand;
using testing::SourcePath;
using testing::TempDir;

const std::string kType = SourcePath("samples/content/ipc_rule.type.yaml");
const std::string kBundle = SourcePath("samples/content/cf291.bundle.yaml");
const std::string kFleet = SourcePath("samples/content/fleet.json");

std::string Sensor(const std::string& flags) {
  return testing::BinaryPath("examples/sensor/ringfence-sensor") + " " + flags;
}

std::vector<std::string> Check(std::vector<std::string> extra) {
  std::vector<std::string> argv = {RingfenceBinary(), "check", kBundle, "--type", kType,
                                   "--dynamic", "--cpu-seconds", "1"};
#if defined(__SANITIZE_ADDRESS__)
  argv.insert(argv.end(), {"--memory-mb", "0"});  // ASan reserves terabytes of address space
#endif
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(DynamicCliTest, LayerTwoAloneRejectsCf291OnTheLegacySensorNamingIpc0003) {
  auto r = RunCommand(Check({"--no-static", "--consumer", Sensor("--integration legacy")}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("layer 1 static checks skipped"), std::string::npos);
  EXPECT_NE(r.out.find("LAYER 2 REJECTED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("failing items: ipc-0003"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SIGSEGV"), std::string::npos);
}

TEST(DynamicCliTest, LayerTwoAlonePassesCf291OnTheCorrectSensor) {
  auto r = RunCommand(Check({"--no-static", "--consumer", Sensor("--integration correct"),
                             "--corpus", SourcePath("examples/sensor/testdata/events.jsonl")}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("LAYER 2 ACCEPTED"), std::string::npos) << r.out;
}

TEST(DynamicCliTest, BothLayersAndEveryConsumerBuildInOneRun) {
  auto r = RunCommand(Check({"--fleet", kFleet, "--format", "json", "--consumer",
                             Sensor("--integration legacy"), "--consumer",
                             Sensor("--integration correct")}));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out.rfind("{\"dynamic\":{\"accepted\":false,", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\"failing_items\":[\"ipc-0003\"]"), std::string::npos);
  EXPECT_NE(r.out.find("\"static\":{\"verdict\":\"reject\""), std::string::npos);
  EXPECT_NE(r.out.find("\"verdict\":\"reject\"}"), std::string::npos);
}

TEST(DynamicCliTest, SignedAttestationVerifies) {
  TempDir dir;
  const std::string key = dir.File("lab");
  ASSERT_EQ(RunCommand({RingfenceBinary(), "key", "gen", "-o", key}).exit_code, 0);
  const std::string att = dir.File("report.dsse");
  auto r = RunCommand(Check({"--no-static", "--consumer", Sensor("--integration correct"),
                             "--attestation", att, "--key", key + ".key"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("(signed)"), std::string::npos);
  const std::string envelope = testing::ReadFileOrDie(att);
  EXPECT_NE(envelope.find("\"payloadType\":\"application/vnd.ringfence.dynamic-report+json\""),
            std::string::npos);
  auto env = crypto::ParseEnvelope(envelope);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  auto pub = crypto::DecodePublicKeyFile(testing::ReadFileOrDie(key + ".pub"));
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(crypto::VerifyEnvelope(*env, *pub).ok());
  EXPECT_EQ(env->payload.rfind("{\"accepted\":true,", 0), 0u) << env->payload;
  EXPECT_NE(r.out.find("report sha256 " + crypto::Sha256Hex(env->payload)), std::string::npos);
}

TEST(DynamicCliTest, UsageErrors) {
  EXPECT_EQ(RunCommand({RingfenceBinary(), "check", kBundle, "--type", kType, "--dynamic"}).exit_code, 2);
  EXPECT_EQ(RunCommand({RingfenceBinary(), "check", kBundle, "--type", kType, "--no-static"}).exit_code, 2);
  auto missing = RunCommand(Check({"--consumer", "/nonexistent/sensor"}));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("/nonexistent/sensor"), std::string::npos) << missing.err;
  EXPECT_EQ(RunCommand(Check({"--consumer", Sensor(""), "--key", "x.key"})).exit_code, 2);
}

}  // namespace
}  // namespace rf
