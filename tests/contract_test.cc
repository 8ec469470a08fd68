// The operator API against its contract: the real `ringfence server` (fresh data directory,
// 127.0.0.1:0) called through every operation of docs/api/openapi.yaml, each response's status and
// JSON checked against the spec (tests/openapi_contract.h: a JSON-schema subset in which an
// undocumented property is an error). The scenario records which operations it exercised with a
// success status and fails if any operation of the spec was not, so a new operation in the spec
// needs a call here.
//
//   EveryOperationConformsToTheSpec         the scenario: principals, policy, content type,
//                                           fleet, uploads (accepted, present, refused),
//                                           release create/approve/start/pause/resume/halt/
//                                           rollback, controls, audit; + coverage
//   EveryOperationRefusesAnUnknownToken     401 on every operation, shaped as the spec says
//   WrongMethodOnEveryPathIs405WithAllow    405 + Allow (= the spec's methods) on every path
//   AuditChainRecomputesFromServedEntries   the served entries hash to the head; and
//                                           `ringfence audit verify --server` recomputes it
//   UploadBodyWithinTheSpecLimitReachesTheApi  a 66 MiB body is the API's to judge, not 413
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "openapi_contract.h"
#include "server_harness.h"
#include "service/testing/fixtures.h"
#include "store/audit.h"
#include "testing/test_util.h"

namespace rf {
namespace {

namespace json = boost::json;
using contract::OpenApiSpec;
using contract::Operation;
using e2e::HttpConnection;
using e2e::Quote;
using e2e::Response;
using e2e::ServerProcess;
using e2e::Str;
using e2e::Trim;
using testing::ReadFileOrDie;
using testing::TempDir;

constexpr char kChannel[] = "291";

// One stratum whose consumer supplies 20 inputs (Channel File 291 would crash it), one with 21.
constexpr e2e::FleetStratum kStrata[] = {{"windows", "7.11", 20, 1}, {"linux", "7.16", 21, 1}};

// Stays in its first wave for the whole test: nothing moves unless an operator says so.
std::string SlowPlan() {
  return "plan: contract\n"
         "waves:\n"
         "  - {name: canary, devices: 1%, stratify: [os], min_per_stratum: 1, dispatch: 1h, "
         "bake: 1h}\n"
         "  - {name: all, devices: 100%, dispatch: 1h, bake: 1h}\n"
         "gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 1h, holdback: 1%}\n"
         "on_failure: rollback\n";
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += "\n  " + s;
  return out;
}

// `path_template` with every {name} replaced by params[name] (or `fallback`).
std::string Fill(std::string path, const std::map<std::string, std::string>& params,
                 const std::string& fallback) {
  for (size_t open = path.find('{'); open != std::string::npos; open = path.find('{', open)) {
    const size_t close = path.find('}', open);
    const std::string name = path.substr(open + 1, close - open - 1);
    auto it = params.find(name);
    const std::string value = it != params.end() ? it->second : fallback;
    path.replace(open, close + 1 - open, value);
    open += value.size();
  }
  return path;
}

class ContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spec = OpenApiSpec::Load(std::string(RF_SOURCE_DIR) + "/docs/api/openapi.yaml");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = std::move(*spec);
    ASSERT_FALSE(spec_->operations().empty());
    server_ = std::make_unique<ServerProcess>(dir_.File("data"));
    ASSERT_GT(server_->port(), 0) << "server did not print its address";
    admin_ = Trim(ReadFileOrDie(dir_.File("data/admin.token")));
    agent_ = Trim(ReadFileOrDie(dir_.File("data/agent.token")));
    conn_ = std::make_unique<HttpConnection>(server_->port());
  }

