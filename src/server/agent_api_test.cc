// The agent API's authentication (docs/protocol.md "Device credentials"): enrollment with the
// fleet token and a proof of possession, per-device session tokens on check-ins, the enrollment
// rate limit, and the operator's revoke/reset (FleetAdminApi). In process, simulated clock.
#include "server/agent_api.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "platform/sim_env.h"
#include "server/fleet_admin_api.h"

namespace rf::server {
namespace {

constexpr char kFleetToken[] = "fleet-token-0123456789";
constexpr char kOperatorToken[] = "operator-token-0123456789";

class NoReleases final : public ReleaseDirectory {
 public:
  std::vector<ReleaseRecord> ActiveReleases() const override { return {}; }
  Result<rollout::TransitionResult> ApplyEvent(std::string_view, const rollout::Event&,
                                               int64_t) override {
    return Status::NotFound("no releases");
  }
  std::vector<CustomerControl> Controls() const override { return {}; }
  Result<std::string> BundleEnvelope(std::string_view) const override {
    return Status::NotFound("no bundles");
  }
  std::vector<std::string> Approvals(std::string_view) const override { return {}; }
  void SetChangeListener(std::function<void()>) override {}
};

struct Device {
  explicit Device(std::string i, crypto::SigningKey k = crypto::SigningKey::Generate(),
                  int64_t s = 0, std::string t = "")
      : id(std::move(i)), key(std::move(k)), seq(s), session(std::move(t)) {}
  std::string id;
  crypto::SigningKey key;
  int64_t seq;
  std::string session;
};

class AgentApiAuthTest : public ::testing::Test {
 protected:
  AgentApiAuthTest()
      : env_{&clock_, &fs_, &random_},
        inventory_(env_, {}),
        credentials_(env_, {}),
        controller_(dir_, inventory_, clock_, crypto::SigningKey::Generate()),
        api_(std::make_unique<AgentApi>(inventory_, credentials_, controller_, dir_, clock_,
                                        metrics_, kFleetToken, "{}", Options())),
        admin_(credentials_, clock_, [](std::string_view token) -> Result<Principal> {
          if (token == kOperatorToken) return Principal{"carol", {Role::kOperator}};
          if (token == kFleetToken) return Principal{"agent", {Role::kAgent}};
          return Status::Unauthenticated("unknown token");
        }) {
    EXPECT_TRUE(credentials_.Load().ok());
  }

  static AgentApiOptions Options(double burst = 100) {
    AgentApiOptions o;
    o.enroll_rate_per_s = 1;
    o.enroll_burst = burst;
    return o;
  }
  int64_t NowS() { return clock_.NowUnixMicros() / 1'000'000; }

  std::string EnrollBody(const Device& d, const crypto::SigningKey& signer, int64_t ts) {
    const std::string pub = crypto::Base64Encode(std::string_view(
        reinterpret_cast<const char*>(d.key.public_key().bytes.data()), 32));
    return R"({"device_id":")" + d.id + R"(","attrs":{"os":"linux"},"capabilities":{},)" +
           R"("public_key":")" + pub + R"(","timestamp_s":)" + std::to_string(ts) +
           R"(,"proof":")" + crypto::Base64Encode(signer.Sign(EnrollProofMessage(d.id, pub, ts))) +
           "\"}";
  }
  HttpResponse Call(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body = "") {
    HttpRequest req{method, path, {}, token, body};
    if (FleetAdminApi::Handles(path)) return admin_.Handle(req);
    auto r = api_->Handle(req);
    EXPECT_TRUE(r.has_value()) << path;
    return r ? *r : HttpResponse{};
  }
  HttpResponse Enroll(Device& d, const std::string& token = kFleetToken) {
    HttpResponse r = Call("POST", "/v1/agent/enroll", token, EnrollBody(d, d.key, NowS()));
    if (r.status == 200) {
      d.session = std::string(boost::json::parse(r.body).as_object()["session_token"].as_string());
    }
    return r;
  }
  HttpResponse Checkin(Device& d, const std::string& as_id = "") {
    const std::string id = as_id.empty() ? d.id : as_id;
    return Call("POST", "/v1/agent/checkin", d.session,
                R"({"device_id":")" + id + R"(","seq":)" + std::to_string(++d.seq) +
                    R"(,"health":{"crashes":1}})");
  }
  HttpResponse NewSession(Device& d) {
    const int64_t ts = NowS();
    HttpResponse r = Call("POST", "/v1/agent/session", "",
                          R"({"device_id":")" + d.id + R"(","timestamp_s":)" + std::to_string(ts) +
                              R"(,"signature":")" +
                              crypto::Base64Encode(d.key.Sign(SessionRequestMessage(d.id, ts))) +
                              "\"}");
    if (r.status == 200) {
      d.session = std::string(boost::json::parse(r.body).as_object()["session_token"].as_string());
    }
    return r;
  }
  static std::string Code(const HttpResponse& r) {
    auto v = boost::json::parse(r.body).as_object();
    return std::string(v["error"].as_object()["code"].as_string());
  }

