// The release service's switches for the layer-by-layer demonstrations (ringfence demo): layer 2 on
// upload, layer 1 off, K = 0 review policies, and the admin-only plan-linter break-glass. Each is
// off by default and audited when used.
#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "platform/env.h"
#include "platform/sim_env.h"
#include "service/release_service.h"
#include "service/testing/fixtures.h"
#include "store/mem_store.h"
#include "store/sqlite_store.h"
#include "testing/test_util.h"

namespace rf::service {
namespace {

using rollout::Phase;
using server::Principal;
using server::Role;
using testing::BuildEnvelope;
using testing::BundleSource;

constexpr char kAdminToken[] = "admin-token-0123456789abcdef";

// Everyone at once, no holdback: the linter refuses it.
constexpr char kAllAtOnce[] =
    "plan: all-at-once\n"
    "waves:\n"
    "  - {name: all, devices: 100%, dispatch: 1s, bake: 6s}\n"
    "gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 3s, holdback: 0%}\n";

std::string Sensor() { return rf::testing::BinaryPath("examples/sensor/ringfence-sensor"); }

class DemoSwitchesTest : public ::testing::Test {
 protected:
  void Open(ReleaseServiceOptions o) {
    service_.reset();
    auto s = ReleaseService::Open(*store_, fleet_, clock_, std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    service_ = std::move(*s);
    ASSERT_TRUE(service_->principals().Ensure("admin", {Role::kAdmin}, kAdminToken).ok());
    admin_ = *service_->principals().Authenticate(kAdminToken);
    if (alice_.empty()) {
      alice_ = *service_->principals().Create(admin_, "alice", {Role::kAuthor}, "");
      ASSERT_TRUE(service_->content_types().Add(admin_, testing::TypeYaml()).ok());
    }
  }
  Principal Alice() { return *service_->principals().Authenticate(alice_); }

  std::vector<store::AuditRecord> AuditOf(const std::string& action) {
    std::vector<store::AuditRecord> out;
    auto entries = service_->audit().Read(0, 1000);
    EXPECT_TRUE(entries.ok());
    if (!entries.ok()) return out;
    const std::vector<store::AuditEntry> all = std::move(*entries);
    for (const auto& e : all) {
      if (e.record.action == action) out.push_back(e.record);
    }
    return out;
  }

  rf::testing::TempDir dir_;
  store::StorePtr store_ = std::make_unique<store::MemStore>();
  testing::FakeFleet fleet_;
  SimulatedClock clock_;
  std::unique_ptr<ReleaseService> service_;
  Principal admin_;
  std::string alice_;
};

TEST_F(DemoSwitchesTest, SkipLayerOneStoresCf291AgainstTwentyInputConsumersAndSaysSo) {
  fleet_.Set(testing::TwoStrataFleet(20));
  ReleaseServiceOptions o;
  o.skip_layer1 = true;
  Open(o);
  UploadResult r;
  ASSERT_TRUE(service_->bundles().Upload(Alice(), BuildEnvelope(BundleSource(1291, true)), &r).ok());
  EXPECT_NE(r.bundle.report_json.find("\"verdict\":\"skipped\""), std::string::npos) << r.bundle.report_json;
  auto audit = AuditOf("bundle.upload");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_NE(audit[0].details_json.find("skipped (--skip-layer1)"), std::string::npos) << audit[0].details_json;
}

TEST_F(DemoSwitchesTest, LayerOneStaysOnByDefault) {
  fleet_.Set(testing::TwoStrataFleet(20));
  Open({});
  UploadResult r;
  Status st = service_->bundles().Upload(Alice(), BuildEnvelope(BundleSource(1291, true)), &r);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("layer 1 rejected"), std::string::npos) << st.message();
}

TEST_F(DemoSwitchesTest, LayerTwoOnUploadRefusesCf291OnTheLegacySensorNamingTheItem) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "layer 2's address-space limit vs ASan's shadow memory";
#endif
  fleet_.Set(testing::TwoStrataFleet(21));  // layer 1 passes: only layer 2 can see it
  ReleaseServiceOptions o;
  o.layer2_consumers = {{"legacy", {Sensor(), "--integration", "legacy"}},
                        {"correct", {Sensor(), "--integration", "correct"}}};
  o.layer2_env = PosixEnv();
  Open(o);
  UploadResult r;
  Status st = service_->bundles().Upload(Alice(), BuildEnvelope(BundleSource(1291, true)), &r);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("layer 2 rejected"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("consumer 'legacy': crash (SIGSEGV) on ipc-0003"), std::string::npos)
      << st.message();
  EXPECT_EQ(st.message().find("'correct'"), std::string::npos) << st.message();
  EXPECT_FALSE(r.accepted);
  EXPECT_NE(r.bundle.layer2_report_json.find("\"accepted\":false"), std::string::npos);
  EXPECT_TRUE(service_->bundles().List().empty());
  EXPECT_TRUE(AuditOf("bundle.upload").empty());

