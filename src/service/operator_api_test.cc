#include "service/operator_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "platform/sim_env.h"
#include "service/testing/fixtures.h"
#include "store/mem_store.h"

namespace rf::service {
namespace {

using server::HttpRequest;
using server::HttpResponse;
using server::Role;

constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr char kAgentToken[] = "agent-token-0123456789abcdef";

class FakeProgress final : public server::ProgressSource {
 public:
  std::optional<server::ReleaseProgress> Progress(std::string_view id) const override {
    if (id != "r-1") return std::nullopt;
    server::ReleaseProgress p;
    p.waves = {{"canary", 310, 120}};
    p.eligible_devices = 3'140'000;
    p.exposed_devices = 120;
    p.gate_state = "watching";
    p.max_e_value = 1.5;
    p.e_threshold = 300;
    return p;
  }
};

class OperatorApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fleet_.Set(testing::TwoStrataFleet(21));
    ReleaseServiceOptions o;
    service_ = std::move(*ReleaseService::Open(store_, fleet_, clock_, o));
    ASSERT_TRUE(service_->EnsurePrincipal("admin", {Role::kAdmin}, kAdminToken).ok());
    ASSERT_TRUE(service_->EnsurePrincipal("agent", {Role::kAgent}, kAgentToken).ok());
    api_ = std::make_unique<OperatorApi>(*service_, fleet_, &progress_);
    tokens_["admin"] = kAdminToken;
    tokens_["agent"] = kAgentToken;
  }

  HttpResponse Call(const std::string& who, const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::map<std::string, std::string, std::less<>> query = {}) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.bearer_token = tokens_[who];
    r.body = body;
    r.query = std::move(query);
    return api_->Handle(r);
  }

  static boost::json::object J(const HttpResponse& r) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    return v.is_object() ? v.as_object() : boost::json::object();
  }

  static std::string Quote(const std::string& s) {
    std::string out;
    AppendJsonString(&out, s);
    return out;
  }

  void AddPrincipal(const std::string& name, const std::string& roles,
                    const crypto::SigningKey* key) {
    std::string body = "{\"name\":\"" + name + "\",\"roles\":" + roles;
    if (key) body += ",\"reviewer_public_key\":" + Quote(crypto::EncodePublicKeyFile(key->public_key()));
    body += "}";
    HttpResponse r = Call("admin", "POST", "/v1/principals", body);
    ASSERT_EQ(r.status, 201) << r.body;
    tokens_[name] = std::string(J(r).at("token").as_string());
  }

  int64_t AuditSeq() { return store_.RecordedAuditHead()->seq; }

  store::MemStore store_;
  testing::FakeFleet fleet_;
  SimulatedClock clock_;
  FakeProgress progress_;
  std::unique_ptr<ReleaseService> service_;
  std::unique_ptr<OperatorApi> api_;
  std::map<std::string, std::string> tokens_;
  crypto::SigningKey bob_key_ = testing::KeyFromByte(2), carol_key_ = testing::KeyFromByte(3);
};

