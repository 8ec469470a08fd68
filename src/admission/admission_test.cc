// The pure admission and review decisions, without a store or a service.
#include "admission/admission.h"

#include <gtest/gtest.h>

#include "admission/review.h"
#include "crypto/crypto.h"
#include "testing/test_util.h"

namespace rf::admission {
namespace {

ContentType Type() {
  return *ParseContentType(rf::testing::ReadFileOrDie(rf::testing::SourcePath("samples/content/ipc_rule.type.yaml")),
                           "type");
}

// Channel File 291 (cf291: item ipc-0003 sets position 20) or its fixed variant, as an envelope.
std::string Envelope(bool cf291, const crypto::SigningKey* key = nullptr) {
  std::string src = rf::testing::ReadFileOrDie(rf::testing::SourcePath("samples/content/cf291.bundle.yaml"));
  if (!cf291) {
    const std::string k = "peer_pipe_regex: \"^";
    const size_t at = src.rfind(k);
    src.replace(at, src.find("\"}", at + k.size()) + 1 - at, "peer_pipe_regex: \"*\"");
  }
  const ContentType type = Type();
  std::vector<Finding> findings;
  auto bundle = DecodeBundleSource(src, "b.yaml", type, &findings);
  crypto::Envelope env{std::string(crypto::kBundlePayloadType), EncodeCanonicalPayload(*bundle, type), {}};
  if (key != nullptr) crypto::SignEnvelope(&env, *key);
  return crypto::SerializeEnvelope(env);
}

Fleet TwentyInputs() {
  Fleet f;
  Stratum s;
  s.attrs = {{"os", "windows"}};
  s.capabilities["ipc_rule"] = ConsumerCapability{{3}, 20, 0, 0};
  s.devices = 1000;
  f.strata = {s};
  return f;
}

Admission Admit(const std::string& envelope, const Fleet& fleet,
                const std::vector<std::string>& keys = {}, int threshold = 0) {
  auto h = ReadUpload(envelope, 1u << 20);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  const ContentType type = Type();
  auto d = DecodeUpload(*h, type);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  AdmissionInput in;
  in.upload = &*h;
  in.decoded = &*d;
  in.type = &type;
  in.publisher_keys = &keys;
  in.publisher_threshold = threshold;
  in.fleet = &fleet;
  in.uploader = "alice";
  in.now_micros = 42;
  return AdmitBundle(in, {});
}

TEST(AdmissionTest, ReadUploadRefusesWhatIsNotABundle) {
  EXPECT_EQ(ReadUpload(Envelope(false), 10).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadUpload("{}", 1 << 20).status().code(), StatusCode::kInvalidArgument);
  crypto::Envelope other{"application/json", "{}", {}};
  auto r = ReadUpload(crypto::SerializeEnvelope(other), 1 << 20);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("is not a ringfence bundle"), std::string::npos);
  auto h = ReadUpload(Envelope(false), 1 << 20);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->content_type, "ipc_rule");
  EXPECT_EQ(h->schema_version, 3);
  EXPECT_EQ(h->sha256, crypto::Sha256Hex(h->envelope.payload));
}

TEST(AdmissionTest, LayerOneDecidesAgainstTheFleet) {
  const Admission bad = Admit(Envelope(true), TwentyInputs());
  EXPECT_EQ(bad.status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status.message().find("layer 1 rejected bundle"), std::string::npos);
  EXPECT_FALSE(bad.accepted);
  EXPECT_GT(bad.errors, 0u);
  EXPECT_FALSE(bad.bundle.report_json.empty());
  const Admission good = Admit(Envelope(false), TwentyInputs());
  ASSERT_TRUE(good.status.ok()) << good.status.ToString();
  EXPECT_TRUE(good.accepted);
  EXPECT_EQ(good.bundle.channel, "291");
  EXPECT_EQ(good.bundle.uploaded_by, "alice");
  EXPECT_EQ(good.bundle.uploaded_us, 42);
  // Deterministic: the same inputs, the same report.
  EXPECT_EQ(Admit(Envelope(false), TwentyInputs()).bundle.report_json, good.bundle.report_json);
}

TEST(AdmissionTest, PublisherThreshold) {
  const crypto::SigningKey k1 = *crypto::SigningKey::FromSeed(std::string(32, '1'));
  const crypto::SigningKey k2 = *crypto::SigningKey::FromSeed(std::string(32, '2'));
  const std::vector<std::string> keys = {crypto::EncodePublicKeyFile(k1.public_key()),
                                         crypto::EncodePublicKeyFile(k2.public_key())};
  EXPECT_EQ(Admit(Envelope(false), TwentyInputs(), keys, 1).status.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Admit(Envelope(false, &k1), TwentyInputs(), keys, 1).status.ok());
  EXPECT_EQ(Admit(Envelope(false, &k1), TwentyInputs(), keys, 2).status.code(),
            StatusCode::kPermissionDenied);
}

