#include "agent/verifier.h"

#include <gtest/gtest.h>

#include "agent/agent_test_fixtures.h"
#include "agent/canonical_json.h"
#include "agent/trust_root.h"
#include "crypto/dsse_testing.h"

namespace rf::agent {
namespace {

using testing::Keys;
using testing::MakeRelease;
using testing::Release;

constexpr int64_t kNow = 1'790'000'000;

class VerifierTest : public ::testing::Test {
 protected:
  InstallCandidate Candidate(const Release& r) {
    return {r.channel, r.version, r.sha256, r.statement, r.bundle, r.approvals};
  }
  Status Verify(const InstallCandidate& c, const InstalledView& v = {}) {
    return VerifyInstall(trust_, c, v, kNow).status();
  }
  Keys k_;
  TrustRoot trust_ = k_.Trust(2);
  Release r_ = MakeRelease(k_, "291", 43, kNow);
};

TEST_F(VerifierTest, AcceptsACompleteRelease) {
  auto v = VerifyInstall(trust_, Candidate(r_), {}, kNow);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->version, 43);
  EXPECT_EQ(v->sha256, r_.sha256);
  EXPECT_EQ(v->header.content_type, "test_rule");
  EXPECT_EQ(v->release_id, "r-43");
}

TEST_F(VerifierTest, RefusesAnUnsignedBundle) {
  auto c = Candidate(r_);
  c.bundle_envelope = testing::Envelope(crypto::kBundlePayloadType, r_.payload, {});
  Status s = Verify(c);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "bundle: unsigned");
}

TEST_F(VerifierTest, RefusesABundleSignedByAnUntrustedKey) {
  auto c = Candidate(r_);
  c.bundle_envelope = testing::Envelope(crypto::kBundlePayloadType, r_.payload, {&k_.attacker});
  Status s = Verify(c);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("0 valid publisher signature(s), the trust root requires 1"), std::string::npos)
      << s.message();
}

TEST_F(VerifierTest, RefusesATamperedPayload) {
  auto env = *crypto::ParseEnvelope(r_.bundle);
  env.payload[env.payload.size() - 2] = '4';  // "version":43 -> 44, signature kept
  auto c = Candidate(r_);
  c.bundle_envelope = crypto::SerializeEnvelope(env);
  Status s = Verify(c);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("differs from the release statement"), std::string::npos) << s.message();
}

TEST_F(VerifierTest, RefusesBelowQuorumAndCountsDistinctKeysOnly) {
  auto c = Candidate(r_);
  c.approval_envelopes = {r_.approvals[0], r_.approvals[0],
                          testing::ApprovalFor(k_.reviewer1, "291", 43, r_.sha256, "bob-again")};
  Status s = Verify(c);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "approvals: 1 distinct reviewer key(s) with valid approvals of this bundle, the trust "
            "root requires 2");
}

TEST_F(VerifierTest, IgnoresApprovalsOfAnotherBundleOrByUntrustedKeys) {
  auto c = Candidate(r_);
  c.approval_envelopes = {r_.approvals[0],
                          testing::ApprovalFor(k_.reviewer2, "291", 42, r_.sha256, "carol"),  // other version
                          testing::ApprovalFor(k_.reviewer2, "300", 43, r_.sha256, "carol"),  // other channel
                          testing::ApprovalFor(k_.attacker, "291", 43, r_.sha256, "mallory"),
                          "not an envelope"};
  EXPECT_EQ(Verify(c).code(), StatusCode::kPermissionDenied);
  c.approval_envelopes.push_back(testing::ApprovalFor(k_.reviewer3, "291", 43, r_.sha256, "dave"));
  EXPECT_TRUE(Verify(c).ok());
}

TEST_F(VerifierTest, RefusesAnExpiredStatementBeyondTheSkew) {
  auto c = Candidate(r_);
  c.release_envelope = testing::ReleaseStatementFor(k_.release, "install", "291", 43, r_.sha256,
                                                    kNow - 90000, kNow - 301);
  Status s = Verify(c);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("release statement expired at"), std::string::npos) << s.message();
  // Within the skew allowance it is still accepted.
  c.release_envelope = testing::ReleaseStatementFor(k_.release, "install", "291", 43, r_.sha256,
                                                    kNow - 90000, kNow - 299);
  EXPECT_TRUE(Verify(c).ok());
}