  // The good version passes both builds; its layer-2 report is stored and signed over by approvals.
  ASSERT_TRUE(service_->bundles().Upload(Alice(), BuildEnvelope(BundleSource(1290, false)), &r).ok());
  auto v = service_->releases().Create(Alice(), r.bundle.sha256, testing::PlanYaml());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_NE(v->layer2_report.find("\"accepted\":true"), std::string::npos) << v->layer2_report;
  EXPECT_EQ(v->reports_sha256, crypto::Sha256Hex(v->layer1_report + v->layer2_report));
}

TEST_F(DemoSwitchesTest, LayerTwoReportSurvivesARestartOnSqlite) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "layer 2's address-space limit vs ASan's shadow memory";
#endif
  fleet_.Set(testing::TwoStrataFleet(21));
  store_ = std::move(*store::SqliteStore::Open(dir_.File("ringfence.db")));
  ReleaseServiceOptions o;
  o.layer2_consumers = {{"correct", {Sensor(), "--integration", "correct"}}};
  o.layer2_env = PosixEnv();
  Open(o);
  UploadResult r;
  ASSERT_TRUE(service_->bundles().Upload(Alice(), BuildEnvelope(BundleSource(1290, false)), &r).ok());
  const std::string report = r.bundle.layer2_report_json;
  ASSERT_FALSE(report.empty());
  service_.reset();
  store_.reset();
  store_ = std::move(*store::SqliteStore::Open(dir_.File("ringfence.db")));
  Open({});
  EXPECT_EQ(service_->bundles().Get(r.bundle.sha256)->layer2_report_json, report);
}

TEST_F(DemoSwitchesTest, ZeroApprovalPoliciesOnlyWhereAllowedAndReleasesAreReadyAtOnce) {
  fleet_.Set(testing::TwoStrataFleet(21));
  store::ChannelPolicy p;
  p.channel = "291";
  p.approvals_required = 0;
  p.approver_roles = {Role::kReviewer};
  Open({});
  Status refused = service_->policies().Set(admin_, p);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("--allow-unreviewed"), std::string::npos) << refused.message();
  p.approvals_required = -1;
  ReleaseServiceOptions o;
  o.allow_zero_approvals = true;
  Open(o);
  EXPECT_EQ(service_->policies().Set(admin_, p).code(), StatusCode::kInvalidArgument);
  p.approvals_required = 0;
  ASSERT_TRUE(service_->policies().Set(admin_, p).ok());
  UploadResult r;
  ASSERT_TRUE(service_->bundles().Upload(Alice(), BuildEnvelope(BundleSource(1290, false)), &r).ok());
  auto v = service_->releases().Create(Alice(), r.bundle.sha256, testing::PlanYaml());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->record.state.phase, Phase::kReady);
  auto approved = AuditOf("release.approved");
  ASSERT_EQ(approved.size(), 1u);
  EXPECT_NE(approved[0].details_json.find("requires no approvals"), std::string::npos);
}

TEST_F(DemoSwitchesTest, UnsafePlanBreakGlassIsAdminOnlyAndAudited) {
  fleet_.Set(testing::TwoStrataFleet(21));
  Open({});
  UploadResult r;
  ASSERT_TRUE(service_->bundles().Upload(Alice(), BuildEnvelope(BundleSource(1290, false)), &r).ok());
  // Without the break-glass the linter refuses; the author may not use it.
  EXPECT_EQ(service_->releases().Create(Alice(), r.bundle.sha256, kAllAtOnce).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_->releases().Create(Alice(), r.bundle.sha256, kAllAtOnce, true).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_TRUE(AuditOf("release.create").empty());
  // An admin may, and the audit log names them and the findings overridden.
  auto v = service_->releases().Create(admin_, r.bundle.sha256, kAllAtOnce, true);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  auto entries = AuditOf("release.unsafe_plan");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "admin");
  EXPECT_EQ(entries[0].subject, v->record.release_id);
  EXPECT_NE(entries[0].details_json.find("first-wave"), std::string::npos) << entries[0].details_json;
  EXPECT_NE(entries[0].details_json.find("holdback-range"), std::string::npos) << entries[0].details_json;
  // A plan that does not parse is refused even so.
  EXPECT_EQ(service_->releases().Create(admin_, r.bundle.sha256, "plan: x\nwaves: 7\n", true).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rf::service