class ReviewTest : public ::testing::Test {
 protected:
  ReviewTest() {
    release_.release_id = "r-1";
    release_.channel = "291";
    release_.version = 7;
    release_.bundle_sha256 = std::string(64, 'a');
    release_.author = "alice";
    auto plan = rollout::ParsePlan(
        rf::testing::ReadFileOrDie(rf::testing::SourcePath("samples/plans/emergency.yaml")),
        "emergency.yaml");
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    release_.plan = *plan;
    release_.state = rollout::NewRelease(release_.plan, "r-1", 0);  // AwaitingApproval
    policy_.channel = "291";
    policy_.approvals_required = 2;
    policy_.approver_roles = {Role::kReviewer};
  }
  // bob's approval of r-1 as `role`, signed by `key`.
  ApprovalInput Input(const Principal& who, const crypto::SigningKey& key,
                      std::string_view role = "reviewer") {
    env_ = crypto::Envelope{"application/vnd.ringfence.approval+json", "{}", {}};
    crypto::SignEnvelope(&env_, key);
    reviewer_key_ = crypto::EncodePublicKeyFile(bob_key_.public_key());
    ApprovalInput in;
    in.actor = &who;
    in.envelope = &env_;
    in.envelope_text = "text";
    in.reviewer = who.name;
    in.role_name = role;
    in.release_id = "r-1";
    in.bundle_sha256 = release_.bundle_sha256;
    in.channel = "291";
    in.reports_sha256 = "digest";
    in.version = 7;
    in.release = &release_;
    in.bundle_uploader = "alice";
    in.expected_reports_sha256 = "digest";
    in.approvals = &approvals_;
    in.reviewer_key = &reviewer_key_;
    in.policy = &policy_;
    in.now_micros = 1000;
    return in;
  }
  ReleaseRecord release_;
  ChannelPolicy policy_;
  std::vector<ApprovalRecord> approvals_;
  crypto::Envelope env_;
  std::string reviewer_key_;
  crypto::SigningKey bob_key_ = *crypto::SigningKey::FromSeed(std::string(32, 'b'));
  Principal bob_{"bob", {Role::kReviewer}};
};

TEST_F(ReviewTest, AQuorumMakesTheReleaseReady) {
  auto first = EvaluateApproval(Input(bob_, bob_key_));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->counted, 1);
  EXPECT_FALSE(first->ready.has_value());
  EXPECT_EQ(first->approval.reviewer, "bob");
  EXPECT_EQ(first->approval.keyid, bob_key_.public_key().KeyId());
  approvals_.push_back({"r-1", "carol", Role::kReviewer, "other-key", "", 1});
  auto second = EvaluateApproval(Input(bob_, bob_key_));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->counted, 2);
  ASSERT_TRUE(second->ready.has_value());
  EXPECT_EQ(second->ready->state.phase, rollout::Phase::kReady);
}

TEST_F(ReviewTest, Refusals) {
  const crypto::SigningKey mallory = *crypto::SigningKey::FromSeed(std::string(32, 'm'));
  EXPECT_EQ(EvaluateApproval(Input(bob_, mallory)).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(EvaluateApproval(Input(bob_, bob_key_, "operator")).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(EvaluateApproval(Input(bob_, bob_key_, "agent")).status().code(),
            StatusCode::kInvalidArgument);
  const Principal alice{"alice", {Role::kReviewer, Role::kAuthor}};
  EXPECT_EQ(EvaluateApproval(Input(alice, bob_key_)).status().code(), StatusCode::kPermissionDenied);
  ApprovalInput wrong = Input(bob_, bob_key_);
  wrong.version = 8;
  EXPECT_EQ(EvaluateApproval(wrong).status().code(), StatusCode::kInvalidArgument);
  approvals_.push_back({"r-1", "bob", Role::kReviewer, "k", "", 1});
  EXPECT_EQ(EvaluateApproval(Input(bob_, bob_key_)).status().code(), StatusCode::kAlreadyExists);
  approvals_.clear();
  release_.state.phase = rollout::Phase::kHalted;
  EXPECT_EQ(EvaluateApproval(Input(bob_, bob_key_)).status().code(), StatusCode::kFailedPrecondition);
  // The caller checks read no model: a null release is fine when they refuse.
  ApprovalInput early = Input(bob_, bob_key_);
  early.reviewer = "carol";
  early.release = nullptr;
  EXPECT_EQ(EvaluateApproval(early).status().code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace rf::admission