TEST_F(VerifierTest, RefusesAStatementFromTheFuture) {
  auto c = Candidate(r_);
  c.release_envelope = testing::ReleaseStatementFor(k_.release, "install", "291", 43, r_.sha256,
                                                    kNow + 3600, kNow + 90000);
  EXPECT_EQ(Verify(c).code(), StatusCode::kOutOfRange);
}

TEST_F(VerifierTest, RefusesAStatementNotSignedByAReleaseKey) {
  auto c = Candidate(r_);
  c.release_envelope = testing::ReleaseStatementFor(k_.publisher, "install", "291", 43, r_.sha256,
                                                    kNow, kNow + 3600);
  Status s = Verify(c);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "release statement: no valid signature by a trusted release key");
}

TEST_F(VerifierTest, RefusesARevertStatementUsedForAnInstall) {
  auto c = Candidate(r_);
  c.release_envelope = testing::ReleaseStatementFor(k_.release, "revert", "291", 43, r_.sha256,
                                                    kNow, kNow + 3600);
  EXPECT_EQ(Verify(c).code(), StatusCode::kInvalidArgument);
}

TEST_F(VerifierTest, RefusesADirectiveThatDoesNotMatchItsStatement) {
  auto c = Candidate(r_);
  c.version = 44;
  EXPECT_EQ(Verify(c).code(), StatusCode::kInvalidArgument);
}

TEST_F(VerifierTest, RefusesAnOlderVersion) {
  InstalledView v;
  v.current = BundleRef{44, std::string(64, 'a')};
  Status s = Verify(Candidate(r_), v);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "anti-rollback: version 43 is older than installed version 44");
}

TEST_F(VerifierTest, RefusesMixAndMatch) {
  InstalledView v;
  v.current = BundleRef{43, std::string(64, 'a')};
  Status s = Verify(Candidate(r_), v);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message().rfind("mix-and-match: version 43 is installed with digest aaaa", 0), 0u) << s.message();
}

TEST_F(VerifierTest, TheSameBundleAgainIsANoOp) {
  InstalledView v;
  v.current = BundleRef{43, r_.sha256};
  EXPECT_EQ(Verify(Candidate(r_), v).code(), StatusCode::kAlreadyExists);
}

TEST_F(VerifierTest, RefusesAQuarantinedOrOlderThanQuarantinedVersion) {
  InstalledView v;
  v.current = BundleRef{41, std::string(64, 'b')};
  v.refused = {BundleRef{43, r_.sha256}};
  Status s = Verify(Candidate(r_), v);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "anti-rollback: version 43 is not newer than quarantined/reverted version 43");
}

TEST_F(VerifierTest, RefusesANonCanonicalPayloadEvenWhenSigned) {
  std::string payload = r_.payload;
  payload.insert(1, " ");
  Release r = r_;
  r.payload = payload;
  r.sha256 = crypto::Sha256Hex(payload);
  r.bundle = testing::Envelope(crypto::kBundlePayloadType, payload, {&k_.publisher});
  r.approvals = {testing::ApprovalFor(k_.reviewer1, "291", 43, r.sha256, "bob"),
                 testing::ApprovalFor(k_.reviewer2, "291", 43, r.sha256, "carol")};
  r.statement = testing::ReleaseStatementFor(k_.release, "install", "291", 43, r.sha256, kNow, kNow + 60);
  Status s = Verify(Candidate(r));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not in canonical form"), std::string::npos) << s.message();
}

TEST_F(VerifierTest, RefusesAPayloadForAnotherChannel) {
  Release other = MakeRelease(k_, "300", 43, kNow);
  auto c = Candidate(r_);
  c.bundle_envelope = other.bundle;
  EXPECT_EQ(Verify(c).code(), StatusCode::kDataLoss);  // digest differs first
}

TEST_F(VerifierTest, ApprovalThresholdZeroSwitchesLayerThreeOff) {
  trust_.approval_threshold = 0;
  auto c = Candidate(r_);
  c.approval_envelopes.clear();
  EXPECT_TRUE(Verify(c).ok());
}

// Regression (issue 10): one publisher key listed twice met a threshold of two with one signature.
TEST_F(VerifierTest, PublisherThresholdCountsDistinctKeys) {
  trust_.publisher_keys = {k_.publisher.public_key(), k_.publisher.public_key()};
  trust_.publisher_threshold = 2;
  Status s = Verify(Candidate(r_));
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "bundle: 1 valid publisher signature(s), the trust root requires 2");
  EXPECT_EQ(VerifyStoredBundle(trust_, r_.bundle).status().message(), s.message());
}

