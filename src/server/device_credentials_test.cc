#include "server/device_credentials.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "platform/sim_env.h"
#include "server/rate_limiter.h"
#include "testing/test_util.h"

namespace rf::server {
namespace {

constexpr int64_t kNow = 1'700'000'000;

crypto::PublicKey Key(uint8_t b) {
  crypto::PublicKey k;
  k.bytes.fill(b);
  return k;
}

class DeviceCredentialsTest : public ::testing::Test {
 protected:
  DeviceCredentialsOptions Options() {
    DeviceCredentialsOptions o;
    o.journal_path = dir_.File("credentials.log");
    o.secret_path = dir_.File("session.secret");
    return o;
  }
  testing::TempDir dir_;
  Env env_ = PosixEnv();
};

TEST_F(DeviceCredentialsTest, SameKeyIsIdempotentAnotherKeyConflicts) {
  DeviceCredentials c(env_, Options());
  ASSERT_TRUE(c.Load().ok());
  EXPECT_TRUE(c.WouldAddCredential("d-1", Key(1)));
  auto r = c.Register("d-1", Key(1), kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->epoch, 1u);
  EXPECT_FALSE(c.WouldAddCredential("d-1", Key(1)));
  EXPECT_FALSE(c.WouldAddCredential("d-1", Key(2)));  // refused, not added: no rate-limit token
  auto again = c.Register("d-1", Key(1), kNow + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->epoch, 1u);
  auto other = c.Register("d-1", Key(2), kNow);
  EXPECT_EQ(other.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(other.status().message().find("reset"), std::string::npos);
  EXPECT_EQ(c.Get("d-1")->key.bytes, Key(1).bytes);  // nothing changed
}

TEST_F(DeviceCredentialsTest, SessionTokensVerifyAndRefuseForgeryExpiryRevokeReset) {
  DeviceCredentials c(env_, Options());
  ASSERT_TRUE(c.Load().ok());
  auto r = c.Register("d-1", Key(1), kNow);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(c.Register("d-2", Key(2), kNow).ok());
  const std::string t = c.IssueSession("d-1", r->epoch, kNow);
  auto ok = c.VerifySession(t, kNow + 10);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->device_id, "d-1");
  // Edited device id (a device claiming another's token): the MAC no longer verifies.
  std::string forged = t;
  forged.replace(forged.find("d-1"), 3, "d-2");
  EXPECT_EQ(c.VerifySession(forged, kNow).status().code(), StatusCode::kUnauthenticated);
  // A flipped MAC digit, garbage, and expiry.
  std::string flipped = t;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(c.VerifySession(flipped, kNow).ok());
  EXPECT_FALSE(c.VerifySession("rfs1~d-1~1~9999999999~zz", kNow).ok());
  EXPECT_FALSE(c.VerifySession("", kNow).ok());
  EXPECT_FALSE(c.VerifySession(t, kNow + c.session_ttl_s()).ok());
  // Revoke: the same token is refused at once; re-registration is refused until a reset.
  ASSERT_TRUE(c.Revoke("d-1", "carol", kNow).ok());
  EXPECT_NE(c.VerifySession(t, kNow + 1).status().message().find("revoked"), std::string::npos);
  EXPECT_EQ(c.Register("d-1", Key(1), kNow).status().code(), StatusCode::kPermissionDenied);
  // Reset: any key may enroll (a new epoch); the old token stays refused.
  ASSERT_TRUE(c.Reset("d-1", "carol", kNow).ok());
  EXPECT_TRUE(c.WouldAddCredential("d-1", Key(3)));
  auto r3 = c.Register("d-1", Key(3), kNow);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->epoch, 2u);
  EXPECT_NE(c.VerifySession(t, kNow + 1).status().message().find("replaced key"), std::string::npos);
  EXPECT_TRUE(c.VerifySession(c.IssueSession("d-1", 2, kNow), kNow + 1).ok());
  EXPECT_EQ(c.Revoke("nobody", "carol", kNow).code(), StatusCode::kNotFound);
}

// Found by device_auth_fuzz: a token whose only '~' is the prefix's threw std::out_of_range
// (a 500 from the server) instead of being refused as malformed.
TEST_F(DeviceCredentialsTest, TokensWithoutSeparatorsAreMalformedNotAThrow) {
  DeviceCredentials c(env_, Options());
  ASSERT_TRUE(c.Load().ok());
  for (std::string t : {std::string("rfs1~"), std::string("rfs1~d") + std::string(64, '0'),
                        std::string("rfs1~~"), std::string("rfs1~a~b")}) {
    auto v = c.VerifySession(t, kNow);
    EXPECT_EQ(v.status().code(), StatusCode::kUnauthenticated) << t;
  }
}

// The actor of a revoke or reset is a principal and follows the one principal-name rule
// (protocol/identifiers.h). The journal had its own copy of the rule that let "." and ".." through.
TEST_F(DeviceCredentialsTest, ActorsFollowThePrincipalNameRule) {
  DeviceCredentials c(env_, Options());
  ASSERT_TRUE(c.Load().ok());
  ASSERT_TRUE(c.Register("d-1", Key(1), kNow).ok());
  for (const char* actor : {"..", ".", "", "Carol", "carol smith"}) {
    Status s = c.Revoke("d-1", actor, kNow);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "actor '" << actor << "'";
    EXPECT_NE(s.message().find("principal name"), std::string::npos) << s.message();
  }
  auto info = c.Get("d-1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, CredentialState::kActive);
  // Nothing was journaled: a restart sees the device active too.
  DeviceCredentials again(env_, Options());
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.Get("d-1")->state, CredentialState::kActive);
}

TEST_F(DeviceCredentialsTest, SurvivesRestartWithSecretAndJournal) {
  std::string token;
  {
    DeviceCredentials c(env_, Options());
    ASSERT_TRUE(c.Load().ok());
    ASSERT_TRUE(c.Register("d-1", Key(1), kNow).ok());
    ASSERT_TRUE(c.Register("d-2", Key(2), kNow).ok());
    ASSERT_TRUE(c.Register("d-3", Key(3), kNow).ok());
    ASSERT_TRUE(c.Revoke("d-2", "carol", kNow).ok());
    ASSERT_TRUE(c.Reset("d-3", "carol", kNow).ok());
    token = c.IssueSession("d-1", 1, kNow);
  }
  struct stat st;
  ASSERT_EQ(::stat(dir_.File("session.secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir_.File("credentials.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  DeviceCredentials c(env_, Options());
  ASSERT_TRUE(c.Load().ok());
  EXPECT_TRUE(c.VerifySession(token, kNow + 1).ok());  // same secret, same epoch
  EXPECT_EQ(c.Get("d-2")->state, CredentialState::kRevoked);
  EXPECT_EQ(c.Get("d-3")->state, CredentialState::kReset);
  EXPECT_EQ(c.Register("d-1", Key(9), kNow).status().code(), StatusCode::kAlreadyExists);
}

TEST_F(DeviceCredentialsTest, TornTailIsDroppedAndRepaired) {
  {
    DeviceCredentials c(env_, Options());
    ASSERT_TRUE(c.Load().ok());
    ASSERT_TRUE(c.Register("d-1", Key(1), kNow).ok());
  }
  // A crash in the middle of the second registration's append (never acknowledged).
  ASSERT_TRUE(env_.fs->AppendDurable(dir_.File("credentials.log"), "K d-2 0101", 0600).ok());
  {
    DeviceCredentials c(env_, Options());
    ASSERT_TRUE(c.Load().ok());
    EXPECT_TRUE(c.Get("d-1").ok());
    EXPECT_FALSE(c.Get("d-2").ok());
    ASSERT_TRUE(c.Register("d-2", Key(2), kNow).ok());  // appends after the repaired end
  }
  DeviceCredentials c(env_, Options());
  ASSERT_TRUE(c.Load().ok());
  EXPECT_EQ(c.Get("d-2")->key.bytes, Key(2).bytes);
}

TEST_F(DeviceCredentialsTest, CorruptJournalOrSecretIsDataLoss) {
  ASSERT_TRUE(env_.fs->WriteFileAtomic(dir_.File("credentials.log"),
                                       "ringfence-credentials v1\nK d-1 nothex 1 0\n", 0600).ok());
  DeviceCredentials c(env_, Options());
  Status s = c.Load();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("credentials.log:2"), std::string::npos) << s.message();
  ASSERT_TRUE(env_.fs->WriteFileAtomic(dir_.File("session.secret"), "short\n", 0600).ok());
  DeviceCredentials c2(env_, Options());
  EXPECT_EQ(c2.Load().code(), StatusCode::kDataLoss);
}

TEST_F(DeviceCredentialsTest, SessionRequestNeedsTheDeviceKeyAndAFreshTimestamp) {
  DeviceCredentials c(env_, Options());
  ASSERT_TRUE(c.Load().ok());
  auto key = crypto::SigningKey::Generate();
  auto other = crypto::SigningKey::Generate();
  ASSERT_TRUE(c.Register("d-1", key.public_key(), kNow).ok());
  const std::string sig = key.Sign(SessionRequestMessage("d-1", kNow));
  EXPECT_TRUE(c.CheckSessionRequest("d-1", kNow, sig, kNow + 5).ok());
  EXPECT_EQ(c.CheckSessionRequest("d-1", kNow, other.Sign(SessionRequestMessage("d-1", kNow)), kNow)
                .status().code(), StatusCode::kUnauthenticated);
  // An enrollment proof is not a session request (different statement).
  EXPECT_FALSE(c.CheckSessionRequest(
      "d-1", kNow, key.Sign(EnrollProofMessage("d-1", "x", kNow)), kNow).ok());
  EXPECT_EQ(c.CheckSessionRequest("d-1", kNow, sig, kNow + 3600).status().code(),
            StatusCode::kUnauthenticated);  // replayed an hour later
  EXPECT_EQ(c.CheckSessionRequest("d-9", kNow, sig, kNow).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(c.Revoke("d-1", "carol", kNow).ok());
  EXPECT_EQ(c.CheckSessionRequest("d-1", kNow, sig, kNow).status().code(),
            StatusCode::kPermissionDenied);
}

TEST(TokenBucket, BurstThenRate) {
  TokenBucket b(2.0, 3.0);  // 2/s, burst 3
  EXPECT_EQ(b.TryTake(0), 0);
  EXPECT_EQ(b.TryTake(0), 0);
  EXPECT_EQ(b.TryTake(0), 0);
  const int64_t wait = b.TryTake(0);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 500'000);
  EXPECT_GT(b.TryTake(100'000), 0);
  EXPECT_EQ(b.TryTake(500'000), 0);
  EXPECT_GT(b.TryTake(500'000), 0);
  EXPECT_EQ(b.TryTake(10'000'000), 0);  // refilled, capped at the burst
  EXPECT_EQ(b.TryTake(10'000'000), 0);
  EXPECT_EQ(b.TryTake(10'000'000), 0);
  EXPECT_GT(b.TryTake(10'000'000), 0);
}

}  // namespace
}  // namespace rf::server