  // Calls operation `id` (path {params} filled in, `query` appended) and checks the answer: the
  // expected status, JSON content, and a body that conforms to the spec's response for it.
  Response Op(const std::string& id, const std::string& token, int expect_status,
              const std::map<std::string, std::string>& params = {}, const std::string& body = "",
              const std::string& query = "") {
    const Operation* op = spec_->Find(id);
    EXPECT_NE(op, nullptr) << "the spec has no operation " << id;
    if (op == nullptr) return {};
    const std::string path = Fill(op->path, params, "x") + (query.empty() ? "" : "?" + query);
    Response r = conn_->Do(op->method, path, token, body);
    EXPECT_EQ(r.status, expect_status) << op->method << " " << path << ": " << r.body;
    EXPECT_EQ(r.Header("Content-Type"), "application/json") << op->method << " " << path;
    const std::vector<std::string> errors = spec_->CheckResponse(*op, r.status, r.body);
    EXPECT_TRUE(errors.empty()) << Join(errors);
    if (r.status >= 200 && r.status < 300) succeeded_.insert(id);
    return r;
  }

  void EnrollFleet() {
    std::vector<e2e::SimDevice> devices;
    for (int s = 0; s < static_cast<int>(std::size(kStrata)); ++s) {
      e2e::SimDevice d;
      d.id = "dev-" + std::to_string(s);
      d.stratum = s;
      Response r = conn_->Do("POST", "/v1/agent/enroll", agent_, e2e::EnrollBody(d, kStrata[s]));
      ASSERT_EQ(r.status, 200) << r.body;
      ASSERT_TRUE(e2e::AdoptSession(d, r)) << r.body;
      Response c = conn_->Do("POST", "/v1/agent/checkin", d.session, e2e::CheckinBody(d));
      ASSERT_EQ(c.status, 200) << c.body;
      devices.push_back(d);
    }
    // One device reports a quarantine (the fleet summary lists it).
    e2e::SimDevice& d = devices[0];
    const std::string body = R"({"device_id":")" + d.id + R"(","seq":)" + std::to_string(++d.seq) +
                             R"(,"health":{"quarantined":[{"channel":"291","version":1299,"sha256":")" +
                             std::string(64, 'e') + R"(","reason":"3 unclean starts"}]}})";
    Response q = conn_->Do("POST", "/v1/agent/checkin", d.session, body);
    ASSERT_EQ(q.status, 200) << q.body;
  }

  std::string Envelope(int64_t version, bool cf291) {
    return "{\"envelope\":" +
           Quote(service::testing::BuildEnvelope(service::testing::BundleSource(version, cf291))) +
           "}";
  }

  TempDir dir_;
  std::unique_ptr<OpenApiSpec> spec_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpConnection> conn_;
  std::string admin_, agent_;
  std::set<std::string> succeeded_;  // operations answered with a 2xx
};