// One signature, repeated under another trusted key's keyid, still counts for one key only.
TEST_F(VerifierTest, OneSignatureCountsForOneKeyWhateverItsKeyId) {
  auto env = *crypto::ParseEnvelope(r_.bundle);
  env.signatures.push_back({k_.reviewer1.KeyId(), env.signatures[0].sig});
  trust_.publisher_keys = {k_.publisher.public_key(), k_.reviewer1.public_key()};
  trust_.publisher_threshold = 2;
  auto c = Candidate(r_);
  c.bundle_envelope = crypto::SerializeEnvelope(env);
  Status s = Verify(c);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "bundle: 1 valid publisher signature(s), the trust root requires 2");
  // Likewise an approval: bob's signature labelled as carol's too is one approver, not two.
  trust_ = k_.Trust(2);
  auto approval = *crypto::ParseEnvelope(r_.approvals[0]);
  approval.signatures.push_back({k_.reviewer2.KeyId(), approval.signatures[0].sig});
  c = Candidate(r_);
  c.approval_envelopes = {crypto::SerializeEnvelope(approval)};
  Status a = Verify(c);
  EXPECT_EQ(a.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(a.message().find("approvals: 1 distinct reviewer key(s)"), std::string::npos)
      << a.message();
}

// DSSE: keyid is an optional, unauthenticated hint, and either base64 alphabet, padded or not, is
// accepted. Every envelope of the release rewritten both ways still verifies.
TEST_F(VerifierTest, AcceptsAnyKeyIdAndEveryBase64Variant) {
  const std::string wrong = k_.attacker.KeyId();
  auto rewrite = [](const std::string& text, const char* keyid) {
    return crypto::testing::ReencodeEnvelope(crypto::testing::WithKeyId(text, 0, keyid),
                                             /*url_safe=*/true, /*padded=*/false);
  };
  for (const char* keyid : {static_cast<const char*>(nullptr), "", wrong.c_str()}) {
    auto c = Candidate(r_);
    c.release_envelope = rewrite(r_.statement, keyid);
    c.bundle_envelope = rewrite(r_.bundle, keyid);
    for (auto& a : c.approval_envelopes) a = rewrite(a, keyid);
    auto v = VerifyInstall(trust_, c, {}, kNow);
    ASSERT_TRUE(v.ok()) << (keyid ? keyid : "(no keyid)") << ": " << v.status().ToString();
    EXPECT_EQ(v->sha256, r_.sha256);
    EXPECT_TRUE(VerifyStoredBundle(trust_, c.bundle_envelope).ok());
  }
}

TEST(TrustRootTest, RoundTripsAndValidates) {
  Keys k;
  TrustRoot t = k.Trust(2);
  auto parsed = ParseTrustRoot(EncodeTrustRoot(t));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->reviewer_keys.size(), 3u);
  EXPECT_EQ(parsed->approval_threshold, 2);
  EXPECT_EQ(parsed->clock_skew_s, 300);

  t.approval_threshold = 4;  // more than the 3 reviewer keys
  EXPECT_EQ(ParseTrustRoot(EncodeTrustRoot(t)).status().code(), StatusCode::kInvalidArgument);
  t.approval_threshold = 1;
  t.reviewer_keys.push_back(t.reviewer_keys[0]);
  auto dup = ParseTrustRoot(EncodeTrustRoot(t));
  EXPECT_NE(dup.status().message().find("repeats key"), std::string::npos);
  EXPECT_FALSE(ParseTrustRoot("{}").ok());
  EXPECT_FALSE(ParseTrustRoot("not json").ok());
}

TEST(CanonicalJsonTest, AcceptsOnlyTheCanonicalForm) {
  EXPECT_TRUE(ParseCanonicalJson(R"({"a":1,"b":[true,null,"x\n"]})").ok());
  EXPECT_FALSE(ParseCanonicalJson(R"({"b":1,"a":2})").ok());      // key order
  EXPECT_FALSE(ParseCanonicalJson(R"({"a": 1})").ok());           // whitespace
  EXPECT_FALSE(ParseCanonicalJson(R"({"a":1.5})").ok());          // float
  EXPECT_FALSE(ParseCanonicalJson(R"({"a":"\u0041"})").ok());     // needless escape
  EXPECT_FALSE(ParseCanonicalJson(R"({"a":1,"a":1})").ok());      // duplicate key
}

}  // namespace
}  // namespace rf::agent
