// The CLI refuses a private key that others may read, as ssh does (src/cli/common.h).
#include <sys/stat.h>

#include <string>

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace rf {
namespace {

using testing::RingfenceBinary;
using testing::RunCommand;
using testing::TempDir;

const std::string kType = testing::SourcePath("samples/content/ipc_rule.type.yaml");
const std::string kBundle = testing::SourcePath("samples/content/cf291.bundle.yaml");

TEST(CliPrivateKey, RefusedWhenOthersMayReadIt) {
  TempDir dir;
  const std::string key = dir.File("alice"), out = dir.File("b.bundle");
  ASSERT_EQ(RunCommand({RingfenceBinary(), "key", "gen", "-o", key}).exit_code, 0);
  ASSERT_EQ(RunCommand({RingfenceBinary(), "bundle", "build", kBundle, "--type", kType, "-o", out})
                .exit_code,
            0);
  for (mode_t mode : {0644, 0640, 0604, 0620}) {
    ASSERT_EQ(::chmod((key + ".key").c_str(), mode), 0);
    auto sign = RunCommand({RingfenceBinary(), "bundle", "sign", out, "--key", key + ".key"});
    EXPECT_EQ(sign.exit_code, 2) << std::oct << mode;
    EXPECT_NE(sign.err.find("private key is accessible by others"), std::string::npos) << sign.err;
    EXPECT_NE(sign.err.find("chmod 600 " + key + ".key"), std::string::npos) << sign.err;
    auto unsigned_verify =
        RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", key + ".pub"});
    EXPECT_EQ(unsigned_verify.exit_code, 1) << "the refused sign must not have signed";
  }
  ASSERT_EQ(::chmod((key + ".key").c_str(), 0400), 0);  // owner-only: fine, as for ssh
  auto sign = RunCommand({RingfenceBinary(), "bundle", "sign", out, "--key", key + ".key"});
  EXPECT_EQ(sign.exit_code, 0) << sign.err;
  EXPECT_EQ(RunCommand({RingfenceBinary(), "bundle", "verify", out, "--pub", key + ".pub"}).exit_code,
            0);
}

}  // namespace
}  // namespace rf