TEST_F(OperatorApiTest, FullFlowOverTheApi) {
  AddPrincipal("alice", "[\"author\"]", nullptr);
  AddPrincipal("bob", "[\"reviewer\"]", &bob_key_);
  AddPrincipal("carol", "[\"reviewer\"]", &carol_key_);
  AddPrincipal("oscar", "[\"operator\"]", nullptr);
  ASSERT_EQ(Call("admin", "PUT", "/v1/policies/291", "{\"approvals\":2,\"roles\":[\"reviewer\"]}").status, 200);
  ASSERT_EQ(Call("admin", "POST", "/v1/content-types",
                 "{\"yaml\":" + Quote(testing::TypeYaml()) + "}").status, 200);
  HttpResponse up = Call("alice", "POST", "/v1/bundles",
                         "{\"envelope\":" + Quote(testing::BuildEnvelope(testing::BundleSource(1300, false))) + "}");
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string sha(J(up).at("sha256").as_string());
  HttpResponse rep = Call("alice", "GET", "/v1/bundle-reports/" + sha);
  ASSERT_EQ(rep.status, 200) << rep.body;
  EXPECT_EQ(J(rep).at("report").as_object().at("verdict").as_string(), "accept");
  EXPECT_EQ(J(up).at("report").as_object().at("verdict").as_string(), "accept");

  HttpResponse created = Call("alice", "POST", "/v1/releases",
                              "{\"bundle_sha256\":\"" + sha + "\",\"plan_yaml\":" + Quote(testing::PlanYaml()) + "}");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(J(created).at("phase").as_string(), "AwaitingApproval");

  // A reviewer computes reports_sha256 from the texts the API returns, exactly as the CLI does.
  HttpResponse got = Call("bob", "GET", "/v1/releases/r-1");
  ASSERT_EQ(got.status, 200);
  const auto reports = J(got).at("reports").as_object();
  const std::string l1(reports.at("layer1").as_string()), l2(reports.at("layer2").as_string());
  EXPECT_EQ(crypto::Sha256Hex(l1 + l2), std::string(J(got).at("reports_sha256").as_string()));
  ReleaseView v = *service_->GetRelease("r-1");
  for (auto [who, key] : {std::pair<std::string, crypto::SigningKey*>{"bob", &bob_key_},
                          {"carol", &carol_key_}}) {
    HttpResponse a = Call(who, "POST", "/v1/releases/r-1/approvals",
                          "{\"envelope\":" + Quote(testing::SignApproval(v, who, "reviewer", *key)) + "}");
    ASSERT_EQ(a.status, 200) << a.body;
  }
  HttpResponse start = Call("oscar", "POST", "/v1/releases/r-1/start", "");
  ASSERT_EQ(start.status, 200) << start.body;
  EXPECT_EQ(J(start).at("release").as_object().at("phase").as_string(), "Dispatching");

  HttpResponse prog = Call("oscar", "GET", "/v1/releases/r-1/progress");
  ASSERT_EQ(prog.status, 200);
  auto po = J(prog);
  EXPECT_EQ(po.at("wave_name").as_string(), "canary");
  EXPECT_EQ(po.at("progress").as_object().at("exposed_devices").as_int64(), 120);
  EXPECT_FALSE(po.at("finished").as_bool());

  HttpResponse halt = Call("oscar", "POST", "/v1/releases/r-1/halt", "{\"reason\":\"canary crashes\"}");
  ASSERT_EQ(halt.status, 200) << halt.body;
  EXPECT_EQ(Call("oscar", "POST", "/v1/releases/r-1/resume", "{}").status, 409);

  HttpResponse audit = Call("oscar", "GET", "/v1/audit", "", {{"after", "0"}, {"limit", "500"}});
  ASSERT_EQ(audit.status, 200);
  EXPECT_GT(J(audit).at("entries").as_array().size(), 10u);
  HttpResponse verify = Call("oscar", "GET", "/v1/audit/verify");
  EXPECT_TRUE(J(verify).at("ok").as_bool()) << verify.body;
  EXPECT_EQ(J(Call("oscar", "GET", "/v1/releases")).at("releases").as_array().size(), 1u);
  EXPECT_EQ(J(Call("oscar", "GET", "/v1/fleet")).at("devices").as_int64(), 3'140'000);
  EXPECT_EQ(J(Call("bob", "GET", "/v1/whoami")).at("name").as_string(), "bob");
}

TEST_F(OperatorApiTest, Cf291RefusedWithTheReport) {
  AddPrincipal("alice", "[\"author\"]", nullptr);
  ASSERT_EQ(Call("admin", "POST", "/v1/content-types", "{\"yaml\":" + Quote(testing::TypeYaml()) + "}").status, 200);
  fleet_.Set(testing::TwoStrataFleet(20));
  HttpResponse r = Call("alice", "POST", "/v1/bundles",
                        "{\"envelope\":" + Quote(testing::BuildEnvelope(testing::BundleSource(1291, true))) + "}");
  EXPECT_EQ(r.status, 400);
  auto o = J(r);
  EXPECT_EQ(o.at("error").as_object().at("code").as_string(), "bundle_rejected");
  EXPECT_EQ(o.at("report").as_object().at("verdict").as_string(), "reject");
  EXPECT_EQ(J(Call("alice", "GET", "/v1/bundles")).at("bundles").as_array().size(), 0u);
}

