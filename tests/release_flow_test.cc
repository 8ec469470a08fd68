// End-to-end tests of issue 4's acceptance: the real `ringfence server` binary on 127.0.0.1:0 with
// a fresh data directory (real SQLite files), principals with real Ed25519 reviewer keys, and a
// few hundred simulated agents that enroll and check in over HTTP (keep-alive, incrementing seq)
// in three strata. Every assertion reads a real response.
//
//   FullFlowReachesCompletedAndAuditVerifies  upload -> layer 1 -> approve x2 -> start -> waves ->
//                                             Completed; devices get install and report applied;
//                                             audit verify (API and offline CLI after SIGTERM)
//   Cf291RefusedAtUploadAgainstReportedFleet  CF291 refused once 7.11 agents report 20 inputs
//   ReviewAndRoleRefusals                     self-approval, start without quorum, agent token 403
//   HaltStopsNewExposureAtTheNextCheckin      operator halt mid-wave: no install afterwards
//
// The server runs with `--tick-ms 100 --poll-after 1` and plans with second-scale windows, so the
// whole file takes a few seconds; nothing asserts on timing (loops wait for states, bounded).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "server_harness.h"
#include "service/release_service.h"
#include "service/testing/fixtures.h"
#include "testing/test_util.h"

namespace rf {
namespace {

namespace json = boost::json;
using testing::ReadFileOrDie;
using testing::RingfenceBinary;
using testing::RunCommand;
using testing::TempDir;
using e2e::CheckinBody;
using e2e::AdoptSession;
using e2e::EnrollBody;
using e2e::ErrorCode;
using e2e::FleetStratum;
using e2e::HttpConnection;
using e2e::Int;
using e2e::Principal;
using e2e::Quote;
using e2e::Response;
using e2e::ServerProcess;
using e2e::SimDevice;
using e2e::Str;
using e2e::Trim;

constexpr char kChannel[] = "291";

// ----- the simulated fleet -----

// 300 devices in three strata; the first two run consumers that supply 20 inputs (CF291 crashes).
constexpr FleetStratum kStrata[] = {
    {"windows", "7.11", 20, 120},
    {"windows", "7.15", 20, 90},
    {"linux", "7.16", 21, 90},
};
using Device = SimDevice;

// What one check-in round saw.
struct RoundResult {
  std::vector<size_t> installs;  // devices answered with install
  int reverts = 0;
  int failures = 0;  // non-200 answers (each is reported by an EXPECT)
};

class SimulatedFleet {
 public:
  SimulatedFleet(int port, std::string agent_token)
      : conn_(port), bundles_(port), token_(std::move(agent_token)) {
    for (int s = 0; s < static_cast<int>(std::size(kStrata)); ++s) {
      for (int i = 0; i < kStrata[s].devices; ++i) {
        char id[32];
        std::snprintf(id, sizeof id, "dev-%d-%04d", s, i);
        Device d;
        d.id = id;
        d.stratum = s;
        devices_.push_back(std::move(d));
      }
    }
  }

  std::vector<Device>& devices() { return devices_; }

  // Enrolls every device, then one check-in each so the inventory holds them as reported.
  void EnrollAll() {
    for (Device& d : devices_) {
      Response r = conn_.Do("POST", "/v1/agent/enroll", token_, EnrollBody(d, kStrata[d.stratum]));
      ASSERT_EQ(r.status, 200) << d.id << ": " << r.body;
      EXPECT_EQ(Str(r.Object(), "device_id"), d.id);
      ASSERT_TRUE(AdoptSession(d, r)) << r.body;
    }
    RoundResult first = Round();
    EXPECT_EQ(first.failures, 0);
    EXPECT_TRUE(first.installs.empty());
  }