TEST_F(ContractTest, EveryOperationConformsToTheSpec) {
  Op("getWhoami", admin_, 200);
  // Principals: an author, an operator, and a reviewer with a registered key (made by the harness,
  // which generates the key; its response is the same operation's).
  const std::string alice = Str(Op("createPrincipal", admin_, 201, {},
                                   R"({"name":"alice","roles":["author"]})").Object(), "token");
  const std::string oscar = Str(Op("createPrincipal", admin_, 201, {},
                                   R"({"name":"oscar","roles":["operator"]})").Object(), "token");
  const e2e::Principal bob = e2e::CreatePrincipal(*conn_, admin_, "bob", {"reviewer"}, true);
  Op("createPrincipal", admin_, 400, {}, R"({"name":"eve","roles":["root"]})");
  Op("listPrincipals", admin_, 200);

  Op("setPolicy", admin_, 200, {{"channel", kChannel}}, R"({"approvals":1,"roles":["reviewer"]})");
  Op("setPolicy", oscar, 403, {{"channel", kChannel}}, R"({"approvals":1,"roles":["reviewer"]})");
  Op("listPolicies", admin_, 200);

  Op("addContentType", admin_, 200, {}, "{\"yaml\":" + Quote(service::testing::TypeYaml()) + "}");
  Op("listContentTypes", alice, 200);

  ASSERT_NO_FATAL_FAILURE(EnrollFleet());
  json::object fleet = Op("getFleet", oscar, 200).Object();
  json::object summary = Op("getFleetSummary", oscar, 200).Object();
  ASSERT_EQ(summary.at("quarantined").as_array().size(), 1u) << json::serialize(summary);
  EXPECT_EQ(e2e::Int(fleet, "devices"), 2) << json::serialize(fleet);
  // Device credentials: read, revoke, reset (an author may not).
  json::object cred = Op("getDeviceCredential", oscar, 200, {{"device_id", "dev-1"}}).Object();
  EXPECT_EQ(Str(cred, "state"), "active") << json::serialize(cred);
  Op("getDeviceCredential", oscar, 404, {{"device_id", "dev-9"}});
  Op("revokeDeviceCredential", alice, 403, {{"device_id", "dev-1"}}, "{}");
  EXPECT_EQ(Str(Op("revokeDeviceCredential", oscar, 200, {{"device_id", "dev-1"}}, "{}").Object(),
                "state"),
            "revoked");
  EXPECT_EQ(Str(Op("resetDeviceCredential", oscar, 200, {{"device_id", "dev-1"}}, "{}").Object(),
                "state"),
            "reset");

  // Uploads: accepted (201), the same bytes again (200), Channel File 291 refused by layer 1
  // with its report (400 bundle_rejected), and a malformed body (400 invalid_request).
  Response up = Op("uploadBundle", alice, 201, {}, Envelope(1300, false));
  const std::string sha = Str(up.Object(), "sha256");
  ASSERT_EQ(sha.size(), 64u) << up.body;
  EXPECT_TRUE(Op("uploadBundle", alice, 200, {}, Envelope(1300, false)).Object().at("already_present").as_bool());
  Response refused = Op("uploadBundle", alice, 400, {}, Envelope(1301, true));
  EXPECT_EQ(e2e::ErrorCode(refused), "bundle_rejected");
  EXPECT_EQ(Str(refused.Object().at("report").as_object(), "verdict"), "reject");
  EXPECT_EQ(e2e::ErrorCode(Op("uploadBundle", alice, 400, {}, R"({"envelope":7})")), "invalid_request");
  Op("listBundles", alice, 200, {}, "", std::string("channel=") + kChannel);
  Op("getBundleReport", bob.token, 200, {{"sha256", sha}});
  Op("getBundleReport", bob.token, 404, {{"sha256", std::string(64, 'f')}});

  // A release through every transition an operator can ask for.
  Response created = Op("createRelease", alice, 201, {},
                        "{\"bundle_sha256\":" + Quote(sha) + ",\"plan_yaml\":" + Quote(SlowPlan()) + "}");
  const std::string id = Str(created.Object(), "release_id");
  ASSERT_FALSE(id.empty()) << created.body;
  Op("listReleases", oscar, 200);
  Op("startRelease", oscar, 409, {{"id", id}});  // quorum_missing
  json::object release = Op("getRelease", bob.token, 200, {{"id", id}}).Object();
  Op("approveRelease", bob.token, 200, {{"id", id}}, e2e::SignedApprovalBody(release, bob));
  Op("startRelease", oscar, 200, {{"id", id}});
  json::object progress = Op("getReleaseProgress", oscar, 200, {{"id", id}}).Object();
  EXPECT_EQ(Str(progress, "phase"), "Dispatching");
  // The dashboard's series (sampled by the server every second; may still be empty here).
  Op("getReleaseHistory", oscar, 200, {{"id", id}});
  Op("getReleaseHistory", oscar, 200, {{"id", id}}, "", "after_us=0");
  Op("getReleaseHistory", oscar, 400, {{"id", id}}, "", "after_us=soon");
  Op("getReleaseHistory", oscar, 404, {{"id", "r-404"}});
  // The dashboard's long-poll: without `after`, or with a number that is not the current one,
  // answered at once (a wait on the current number is rf_server_test's ChangeFeedTest).
  json::object changes = Op("getChanges", oscar, 200).Object();
  Op("getChanges", oscar, 200, {}, "", "after=1");
  Op("getChanges", oscar, 400, {}, "", "after=soon");
  EXPECT_FALSE(changes.at("changed").as_bool());
  Op("getReleaseWhatIf", oscar, 200, {{"id", id}});
  Op("getReleaseWhatIf", oscar, 200, {{"id", id}}, "", "p=0.5&signal=silence");
  Op("getReleaseWhatIf", oscar, 400, {{"id", id}}, "", "p=2");
  Op("getReleaseWhatIf", oscar, 404, {{"id", "r-404"}});
  Op("pauseRelease", oscar, 200, {{"id", id}}, R"({"reason":"look first"})");
  Op("resumeRelease", oscar, 200, {{"id", id}});
  Op("haltRelease", oscar, 200, {{"id", id}}, R"({"reason":"canary crashes"})");
  Op("resumeRelease", oscar, 409, {{"id", id}});
  Op("rollbackRelease", oscar, 200, {{"id", id}}, R"({"reason":"back to the last good"})");
  Op("getReleaseProgress", oscar, 404, {{"id", "r-404"}});

  Op("putControl", oscar, 200, {}, R"({"channel":"291","attr":"tenant","value":"acme","delay_s":60})");
  Op("listControls", oscar, 200);
  const std::string key = "channel=291&attr=tenant&value=acme";
  Op("deleteControl", oscar, 200, {}, "", key);
  Op("deleteControl", oscar, 404, {}, "", key);

  Op("listAudit", oscar, 200, {}, "", "after=0&limit=1000");
  Op("listAudit", oscar, 400, {}, "", "limit=1001");
  Op("verifyAudit", oscar, 200);

  // Coverage: every operation of the spec answered a success here.
  for (const Operation& op : spec_->operations()) {
    EXPECT_EQ(succeeded_.count(op.id), 1u)
        << op.id << " (" << op.method << " " << op.path << ") was not exercised with a 2xx";
  }
}

