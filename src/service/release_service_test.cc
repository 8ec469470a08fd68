#include "service/release_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include <boost/json.hpp>

#include "crypto/crypto.h"
#include "crypto/dsse_testing.h"
#include "platform/sim_env.h"
#include "service/testing/fixtures.h"
#include "store/mem_store.h"
#include "store/sqlite_store.h"
#include "testing/test_util.h"

namespace rf::service {
namespace {

using rollout::Event;
using rollout::Phase;
using server::Principal;
using server::Role;
using testing::BuildEnvelope;
using testing::BundleSource;
using testing::KeyFromByte;
using testing::SignApproval;

constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr char kAgentToken[] = "agent-token-0123456789abcdef";

class ReleaseServiceTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    fleet_.Set(testing::TwoStrataFleet(21));
    OpenStore();
    Reopen();
    ASSERT_TRUE(service_->EnsurePrincipal("admin", {Role::kAdmin}, kAdminToken).ok());
    ASSERT_TRUE(service_->EnsurePrincipal("agent", {Role::kAgent}, kAgentToken).ok());
    admin_ = *service_->Authenticate(kAdminToken);
    agent_ = *service_->Authenticate(kAgentToken);
    AddPrincipal("alice", {Role::kAuthor}, nullptr);
    AddPrincipal("bob", {Role::kReviewer}, &bob_key_);
    AddPrincipal("carol", {Role::kReviewer}, &carol_key_);
    AddPrincipal("dave", {Role::kAuthor, Role::kReviewer}, &dave_key_);
    AddPrincipal("oscar", {Role::kOperator}, nullptr);
    ASSERT_TRUE(service_->AddContentType(admin_, testing::TypeYaml()).ok());
    store::ChannelPolicy p;
    p.channel = "291";
    p.approvals_required = 2;
    p.approver_roles = {Role::kReviewer};
    ASSERT_TRUE(service_->SetPolicy(admin_, p).ok());
  }

  void OpenStore() {
    if (GetParam()) {
      sqlite_path_ = dir_.File("ringfence.db");
      store_.reset();
      auto s = store::SqliteStore::Open(sqlite_path_);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(*s);
    } else if (!store_) {
      auto m = std::make_unique<store::MemStore>();
      mem_ = m.get();
      store_ = std::move(m);
    }
  }

  void Reopen() {
    service_.reset();
    ReleaseServiceOptions o;
    auto s = ReleaseService::Open(*store_, fleet_, clock_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    service_ = std::move(*s);
  }

  void AddPrincipal(const std::string& name, std::vector<Role> roles,
                    const crypto::SigningKey* key) {
    auto t = service_->CreatePrincipal(
        admin_, name, roles, key ? crypto::EncodePublicKeyFile(key->public_key()) : "");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tokens_[name] = *t;
  }

  Principal P(const std::string& name) { return *service_->Authenticate(tokens_[name]); }

  std::string Upload(int64_t version, const std::string& who = "alice") {
    UploadResult r;
    Status st = service_->UploadBundle(P(who), BuildEnvelope(BundleSource(version, false)), &r);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return r.bundle.sha256;
  }

  ReleaseView Create(const std::string& sha, const std::string& who = "alice") {
    auto v = service_->CreateRelease(P(who), sha, testing::PlanYaml());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return *v;
  }

  Status Approve(const ReleaseView& v, const std::string& who, const crypto::SigningKey& key,
                 const std::string& role = "reviewer") {
    return service_->Approve(P(who), v.record.release_id, SignApproval(v, who, role, key)).status();
  }

  int64_t AuditSeq() { return store_->RecordedAuditHead()->seq; }

  rf::testing::TempDir dir_;
  std::string sqlite_path_;
  store::StorePtr store_;
  store::MemStore* mem_ = nullptr;
  testing::FakeFleet fleet_;
  SimulatedClock clock_;
  std::unique_ptr<ReleaseService> service_;
  Principal admin_, agent_;
  std::map<std::string, std::string> tokens_;
  crypto::SigningKey bob_key_ = KeyFromByte(2), carol_key_ = KeyFromByte(3),
                     dave_key_ = KeyFromByte(4), mallory_key_ = KeyFromByte(9);
};

// `ringfence server rotate-secrets` replaces a token file; the next start's EnsurePrincipal must
// retire the old token (it used to keep it: the principal existed, so nothing changed).
TEST_P(ReleaseServiceTest, EnsurePrincipalWithANewTokenRetiresTheOldOne) {
  const int64_t seq = AuditSeq();
  const std::string rotated = "rotated-admin-token-0123456789";
  ASSERT_TRUE(service_->EnsurePrincipal("admin", {Role::kAdmin}, rotated).ok());
  EXPECT_EQ(service_->Authenticate(kAdminToken).status().code(), StatusCode::kUnauthenticated);
  auto p = service_->Authenticate(rotated);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->name, "admin");
  EXPECT_EQ(AuditSeq(), seq + 1);  // principal.token_rotated
  // The same token again changes nothing; another principal's token is refused.
  ASSERT_TRUE(service_->EnsurePrincipal("admin", {Role::kAdmin}, rotated).ok());
  EXPECT_EQ(AuditSeq(), seq + 1);
  EXPECT_EQ(service_->EnsurePrincipal("agent", {Role::kAgent}, rotated).code(),
            StatusCode::kAlreadyExists);
  EXPECT_TRUE(service_->Authenticate(kAgentToken).ok());
  // Survives a restart of the service.
  Reopen();
  EXPECT_TRUE(service_->Authenticate(rotated).ok());
  EXPECT_FALSE(service_->Authenticate(kAdminToken).ok());
}

