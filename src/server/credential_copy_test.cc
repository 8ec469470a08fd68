// CopyCredentials (credential_copy.h) between two real journals: keys, epochs and states (revoked,
// reset) move; a run again finishes an interrupted copy; a foreign target is refused untouched.
#include "server/credential_copy.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "crypto/crypto.h"
#include "platform/env.h"
#include "server/credential_journal.h"
#include "testing/test_util.h"

namespace rf::server {
namespace {

using Credentials = std::map<std::string, CredentialInfo>;

class CredentialCopyTest : public ::testing::Test {
 protected:
  // Writes `c` as `id`'s credential into the journal at `path`.
  void Put(const std::string& path, const std::string& id, const CredentialInfo& c) {
    CredentialJournal j(env_.fs, path);
    ASSERT_TRUE(j.Load([](std::string_view, const CredentialInfo&) {}).ok());
    auto changed = j.Change(id, std::nullopt, "test", 100,
                            [&](const std::optional<CredentialInfo>&)
                                -> Result<std::optional<CredentialInfo>> { return {c}; });
    ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  }
  Credentials Read(const std::string& path) {
    Credentials all;
    CredentialJournal j(env_.fs, path);
    EXPECT_TRUE(j.Load([&](std::string_view id, const CredentialInfo& c) {
                   all[std::string(id)] = c;
                 }).ok());
    return all;
  }
  static CredentialInfo Cred(uint32_t epoch, CredentialState state) {
    CredentialInfo c;
    c.key = crypto::SigningKey::Generate().public_key();
    c.epoch = epoch;
    c.state = state;
    return c;
  }
  static void ExpectSame(const Credentials& a, const Credentials& b) {
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [id, c] : a) {
      auto it = b.find(id);
      ASSERT_NE(it, b.end()) << id;
      EXPECT_EQ(it->second.key.bytes, c.key.bytes) << id;
      EXPECT_EQ(it->second.epoch, c.epoch) << id;
      EXPECT_EQ(it->second.state, c.state) << id;
    }
  }

  Env env_ = PosixEnv();
  rf::testing::TempDir dir_;
  const std::string from_ = dir_.File("from.log");
  const std::string to_ = dir_.File("to.log");
};

TEST_F(CredentialCopyTest, KeysEpochsAndRevocationsMove) {
  Put(from_, "d-1", Cred(1, CredentialState::kActive));
  Put(from_, "d-2", Cred(3, CredentialState::kRevoked));
  Put(from_, "d-3", Cred(2, CredentialState::kReset));
  CredentialJournal from(env_.fs, from_), to(env_.fs, to_);
  auto stats = CopyCredentials(from, to, "copy-store", 200);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->active, 1);
  EXPECT_EQ(stats->revoked, 1);
  EXPECT_EQ(stats->reset, 1);
  ExpectSame(Read(from_), Read(to_));
  EXPECT_EQ(Read(to_).at("d-2").state, CredentialState::kRevoked);
}

TEST_F(CredentialCopyTest, RunAgainFinishesAnInterruptedCopy) {
  const CredentialInfo one = Cred(1, CredentialState::kActive);
  Put(from_, "d-1", one);
  Put(from_, "d-2", Cred(1, CredentialState::kRevoked));
  Put(to_, "d-1", one);  // what a first run wrote before it stopped
  CredentialJournal from(env_.fs, from_), to(env_.fs, to_);
  auto stats = CopyCredentials(from, to, "copy-store", 200);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->already_there, 1);
  EXPECT_EQ(stats->revoked, 1);
  ExpectSame(Read(from_), Read(to_));
}

TEST_F(CredentialCopyTest, ATargetWithOtherDevicesOrKeysIsRefusedUntouched) {
  Put(from_, "d-1", Cred(1, CredentialState::kActive));
  Put(to_, "d-9", Cred(1, CredentialState::kActive));
  {
    CredentialJournal from(env_.fs, from_), to(env_.fs, to_);
    auto stats = CopyCredentials(from, to, "copy-store", 200);
    ASSERT_EQ(stats.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(stats.status().message().find("device 'd-9' is not in the source"),
              std::string::npos)
        << stats.status().ToString();
    EXPECT_EQ(Read(to_).count("d-1"), 0u);
  }
  // The same id under another key: refused, naming both.
  Put(from_, "d-9", Cred(1, CredentialState::kActive));
  CredentialJournal from(env_.fs, from_), to(env_.fs, to_);
  auto stats = CopyCredentials(from, to, "copy-store", 200);
  ASSERT_EQ(stats.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stats.status().message().find("device 'd-9' holds key"), std::string::npos)
      << stats.status().ToString();
  EXPECT_EQ(Read(to_).count("d-1"), 0u);
}

}  // namespace
}  // namespace rf::server