// Channel names follow the protocol's one rule (protocol/identifiers.h): "." and ".." are refused
// at upload with a 400 naming the problem, and nothing is stored. (Before, the server accepted
// them while every device refused them, dropping the whole check-in response.)
TEST_F(OperatorApiTest, DotChannelsRefusedAtUploadNamingTheProblem) {
  AddPrincipal("alice", "[\"author\"]", nullptr);
  ASSERT_EQ(Call("admin", "POST", "/v1/content-types", "{\"yaml\":" + Quote(testing::TypeYaml()) + "}").status, 200);
  const int64_t seq = AuditSeq();
  for (const std::string& channel : std::vector<std::string>{"..", "."}) {
    std::string source = testing::BundleSource(1300, false);
    source.replace(source.find("channel: \"291\""), 14, "channel: \"" + channel + "\"");
    HttpResponse r = Call("alice", "POST", "/v1/bundles",
                          "{\"envelope\":" + Quote(testing::BuildEnvelope(source)) + "}");
    ASSERT_EQ(r.status, 400) << r.body;
    auto e = J(r).at("error").as_object();
    EXPECT_EQ(e.at("code").as_string(), "invalid_request");
    EXPECT_NE(std::string(e.at("message").as_string())
                  .find("channel '" + channel + "' is not a valid channel name"),
              std::string::npos)
        << r.body;
  }
  EXPECT_EQ(J(Call("alice", "GET", "/v1/bundles")).at("bundles").as_array().size(), 0u);
  EXPECT_EQ(AuditSeq(), seq);
  // Policies and customer controls follow the same rule.
  EXPECT_EQ(Call("admin", "PUT", "/v1/policies/..", "{\"approvals\":1,\"roles\":[\"reviewer\"]}").status, 400);
}

// A bundle stored under such a channel by an older server (which accepted it) is never released.
TEST_F(OperatorApiTest, DotChannelBundleFromAnOlderServerIsNotReleased) {
  AddPrincipal("alice", "[\"author\"]", nullptr);
  ASSERT_EQ(Call("admin", "POST", "/v1/content-types", "{\"yaml\":" + Quote(testing::TypeYaml()) + "}").status, 200);
  HttpResponse up = Call("alice", "POST", "/v1/bundles",
                         "{\"envelope\":" + Quote(testing::BuildEnvelope(testing::BundleSource(1300, false))) + "}");
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string sha(J(up).at("sha256").as_string());
  // Rewrite the stored record as an older server would have stored it, and restart the service.
  auto contents = store_.Load();
  ASSERT_TRUE(contents.ok());
  ASSERT_EQ(contents->bundles.size(), 1u);
  store::WriteBatch b;
  b.bundles.push_back(contents->bundles[0]);
  b.bundles[0].channel = "..";
  b.bundles[0].envelope = *store_.BundleEnvelope(sha);
  ASSERT_TRUE(store_.Apply(b).ok());
  api_.reset();
  service_ = std::move(*ReleaseService::Open(store_, fleet_, clock_, {}));
  api_ = std::make_unique<OperatorApi>(*service_, fleet_, &progress_);
  const int64_t seq = AuditSeq();
  HttpResponse created = Call("alice", "POST", "/v1/releases",
                              "{\"bundle_sha256\":\"" + sha + "\",\"plan_yaml\":" + Quote(testing::PlanYaml()) + "}");
  ASSERT_EQ(created.status, 400) << created.body;
  EXPECT_NE(created.body.find("channel '..' is not a valid channel name"), std::string::npos)
      << created.body;
  EXPECT_EQ(J(Call("alice", "GET", "/v1/releases")).at("releases").as_array().size(), 0u);
  EXPECT_EQ(AuditSeq(), seq);
}

