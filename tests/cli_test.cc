// End-to-end tests of the `ringfence` binary on real files: exit codes, output, signatures.
#include <gtest/gtest.h>

#include <fstream>

#include "crypto/dsse.h"
#include "crypto/dsse_testing.h"
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

std::string Fleet21(const TempDir& dir) {
  std::string fleet = testing::ReadFileOrDie(kFleet);
  size_t pos;
  while ((pos = fleet.find("\"inputs\": 20")) != std::string::npos) fleet.replace(pos, 12, "\"inputs\": 21");
  std::string path = dir.File("fleet21.json");
  testing::WriteFileOrDie(path, fleet);
  return path;
}

TEST(CliCheckTest, RejectsChannelFile291AgainstTheFleet) {
  auto r = RunCommand({RingfenceBinary(), "check", kBundle, "--type", kType, "--fleet", kFleet});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("REJECTED"), std::string::npos);
  EXPECT_NE(r.out.find("ipc-0003"), std::string::npos);
  EXPECT_NE(r.out.find("peer_pipe_regex"), std::string::npos);
  EXPECT_NE(r.out.find("8,500,000"), std::string::npos);
  EXPECT_NE(r.out.find("agent_version=7.11"), std::string::npos);
  EXPECT_NE(r.out.find("agent_version=7.15"), std::string::npos);
}