  SimulatedClock clock_;
  MemFilesystem fs_;
  SeededRandom random_{3};
  Env env_;
  NoReleases dir_;
  FleetInventory inventory_;
  DeviceCredentials credentials_;
  Controller controller_;
  ServerMetrics metrics_;
  std::unique_ptr<AgentApi> api_;
  FleetAdminApi admin_;
};

TEST_F(AgentApiAuthTest, ACheckinForAnotherDevicesIdIsForbidden) {
  Device a("dev-a"), b("dev-b");
  ASSERT_EQ(Enroll(a).status, 200);
  ASSERT_EQ(Enroll(b).status, 200);
  EXPECT_EQ(Checkin(a).status, 200);
  // a reports crashes as b: refused, and b's seq is untouched (b's own next check-in passes).
  HttpResponse r = Checkin(a, "dev-b");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(Code(r), "forbidden_device");
  b.seq = 0;
  EXPECT_EQ(Checkin(b).status, 200);
  // The fleet token no longer checks in at all.
  Device c("dev-a", a.key, 100, kFleetToken);
  EXPECT_EQ(Checkin(c).status, 401);
  Device none("dev-a", a.key, 200, "");
  EXPECT_EQ(Checkin(none).status, 401);
}

TEST_F(AgentApiAuthTest, EnrollmentWithAnotherKeyIsAConflictUntilReset) {
  Device a("dev-a");
  ASSERT_EQ(Enroll(a).status, 200);
  // The same key again (an agent killed before it saved "enrolled"): idempotent.
  EXPECT_EQ(Enroll(a).status, 200);
  EXPECT_EQ(Checkin(a).status, 200);
  Device thief("dev-a");  // the fleet token and the id, but not the key
  HttpResponse r = Enroll(thief);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Code(r), "key_conflict");
  EXPECT_EQ(Checkin(a).status, 200);  // the device's session is untouched
  // a's exact enrollment body replayed for another id: the proof binds the id.
  Device other("dev-x", a.key);
  std::string body = EnrollBody(a, a.key, NowS());
  body.replace(body.find("dev-a"), 5, "dev-x");
  r = Call("POST", "/v1/agent/enroll", kFleetToken, body);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(Code(r), "invalid_proof");
  // A proof by another key than the one enrolled.
  r = Call("POST", "/v1/agent/enroll", kFleetToken, EnrollBody(other, thief.key, NowS()));
  EXPECT_EQ(Code(r), "invalid_proof");
  // A stale proof (an old enrollment replayed much later).
  r = Call("POST", "/v1/agent/enroll", kFleetToken, EnrollBody(a, a.key, NowS() - 3600));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "clock_skew");
  // After an operator reset the new key enrolls; the old key's session ends.
  ASSERT_EQ(Call("POST", "/v1/fleet/devices/dev-a/reset", kOperatorToken).status, 200);
  EXPECT_EQ(Checkin(a).status, 401);
  r = Enroll(thief);
  EXPECT_EQ(r.status, 200) << r.body;
  thief.seq = 1000;  // above the seqs the inventory saw from the old key
  EXPECT_EQ(Checkin(thief).status, 200);
}

TEST_F(AgentApiAuthTest, RevokedDeviceIsRefusedUntilResetAndReEnrolled) {
  Device a("dev-a");
  ASSERT_EQ(Enroll(a).status, 200);
  ASSERT_EQ(Checkin(a).status, 200);
  // Agents may not revoke.
  EXPECT_EQ(Call("POST", "/v1/fleet/devices/dev-a/revoke", kFleetToken).status, 403);
  EXPECT_EQ(Call("POST", "/v1/fleet/devices/dev-a/revoke", "nope").status, 401);
  HttpResponse r = Call("POST", "/v1/fleet/devices/dev-a/revoke", kOperatorToken);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("state":"revoked")"), std::string::npos);
  EXPECT_EQ(Checkin(a).status, 401);
  EXPECT_EQ(Code(NewSession(a)), "device_revoked");
  r = Enroll(a);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Code(r), "device_revoked");
  EXPECT_EQ(Call("POST", "/v1/fleet/devices/nobody/revoke", kOperatorToken).status, 404);
  EXPECT_EQ(Call("GET", "/v1/fleet/devices/dev-a/revoke", kOperatorToken).status, 405);
  ASSERT_EQ(Call("POST", "/v1/fleet/devices/dev-a/reset", kOperatorToken).status, 200);
  EXPECT_EQ(NewSession(a).status, 404);  // reset: enroll again
  ASSERT_EQ(Enroll(a).status, 200);
  EXPECT_EQ(Checkin(a).status, 200);
}