TEST_F(OperatorApiTest, AgentTokenCanDoNothingHere) {
  for (auto [m, p] : {std::pair<std::string, std::string>{"GET", "/v1/releases"},
                      {"GET", "/v1/fleet"}, {"GET", "/v1/audit"}, {"POST", "/v1/bundles"},
                      {"POST", "/v1/releases/r-1/halt"}, {"GET", "/v1/whoami"},
                      {"POST", "/v1/principals"}}) {
    HttpResponse r = Call("agent", m, p, "{}");
    EXPECT_EQ(r.status, 403) << m << " " << p;
    EXPECT_EQ(J(r).at("error").as_object().at("code").as_string(), "forbidden_role");
  }
  tokens_["nobody"] = "";
  EXPECT_EQ(Call("nobody", "GET", "/v1/releases").status, 401);
  tokens_["forged"] = "rf_0000";
  EXPECT_EQ(Call("forged", "GET", "/v1/releases").status, 401);
}

TEST_F(OperatorApiTest, BadBodiesAre400NamingTheKeyAndStoreNothing) {
  const int64_t seq = AuditSeq();
  struct Case {
    std::string body, expect;
  } cases[] = {
      {"{not json", "not valid JSON"},
      {"[]", "expected a JSON object"},
      {"{\"name\":\"eve\"}", "key 'roles': missing"},
      {"{\"name\":\"eve\",\"roles\":\"admin\"}", "key 'roles': expected an array"},
      {"{\"name\":7,\"roles\":[\"admin\"]}", "key 'name': expected a string"},
      {"{\"name\":\"eve\",\"roles\":[\"admin\"],\"superuser\":true}", "unknown key 'superuser'"},
      {"{\"name\":\"eve\",\"roles\":[\"root\"]}", "unknown role 'root'"},
      {"{\"name\":\"eve\",\"roles\":[1]}", "key 'roles': element 0"},
  };
  for (const auto& c : cases) {
    HttpResponse r = Call("admin", "POST", "/v1/principals", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    auto err = J(r).at("error").as_object();
    EXPECT_EQ(err.at("code").as_string(), "invalid_request");
    EXPECT_NE(std::string(err.at("message").as_string()).find(c.expect), std::string::npos)
        << c.body << " -> " << r.body;
  }
  EXPECT_EQ(Call("admin", "PUT", "/v1/policies/291", "{\"approvals\":\"2\",\"roles\":[\"reviewer\"]}").status, 400);
  EXPECT_EQ(Call("admin", "PUT", "/v1/policies/291", "{\"approvals\":0,\"roles\":[\"reviewer\"]}").status, 400);
  EXPECT_EQ(Call("admin", "PUT", "/v1/controls", "{\"channel\":\"291\",\"attr\":\"tenant\",\"value\":\"a\",\"delay_s\":1.5}").status, 400);
  EXPECT_EQ(Call("admin", "POST", "/v1/releases/r-1/halt", "{}").status, 400);  // reason missing
  EXPECT_EQ(Call("admin", "POST", "/v1/releases/r-1/start", "{\"force\":true}").status, 400);
  EXPECT_EQ(Call("admin", "GET", "/v1/audit", "", {{"limit", "-1"}}).status, 400);
  EXPECT_EQ(Call("admin", "GET", "/v1/releases", "", {{"chanel", "291"}}).status, 400);
  EXPECT_EQ(Call("admin", "GET", "/v1/nothing").status, 404);
  EXPECT_EQ(AuditSeq(), seq);
  EXPECT_EQ(service_->Principals().size(), 2u);
  EXPECT_TRUE(service_->Policies().empty());
  EXPECT_TRUE(service_->Controls().empty());
}

TEST_F(OperatorApiTest, OversizedBodiesAre413) {
  const std::string big(2u << 20, ' ');
  HttpResponse r = Call("admin", "POST", "/v1/principals", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(J(r).at("error").as_object().at("code").as_string(), "body_too_large");
}

TEST_F(OperatorApiTest, RoutingLeavesAgentEndpointsAlone) {
  const std::string sha(64, 'a');
  EXPECT_FALSE(OperatorApi::Handles("GET", "/v1/bundles/" + sha));
  EXPECT_FALSE(OperatorApi::Handles("GET", "/v1/bundles/" + sha + "/approvals"));
  EXPECT_FALSE(OperatorApi::Handles("POST", "/v1/agent/checkin"));
  EXPECT_FALSE(OperatorApi::Handles("GET", "/v1/trust"));
  EXPECT_FALSE(OperatorApi::Handles("GET", "/healthz"));
  EXPECT_TRUE(OperatorApi::Handles("GET", "/v1/bundle-reports/" + sha));
  EXPECT_TRUE(OperatorApi::Handles("GET", "/v1/bundles"));
  EXPECT_TRUE(OperatorApi::Handles("POST", "/v1/bundles"));
  EXPECT_TRUE(OperatorApi::Handles("GET", "/v1/releases/r-1"));
}

// Regression: a wrong method on an operator path was 404 `not_found`; it is 405 with `Allow`
// naming the methods the path takes (RFC 9110 15.5.6), and an unknown path stays 404.
TEST_F(OperatorApiTest, WrongMethodIs405WithAllow) {
  struct Case {
    std::string method, path, allow;
  } cases[] = {
      {"POST", "/v1/whoami", "GET"},
      {"DELETE", "/v1/content-types", "GET, POST"},
      {"PUT", "/v1/bundles", "GET, POST"},
      {"POST", "/v1/bundle-reports/" + std::string(64, 'a'), "GET"},
      {"DELETE", "/v1/releases", "GET, POST"},
      {"POST", "/v1/releases/r-1", "GET"},
      {"POST", "/v1/releases/r-1/progress", "GET"},
      {"GET", "/v1/releases/r-1/approvals", "POST"},
      {"GET", "/v1/releases/r-1/start", "POST"},
      {"GET", "/v1/releases/r-1/resume", "POST"},
      {"PUT", "/v1/releases/r-1/pause", "POST"},
      {"GET", "/v1/releases/r-1/halt", "POST"},
      {"GET", "/v1/releases/r-1/rollback", "POST"},
      {"POST", "/v1/fleet", "GET"},
      {"POST", "/v1/audit", "GET"},
      {"DELETE", "/v1/audit/verify", "GET"},
      {"PUT", "/v1/principals", "GET, POST"},
      {"POST", "/v1/policies", "GET"},
      {"GET", "/v1/policies/291", "PUT"},
      {"POST", "/v1/controls", "GET, PUT, DELETE"},
  };
  const int64_t seq = AuditSeq();
  for (const auto& c : cases) {
    HttpResponse r = Call("admin", c.method, c.path, "{}");
    EXPECT_EQ(r.status, 405) << c.method << " " << c.path << " -> " << r.body;
    std::string allow;
    for (const auto& [k, v] : r.headers) {
      if (k == "Allow") allow = v;
    }
    EXPECT_EQ(allow, c.allow) << c.method << " " << c.path;
    EXPECT_EQ(J(r).at("error").as_object().at("code").as_string(), "method_not_allowed") << r.body;
  }
  EXPECT_EQ(AuditSeq(), seq);
  EXPECT_EQ(Call("admin", "GET", "/v1/releases/r-1/explode").status, 404);
  EXPECT_EQ(Call("admin", "GET", "/v1/releases/r-1/progress/x").status, 404);
  // Authentication comes first: an unknown token learns nothing about the routes.
  tokens_["nobody"] = "";
  EXPECT_EQ(Call("nobody", "POST", "/v1/whoami").status, 401);
}

// Regression: `limit` above the page maximum (1000, docs/api/openapi.yaml) was silently clamped;
// it is a 400 naming the parameter and the maximum.
TEST_F(OperatorApiTest, AuditLimitAboveTheMaximumIs400) {
  EXPECT_EQ(Call("admin", "GET", "/v1/audit", "", {{"limit", "1000"}}).status, 200);
  EXPECT_EQ(Call("admin", "GET", "/v1/audit", "", {{"limit", "0"}}).status, 200);
  HttpResponse r = Call("admin", "GET", "/v1/audit", "", {{"limit", "1001"}});
  EXPECT_EQ(r.status, 400) << r.body;
  const std::string msg(J(r).at("error").as_object().at("message").as_string());
  EXPECT_NE(msg.find("'limit'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1000"), std::string::npos) << msg;
}

// Every query parameter the spec does not name is refused, on every operation.
TEST_F(OperatorApiTest, UnknownQueryParametersAre400Everywhere) {
  for (const std::string& path : std::vector<std::string>{"/v1/whoami", "/v1/releases/r-1", "/v1/releases/r-1/progress",
                                 "/v1/bundle-reports/" + std::string(64, 'a'), "/v1/audit/verify"}) {
    HttpResponse r = Call("admin", "GET", path, "", {{"verbose", "1"}});
    EXPECT_EQ(r.status, 400) << path << " -> " << r.body;
  }
}

// Regression: dispatch_elapsed_s was computed at the release's last event, so it stayed 0 while a
// wave dispatched; it is the time the current wave has dispatched as of now, capped at its window.
TEST_F(OperatorApiTest, DispatchElapsedCountsFromNow) {
  AddPrincipal("alice", "[\"author\"]", nullptr);
  AddPrincipal("bob", "[\"reviewer\"]", &bob_key_);
  AddPrincipal("oscar", "[\"operator\"]", nullptr);
  ASSERT_EQ(Call("admin", "POST", "/v1/content-types", "{\"yaml\":" + Quote(testing::TypeYaml()) + "}").status, 200);
  HttpResponse up = Call("alice", "POST", "/v1/bundles",
                         "{\"envelope\":" + Quote(testing::BuildEnvelope(testing::BundleSource(1300, false))) + "}");
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string sha(J(up).at("sha256").as_string());
  ASSERT_EQ(Call("alice", "POST", "/v1/releases",
                 "{\"bundle_sha256\":\"" + sha + "\",\"plan_yaml\":" + Quote(testing::PlanYaml()) + "}").status, 201);
  ReleaseView v = *service_->GetRelease("r-1");
  ASSERT_EQ(Call("bob", "POST", "/v1/releases/r-1/approvals",
                 "{\"envelope\":" + Quote(testing::SignApproval(v, "bob", "reviewer", bob_key_)) + "}").status, 200);
  auto elapsed = [&] {
    return J(Call("oscar", "GET", "/v1/releases/r-1/progress")).at("dispatch_elapsed_s").as_int64();
  };
  EXPECT_EQ(elapsed(), 0);
  ASSERT_EQ(Call("oscar", "POST", "/v1/releases/r-1/start", "").status, 200);
  clock_.AdvanceMicros(90'000'000);
  EXPECT_EQ(elapsed(), 90);
  // Paused time does not count.
  ASSERT_EQ(Call("oscar", "POST", "/v1/releases/r-1/pause", "{\"reason\":\"look\"}").status, 200);
  clock_.AdvanceMicros(600'000'000);
  EXPECT_EQ(elapsed(), 90);
  ASSERT_EQ(Call("oscar", "POST", "/v1/releases/r-1/resume", "").status, 200);
  clock_.AdvanceMicros(60'000'000);
  EXPECT_EQ(elapsed(), 150);
  // Capped at the canary's 5-minute dispatch window.
  clock_.AdvanceMicros(3'600'000'000);
  EXPECT_EQ(elapsed(), 300);
}

TEST_F(OperatorApiTest, ControlsAndPoliciesRoundTrip) {
  AddPrincipal("oscar", "[\"operator\"]", nullptr);
  ASSERT_EQ(Call("oscar", "PUT", "/v1/controls",
                 "{\"channel\":\"291\",\"attr\":\"tenant\",\"value\":\"acme\",\"pin_previous\":true}").status, 200);
  auto list = J(Call("oscar", "GET", "/v1/controls")).at("controls").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].as_object().at("pin_previous").as_bool());
  EXPECT_EQ(Call("oscar", "DELETE", "/v1/controls", "", {{"channel", "291"}, {"attr", "tenant"}}).status, 400);
  EXPECT_EQ(Call("oscar", "DELETE", "/v1/controls", "",
                 {{"channel", "291"}, {"attr", "tenant"}, {"value", "acme"}}).status, 200);
  // Operators cannot set review policy.
  EXPECT_EQ(Call("oscar", "PUT", "/v1/policies/291", "{\"approvals\":1,\"roles\":[\"operator\"]}").status, 403);
}

}  // namespace
}  // namespace rf::service