TEST(CliCheckTest, JsonOutput) {
  auto r = RunCommand(
      {RingfenceBinary(), "check", kBundle, "--type", kType, "--fleet", kFleet, "--format", "json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("{\"verdict\":\"reject\"", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\"item\":\"ipc-0003\",\"field\":\"peer_pipe_regex\",\"position\":20"),
            std::string::npos);
  EXPECT_NE(r.out.find("\"devices\":8500000"), std::string::npos);
}

TEST(CliCheckTest, AcceptsWhenEveryConsumerSuppliesTwentyOneInputs) {
  TempDir dir;
  auto r = RunCommand({RingfenceBinary(), "check", kBundle, "--type", kType, "--fleet", Fleet21(dir)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ACCEPTED"), std::string::npos);
}

TEST(CliCheckTest, UnusableInputExitsTwoNamingFileAndLine) {
  TempDir dir;
  std::string bad = dir.File("bad.yaml");
  testing::WriteFileOrDie(bad, "channel: \"1\"\nitems: [\n");
  auto r = RunCommand({RingfenceBinary(), "check", bad, "--type", kType});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad + ":3:1: YAML syntax error"), std::string::npos) << r.err;

  auto missing = RunCommand({RingfenceBinary(), "check", dir.File("nope.yaml"), "--type", kType});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.yaml: No such file"), std::string::npos) << missing.err;

  std::string bad_type = dir.File("t.yaml");
  testing::WriteFileOrDie(bad_type, "content_type: t\nschema_version: 1\nfields:\n  - {name: a, type: blob}\n");
  auto t = RunCommand({RingfenceBinary(), "check", kBundle, "--type", bad_type});
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_NE(t.err.find("t.yaml:4:21: key 'type': unknown field type 'blob'"), std::string::npos) << t.err;

  auto usage = RunCommand({RingfenceBinary(), "check", kBundle});
  EXPECT_EQ(usage.exit_code, 2);
}

TEST(CliBundleTest, BuildSignVerifyAndCheckTheBuiltBundle) {
  TempDir dir;
  const std::string key = dir.File("alice"), out = dir.File("cf291.bundle");
  ASSERT_EQ(RunCommand({RingfenceBinary(), "key", "gen", "-o", key}).exit_code, 0);
  auto build = RunCommand({RingfenceBinary(), "bundle", "build", kBundle, "--type", kType, "-o", out});
  ASSERT_EQ(build.exit_code, 0) << build.err;
  EXPECT_NE(build.out.find("(unsigned)"), std::string::npos);
  auto unsigned_verify = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", key + ".pub"});
  EXPECT_EQ(unsigned_verify.exit_code, 1);
  EXPECT_NE(unsigned_verify.err.find("envelope is unsigned"), std::string::npos);

  ASSERT_EQ(RunCommand({RingfenceBinary(), "bundle", "sign", out, "--key", key + ".key"}).exit_code, 0);
  auto ok = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", key + ".pub"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("verified"), std::string::npos);

  // The built bundle is checked exactly like its source.
  auto check = RunCommand({RingfenceBinary(), "check", out, "--type", kType, "--fleet", kFleet});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_NE(check.out.find("ipc-0003"), std::string::npos);

  // Wrong key.
  const std::string mallory = dir.File("mallory");
  ASSERT_EQ(RunCommand({RingfenceBinary(), "key", "gen", "-o", mallory}).exit_code, 0);
  auto wrong = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", mallory + ".pub"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("no signature by key"), std::string::npos) << wrong.err;

  // Tampered payload: flip one base64 character of the payload.
  std::string text = testing::ReadFileOrDie(out);
  size_t p = text.find("\"payload\":\"") + 20;
  text[p] = text[p] == 'A' ? 'B' : 'A';
  const std::string tampered = dir.File("tampered.bundle");
  testing::WriteFileOrDie(tampered, text);
  auto t = RunCommand({RingfenceBinary(), "bundle", "verify", tampered, "--pub", key + ".pub"});
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_NE(t.err.find("does not verify"), std::string::npos) << t.err;

  // Truncated envelope.
  const std::string truncated = dir.File("truncated.bundle");
  testing::WriteFileOrDie(truncated, testing::ReadFileOrDie(out).substr(0, 100));
  auto tr = RunCommand({RingfenceBinary(), "bundle", "verify", truncated, "--pub", key + ".pub"});
  EXPECT_EQ(tr.exit_code, 1);
  EXPECT_NE(tr.err.find("not valid JSON"), std::string::npos) << tr.err;
}

// Regression (issue 10): `--pub a --pub a --threshold 2` passed with one signature.
TEST(CliBundleTest, VerifyThresholdCountsDistinctKeys) {
  TempDir dir;
  const std::string a = dir.File("a"), b = dir.File("b"), out = dir.File("cf291.bundle");
  ASSERT_EQ(RunCommand({RingfenceBinary(), "key", "gen", "-o", a}).exit_code, 0);
  ASSERT_EQ(RunCommand({RingfenceBinary(), "key", "gen", "-o", b}).exit_code, 0);
  ASSERT_EQ(RunCommand({RingfenceBinary(), "bundle", "build", kBundle, "--type", kType, "-o", out,
                        "--key", a + ".key"})
                .exit_code,
            0);
  auto twice = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", a + ".pub", "--pub",
                           a + ".pub", "--threshold", "2"});
  EXPECT_EQ(twice.exit_code, 2) << twice.out << twice.err;
  EXPECT_NE(twice.err.find("--pub[1] repeats key"), std::string::npos) << twice.err;
  EXPECT_EQ(twice.out.find("verified"), std::string::npos) << twice.out;
  // The same key under another file name is the same key.
  testing::WriteFileOrDie(dir.File("copy.pub"), testing::ReadFileOrDie(a + ".pub"));
  auto copy = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", a + ".pub", "--pub",
                          dir.File("copy.pub"), "--threshold", "2"});
  EXPECT_EQ(copy.exit_code, 2) << copy.out << copy.err;
  // Two distinct keys, one signature: 1 of 2.
  auto one = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", a + ".pub", "--pub",
                         b + ".pub", "--threshold", "2"});
  EXPECT_EQ(one.exit_code, 1);
  EXPECT_NE(one.err.find("1 of 2 keys verified, 2 required"), std::string::npos) << one.err;
  // a's signature copied under b's keyid is still one signature by a.
  std::string text = testing::ReadFileOrDie(out);
  auto env = *crypto::ParseEnvelope(text);
  env.signatures.push_back(
      {crypto::DecodePublicKeyFile(testing::ReadFileOrDie(b + ".pub"))->KeyId(),
       env.signatures[0].sig});
  testing::WriteFileOrDie(out, crypto::SerializeEnvelope(env));
  one = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", a + ".pub", "--pub",
                    b + ".pub", "--threshold", "2"});
  EXPECT_EQ(one.exit_code, 1);
  EXPECT_NE(one.err.find("1 of 2 keys verified, 2 required"), std::string::npos) << one.err;
  // Signed by b as well: 2 of 2 (re-signing replaced nothing of a's).
  testing::WriteFileOrDie(out, text);
  ASSERT_EQ(RunCommand({RingfenceBinary(), "bundle", "sign", out, "--key", b + ".key"}).exit_code,
            0);
  auto both = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", a + ".pub", "--pub",
                          b + ".pub", "--threshold", "2"});
  EXPECT_EQ(both.exit_code, 0) << both.err;
  EXPECT_NE(both.out.find("2 of 2 keys"), std::string::npos) << both.out;
}