// A device whose credential this server holds but that never enrolled here (it enrolled through
// another server of a cluster, docs/deploy.md "Device state across servers"): a check-in that
// carries its profile makes its inventory record; one without a profile is told to enroll.
TEST_F(AgentApiAuthTest, CheckinWithProfileOfADeviceEnrolledElsewhereMakesItsRecord) {
  Device a("dev-a");
  auto reg = credentials_.Register(a.id, a.key.public_key(), NowS());  // as another server did
  ASSERT_TRUE(reg.ok());
  a.session = credentials_.IssueSession(a.id, reg->epoch, NowS());
  HttpResponse bare = Checkin(a);
  EXPECT_EQ(bare.status, 404) << bare.body;
  EXPECT_EQ(Code(bare), "unknown_device");
  EXPECT_EQ(inventory_.DeviceCount(), 0);
  auto with_profile = [&] {
    return Call("POST", "/v1/agent/checkin", a.session,
                R"({"device_id":"dev-a","seq":)" + std::to_string(++a.seq) +
                    R"(,"attrs":{"os":"linux"},"capabilities":{},"health":{"crashes":0}})");
  };
  HttpResponse r = with_profile();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(inventory_.DeviceCount(), 1);
  EXPECT_EQ(inventory_.Inventory().strata.size(), 1u);
  EXPECT_EQ(inventory_.Inventory().strata[0].attrs.at("os"), "linux");
  // The record is the device's from now on: its seq is checked as for an enrolled one.
  a.seq -= 1;
  r = with_profile();
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Code(r), "stale_checkin");
  EXPECT_EQ(inventory_.DeviceCount(), 1);
}

TEST_F(AgentApiAuthTest, EnrollmentsAddingCredentialsAreRateLimited) {
  api_ = std::make_unique<AgentApi>(inventory_, credentials_, controller_, dir_, clock_, metrics_,
                                    kFleetToken, "{}", Options(/*burst=*/3));
  std::vector<Device> d;
  for (int i = 0; i < 5; ++i) d.push_back(Device("dev-" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Enroll(d[i]).status, 200);  // the burst
  HttpResponse r = Enroll(d[3]);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(Code(r), "rate_limited");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  EXPECT_EQ(r.headers[0].second, "1");
  EXPECT_FALSE(credentials_.Get("dev-3").ok());  // nothing stored
  // Re-enrolling a known device with its key adds nothing and is not limited.
  EXPECT_EQ(Enroll(d[0]).status, 200);
  clock_.AdvanceMicros(1'000'000);
  EXPECT_EQ(Enroll(d[3]).status, 200);
  EXPECT_EQ(Enroll(d[4]).status, 429);
}

TEST_F(AgentApiAuthTest, SessionsRenewWithTheKeyAndSurviveAFleetTokenRotation) {
  Device a("dev-a");
  ASSERT_EQ(Enroll(a).status, 200);
  clock_.AdvanceMicros((credentials_.session_ttl_s() + 1) * 1'000'000);
  HttpResponse r = Checkin(a);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("expired"), std::string::npos);
  ASSERT_EQ(NewSession(a).status, 200);
  EXPECT_EQ(Checkin(a).status, 200);
  // Someone else's signature on a's session request.
  Device mallory("dev-a");
  EXPECT_EQ(NewSession(mallory).status, 401);
  // A new fleet token (rotate-secrets): the old one no longer enrolls, enrolled devices carry on.
  api_ = std::make_unique<AgentApi>(inventory_, credentials_, controller_, dir_, clock_, metrics_,
                                    "rotated-fleet-token-0123", "{}", Options());
  EXPECT_EQ(Enroll(a).status, 401);
  EXPECT_EQ(Checkin(a).status, 200);
  ASSERT_EQ(NewSession(a).status, 200);
  EXPECT_EQ(Checkin(a).status, 200);
  EXPECT_EQ(Call("GET", "/v1/trust", a.session).status, 200);
  EXPECT_EQ(Call("GET", "/v1/trust", kFleetToken).status, 401);
}

}  // namespace
}  // namespace rf::server