  // One check-in by each device (seq + 1), reporting what it runs and what it applied since the
  // last check-in. A device told to install fetches the bundle, checks that the envelope's payload
  // hashes to the named digest and that the signed release statement names it, and then runs it.
  RoundResult Round(const std::vector<size_t>* only = nullptr) {
    RoundResult out;
    const size_t n = only ? only->size() : devices_.size();
    for (size_t k = 0; k < n; ++k) {
      const size_t idx = only ? (*only)[k] : k;
      Device& d = devices_[idx];
      const std::string body = CheckinBody(d);
      d.applied.reset();
      Response r = conn_.Do("POST", "/v1/agent/checkin", d.session, body);
      if (r.status != 200) {
        ++out.failures;
        ADD_FAILURE() << d.id << " seq " << d.seq << ": " << r.status << " " << r.body;
        continue;
      }
      json::object o = r.Object();
      EXPECT_EQ(Int(o, "poll_after_s"), 1) << r.body;
      const json::value* ch = o.if_contains("channels");
      if (ch == nullptr || !ch->is_object()) {
        ADD_FAILURE() << "no channels object: " << r.body;
        ++out.failures;
        continue;
      }
      const json::value* dir = ch->as_object().if_contains(kChannel);
      if (dir == nullptr) continue;  // keep what you have
      const json::object& directive = dir->as_object();
      const std::string action = Str(directive, "action");
      if (action == "revert") {
        ++out.reverts;
        continue;
      }
      EXPECT_EQ(action, "install") << r.body;
      if (action != "install") continue;
      const std::string sha = Str(directive, "sha256");
      const int64_t version = Int(directive, "version");
      EXPECT_EQ(Str(directive, "bundle_url"), "/v1/bundles/" + sha);
      ExpectReleaseStatement(Str(directive, "release"), sha, version);
      if (!fetched_.count(sha)) {
        Response b = bundles_.Do("GET", "/v1/bundles/" + sha, token_);
        EXPECT_EQ(b.status, 200) << b.body;
        auto env = crypto::ParseEnvelope(b.body);
        EXPECT_TRUE(env.ok()) << env.status().ToString();
        if (env.ok()) {
          EXPECT_EQ(crypto::Sha256Hex(env->payload), sha);
        }
        fetched_.insert(sha);
      }
      d.current = {version, sha};
      d.applied = {version, sha};
      ++d.installs;
      out.installs.push_back(idx);
    }
    return out;
  }

 private:
  // The release statement: a DSSE envelope of an install naming this bundle, signed (its
  // signature is the agent's business; here its payload must name what the directive names).
  static void ExpectReleaseStatement(const std::string& text, const std::string& sha,
                                     int64_t version) {
    auto env = crypto::ParseEnvelope(text);
    ASSERT_TRUE(env.ok()) << env.status().ToString() << ": " << text;
    EXPECT_EQ(env->payload_type, "application/vnd.ringfence.release+json");
    EXPECT_FALSE(env->signatures.empty());
    json::object p = json::parse(env->payload).as_object();
    EXPECT_EQ(Str(p, "action"), "install");
    EXPECT_EQ(Str(p, "bundle_sha256"), sha);
    EXPECT_EQ(Str(p, "channel"), kChannel);
    EXPECT_EQ(Int(p, "version"), version);
  }

  HttpConnection conn_;
  HttpConnection bundles_;
  std::string token_;
  std::vector<Device> devices_;
  std::set<std::string> fetched_;
};

// ----- the test fixture: server, principals, policy, content type, fleet -----

class ReleaseFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.File("data"));
    ASSERT_GT(server_->port(), 0) << "server did not print its address";
    admin_ = Trim(ReadFileOrDie(dir_.File("data/admin.token")));
    agent_ = Trim(ReadFileOrDie(dir_.File("data/agent.token")));
    op_conn_ = std::make_unique<HttpConnection>(server_->port());

    // The author also holds the reviewer role and a registered key: only the author rule can
    // refuse their approval.
    author_ = CreatePrincipal("alice", {"author", "reviewer"}, true);
    rev1_ = CreatePrincipal("bob", {"reviewer"}, true);
    rev2_ = CreatePrincipal("carol", {"reviewer"}, true);
    operator_ = CreatePrincipal("oscar", {"operator"}, false);

    Response policy = Op("PUT", std::string("/v1/policies/") + kChannel, admin_,
                         R"({"approvals":2,"roles":["reviewer"]})");
    ASSERT_EQ(policy.status, 200) << policy.body;
    Response type = Op("POST", "/v1/content-types", admin_,
                       "{\"yaml\":" + Quote(service::testing::TypeYaml()) + "}");
    ASSERT_EQ(type.status, 200) << type.body;
    EXPECT_EQ(Str(type.Object(), "name"), "ipc_rule");

