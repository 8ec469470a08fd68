#include "server/data_dir.h"

#include <sys/stat.h>

#include <sstream>

#include <gtest/gtest.h>

#include "platform/sim_env.h"
#include "testing/test_util.h"

namespace rf::server {
namespace {

// A Random that counts its draws: no secret may come from the Env's Random.
class CountingRandom final : public Random {
 public:
  explicit CountingRandom(uint64_t seed) : inner_(seed) {}
  uint64_t Next64() override {
    ++draws;
    return inner_.Next64();
  }
  int draws = 0;

 private:
  SeededRandom inner_;
};

Env EnvWith(Random* random) {
  Env env = PosixEnv();
  env.random = random;
  return env;
}

int ModeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// The regression test for predictable secrets: two servers whose Env carries the same seeded
// Random used to draw the same admin token, fleet token and release key (and, one draw after
// another from a xoshiro256** state, each was computable from the fleet token every device holds).
TEST(DataDir, SecretsComeFromTheOsNotFromTheEnvRandom) {
  testing::TempDir tmp;
  CountingRandom r1(42), r2(42);
  auto a = DataDir::Open(EnvWith(&r1), tmp.File("a"), nullptr);
  auto b = DataDir::Open(EnvWith(&r2), tmp.File("b"), nullptr);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto sa = a->EnsureSecrets();
  auto sb = b->EnsureSecrets();
  ASSERT_TRUE(sa.ok()) << sa.status().ToString();
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  EXPECT_NE(sa->admin_token, sb->admin_token);
  EXPECT_NE(sa->agent_token, sb->agent_token);
  EXPECT_NE(sa->release_key.KeyId(), sb->release_key.KeyId());
  EXPECT_NE(sa->admin_token, sa->agent_token);
  EXPECT_EQ(r1.draws, 0);
  EXPECT_EQ(r2.draws, 0);
  // 256-bit tokens; every secret file private.
  EXPECT_EQ(sa->admin_token.size(), 3u + 64u);
  for (const char* f : {"admin.token", "agent.token", "release.key", "lock"}) {
    EXPECT_EQ(ModeOf(tmp.File(std::string("a/") + f)), 0600) << f;
  }
  EXPECT_EQ(ModeOf(tmp.File("a")), 0700);
}

TEST(DataDir, SecretsAreStableAcrossOpens) {
  testing::TempDir tmp;
  std::string admin, agent, key;
  {
    auto d = DataDir::Open(PosixEnv(), tmp.File("d"), nullptr);
    ASSERT_TRUE(d.ok());
    auto s = d->EnsureSecrets();
    ASSERT_TRUE(s.ok());
    admin = s->admin_token;
    agent = s->agent_token;
    key = s->release_key.KeyId();
  }
  auto d = DataDir::Open(PosixEnv(), tmp.File("d"), nullptr);
  ASSERT_TRUE(d.ok());
  auto s = d->EnsureSecrets();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->admin_token, admin);
  EXPECT_EQ(s->agent_token, agent);
  EXPECT_EQ(s->release_key.KeyId(), key);
}

TEST(DataDir, OneHolderAtATime) {
  testing::TempDir tmp;
  auto first = DataDir::Open(PosixEnv(), tmp.File("d"), nullptr);
  ASSERT_TRUE(first.ok());
  auto second = DataDir::Open(PosixEnv(), tmp.File("d"), nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("is in use"), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  { DataDir gone = std::move(*first); }
  EXPECT_TRUE(DataDir::Open(PosixEnv(), tmp.File("d"), nullptr).ok());
}

TEST(DataDir, TightensWhatOthersCouldRead) {
  testing::TempDir tmp;
  const std::string d = tmp.File("d");
  ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((d + "/fleet").c_str(), 0755), 0);
  testing::WriteFileOrDie(d + "/fleet/seg-1", "x");
  testing::WriteFileOrDie(d + "/ringfence.db", "x");
  ASSERT_EQ(::chmod((d + "/fleet/seg-1").c_str(), 0644), 0);
  ASSERT_EQ(::chmod((d + "/ringfence.db").c_str(), 0664), 0);
  std::ostringstream log;
  auto dir = DataDir::Open(PosixEnv(), d, &log);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(ModeOf(d), 0700);
  EXPECT_EQ(ModeOf(d + "/fleet"), 0700);
  EXPECT_EQ(ModeOf(d + "/fleet/seg-1"), 0600);
  EXPECT_EQ(ModeOf(d + "/ringfence.db"), 0600);
  EXPECT_NE(log.str().find("ringfence.db: mode tightened to 0600"), std::string::npos) << log.str();
}

TEST(DataDir, RotateReplacesOnlyWhatWasAskedFor) {
  testing::TempDir tmp;
  auto d = DataDir::Open(PosixEnv(), tmp.File("d"), nullptr);
  ASSERT_TRUE(d.ok());
  auto before = d->EnsureSecrets();
  ASSERT_TRUE(before.ok());
  RotateOptions only_key;
  only_key.admin_token = only_key.agent_token = false;
  auto after = d->RotateSecrets(only_key);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->admin_token, before->admin_token);
  EXPECT_EQ(after->agent_token, before->agent_token);
  EXPECT_NE(after->release_key.KeyId(), before->release_key.KeyId());
  EXPECT_NE(after->TrustJson(), before->TrustJson());
  auto all = d->RotateSecrets({});
  ASSERT_TRUE(all.ok());
  EXPECT_NE(all->admin_token, after->admin_token);
  EXPECT_NE(all->agent_token, after->agent_token);
  EXPECT_NE(all->release_key.KeyId(), after->release_key.KeyId());
  EXPECT_EQ(ModeOf(tmp.File("d/release.key")), 0600);
}

TEST(DataDir, MemFilesystemLocksToo) {
  MemFilesystem fs;
  auto a = fs.LockFile("/d/lock");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(fs.LockFile("/d/lock").status().code(), StatusCode::kFailedPrecondition);
  a->reset();
  EXPECT_TRUE(fs.LockFile("/d/lock").ok());
}

}  // namespace
}  // namespace rf::server