TEST_F(ContractTest, EveryOperationRefusesAnUnknownToken) {
  for (const Operation& op : spec_->operations()) {
    Response r = Op(op.id, "rf_not_a_token", 401, {{"sha256", std::string(64, 'a')}}, "{}");
    EXPECT_EQ(e2e::ErrorCode(r), "unauthenticated") << op.id << ": " << r.body;
  }
}

TEST_F(ContractTest, WrongMethodOnEveryPathIs405WithAllow) {
  std::set<std::string> paths;
  for (const Operation& op : spec_->operations()) paths.insert(op.path);
  const json::value error_schema = json::object{{"$ref", "#/components/schemas/ErrorResponse"}};
  for (const std::string& tmpl : paths) {
    const std::set<std::string> allowed = spec_->Methods(tmpl);
    const std::string path = Fill(tmpl, {{"sha256", std::string(64, 'a')}}, "r-1");
    for (const std::string method : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
      if (allowed.count(method)) continue;
      Response r = conn_->Do(method, path, admin_, "{}");
      EXPECT_EQ(r.status, 405) << method << " " << path << ": " << r.body;
      EXPECT_EQ(e2e::ErrorCode(r), "method_not_allowed") << r.body;
      // Allow: the spec's methods for the path, comma-separated (any order).
      std::set<std::string> got;
      std::string allow = r.Header("Allow");
      for (size_t start = 0; start < allow.size();) {
        size_t comma = allow.find(',', start);
        if (comma == std::string::npos) comma = allow.size();
        std::string m = allow.substr(start, comma - start);
        while (!m.empty() && m.front() == ' ') m.erase(0, 1);
        got.insert(m);
        start = comma + 1;
      }
      EXPECT_EQ(got, allowed) << method << " " << path << " Allow: " << allow;
      boost::system::error_code ec;
      const json::value body = json::parse(r.body, ec);
      ASSERT_FALSE(ec) << r.body;
      EXPECT_TRUE(spec_->Validate(error_schema, body, "405 body").empty()) << r.body;
    }
  }
}