TEST_P(ReleaseServiceTest, FullFlowUploadCheckApproveStart) {
  UploadResult up;
  ASSERT_TRUE(service_->UploadBundle(P("alice"), BuildEnvelope(BundleSource(1300, false)), &up).ok());
  EXPECT_TRUE(up.accepted);
  EXPECT_NE(up.bundle.report_json.find("\"verdict\":\"accept\""), std::string::npos)
      << up.bundle.report_json;
  ReleaseView v = Create(up.bundle.sha256);
  EXPECT_EQ(v.record.release_id, "r-1");
  EXPECT_EQ(v.record.state.phase, Phase::kAwaitingApproval);
  EXPECT_EQ(v.approvals_required, 2);
  EXPECT_EQ(v.reports_sha256, crypto::Sha256Hex(up.bundle.report_json));

  ASSERT_TRUE(Approve(v, "bob", bob_key_).ok());
  EXPECT_EQ(service_->GetRelease("r-1")->record.state.phase, Phase::kAwaitingApproval);
  // One approval of two: start refused, nothing changes.
  auto early = service_->Start(P("oscar"), "r-1");
  EXPECT_EQ(early.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(early.status().message().find("1 of the 2 approvals"), std::string::npos)
      << early.status().message();
  ASSERT_TRUE(Approve(v, "carol", carol_key_).ok());
  EXPECT_EQ(service_->GetRelease("r-1")->record.state.phase, Phase::kReady);
  EXPECT_TRUE(service_->ActiveReleases().empty());

  clock_.AdvanceMicros(1'000'000);
  auto started = service_->Start(P("oscar"), "r-1");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ(started->state.phase, Phase::kDispatching);
  ASSERT_EQ(service_->ActiveReleases().size(), 1u);
  EXPECT_EQ(service_->Approvals(up.bundle.sha256).size(), 2u);
  EXPECT_EQ(*service_->BundleEnvelope(up.bundle.sha256), BuildEnvelope(BundleSource(1300, false)));

  // The controller drives it: the canary's 5 minute dispatch window ends.
  const int64_t t = clock_.NowUnixMicros() + 5 * 60'000'000LL;
  auto baked = service_->ApplyEvent("r-1", Event::Tick(), t);
  ASSERT_TRUE(baked.ok());
  EXPECT_EQ(baked->state.phase, Phase::kBaking);

  auto verified = service_->VerifyAudit();
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  auto audit = service_->Audit(0, 1000);
  std::vector<std::string> actions;
  for (const auto& e : *audit) actions.push_back(e.record.action);
  const std::vector<std::string> tail(actions.end() - 7, actions.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"bundle.upload", "release.create", "release.approve",
                                            "release.approve", "release.approved",
                                            "release.start", "release.tick"}));

  // Everything survives a restart of the service (and, for SQLite, of the store).
  OpenStore();
  Reopen();
  auto after = service_->GetRelease("r-1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->record.state, baked->state);
  EXPECT_EQ(after->approvals.size(), 2u);
  EXPECT_EQ(after->record.started_s, started->state.last_event_micros / 1'000'000);
  EXPECT_TRUE(service_->Authenticate(tokens_["bob"]).ok());
  // Release ids continue.
  EXPECT_EQ(Create(Upload(1301)).record.release_id, "r-2");
}