// DSSE: keyid is an optional hint; either base64 alphabet, padded or not, must be accepted.
TEST(CliBundleTest, VerifyIgnoresKeyIdsAndAcceptsEveryBase64Variant) {
  TempDir dir;
  const std::string a = dir.File("a"), out = dir.File("cf291.bundle");
  ASSERT_EQ(RunCommand({RingfenceBinary(), "key", "gen", "-o", a}).exit_code, 0);
  ASSERT_EQ(RunCommand({RingfenceBinary(), "bundle", "build", kBundle, "--type", kType, "-o", out,
                        "--key", a + ".key"})
                .exit_code,
            0);
  const std::string standard = testing::ReadFileOrDie(out);
  for (const char* keyid : {static_cast<const char*>(nullptr), "", "0123456789abcdef"}) {
    for (bool url : {false, true}) {
      const std::string text = crypto::testing::ReencodeEnvelope(
          crypto::testing::WithKeyId(standard, 0, keyid), url, false);
      testing::WriteFileOrDie(out, text);
      auto r = RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", a + ".pub"});
      EXPECT_EQ(r.exit_code, 0) << text.substr(0, 200) << "\n" << r.err;
      // `check` reads the same envelopes.
      auto check =
          RunCommand({RingfenceBinary(), "check", out, "--type", kType, "--fleet", kFleet});
      EXPECT_EQ(check.exit_code, 1) << check.err;
      EXPECT_NE(check.out.find("ipc-0003"), std::string::npos);
    }
  }
}

TEST(CliBundleTest, BuildRefusesContentThatFailsItsType) {
  TempDir dir;
  std::string src = dir.File("bad.bundle.yaml");
  testing::WriteFileOrDie(src,
                          "channel: \"291\"\ncontent_type: ipc_rule\nschema_version: 3\nversion: 1\n"
                          "items:\n  - {id: x, session_id: 70000}\n");
  auto r = RunCommand({RingfenceBinary(), "bundle", "build", src, "--type", kType, "-o", dir.File("o")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("field.range"), std::string::npos) << r.err;
  EXPECT_FALSE(std::ifstream(dir.File("o")).good());
}

// Channel names follow the protocol's one rule (protocol/identifiers.h): a source whose channel is
// "." or ".." is refused at build with an error naming the file and the channel, and nothing is
// written (before, only the server's upload refused it).
TEST(CliBundleTest, BuildRefusesDotChannels) {
  TempDir dir;
  for (const std::string channel : {"..", "."}) {
    std::string src = dir.File("dot.bundle.yaml");
    testing::WriteFileOrDie(src, "channel: \"" + channel +
                                     "\"\ncontent_type: ipc_rule\nschema_version: 3\nversion: 1\n"
                                     "items:\n  - {id: x, session_id: 70000}\n");
    auto r = RunCommand({RingfenceBinary(), "bundle", "build", src, "--type", kType, "-o", dir.File("o")});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(src + ": channel '" + channel + "' is not a valid channel name"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(std::ifstream(dir.File("o")).good());
  }
}

// `ringfence check` applies the same channel rule as build and the server's upload: it used to
// report "accepted" for a "." or ".." channel that the upload then refused.
TEST(CliCheckTest, RefusesDotChannels) {
  TempDir dir;
  for (const std::string channel : {"..", "."}) {
    std::string src = dir.File("dot.bundle.yaml");
    testing::WriteFileOrDie(src, "channel: \"" + channel +
                                     "\"\ncontent_type: ipc_rule\nschema_version: 3\nversion: 1\n"
                                     "items:\n  - {id: x, session_id: 7}\n");
    auto r = RunCommand({RingfenceBinary(), "check", src, "--type", kType});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find(src + ": channel '" + channel + "' is not a valid channel name"),
              std::string::npos)
        << r.err;
  }
}

TEST(CliKeyTest, RefusesToOverwriteKeys) {
  TempDir dir;
  ASSERT_EQ(RunCommand({RingfenceBinary(), "key", "gen", "-o", dir.File("k")}).exit_code, 0);
  auto again = RunCommand({RingfenceBinary(), "key", "gen", "-o", dir.File("k")});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--force"), std::string::npos);
}

TEST(CliCheckTest, PreviousBundleGrowthAndVersion) {
  TempDir dir;
  auto r = RunCommand({RingfenceBinary(), "check", kBundle, "--type", kType, "--previous", kBundle});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("previous.version"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rf