// The dashboard's long-poll on the real server: requests waiting on the current sequence number
// (more of them than the server has operator threads) do not stop an operator request from being
// answered, an audited change wakes them all, and a shutdown answers a waiting one at once.
TEST_F(ContractTest, LongPollIsWokenByAnAuditedChangeAndReleasedOnShutdown) {
  const int64_t seq = e2e::Int(Op("getChanges", admin_, 200).Object(), "seq");
  const std::string wait = "GET /v1/changes?after=" + std::to_string(seq) +
                           " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + admin_ + "\r\n\r\n";
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {  // the server has 2 operator threads
    fds.push_back(e2e::ConnectLoopback(server_->port(), 120));
    ASSERT_GE(fds.back(), 0);
    ASSERT_TRUE(e2e::SendAllTo(fds.back(), wait));
  }
  Op("listReleases", admin_, 200);
  Op("createPrincipal", admin_, 201, {}, R"({"name":"wanda","roles":["reviewer"]})");  // audited
  for (int fd : fds) {
    std::string pending;
    Response r = e2e::ReadResponse(fd, &pending);
    close(fd);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(r.Object().at("changed").as_bool()) << r.body;
    EXPECT_GT(e2e::Int(r.Object(), "seq"), seq);
  }
  // Shutdown: a waiting long-poll is answered 503 and the server exits without waiting for it.
  const int64_t now = e2e::Int(Op("getChanges", admin_, 200).Object(), "seq");
  const int fd = e2e::ConnectLoopback(server_->port(), 120);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(e2e::SendAllTo(fd, "GET /v1/changes?after=" + std::to_string(now) +
                                     " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + admin_ +
                                     "\r\n\r\n"));
  Op("listReleases", admin_, 200);
  EXPECT_EQ(server_->Terminate(), 0);  // clean exit with a long-poll open (ASan in CI)
  std::string pending;
  Response r = e2e::ReadResponse(fd, &pending);
  close(fd);
  // 503 shutting_down when it was read before the shutdown (almost always); a request the server
  // had not read yet is closed unanswered (0), as any idle connection. Never 200: nothing changed.
  // (That a parked request does not hold the shutdown is HttpServerTest's, deterministically.)
  EXPECT_TRUE(r.status == 503 || r.status == 0) << r.status << " " << r.body;
}

TEST_F(ContractTest, AuditChainRecomputesFromServedEntries) {
  // A few audited changes, including details with nested objects and escapes.
  const std::string oscar = Str(Op("createPrincipal", admin_, 201, {},
                                   R"({"name":"oscar","roles":["operator"]})").Object(), "token");
  Op("putControl", oscar, 200, {}, R"({"channel":"291","attr":"tenant","value":"a\"b\\c","delay_s":60})");
  Op("setPolicy", admin_, 200, {{"channel", kChannel}}, R"({"approvals":1,"roles":["reviewer"]})");
  Op("addContentType", admin_, 200, {}, "{\"yaml\":" + Quote(service::testing::TypeYaml()) + "}");
  json::object head = Op("verifyAudit", admin_, 200).Object().at("head").as_object();
  json::object page = Op("listAudit", admin_, 200, {}, "", "after=0&limit=1000").Object();
  store::AuditChainVerifier verifier;
  for (const json::value& v : page.at("entries").as_array()) {
    auto e = store::AuditEntryFromJson(v.as_object());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE(verifier.Add(*e).ok()) << json::serialize(v);
  }
  auto verified = verifier.Finish({e2e::Int(head, "seq"), Str(head, "hash")});
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_GE(verified->entries, 4);

  // The CLI does the same against the running server.
  testing::CommandResult cli = testing::RunCommand(
      {testing::RingfenceBinary(), "--server", "http://127.0.0.1:" + std::to_string(server_->port()),
       "--token", dir_.File("data/admin.token"), "audit", "verify"});
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_NE(cli.out.find("chain recomputed locally"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("head seq " + std::to_string(e2e::Int(head, "seq"))), std::string::npos)
      << cli.out;
}

// The spec allows an upload body of 96 MiB (its envelope up to 64 MiB). A body over the HTTP
// layer's old 64 MiB limit whose envelope is well under 64 MiB reaches the API, which judges the
// envelope (here: not a DSSE envelope, 400), instead of being cut off with 413.
TEST_F(ContractTest, UploadBodyWithinTheSpecLimitReachesTheApi) {
  const std::string alice = Str(Op("createPrincipal", admin_, 201, {},
                                   R"({"name":"alice","roles":["author"]})").Object(), "token");
  const std::string envelope(33u << 20, '"');  // 33 MiB of quotes, 66 MiB once JSON-escaped
  const std::string body = "{\"envelope\":" + Quote(envelope) + "}";
  ASSERT_GT(body.size(), 64u << 20);
  ASSERT_LT(body.size(), 96u << 20);
  Response r = Op("uploadBundle", alice, 400, {}, body);
  EXPECT_EQ(e2e::ErrorCode(r), "invalid_request") << r.body.substr(0, 300);
}

}  // namespace
}  // namespace rf