TEST_P(ReleaseServiceTest, Cf291RefusedOnceAgentsReportTwentyInputs) {
  const std::string cf291 = BuildEnvelope(BundleSource(1291, true));
  fleet_.Set(testing::TwoStrataFleet(20));
  const int64_t seq = AuditSeq();
  UploadResult r;
  Status st = service_->UploadBundle(P("alice"), cf291, &r);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("layer 1 rejected"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("ipc-0003"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("peer_pipe_regex"), std::string::npos) << st.message();
  EXPECT_FALSE(r.accepted);
  EXPECT_NE(r.bundle.report_json.find("\"verdict\":\"reject\""), std::string::npos);
  EXPECT_NE(r.bundle.report_json.find("3100000"), std::string::npos) << r.bundle.report_json;
  EXPECT_TRUE(service_->Bundles().empty());
  EXPECT_EQ(AuditSeq(), seq);
  // Once every consumer supplies 21 inputs the same bytes are accepted.
  fleet_.Set(testing::TwoStrataFleet(21));
  ASSERT_TRUE(service_->UploadBundle(P("alice"), cf291, &r).ok());
  EXPECT_EQ(service_->Bundles("291").size(), 1u);
  // Uploading it again is idempotent.
  ASSERT_TRUE(service_->UploadBundle(P("alice"), cf291, &r).ok());
  EXPECT_TRUE(r.already_present);
}

TEST_P(ReleaseServiceTest, StartRechecksLayerOneAgainstTheFleetAsItIsNow) {
  UploadResult up;
  ASSERT_TRUE(service_->UploadBundle(P("alice"), BuildEnvelope(BundleSource(1291, true)), &up).ok());
  ReleaseView v = Create(up.bundle.sha256);
  ASSERT_TRUE(Approve(v, "bob", bob_key_).ok());
  ASSERT_TRUE(Approve(v, "carol", carol_key_).ok());
  // Agents on 7.11 whose consumer supplies 20 inputs check in after the review.
  fleet_.Set(testing::TwoStrataFleet(20));
  const int64_t seq = AuditSeq();
  auto st = service_->Start(P("oscar"), "r-1");
  ASSERT_EQ(st.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.status().message().find("layer 1 now rejects"), std::string::npos);
  EXPECT_NE(st.status().message().find("peer_pipe_regex"), std::string::npos) << st.status().message();
  EXPECT_EQ(service_->GetRelease("r-1")->record.state.phase, Phase::kReady);
  EXPECT_EQ(AuditSeq(), seq);
  fleet_.Set(testing::TwoStrataFleet(21));
  EXPECT_TRUE(service_->Start(P("oscar"), "r-1").ok());
}

TEST_P(ReleaseServiceTest, AuthorCanNeverApprove) {
  ReleaseView v = Create(Upload(1300, "dave"), "dave");
  const int64_t seq = AuditSeq();
  Status st = Approve(v, "dave", dave_key_);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("author can never approve"), std::string::npos) << st.message();
  // Nor when someone else created the release from dave's bundle.
  ReleaseView v2 = Create(Upload(1301, "dave"), "alice");
  EXPECT_EQ(Approve(v2, "dave", dave_key_).code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(service_->GetRelease(v.record.release_id)->approvals.empty());
  EXPECT_EQ(AuditSeq(), seq + 2);  // only the second upload and create
}

TEST_P(ReleaseServiceTest, ApprovalRefusals) {
  ReleaseView v = Create(Upload(1300));
  const int64_t seq = AuditSeq();
  // Signed by a key that is not bob's registered key.
  EXPECT_EQ(Approve(v, "bob", mallory_key_).code(), StatusCode::kPermissionDenied);
  // A statement naming someone else than the caller.
  EXPECT_EQ(service_->Approve(P("bob"), "r-1", SignApproval(v, "carol", "reviewer", carol_key_))
                .status().code(),
            StatusCode::kPermissionDenied);
  // A role the caller does not hold, and one the channel does not count.
  EXPECT_EQ(Approve(v, "bob", bob_key_, "operator").code(), StatusCode::kPermissionDenied);
  // Stale reports digest (the reports changed since the reviewer looked).
  ReleaseView stale = v;
  stale.reports_sha256 = std::string(64, '0');
  Status s = Approve(stale, "bob", bob_key_);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("reports_sha256"), std::string::npos);
  // For another release.
  ReleaseView other = v;
  other.record.release_id = "r-9";
  EXPECT_EQ(service_->Approve(P("bob"), "r-1", SignApproval(other, "bob", "reviewer", bob_key_))
                .status().code(),
            StatusCode::kInvalidArgument);
  // Not an approval envelope at all.
  EXPECT_EQ(service_->Approve(P("bob"), "r-1", "{}").status().code(), StatusCode::kInvalidArgument);
  // Non-canonical payload (whitespace) with a valid signature.
  crypto::Envelope env;
  env.payload_type = std::string(protocol::kApprovalPayloadType);
  env.payload = " " + protocol::EncodeApprovalStatement({v.record.bundle_sha256, "291", "r-1",
                                             v.reports_sha256, "bob", "reviewer", 1300});
  crypto::SignEnvelope(&env, bob_key_);
  s = service_->Approve(P("bob"), "r-1", crypto::SerializeEnvelope(env)).status();
  EXPECT_NE(s.message().find("not in canonical form"), std::string::npos) << s.message();
  // A principal without a reviewer key.
  EXPECT_EQ(Approve(v, "oscar", mallory_key_, "operator").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(AuditSeq(), seq);
  // Valid once, then a duplicate.
  ASSERT_TRUE(Approve(v, "bob", bob_key_).ok());
  EXPECT_EQ(Approve(v, "bob", bob_key_).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(service_->GetRelease("r-1")->approvals.size(), 1u);
}

TEST_P(ReleaseServiceTest, QuorumRecheckedAtStartUnderCurrentPolicy) {
  store::ChannelPolicy one{"291", 1, {Role::kReviewer}, {}, 0};
  ASSERT_TRUE(service_->SetPolicy(admin_, one).ok());
  ReleaseView v = Create(Upload(1300));
  ASSERT_TRUE(Approve(v, "bob", bob_key_).ok());
  ASSERT_EQ(service_->GetRelease("r-1")->record.state.phase, Phase::kReady);
  store::ChannelPolicy two{"291", 2, {Role::kReviewer}, {}, 0};
  ASSERT_TRUE(service_->SetPolicy(admin_, two).ok());
  EXPECT_EQ(service_->Start(P("oscar"), "r-1").status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Approve(*service_->GetRelease("r-1"), "carol", carol_key_).ok());
  EXPECT_TRUE(service_->Start(P("oscar"), "r-1").ok());
}

TEST_P(ReleaseServiceTest, HaltedReleaseNeverAdvances) {
  ReleaseView v = Create(Upload(1300));
  ASSERT_TRUE(Approve(v, "bob", bob_key_).ok());
  ASSERT_TRUE(Approve(v, "carol", carol_key_).ok());
  ASSERT_TRUE(service_->Start(P("oscar"), "r-1").ok());
  auto halted = service_->Halt(P("oscar"), "r-1", "crash reports from canary");
  ASSERT_TRUE(halted.ok());
  EXPECT_EQ(halted->state.phase, Phase::kHalted);
  const rollout::ReleaseState at_halt = service_->GetRelease("r-1")->record.state;
  const int64_t later = clock_.NowUnixMicros() + 86'400'000'000LL;
  EXPECT_FALSE(service_->ApplyEvent("r-1", Event::GatePromoteOk(), later).ok());
  EXPECT_FALSE(service_->Resume(P("oscar"), "r-1").ok());
  EXPECT_FALSE(service_->Start(P("oscar"), "r-1").ok());
  EXPECT_TRUE(service_->ApplyEvent("r-1", Event::Tick(), later).ok());  // a no-op
  EXPECT_EQ(service_->GetRelease("r-1")->record.state, at_halt);
  OpenStore();
  Reopen();
  EXPECT_EQ(service_->GetRelease("r-1")->record.state, at_halt);
  // Rollback is still allowed.
  EXPECT_EQ(service_->Rollback(P("oscar"), "r-1", "revert")->state.phase, Phase::kRolledBack);
}

TEST_P(ReleaseServiceTest, HaltWinsOverAClockThatWentBack) {
  ReleaseView v = Create(Upload(1300));
  ASSERT_TRUE(Approve(v, "bob", bob_key_).ok());
  ASSERT_TRUE(Approve(v, "carol", carol_key_).ok());
  ASSERT_TRUE(service_->Start(P("oscar"), "r-1").ok());
  ASSERT_TRUE(service_->ApplyEvent("r-1", Event::Tick(), clock_.NowUnixMicros() + 600'000'000).ok());
  clock_.AdvanceMicros(-3'600'000'000LL);  // NTP stepped the wall clock back an hour
  EXPECT_EQ(service_->Halt(P("oscar"), "r-1", "stop")->state.phase, Phase::kHalted);
}

TEST_P(ReleaseServiceTest, RolesAreEnforced) {
  UploadResult r;
  const std::string env = BuildEnvelope(BundleSource(1300, false));
  EXPECT_EQ(service_->UploadBundle(agent_, env, &r).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->UploadBundle(P("bob"), env, &r).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->AddContentType(P("alice"), testing::TypeYaml()).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->CreatePrincipal(P("oscar"), "eve", {Role::kAdmin}, "").status().code(),
            StatusCode::kPermissionDenied);
  ReleaseView v = Create(Upload(1300));
  EXPECT_EQ(service_->Halt(P("alice"), "r-1", "x").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->Halt(agent_, "r-1", "x").status().code(), StatusCode::kPermissionDenied);
  // Admin implies operator.
  EXPECT_TRUE(service_->Halt(admin_, "r-1", "x").ok());
}

TEST_P(ReleaseServiceTest, UnsafePlanRefusedWithEveryReason) {
  const std::string sha = Upload(1300);
  const int64_t seq = AuditSeq();
  auto v = service_->CreateRelease(P("alice"), sha, R"(plan: risky
waves:
  - {name: first, devices: 50%, dispatch: 5m, bake: 10m}
  - {name: all, devices: 100%, dispatch: 5m, bake: 10m}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 90s, holdback: 1%}
on_failure: rollback
)");
  ASSERT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(v.status().message().find("unsafe plan"), std::string::npos) << v.status().message();
  EXPECT_NE(v.status().message().find("stratif"), std::string::npos) << v.status().message();
  EXPECT_NE(v.status().message().find("50%"), std::string::npos) << v.status().message();
  auto bad = service_->CreateRelease(P("alice"), sha, "plan: x\nwaves: 3\nfoo: 1\n");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->CreateRelease(P("alice"), std::string(64, 'a'), testing::PlanYaml())
                .status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(AuditSeq(), seq);
  EXPECT_TRUE(service_->ListReleases().empty());
}

TEST_P(ReleaseServiceTest, PublisherSignaturesRequiredWhenConfigured) {
  const crypto::SigningKey publisher = KeyFromByte(7);
  store::ChannelPolicy p{"291", 2, {Role::kReviewer},
                         {crypto::EncodePublicKeyFile(publisher.public_key())}, 1};
  ASSERT_TRUE(service_->SetPolicy(admin_, p).ok());
  UploadResult r;
  Status unsigned_st = service_->UploadBundle(P("alice"), BuildEnvelope(BundleSource(1300, false)), &r);
  EXPECT_EQ(unsigned_st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(unsigned_st.message().find("0 valid publisher signature"), std::string::npos);
  EXPECT_EQ(service_->UploadBundle(P("alice"),
                                   BuildEnvelope(BundleSource(1300, false), &mallory_key_), &r)
                .code(),
            StatusCode::kPermissionDenied);
  EXPECT_TRUE(service_->UploadBundle(P("alice"),
                                     BuildEnvelope(BundleSource(1300, false), &publisher), &r)
                  .ok());
}

// Regression (issue 10): a policy listing one publisher key twice with threshold 2 was accepted,
// and then an upload signed once met it.
TEST_P(ReleaseServiceTest, PolicyRefusesAPublisherKeyListedTwice) {
  const crypto::SigningKey publisher = KeyFromByte(7);
  const std::string file = crypto::EncodePublicKeyFile(publisher.public_key());
  // The same key as a differently formatted key file is the same key.
  boost::json::object o = boost::json::parse(file).as_object();
  const std::string reformatted = "{\"public\": " + boost::json::serialize(o["public"]) +
                                  ", \"keyid\": " + boost::json::serialize(o["keyid"]) +
                                  ", \"algorithm\": \"ed25519\"}";
  const int64_t seq = AuditSeq();
  for (const std::string& second : {file, reformatted}) {
    store::ChannelPolicy p{"291", 2, {Role::kReviewer}, {file, second}, 2};
    Status st = service_->SetPolicy(admin_, p);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(st.message(), "publisher_keys[1] repeats key " + publisher.KeyId() +
                                ", listed at [0] already (thresholds count distinct keys)");
  }
  EXPECT_EQ(AuditSeq(), seq);
  for (const auto& p : service_->Policies()) EXPECT_TRUE(p.publisher_keys.empty());
}

// A policy stored with a repeated key before that check (written to the store directly here)
// still needs signatures by as many DISTINCT keys as its threshold.
TEST_P(ReleaseServiceTest, UploadCountsDistinctPublisherKeys) {
  const crypto::SigningKey publisher = KeyFromByte(7);
  const std::string file = crypto::EncodePublicKeyFile(publisher.public_key());
  store::WriteBatch b;
  b.policies.push_back({"291", 2, {Role::kReviewer}, {file, file}, 2});
  ASSERT_TRUE(store_->Apply(b).ok());
  Reopen();
  UploadResult r;
  Status st =
      service_->UploadBundle(P("alice"), BuildEnvelope(BundleSource(1300, false), &publisher), &r);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(st.message(),
            "bundle for channel 291 carries 1 valid publisher signature(s); the "
            "channel's policy requires 2");
  EXPECT_FALSE(r.accepted);
}

// Publisher signatures are matched to keys by trying them, never by keyid; either base64
// alphabet, padded or not, is accepted; one signature never counts for two keys.
TEST_P(ReleaseServiceTest, UploadSignaturesIgnoreKeyIdsAndAcceptEveryBase64Variant) {
  const crypto::SigningKey publisher = KeyFromByte(7), second = KeyFromByte(8);
  store::ChannelPolicy p{"291",
                         2,
                         {Role::kReviewer},
                         {crypto::EncodePublicKeyFile(publisher.public_key()),
                          crypto::EncodePublicKeyFile(second.public_key())},
                         2};
  ASSERT_TRUE(service_->SetPolicy(admin_, p).ok());
  // publisher's signature twice, the copy labelled as the second key's: one signer of two.
  auto env = *crypto::ParseEnvelope(BuildEnvelope(BundleSource(1300, false), &publisher));
  env.signatures.push_back({second.KeyId(), env.signatures[0].sig});
  UploadResult r;
  Status st = service_->UploadBundle(P("alice"), crypto::SerializeEnvelope(env), &r);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("carries 1 valid publisher signature(s)"), std::string::npos)
      << st.message();
  // Both keys signed, keyids swapped, URL-safe unpadded base64: accepted.
  env.signatures.pop_back();
  crypto::SignEnvelope(&env, second);
  std::swap(env.signatures[0].keyid, env.signatures[1].keyid);
  const std::string text = crypto::testing::ReencodeEnvelope(crypto::SerializeEnvelope(env),
                                                             /*url_safe=*/true, /*padded=*/false);
  st = service_->UploadBundle(P("alice"), text, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.bundle.sha256, crypto::Sha256Hex(env.payload));
}

TEST_P(ReleaseServiceTest, BadUploadsChangeNothing) {
  const int64_t seq = AuditSeq();
  UploadResult r;
  EXPECT_EQ(service_->UploadBundle(P("alice"), "not json", &r).code(), StatusCode::kInvalidArgument);
  crypto::Envelope e;
  e.payload_type = "text/plain";
  e.payload = "x";
  EXPECT_EQ(service_->UploadBundle(P("alice"), crypto::SerializeEnvelope(e), &r).code(),
            StatusCode::kInvalidArgument);
  e.payload_type = std::string(crypto::kBundlePayloadType);
  e.payload = "{\"content_type\":\"nope\",\"schema_version\":1}";
  EXPECT_EQ(service_->UploadBundle(P("alice"), crypto::SerializeEnvelope(e), &r).code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(service_->UploadBundle(P("alice"), BuildEnvelope(BundleSource(1300, false)), &r).ok());
  // An older version than the channel's newest is refused by layer 1.
  Status older = service_->UploadBundle(P("alice"), BuildEnvelope(BundleSource(1299, false)), &r);
  EXPECT_EQ(older.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Bundles().size(), 1u);
  EXPECT_EQ(AuditSeq(), seq + 1);
}

TEST_P(ReleaseServiceTest, TokensAreRandomAndOnlyTheirHashIsStored) {
  auto token = service_->CreatePrincipal(admin_, "erin", {Role::kOperator}, "");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->size(), 3u + 64u);
  EXPECT_NE(*token, tokens_["oscar"]);
  auto who = service_->Authenticate(*token);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->name, "erin");
  EXPECT_EQ(service_->Authenticate("rf_wrong").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(service_->Authenticate("").status().code(), StatusCode::kUnauthenticated);
  auto contents = store_->Load();
  ASSERT_TRUE(contents.ok());
  for (const auto& p : contents->principals) {
    if (p.name == "erin") {
      EXPECT_EQ(p.token_sha256, crypto::Sha256Hex(*token));
    }
    EXPECT_EQ(p.token_sha256.find(*token), std::string::npos);
  }
  EXPECT_EQ(service_->CreatePrincipal(admin_, "erin", {Role::kOperator}, "").status().code(),
            StatusCode::kAlreadyExists);
  // A reviewer key belongs to one principal.
  EXPECT_EQ(service_->CreatePrincipal(admin_, "bob2", {Role::kReviewer},
                                      crypto::EncodePublicKeyFile(bob_key_.public_key()))
                .status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(service_->CreatePrincipal(admin_, "Bad Name", {Role::kOperator}, "").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->CreatePrincipal(admin_, "bot", {Role::kAgent}, "").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(ReleaseServiceTest, CustomerControls) {
  server::CustomerControl c;
  c.channel = "291";
  c.attr = "tenant";
  c.value = "acme";
  c.delay_s = 7200;
  ASSERT_TRUE(service_->PutControl(P("oscar"), c).ok());
  c.pin_previous = true;
  ASSERT_TRUE(service_->PutControl(P("oscar"), c).ok());
  ASSERT_EQ(service_->Controls().size(), 1u);
  EXPECT_TRUE(service_->Controls()[0].pin_previous);
  c.attr = "region";
  EXPECT_EQ(service_->PutControl(P("oscar"), c).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->DeleteControl(P("oscar"), {"291", "tenant", "nobody"}).code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(service_->DeleteControl(P("oscar"), {"291", "tenant", "acme"}).ok());
  EXPECT_TRUE(service_->Controls().empty());
}

TEST_P(ReleaseServiceTest, ChangeListenerCalledAfterCommitOutsideLocks) {
  int calls = 0;
  service_->SetChangeListener([&] {
    ++calls;
    // The listener may call back into the service (the controller reads active releases).
    (void)service_->ActiveReleases();
  });
  server::CustomerControl c{"291", "group", "prod", false, 60, false};
  ASSERT_TRUE(service_->PutControl(P("oscar"), c).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(service_->PutControl(P("alice"), c).ok());
  EXPECT_EQ(calls, 1);
}

// Holds the first upload that reaches layer 1 (FakeFleet::Inventory) until Release().
class LayerOneGate {
 public:
  explicit LayerOneGate(testing::FakeFleet& fleet) : fleet_(fleet) {
    fleet_.on_inventory = [this] {
      if (armed_.exchange(false)) {
        entered_.set_value();
        open_future_.wait();
      }
    };
  }
  ~LayerOneGate() {
    Release();
    fleet_.on_inventory = nullptr;
  }
  // True once an upload is inside layer 1 (generous deadline: loaded CI machines).
  bool WaitEntered() {
    return entered_future_.wait_for(std::chrono::seconds(120)) == std::future_status::ready;
  }
  void Release() {
    if (!released_.exchange(true)) open_.set_value();
  }

 private:
  testing::FakeFleet& fleet_;
  std::atomic<bool> armed_{true}, released_{false};
  std::promise<void> entered_, open_;
  std::future<void> entered_future_ = entered_.get_future();
  std::shared_future<void> open_future_ = open_.get_future().share();
};

// Layer 1 runs outside the service's write lock: while an upload is inside it, other mutations
// (an operator's control, the controller's transitions) commit. Before, the upload held the write
// lock across layer 1 and they waited for it.
TEST_P(ReleaseServiceTest, UploadLayerOneDoesNotHoldTheWriteLock) {
  LayerOneGate gate(fleet_);
  const Principal alice = P("alice");
  auto upload = std::async(std::launch::async, [&] {
    UploadResult r;
    return service_->UploadBundle(alice, BuildEnvelope(BundleSource(1400, false)), &r);
  });
  ASSERT_TRUE(gate.WaitEntered());
  server::CustomerControl c{"291", "group", "prod", false, 60, false};
  const Principal oscar = P("oscar");
  auto control = std::async(std::launch::async, [&] { return service_->PutControl(oscar, c); });
  const bool committed = control.wait_for(std::chrono::seconds(120)) == std::future_status::ready;
  gate.Release();
  ASSERT_TRUE(committed) << "the control waited for the upload's layer 1";
  EXPECT_TRUE(control.get().ok());
  EXPECT_TRUE(upload.get().ok());
}

// What admission read is re-checked at commit: a bundle of the same channel committed meanwhile,
// or a changed publisher policy, refuses the upload (Aborted, nothing stored).
TEST_P(ReleaseServiceTest, UploadRefusedWhenTheChannelChangedDuringItsChecks) {
  {
    LayerOneGate gate(fleet_);
    const Principal alice = P("alice");
    const std::string envelope = BuildEnvelope(BundleSource(1500, false));
    auto upload = std::async(std::launch::async, [&] {
      UploadResult r;
      return service_->UploadBundle(alice, envelope, &r);
    });
    ASSERT_TRUE(gate.WaitEntered());
    Upload(1501);  // commits while the first is inside layer 1
    gate.Release();
    Status st = upload.get();
    EXPECT_EQ(st.code(), StatusCode::kAborted) << st.ToString();
    EXPECT_NE(st.message().find("upload again"), std::string::npos) << st.message();
    EXPECT_EQ(service_->Bundles("291").size(), 1u);
  }
  {
    LayerOneGate gate(fleet_);
    const Principal alice = P("alice");
    const std::string envelope = BuildEnvelope(BundleSource(1600, false));
    auto upload = std::async(std::launch::async, [&] {
      UploadResult r;
      return service_->UploadBundle(alice, envelope, &r);
    });
    ASSERT_TRUE(gate.WaitEntered());
    store::ChannelPolicy p = service_->PolicyFor("291");
    const crypto::SigningKey publisher = KeyFromByte(11);
    p.publisher_keys = {crypto::EncodePublicKeyFile(publisher.public_key())};
    p.publisher_threshold = 1;
    ASSERT_TRUE(service_->SetPolicy(admin_, p).ok());
    gate.Release();
    Status st = upload.get();
    EXPECT_EQ(st.code(), StatusCode::kAborted) << st.ToString();
    EXPECT_EQ(service_->Bundles("291").size(), 1u);
  }
}

TEST_P(ReleaseServiceTest, StoreFailureIsFailStop) {
  if (mem_ == nullptr) GTEST_SKIP() << "fault injection uses MemStore";
  const std::string sha = Upload(1300);
  mem_->FailNextApply(Status::Internal("fsync: EIO"));
  auto v = service_->CreateRelease(P("alice"), sha, testing::PlanYaml());
  EXPECT_EQ(v.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(service_->ListReleases().empty());
  // Every later mutation is refused too; reads still work.
  server::CustomerControl c{"291", "group", "prod", false, 60, false};
  EXPECT_EQ(service_->PutControl(P("oscar"), c).code(), StatusCode::kUnavailable);
  EXPECT_EQ(service_->Bundles().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Stores, ReleaseServiceTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Sqlite" : "Mem"; });

}  // namespace
}  // namespace rf::service