    fleet_ = std::make_unique<SimulatedFleet>(server_->port(), agent_);
    ASSERT_NO_FATAL_FAILURE(fleet_->EnrollAll());
    json::object f = Op("GET", "/v1/fleet", admin_).Object();
    ASSERT_EQ(Int(f, "devices"), 300) << json::serialize(f);
    EXPECT_EQ(f.at("strata").as_array().size(), 3u) << json::serialize(f);
  }

  Response Op(const std::string& method, const std::string& path, const std::string& token,
              const std::string& body = "") {
    return op_conn_->Do(method, path, token, body);
  }

  Principal CreatePrincipal(const std::string& name, const std::vector<std::string>& roles,
                            bool with_key) {
    return e2e::CreatePrincipal(*op_conn_, admin_, name, roles, with_key);
  }

  // Uploads an envelope as the author; returns the response.
  Response Upload(const std::string& envelope) {
    return Op("POST", "/v1/bundles", author_.token, "{\"envelope\":" + Quote(envelope) + "}");
  }

  // A good bundle (CF291 with position 20 wildcarded) uploaded and a release of it created under
  // `plan`; returns the release id.
  std::string UploadAndCreate(const std::string& plan, int64_t version) {
    const std::string envelope =
        service::testing::BuildEnvelope(service::testing::BundleSource(version, /*cf291=*/false));
    Response up = Upload(envelope);
    EXPECT_EQ(up.status, 201) << up.body;
    json::object u = up.Object();
    EXPECT_EQ(u.at("accepted"), json::value(true)) << up.body;
    sha_ = Str(u, "sha256");
    EXPECT_EQ(sha_, crypto::Sha256Hex(crypto::ParseEnvelope(envelope)->payload));
    // The stored layer-1 report: accepted, checked against the fleet the agents reported.
    Response rep = Op("GET", "/v1/bundle-reports/" + sha_, rev1_.token);
    EXPECT_EQ(rep.status, 200) << rep.body;
    EXPECT_EQ(Str(rep.Object().at("report").as_object(), "verdict"), "accept") << rep.body;
    Response cr = Op("POST", "/v1/releases", author_.token,
                     "{\"bundle_sha256\":" + Quote(sha_) + ",\"plan_yaml\":" + Quote(plan) + "}");
    EXPECT_EQ(cr.status, 201) << cr.body;
    json::object r = cr.Object();
    EXPECT_EQ(Str(r, "phase"), "AwaitingApproval") << cr.body;
    EXPECT_EQ(Int(r, "approvals_required"), 2);
    EXPECT_EQ(Str(r, "author"), "alice");
    return Str(r, "release_id");
  }

  // Signs the approval statement of docs/protocol.md over what GET /v1/releases/{id} serves (the
  // reviewer's CLI does the same) and submits it.
  Response Approve(const std::string& id, const Principal& p) {
    Response got = Op("GET", "/v1/releases/" + id, p.token);
    EXPECT_EQ(got.status, 200) << got.body;
    return Op("POST", "/v1/releases/" + id + "/approvals", p.token,
              e2e::SignedApprovalBody(got.Object(), p));
  }

  json::object Progress(const std::string& id) {
    Response r = Op("GET", "/v1/releases/" + id + "/progress", operator_.token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Object();
  }

  // Audit actions in order, checking that every entry links to the previous one.
  std::vector<std::string> AuditActions() {
    std::vector<std::string> actions;
    std::string prev_hash;
    int64_t after = 0;
    for (;;) {
      Response r = Op("GET", "/v1/audit?after=" + std::to_string(after) + "&limit=1000", admin_);
      EXPECT_EQ(r.status, 200) << r.body;
      const json::object page = r.Object();
      const json::array& entries = page.at("entries").as_array();
      if (entries.empty()) break;
      for (const json::value& v : entries) {
        const json::object& e = v.as_object();
        EXPECT_EQ(Int(e, "seq"), after + 1);
        if (!prev_hash.empty()) {
          EXPECT_EQ(Str(e, "prev_hash"), prev_hash) << "seq " << Int(e, "seq");
        }
        prev_hash = Str(e, "hash");
        EXPECT_EQ(prev_hash.size(), 64u);
        actions.push_back(Str(e, "action"));
        after = Int(e, "seq");
      }
    }
    return actions;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpConnection> op_conn_;
  std::string admin_, agent_, sha_;
  Principal author_, rev1_, rev2_, operator_;
  std::unique_ptr<SimulatedFleet> fleet_;
};

// Canary of 2 per stratum over 1 s, then everyone over 1 s; 1 s bakes; silence only after 60 s
// (the test's rounds are far faster), so the gate sees a healthy fleet.
std::string FastPlan() {
  return "plan: e2e-fast\n"
         "waves:\n"
         "  - {name: canary, devices: 1%, stratify: [os, agent_version], min_per_stratum: 2, "
         "dispatch: 1s, bake: 1s}\n"
         "  - {name: all, devices: 100%, dispatch: 1s, bake: 1s}\n"
         "gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 60s, holdback: 1%}\n"
         "on_failure: rollback\n";
}

// A canary of 5 per stratum paced over 20 s: halted as soon as it has exposed someone, long
// before its targets are all exposed.
std::string SlowCanaryPlan() {
  return "plan: e2e-slow-canary\n"
         "waves:\n"
         "  - {name: canary, devices: 1%, stratify: [os, agent_version], min_per_stratum: 5, "
         "dispatch: 20s, bake: 1s}\n"
         "  - {name: all, devices: 100%, dispatch: 1s, bake: 1s}\n"
         "gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 600s, holdback: "
         "1%}\n"
         "on_failure: rollback\n";
}

TEST_F(ReleaseFlowTest, FullFlowReachesCompletedAndAuditVerifies) {
  const std::string id = UploadAndCreate(FastPlan(), 1292);
  ASSERT_FALSE(id.empty());

  Response a1 = Approve(id, rev1_);
  ASSERT_EQ(a1.status, 200) << a1.body;
  EXPECT_EQ(Str(a1.Object(), "phase"), "AwaitingApproval");
  EXPECT_EQ(Int(a1.Object(), "approvals_counted"), 1);
  Response a2 = Approve(id, rev2_);
  ASSERT_EQ(a2.status, 200) << a2.body;
  EXPECT_EQ(Str(a2.Object(), "phase"), "Ready");
  EXPECT_EQ(Int(a2.Object(), "approvals_counted"), 2);
  // The approvals are served to agents, signed by the reviewers' keys.
  Response apprs = Op("GET", "/v1/bundles/" + sha_ + "/approvals", agent_);
  ASSERT_EQ(apprs.status, 200) << apprs.body;
  std::set<std::string> signers;
  const json::object approvals = apprs.Object();
  for (const json::value& v : approvals.at("approvals").as_array()) {
    ASSERT_TRUE(v.is_string()) << apprs.body;
    auto env = crypto::ParseEnvelope(v.as_string());
    ASSERT_TRUE(env.ok()) << env.status().ToString() << ": " << v.as_string();
    for (const Principal* p : {&rev1_, &rev2_}) {
      bool verified = false;
      for (const auto& sig : env->signatures) {
        if (sig.keyid == p->key->KeyId()) {
          verified = crypto::VerifyEnvelope(*env, p->key->public_key()).ok();
        }
      }
      if (verified) signers.insert(p->name);
    }
  }
  EXPECT_TRUE(signers.count("bob") && signers.count("carol")) << apprs.body;

  Response start = Op("POST", "/v1/releases/" + id + "/start", operator_.token, "{}");
  ASSERT_EQ(start.status, 200) << start.body;
  EXPECT_EQ(Str(start.Object().at("release").as_object(), "phase"), "Dispatching") << start.body;

  // Devices check in round after round until the release completes.
  std::string phase;
  int64_t installs = 0;
  std::set<int64_t> waves_seen;
  std::set<std::string> phases_seen;
  int64_t max_exposed = 0, max_applied = 0;
  for (int round = 0; round < 400 && phase != "Completed"; ++round) {
    RoundResult rr = fleet_->Round();
    ASSERT_EQ(rr.failures, 0);
    EXPECT_EQ(rr.reverts, 0);
    installs += static_cast<int64_t>(rr.installs.size());
    json::object p = Progress(id);
    phase = Str(p, "phase");
    phases_seen.insert(phase);
    waves_seen.insert(Int(p, "wave"));
    ASSERT_TRUE(phase == "Dispatching" || phase == "Baking" || phase == "Completed")
        << "unexpected: " << json::serialize(p);
    // The controller's live view (until it stops tracking the finished release) lags the
    // check-ins by at most a tick: never more exposed than were told to install.
    if (p.at("progress").is_object()) {
      const json::object& prog = p.at("progress").as_object();
      EXPECT_LE(Int(prog, "exposed_devices"), installs) << json::serialize(p);
      EXPECT_LE(Int(prog, "applied_devices"), Int(prog, "exposed_devices"));
      EXPECT_EQ(Int(prog, "harmed_devices"), 0);
      EXPECT_EQ(Int(prog, "eligible_devices"), 300);
      max_exposed = std::max(max_exposed, Int(prog, "exposed_devices"));
      max_applied = std::max(max_applied, Int(prog, "applied_devices"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(phase, "Completed");
  // canary, all, and the plan's holdback, which is released last.
  EXPECT_TRUE(waves_seen.count(0) && waves_seen.count(1) && waves_seen.count(2));
  EXPECT_TRUE(phases_seen.count("Baking"));

  // One more round reports the last applies; then every device's state is as the server says.
  // Its installs count too: a holdback device may check in for the first time only now (seen under
  // ASan, where rounds are slower than the controller's ticks).
  RoundResult last = fleet_->Round();
  ASSERT_EQ(last.failures, 0);
  EXPECT_EQ(last.reverts, 0);
  installs += static_cast<int64_t>(last.installs.size());
  int devices_running = 0, per_stratum[3] = {0, 0, 0};
  for (const Device& d : fleet_->devices()) {
    EXPECT_LE(d.installs, 1) << d.id << " was told to install twice";
    if (d.current) {
      ++devices_running;
      ++per_stratum[d.stratum];
      EXPECT_EQ(d.current->first, 1292);
      EXPECT_EQ(d.current->second, sha_);
    }
  }
  EXPECT_EQ(devices_running, installs);
  // Everyone, the holdback last.
  EXPECT_EQ(devices_running, 300);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(per_stratum[s], kStrata[s].devices) << "stratum " << s;
  EXPECT_GE(max_exposed, 200);
  EXPECT_GE(max_applied, 1) << "applied reports reach the controller's view";
  json::object done = Progress(id);
  EXPECT_EQ(done.at("finished"), json::value(true)) << json::serialize(done);
  // Nothing new for anyone after completion.
  RoundResult after = fleet_->Round();
  EXPECT_TRUE(after.installs.empty());

  // The audit chain: on the server, then offline on the SQLite file after a clean shutdown.
  const std::vector<std::string> actions = AuditActions();
  for (const char* a : {"principal.bootstrap", "principal.create", "policy.set", "content_type.add",
                        "bundle.upload", "release.create", "release.approve", "release.approved",
                        "release.start"}) {
    EXPECT_NE(std::find(actions.begin(), actions.end(), a), actions.end()) << a;
  }
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "release.approve"), 2);
  EXPECT_LT(std::find(actions.begin(), actions.end(), "release.approved"),
            std::find(actions.begin(), actions.end(), "release.start"));
  Response verify = Op("GET", "/v1/audit/verify", admin_);
  ASSERT_EQ(verify.status, 200) << verify.body;
  json::object v = verify.Object();
  EXPECT_EQ(v.at("ok"), json::value(true)) << verify.body;
  EXPECT_EQ(Int(v, "entries"), static_cast<int64_t>(actions.size()));
  const int64_t head_seq = Int(v.at("head").as_object(), "seq");
  const std::string head_hash = Str(v.at("head").as_object(), "hash");
  EXPECT_GE(head_seq, static_cast<int64_t>(actions.size()));

  op_conn_.reset();
  ASSERT_EQ(server_->Terminate(), 0);
  testing::CommandResult offline =
      RunCommand({RingfenceBinary(), "audit", "verify", "--data", dir_.File("data")});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;
  EXPECT_NE(offline.out.find("audit log verified: "), std::string::npos) << offline.out;
  EXPECT_NE(offline.out.find("head seq " + std::to_string(head_seq)), std::string::npos)
      << offline.out;
  EXPECT_NE(offline.out.find(head_hash.substr(0, 16)), std::string::npos) << offline.out;
}

TEST_F(ReleaseFlowTest, Cf291RefusedAtUploadAgainstReportedFleet) {
  // Channel File 291 as shipped: item ipc-0003 uses input position 20, which the 7.11 and 7.15
  // agents (reported above: 20 inputs) do not supply.
  const std::string envelope = service::testing::BuildEnvelope(
      service::testing::ReadSource("samples/content/cf291.bundle.yaml"));
  Response up = Upload(envelope);
  ASSERT_EQ(up.status, 400) << up.body;
  EXPECT_EQ(ErrorCode(up), "bundle_rejected");
  json::object o = up.Object();
  EXPECT_EQ(o.at("accepted"), json::value(false));
  EXPECT_GE(Int(o, "errors"), 1);
  const std::string report = json::serialize(o.at("report"));
  EXPECT_EQ(Str(o.at("report").as_object(), "verdict"), "reject");
  EXPECT_NE(report.find("ipc-0003"), std::string::npos) << report;
  EXPECT_NE(report.find("7.11"), std::string::npos) << report;
  // Nothing stored.
  Response list = Op("GET", "/v1/bundles", author_.token);
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.Object().at("bundles").as_array().empty()) << list.body;
  const std::string sha = crypto::Sha256Hex(crypto::ParseEnvelope(envelope)->payload);
  EXPECT_EQ(Op("GET", "/v1/bundle-reports/" + sha, author_.token).status, 404);
  EXPECT_EQ(Op("GET", "/v1/bundles/" + sha, agent_).status, 404);
}

TEST_F(ReleaseFlowTest, ReviewAndRoleRefusals) {
  const std::string id = UploadAndCreate(FastPlan(), 1300);
  ASSERT_FALSE(id.empty());

  // (c) The author holds the reviewer role and a registered key, and still cannot approve.
  Response self = Approve(id, author_);
  EXPECT_EQ(self.status, 403) << self.body;
  EXPECT_EQ(ErrorCode(self), "forbidden");
  EXPECT_NE(self.body.find("authored"), std::string::npos) << self.body;

  // Starting without the quorum: none, then one of two.
  Response s0 = Op("POST", "/v1/releases/" + id + "/start", operator_.token, "{}");
  EXPECT_EQ(s0.status, 409) << s0.body;
  EXPECT_EQ(ErrorCode(s0), "quorum_missing");
  ASSERT_EQ(Approve(id, rev1_).status, 200);
  Response s1 = Op("POST", "/v1/releases/" + id + "/start", operator_.token, "{}");
  EXPECT_EQ(s1.status, 409) << s1.body;
  EXPECT_EQ(ErrorCode(s1), "quorum_missing");
  // The same reviewer again does not make two.
  Response again = Approve(id, rev1_);
  EXPECT_EQ(again.status, 409) << again.body;
  json::object r = Op("GET", "/v1/releases/" + id, operator_.token).Object();
  EXPECT_EQ(Str(r, "phase"), "AwaitingApproval");
  EXPECT_EQ(Int(r, "approvals_counted"), 1);

  // (d) The agent token on operator endpoints: 403 forbidden_role, and nothing happens.
  ASSERT_EQ(Approve(id, rev2_).status, 200);
  struct Call {
    const char* method;
    std::string path;
    std::string body;
  };
  const std::vector<Call> calls = {
      {"POST", "/v1/releases/" + id + "/start", "{}"},
      {"POST", "/v1/releases/" + id + "/halt", R"({"reason":"agent"})"},
      {"POST", "/v1/releases/" + id + "/approvals", R"({"envelope":"{}"})"},
      {"POST", "/v1/releases", "{\"bundle_sha256\":" + Quote(sha_) + ",\"plan_yaml\":\"x\"}"},
      {"POST", "/v1/bundles", R"({"envelope":"{}"})"},
      {"POST", "/v1/principals", R"({"name":"mallory","roles":["admin"]})"},
      {"PUT", std::string("/v1/policies/") + kChannel, R"({"approvals":1,"roles":["agent"]})"},
      {"GET", "/v1/releases/" + id, ""},
      {"GET", "/v1/audit", ""},
      {"GET", "/v1/fleet", ""},
  };
  for (const Call& c : calls) {
    Response resp = Op(c.method, c.path, agent_, c.body);
    EXPECT_EQ(resp.status, 403) << c.method << " " << c.path << ": " << resp.body;
    EXPECT_EQ(ErrorCode(resp), "forbidden_role") << resp.body;
  }
  r = Op("GET", "/v1/releases/" + id, operator_.token).Object();
  EXPECT_EQ(Str(r, "phase"), "Ready") << "the agent's start and halt changed nothing";
  // Other roles are refused too: a reviewer cannot start, the author cannot halt.
  EXPECT_EQ(Op("POST", "/v1/releases/" + id + "/start", rev1_.token, "{}").status, 403);
  // And with the quorum the operator can.
  Response ok = Op("POST", "/v1/releases/" + id + "/start", operator_.token, "{}");
  EXPECT_EQ(ok.status, 200) << ok.body;
  Response author_halt =
      Op("POST", "/v1/releases/" + id + "/halt", author_.token, R"({"reason":"not mine to halt"})");
  EXPECT_EQ(author_halt.status, 403) << author_halt.body;
}

TEST_F(ReleaseFlowTest, HaltStopsNewExposureAtTheNextCheckin) {
  const std::string id = UploadAndCreate(SlowCanaryPlan(), 1301);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Approve(id, rev1_).status, 200);
  ASSERT_EQ(Approve(id, rev2_).status, 200);
  ASSERT_EQ(Op("POST", "/v1/releases/" + id + "/start", operator_.token, "{}").status, 200);

  // Rounds until the paced canary has exposed someone.
  std::set<size_t> exposed;
  for (int round = 0; round < 600 && exposed.empty(); ++round) {
    RoundResult rr = fleet_->Round();
    ASSERT_EQ(rr.failures, 0);
    exposed.insert(rr.installs.begin(), rr.installs.end());
    if (exposed.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(exposed.empty()) << "the canary never exposed a device";

  // The canary has targets it has not yet exposed (exposure happens only at check-ins, and none
  // happen between this read and the halt).
  json::object p = Progress(id);
  ASSERT_TRUE(p.at("progress").is_object()) << json::serialize(p);
  const json::array& waves = p.at("progress").as_object().at("waves").as_array();
  ASSERT_FALSE(waves.empty());
  const int64_t target = Int(waves[0].as_object(), "target_devices");
  const int64_t exposed_n = Int(waves[0].as_object(), "exposed_devices");
  EXPECT_GT(target, static_cast<int64_t>(exposed.size())) << json::serialize(p);
  EXPECT_LE(exposed_n, static_cast<int64_t>(exposed.size())) << json::serialize(p);

  Response halt = Op("POST", "/v1/releases/" + id + "/halt", operator_.token,
                     R"({"reason":"e2e: operator halt mid-canary"})");
  ASSERT_EQ(halt.status, 200) << halt.body;
  EXPECT_EQ(Str(halt.Object().at("release").as_object(), "phase"), "Halted") << halt.body;

  // The very next check-in of every device that has not been exposed (which includes the
  // canary's not-yet-exposed targets) gets no install; nor does anyone in the rounds after.
  std::vector<size_t> unexposed;
  for (size_t i = 0; i < fleet_->devices().size(); ++i) {
    if (!exposed.count(i)) unexposed.push_back(i);
  }
  RoundResult next = fleet_->Round(&unexposed);
  ASSERT_EQ(next.failures, 0);
  EXPECT_TRUE(next.installs.empty()) << next.installs.size() << " installs after the halt";
  for (int round = 0; round < 5; ++round) {
    RoundResult rr = fleet_->Round();
    ASSERT_EQ(rr.failures, 0);
    EXPECT_TRUE(rr.installs.empty()) << "round " << round << " after the halt";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  json::object after = Op("GET", "/v1/releases/" + id, operator_.token).Object();
  EXPECT_TRUE(Str(after, "phase") == "Halted" || Str(after, "phase") == "RolledBack")
      << json::serialize(after);
  EXPECT_EQ(Int(after, "wave"), 0) << "a halted release never advances";
  // A halted release cannot be resumed or started again.
  EXPECT_EQ(Op("POST", "/v1/releases/" + id + "/resume", operator_.token, "{}").status, 409);
  EXPECT_EQ(Op("POST", "/v1/releases/" + id + "/start", operator_.token, "{}").status, 409);
  const std::vector<std::string> actions = AuditActions();
  EXPECT_NE(std::find(actions.begin(), actions.end(), "release.halt"), actions.end());
}

}  // namespace
}  // namespace rf
