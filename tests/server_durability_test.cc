// Issue 4's durability acceptance against the REAL `ringfence server`: the binary on 127.0.0.1:0
// with a data directory of real SQLite files is `kill -9`ed at random points (>= 50 times) while
// rollouts are in progress, and restarted on the same directory (same tokens from DATA/*.token).
//
// Between kills the test drives real API traffic on one keep-alive connection - bundle uploads,
// release creation, real Ed25519 approvals, start, pause/resume, halt, rollback - and simulated
// agents check in over HTTP so the controller advances waves and writes its own transitions and
// audit entries. Each release gets a fate (halt at some wave, complete, or halt then roll back).
// A kill lands either after a random delay (0-300 ms, from a timer thread: inside controller ticks,
// commits and request handling) or immediately after the k-th acknowledgement of the trial - an
// operator mutation (inside the change listener and the controller tick it wakes) or a controller
// transition just served (inside the controller's tick).
//
// Every 2xx answer is an acknowledgement of committed state (the server answers only after the
// commit and reads only see committed changes), so the test folds every answer into its model:
//   - approvals: every acknowledged (or served) approval is listed by GET /v1/releases/{id};
//   - state: a release's wave never goes back; a quorum or start is never lost; Completed and
//     RolledBack are final; a release acknowledged as Halted stays Halted (or RolledBack after the
//     test asked for a rollback) at the acknowledged wave; a Paused one stays Paused at its wave
//     unless the test resumed, halted or rolled it back;
//   - audit: every entry ever served (seq -> hash) is unchanged, every acknowledged operation's
//     entry (action, subject, actor, reason) is in the log in acknowledgement order, entries link
//     by prev_hash, and GET /v1/audit/verify is ok;
//   - a halted or rolled-back release is never offered to a device (install) at any check-in.
// After every restart all of this is checked (before any new traffic); at the end the fleet keeps
// checking in for ~1.5 s of controller ticks, the server gets SIGTERM and `ringfence audit verify
// --data DIR` checks the chain offline. Any violation fails loudly with the seed and the trial.
//
// The seed (from the clock unless RF_SERVER_DURABILITY_SEED is set) is printed; it replays the
// random choices (kill modes, delays, fates, operations), not the scheduling.
// RF_SERVER_DURABILITY_KILLS (default 60, minimum 50 for the acceptance) sets the number of kills;
// RF_SERVER_DURABILITY_DELAY_SCALE (default 1) stretches the kill delays (slow builds such as
// ASan); RF_SERVER_DURABILITY_VERBOSE=1 prints a line per trial. CheckerDetectsForgedExpectations
// proves the checks can fail: after a real kill and restart, forged acknowledgements (an approval,
// an audit entry's hash, an entry beyond the log, an operation, a halted wave, a completion, a
// wave) are each reported.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "server_harness.h"
#include "store/sqlite_store.h"
#include "service/testing/fixtures.h"
#include "testing/test_util.h"

namespace rf::e2e {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kChannel[] = "291";

// Canary of 2 per stratum, then everyone, then the holdback; second-scale windows so a release
// completes within a few seconds of wall time across kills. Silence only after 600 s: the gate
// sees a healthy fleet, so every halt is the test's.
std::string FastPlan() {
  return "plan: durability-fast\n"
         "waves:\n"
         "  - {name: canary, devices: 1%, stratify: [os, agent_version], min_per_stratum: 2, "
         "dispatch: 500ms, bake: 500ms}\n"
         "  - {name: all, devices: 100%, dispatch: 500ms, bake: 500ms}\n"
         "gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 600s, holdback: "
         "1%}\n"
         "on_failure: rollback\n";
}

// ----- the simulated fleet (tolerates a dead server and a forgotten enrollment) -----

constexpr FleetStratum kStrata[] = {
    {"windows", "7.11", 20, 12},
    {"windows", "7.15", 20, 12},
    {"linux", "7.16", 21, 12},
};
using Device = SimDevice;

class Fleet {
 public:
  Fleet() {
    for (int s = 0; s < static_cast<int>(std::size(kStrata)); ++s) {
      for (int i = 0; i < kStrata[s].devices; ++i) {
        Device d;
        d.id = "dev-" + std::to_string(s) + "-" + std::to_string(i);
        d.stratum = s;
        devices_.push_back(std::move(d));
      }
    }
  }
  void Connect(int port, std::string agent_token) {
    conn_ = std::make_unique<HttpConnection>(port);
    token_ = std::move(agent_token);
  }

  // Enrolls (or re-enrolls) one device. The answer's status.
  int Enroll(Device& d) {
    Response r = conn_->Do("POST", "/v1/agent/enroll", token_, EnrollBody(d, kStrata[d.stratum]));
    if (r.status == 200) AdoptSession(d, r);
    return r.status;
  }

  // One check-in by every device. Devices the server forgot (a kill before the inventory flush:
  // 404 unknown_device) enroll again, as real agents do. Records the digests offered for install
  // in `installs` and unexpected answers in `errors`. False if the server is gone.
  bool Round(std::set<std::string>* installs, std::vector<std::string>* errors) {
    for (Device& d : devices_) {
      Response r;
      if (d.session.empty()) {  // a new device enrolls before its first check-in
        const int enrolled = Enroll(d);
        if (enrolled == 0) return false;
        if (enrolled != 200) errors->push_back(d.id + ": enroll answered " + std::to_string(enrolled));
      }
      for (int attempt = 0; attempt < 2; ++attempt) {
        r = conn_->Do("POST", "/v1/agent/checkin", d.session, CheckinBody(d));
        if (r.status == 0) return false;
        if (r.status != 404 || ErrorCode(r) != "unknown_device") break;
        const int enrolled = Enroll(d);
        if (enrolled == 0) return false;
        if (enrolled != 200)
          errors->push_back(d.id + ": enroll answered " + std::to_string(enrolled));
      }
      if (r.status != 200) {
        errors->push_back(d.id + " check-in seq " + std::to_string(d.seq) + ": " +
                          std::to_string(r.status) + " " + r.body);
        continue;
      }
      d.applied.reset();
      const json::object o = r.Object();
      const json::value* ch = o.if_contains("channels");
      const json::value* dir =
          ch && ch->is_object() ? ch->as_object().if_contains(kChannel) : nullptr;
      if (dir == nullptr || !dir->is_object()) continue;
      const json::object& directive = dir->as_object();
      const std::string action = Str(directive, "action");
      const std::string sha = Str(directive, "sha256");
      const int64_t version = Int(directive, "version");
      if (action == "install") {
        installs->insert(sha);
        d.current = {version, sha};
        d.applied = {version, sha};
      } else if (action == "revert" && !sha.empty()) {
        d.current = {version, sha};
      }
    }
    return true;
  }

 private:
  std::unique_ptr<HttpConnection> conn_;
  std::string token_;
  std::vector<Device> devices_;
};

// ----- what was acknowledged -----

enum class Fate { kHalt, kComplete, kHaltThenRollback };

struct ReleaseModel {
  std::string id, sha;
  Fate fate = Fate::kComplete;
  int halt_at_wave = 0;
  std::string phase;  // last seen
  std::set<std::string> approvals;
  int max_wave = -1;
  int rank = 0;  // 1: quorum acknowledged (not AwaitingApproval), 2: started
  bool completed = false, rolled_back = false;
  std::optional<int> halted_wave, paused_wave;
  // Sent since the last acknowledged state; the kill may have cut the answer (resolved by the
  // first read after the restart).
  bool halt_sent = false, rollback_sent = false, resume_sent = false;
  int pauses = 0;
  bool Done() const {
    return completed || rolled_back || (halted_wave && fate != Fate::kHaltThenRollback);
  }
};

struct ExpectedAudit {
  std::string action, subject, actor, reason;  // reason "" matches any
};

struct Acked {
  std::vector<ReleaseModel> releases;         // in creation order
  std::map<int64_t, std::string> audit_seen;  // seq -> hash, from every audit page served
  std::vector<ExpectedAudit> operations;      // acknowledged operations' entries, in order
  int64_t acks = 0;                           // acknowledged mutations
};

enum class Outcome { kAcked, kRefused, kDead };

// One server data directory, the principals and the fleet, and everything acknowledged so far.
class DurabilityRun {
 public:
  explicit DurabilityRun(uint64_t seed) : seed_(seed), rnd_(seed) {
    options_.stderr_path = dir_.File("server.log");
  }

  Acked& acked() { return acked_; }
  const std::vector<std::string>& violations() const { return violations_; }
  void clear_violations() { violations_.clear(); }
  // Also counts the trials in a row that began with the newest release where the previous one
  // began (same phase and wave): a restart resets the controller's bake-end evidence, so on a slow
  // machine (ASan) a release can sit in one wave for many trials. The workload's operator then
  // halts it, as a person would, so the run still covers halts and new releases.
  void set_trial(int t) {
    trial_ = t;
    std::tuple<std::string, std::string, int> now;
    if (!acked_.releases.empty()) {
      const ReleaseModel& m = acked_.releases.back();
      now = {m.id, m.phase, m.max_wave};
    }
    stuck_trials_ = now == last_trial_start_ ? stuck_trials_ + 1 : 0;
    last_trial_start_ = now;
  }
  std::string Where() const {
    return "seed " + std::to_string(seed_) + " trial " + std::to_string(trial_);
  }
  std::mt19937_64& rnd() { return rnd_; }
  ServerProcess& server() { return *server_; }
  std::string data() const { return dir_.File("data"); }
  int refusals() const { return refusals_; }

  // Starts the server on the data directory (first start creates it) and connects.
  bool StartServer() {
    server_ = std::make_unique<ServerProcess>(data(), options_);
    if (server_->port() <= 0) {
      Violation("the server did not start (see " + options_.stderr_path + ")");
      return false;
    }
    const std::string admin = Trim(testing::ReadFileOrDie(dir_.File("data/admin.token")));
    const std::string agent = Trim(testing::ReadFileOrDie(dir_.File("data/agent.token")));
    if (!admin_.empty() && (admin != admin_ || agent != agent_)) {
      Violation("DATA/admin.token or DATA/agent.token changed across the restart");
    }
    admin_ = admin;
    agent_ = agent;
    op_ = std::make_unique<HttpConnection>(server_->port());
    fleet_.Connect(server_->port(), agent_);
    return true;
  }

  // First start: principals with real reviewer keys, a 2-of-reviewers policy, the content type
  // and the enrolled fleet (before any kill).
  void Setup() {
    ASSERT_TRUE(StartServer());
    alice_ = CreatePrincipal(*op_, admin_, "alice", {"author"}, false);
    bob_ = CreatePrincipal(*op_, admin_, "bob", {"reviewer"}, true);
    carol_ = CreatePrincipal(*op_, admin_, "carol", {"reviewer"}, true);
    oscar_ = CreatePrincipal(*op_, admin_, "oscar", {"operator"}, false);
    Response policy = op_->Do("PUT", std::string("/v1/policies/") + kChannel, admin_,
                              R"({"approvals":2,"roles":["reviewer"]})");
    ASSERT_EQ(policy.status, 200) << policy.body;
    Response type = op_->Do("POST", "/v1/content-types", admin_,
                            "{\"yaml\":" + Quote(service::testing::TypeYaml()) + "}");
    ASSERT_EQ(type.status, 200) << type.body;
    std::set<std::string> installs;
    std::vector<std::string> errors;
    ASSERT_TRUE(fleet_.Round(&installs, &errors));  // enrolls everyone (404 -> enroll)
    ASSERT_TRUE(errors.empty()) << errors[0];
  }

  // ----- operations (each folds its answer into the model) -----

  // Uploads a fresh bundle version and creates a release of it with a random fate.
  Outcome UploadAndCreate() {
    const int64_t version = ++next_version_;
    const std::string envelope =
        service::testing::BuildEnvelope(service::testing::BundleSource(version, false));
    Response up =
        op_->Do("POST", "/v1/bundles", alice_.token, "{\"envelope\":" + Quote(envelope) + "}");
    if (!Answered(up, "upload")) return up.status == 0 ? Outcome::kDead : Outcome::kRefused;
    const std::string sha = Str(up.Object(), "sha256");
    Ack({"bundle.upload", "bundle " + sha, "alice", ""});
    if (AfterAck()) return Outcome::kDead;
    Response cr =
        op_->Do("POST", "/v1/releases", alice_.token,
                "{\"bundle_sha256\":" + Quote(sha) + ",\"plan_yaml\":" + Quote(FastPlan()) + "}");
    if (!Answered(cr, "create")) return cr.status == 0 ? Outcome::kDead : Outcome::kRefused;
    ReleaseModel m;
    m.id = Str(cr.Object(), "release_id");
    m.sha = sha;
    const uint64_t f = rnd_() % 3;
    m.fate = f == 0 ? Fate::kHalt : f == 1 ? Fate::kComplete : Fate::kHaltThenRollback;
    m.halt_at_wave = static_cast<int>(rnd_() % 2);
    acked_.releases.push_back(m);
    Observe(acked_.releases.back(), cr.Object(), "create");
    Ack({"release.create", m.id, "alice", ""});
    return AfterAck() ? Outcome::kDead : Outcome::kAcked;
  }

  Outcome Approve(ReleaseModel& m) {
    const Principal& p = m.approvals.count("bob") ? carol_ : bob_;
    Response got = op_->Do("GET", "/v1/releases/" + m.id, p.token);
    if (!Answered(got, "get for approval"))
      return got.status == 0 ? Outcome::kDead : Outcome::kRefused;
    Observe(m, got.Object(), "get for approval");
    if (m.phase != "AwaitingApproval") return Outcome::kRefused;
    Response a = op_->Do("POST", "/v1/releases/" + m.id + "/approvals", p.token,
                         SignedApprovalBody(got.Object(), p));
    if (!Answered(a, "approve")) return a.status == 0 ? Outcome::kDead : Outcome::kRefused;
    m.approvals.insert(p.name);
    Observe(m, a.Object(), "approve");
    Ack({"release.approve", m.id, p.name, ""});
    return AfterAck() ? Outcome::kDead : Outcome::kAcked;
  }

  // start, pause, resume, halt or rollback as the operator.
  Outcome Operate(ReleaseModel& m, const std::string& verb) {
    const std::string reason = verb + " " + m.id + " " + Where() + " op " + std::to_string(++ops_);
    if (verb == "halt") m.halt_sent = true;
    if (verb == "rollback") m.rollback_sent = true;
    if (verb == "resume") m.resume_sent = true;
    const bool with_reason = verb == "pause" || verb == "halt" || verb == "rollback";
    Response r = op_->Do("POST", "/v1/releases/" + m.id + "/" + verb, oscar_.token,
                         with_reason ? "{\"reason\":" + Quote(reason) + "}" : "{}");
    if (!Answered(r, verb)) return r.status == 0 ? Outcome::kDead : Outcome::kRefused;
    const json::object answer = r.Object();
    const json::value* rel = answer.if_contains("release");
    if (rel == nullptr || !rel->is_object()) {
      Violation(verb + " " + m.id + " answered without a release: " + r.body);
      return Outcome::kRefused;
    }
    Observe(m, rel->as_object(), verb.c_str());
    if (verb == "pause") ++m.pauses;
    Ack({"release." + verb, m.id, "oscar", with_reason ? reason : ""});
    return AfterAck() ? Outcome::kDead : Outcome::kAcked;
  }

  // A check-in round: nobody may be offered a halted or rolled-back release.
  bool Round() {
    std::set<std::string> installs;
    std::vector<std::string> errors;
    const bool alive = fleet_.Round(&installs, &errors);
    for (const std::string& e : errors) Violation("unexpected check-in answer: " + e);
    for (const ReleaseModel& m : acked_.releases) {
      if ((m.halted_wave || m.rolled_back) && installs.count(m.sha)) {
        Violation(m.id + " is " + (m.rolled_back ? "RolledBack" : "Halted") +
                  " but a check-in was offered install of it");
      }
    }
    return alive;
  }

  bool ReadRelease(ReleaseModel& m, const char* where) {
    Response r = op_->Do("GET", "/v1/releases/" + m.id, oscar_.token);
    if (r.status == 0) return false;
    if (r.status != 200) {
      Violation("acknowledged release " + m.id + " not served (" + where +
                "): " + std::to_string(r.status) + " " + r.body);
      return true;
    }
    Observe(m, r.Object(), where);
    return true;
  }

  // Reads the audit log after `after_seq`: every entry served must equal the one served before
  // (if any) and link to its predecessor. Returns the entries (empty on transport failure, with
  // *alive false).
  std::vector<json::object> ReadAudit(int64_t after_seq, bool* alive) {
    std::vector<json::object> out;
    *alive = true;
    int64_t after = after_seq;
    std::string prev_hash;
    if (after > 0) {
      auto it = acked_.audit_seen.find(after);
      if (it != acked_.audit_seen.end()) prev_hash = it->second;
    }
    for (;;) {
      Response r =
          op_->Do("GET", "/v1/audit?after=" + std::to_string(after) + "&limit=1000", admin_);
      if (r.status == 0) {
        *alive = false;
        return out;
      }
      if (r.status != 200) {
        Violation("GET /v1/audit: " + std::to_string(r.status) + " " + r.body);
        return out;
      }
      const json::object page = r.Object();
      const json::value* entries = page.if_contains("entries");
      if (entries == nullptr || !entries->is_array() || entries->as_array().empty()) break;
      for (const json::value& v : entries->as_array()) {
        const json::object& e = v.as_object();
        const int64_t seq = Int(e, "seq");
        const std::string hash = Str(e, "hash");
        if (seq != after + 1)
          Violation("audit entry " + std::to_string(seq) + " after " + std::to_string(after));
        if (!prev_hash.empty() && Str(e, "prev_hash") != prev_hash) {
          Violation("audit entry " + std::to_string(seq) + " does not link to its predecessor");
        }
        auto seen = acked_.audit_seen.find(seq);
        if (seen != acked_.audit_seen.end() && seen->second != hash) {
          Violation("audit entry " + std::to_string(seq) + " differs from the one served before");
        }
        acked_.audit_seen[seq] = hash;
        prev_hash = hash;
        after = seq;
        out.push_back(e);
      }
    }
    return out;
  }

  // After a restart, before any new traffic: everything acknowledged is there.
  void VerifyAfterRestart() {
    for (ReleaseModel& m : acked_.releases) {
      if (!ReadRelease(m, "after restart")) {
        Violation("the restarted server died during verification");
        return;
      }
      // The operation the kill cut is resolved now: what the read showed is what happened.
      if (m.phase != "Halted") m.halt_sent = false;
      if (m.phase != "RolledBack") m.rollback_sent = false;
      if (m.phase == "Paused") m.resume_sent = false;
    }
    VerifyAuditLog();
  }

  // The whole log: every entry served before is unchanged, every acknowledged operation is in it
  // in order, and the server's verification is ok over exactly these entries.
  void VerifyAuditLog() {
    bool alive = true;
    const std::vector<json::object> entries = ReadAudit(0, &alive);
    if (!alive) {
      Violation("the server died during audit verification");
      return;
    }
    for (const auto& [seq, hash] : acked_.audit_seen) {
      if (seq > static_cast<int64_t>(entries.size())) {
        Violation("audit entry " + std::to_string(seq) + " (served before) lost: the log has " +
                  std::to_string(entries.size()) + " entries");
        break;
      }
    }
    actions_.clear();
    for (const json::object& e : entries) ++actions_[Str(e, "action")];
    size_t k = 0;
    for (const json::object& e : entries) {
      if (k == acked_.operations.size()) break;
      const ExpectedAudit& x = acked_.operations[k];
      const json::value* d = e.if_contains("details");
      const std::string reason = d && d->is_object() ? Str(d->as_object(), "reason") : "";
      if (Str(e, "action") == x.action && Str(e, "subject") == x.subject &&
          Str(e, "actor") == x.actor && (x.reason.empty() || reason == x.reason)) {
        ++k;
      }
    }
    if (k < acked_.operations.size()) {
      const ExpectedAudit& x = acked_.operations[k];
      Violation("acknowledged operation " + x.action + " " + x.subject + " by " + x.actor +
                (x.reason.empty() ? "" : " (" + x.reason + ")") +
                " missing from the audit log (or out of order); " +
                std::to_string(acked_.operations.size() - k) + " of " +
                std::to_string(acked_.operations.size()) + " unmatched");
    }
    // The controller may append entries between the read above and this verification.
    Response v = op_->Do("GET", "/v1/audit/verify", admin_);
    const json::object verdict = v.Object();
    const json::value* head = verdict.if_contains("head");
    if (v.status != 200 || verdict.if_contains("ok") == nullptr ||
        verdict.at("ok") != json::value(true) ||
        Int(verdict, "entries") < static_cast<int64_t>(entries.size()) || head == nullptr ||
        !head->is_object() || Int(head->as_object(), "seq") != Int(verdict, "entries")) {
      Violation("GET /v1/audit/verify: " + std::to_string(v.status) + " " + v.body +
                " after reading " + std::to_string(entries.size()) + " entries");
    }
  }

  // One random step of traffic on the newest release. False when the server is gone.
  bool Step() {
    if (acked_.releases.empty() || acked_.releases.back().Done()) {
      return UploadAndCreate() != Outcome::kDead;
    }
    ReleaseModel& m = acked_.releases.back();
    const uint64_t r = rnd_() % 100;
    const bool stuck = stuck_trials_ >= 8;
    const bool halt_due =
        ((m.fate != Fate::kComplete && m.max_wave >= m.halt_at_wave) || stuck) && !m.halted_wave;
    if (m.phase == "AwaitingApproval") return Approve(m) != Outcome::kDead;
    if (m.phase == "Ready") return Operate(m, "start") != Outcome::kDead;
    if (m.phase == "Dispatching" || m.phase == "Baking") {
      if (halt_due && r < 30) return Operate(m, "halt") != Outcome::kDead;
      if (r < 8 && m.pauses < 2) return Operate(m, "pause") != Outcome::kDead;
    } else if (m.phase == "Paused") {
      if (halt_due && r < 20) return Operate(m, "halt") != Outcome::kDead;
      if (r < 45) return Operate(m, "resume") != Outcome::kDead;
    } else if (m.phase == "Halted" && m.fate == Fate::kHaltThenRollback && r < 40) {
      return Operate(m, "rollback") != Outcome::kDead;
    }
    if (r >= 90) {
      bool alive = true;
      const int64_t last = acked_.audit_seen.empty() ? 0 : acked_.audit_seen.rbegin()->first;
      ReadAudit(last, &alive);
      return alive;
    }
    if (!Round()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::pair<std::string, int> before = {m.phase, m.max_wave};
    if (!ReadRelease(m, "traffic")) return false;
    if (before != std::pair<std::string, int>{m.phase, m.max_wave}) {
      // The controller's own transition, served, so committed: it counts as an acknowledgement
      // (a kill right after it lands in the tick that wrote it).
      ++controller_transitions_;
      ++acks_this_trial_;
      return !AfterAck();
    }
    return true;
  }
  int64_t controller_transitions() const { return controller_transitions_; }
  // Audit entries by action, as of the last VerifyAuditLog.
  const std::map<std::string, int>& actions() const { return actions_; }

  // Kill -9 right after the k-th acknowledgement (mutation or controller transition seen; only
  // the latter if `transitions_only`) of this trial (0: never).
  void KillAfterAcks(int k, bool transitions_only = false) {
    kill_after_acks_ = k;
    transitions_only_ = transitions_only;
    acks_this_trial_ = 0;
  }

  // The fold of a committed state into the model, checking it against what was acknowledged.
  void Observe(ReleaseModel& m, const json::object& r, const std::string& where) {
    const std::string phase = Str(r, "phase");
    const int wave = static_cast<int>(Int(r, "wave"));
    auto bad = [&](const std::string& what) {
      Violation(m.id + " (" + where + "): " + what + "; the server says " + phase + " at wave " +
                std::to_string(wave));
    };
    if (phase.empty()) {
      bad("no phase in the answer");
      return;
    }
    if (wave < m.max_wave) bad("wave went back from " + std::to_string(m.max_wave));
    if (m.rank >= 1 && phase == "AwaitingApproval") bad("acknowledged quorum lost");
    if (m.rank >= 2 && (phase == "AwaitingApproval" || phase == "Ready")) {
      bad("acknowledged start lost");
    }
    if (m.completed && phase != "Completed") bad("a Completed release changed phase");
    if (m.rolled_back && phase != "RolledBack") bad("a RolledBack release changed phase");
    if (m.halted_wave) {
      if (phase != "Halted" && !(phase == "RolledBack" && (m.rollback_sent || m.rolled_back))) {
        bad("halted release advanced (acknowledged Halted at wave " +
            std::to_string(*m.halted_wave) + ")");
      } else if (wave != *m.halted_wave) {
        bad("halted release's wave moved from the acknowledged " + std::to_string(*m.halted_wave));
      }
    } else if (m.paused_wave && !m.resume_sent) {
      if (phase != "Paused" && !(phase == "Halted" && m.halt_sent) &&
          !(phase == "RolledBack" && m.rollback_sent)) {
        bad("paused release moved without a resume (acknowledged Paused at wave " +
            std::to_string(*m.paused_wave) + ")");
      } else if (wave != *m.paused_wave) {
        bad("paused release's wave moved from the acknowledged " + std::to_string(*m.paused_wave));
      }
    }
    if (const json::value* a = r.if_contains("approvals"); a && a->is_array()) {
      std::set<std::string> present;
      for (const json::value& v : a->as_array()) {
        if (v.is_object()) present.insert(Str(v.as_object(), "reviewer"));
      }
      for (const std::string& who : m.approvals) {
        if (!present.count(who)) bad("acknowledged approval by " + who + " lost");
      }
      m.approvals.insert(present.begin(), present.end());  // served, so committed
    }
    m.phase = phase;
    m.max_wave = std::max(m.max_wave, wave);
    if (phase != "AwaitingApproval") m.rank = std::max(m.rank, 1);
    if (phase != "AwaitingApproval" && phase != "Ready") m.rank = 2;
    if (phase == "Completed") m.completed = true;
    if (phase == "RolledBack") m.rolled_back = true;
    if (phase == "Halted" && !m.halted_wave) m.halted_wave = wave;
    if (phase == "Paused") {
      if (!m.paused_wave) m.paused_wave = wave;
      m.resume_sent = false;
    } else {
      m.paused_wave.reset();
    }
  }

  void Violation(const std::string& what) { violations_.push_back(Where() + ": " + what); }

  // After the last kill: the fleet keeps checking in across many controller ticks; nothing
  // halted moves, nothing halted is offered.
  void FinalTicks(std::chrono::milliseconds d) {
    const auto end = Clock::now() + d;
    while (Clock::now() < end) {
      if (!Round()) {
        Violation("the server died during the final ticks");
        return;
      }
      for (ReleaseModel& m : acked_.releases) ReadRelease(m, "final ticks");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // SIGTERM, then the offline verification of the SQLite file.
  void TerminateAndVerifyOffline() {
    Response v = op_->Do("GET", "/v1/audit/verify", admin_);
    const json::object answer = v.Object();
    const json::value* head = answer.if_contains("head");
    const int64_t head_seq = head && head->is_object() ? Int(head->as_object(), "seq") : -1;
    op_.reset();
    EXPECT_EQ(server_->Terminate(), 0) << Where();
    testing::CommandResult offline =
        testing::RunCommand({testing::RingfenceBinary(), "audit", "verify", "--data", data()});
    EXPECT_EQ(offline.exit_code, 0) << Where() << "\n" << offline.out << offline.err;
    // The controller may append (ticks, gate decisions) between the served answer and SIGTERM, so
    // the served head must be a committed prefix of the file: same hash at the same seq.
    const std::string head_hash = head && head->is_object() ? Str(head->as_object(), "hash") : "";
    auto store = rf::store::SqliteStore::Open(data() + "/" + rf::store::kDatabaseFileName,
                                              {.read_only = true});
    ASSERT_TRUE(store.ok()) << Where() << ": " << store.status().message();
    auto recorded = (*store)->RecordedAuditHead();
    ASSERT_TRUE(recorded.ok()) << Where() << ": " << recorded.status().message();
    EXPECT_GE(recorded->seq, head_seq) << Where() << ": the file's head is behind the served head";
    if (head_seq > 0) {
      auto at = (*store)->ReadAudit(head_seq - 1, 1);
      ASSERT_TRUE(at.ok() && at->size() == 1) << Where() << ": served head seq " << head_seq
                                              << " is not in the file";
      EXPECT_EQ(at->front().hash, head_hash)
          << Where() << ": the file's entry at the served head seq " << head_seq
          << " differs from the served head\n" << offline.out;
    }
    EXPECT_NE(offline.out.find("head seq " + std::to_string(recorded->seq) + " hash " +
                               recorded->hash),
              std::string::npos)
        << Where() << ": offline verify does not report the file's recorded head\n" << offline.out;
    EXPECT_GE(head_seq, static_cast<int64_t>(acked_.audit_seen.size())) << Where();
  }

 private:
  // A 2xx answer? Counts refusals (a race with the controller, e.g. pause just as the release
  // completed, is a legitimate 409); a 5xx is a violation.
  bool Answered(const Response& r, const std::string& what) {
    if (r.status >= 200 && r.status < 300) return true;
    if (r.status >= 500) Violation(what + " answered " + std::to_string(r.status) + " " + r.body);
    if (r.status != 0) ++refusals_;
    return false;
  }
  void Ack(ExpectedAudit e) {
    acked_.operations.push_back(std::move(e));
    ++acked_.acks;
    if (!transitions_only_) ++acks_this_trial_;
  }
  // Kills the server now if this was the k-th acknowledgement of the trial; true if it did.
  bool AfterAck() {
    if (kill_after_acks_ <= 0 || acks_this_trial_ < kill_after_acks_) return false;
    kill_after_acks_ = 0;
    killed_by_ack_ = server_->pid() > 0 && ::kill(server_->pid(), SIGKILL) == 0;
    return true;
  }

 public:
  bool killed_by_ack() const { return killed_by_ack_; }
  void clear_killed_by_ack() { killed_by_ack_ = false; }

 private:
  uint64_t seed_;
  std::mt19937_64 rnd_;
  testing::TempDir dir_;
  ServerOptions options_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpConnection> op_;
  Fleet fleet_;
  std::string admin_, agent_;
  Principal alice_, bob_, carol_, oscar_;
  Acked acked_;
  std::vector<std::string> violations_;
  int trial_ = 0;
  int stuck_trials_ = 0;
  std::tuple<std::string, std::string, int> last_trial_start_;
  int64_t next_version_ = 2000;
  int64_t ops_ = 0;
  int64_t controller_transitions_ = 0;
  std::map<std::string, int> actions_;
  int refusals_ = 0;
  int kill_after_acks_ = 0, acks_this_trial_ = 0;
  bool transitions_only_ = false;
  bool killed_by_ack_ = false;
};

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* s = std::getenv(name);
  return s ? std::strtoull(s, nullptr, 10) : fallback;
}

// Fails loudly with every violation found so far; true if there was one.
bool ReportViolations(const DurabilityRun& run) {
  for (const std::string& v : run.violations()) ADD_FAILURE() << "DURABILITY VIOLATION " << v;
  return !run.violations().empty();
}

TEST(ServerDurability, KillNineDuringRolloutsLosesNothingAcknowledged) {
  const uint64_t seed =
      EnvOr("RF_SERVER_DURABILITY_SEED",
            static_cast<uint64_t>(Clock::now().time_since_epoch().count()) & 0xffffffffu);
  const int kills_wanted = static_cast<int>(EnvOr("RF_SERVER_DURABILITY_KILLS", 60));
  const int delay_scale =
      std::max(1, static_cast<int>(EnvOr("RF_SERVER_DURABILITY_DELAY_SCALE", 1)));
  std::printf(
      "server durability seed %llu (replay with RF_SERVER_DURABILITY_SEED=%llu), %d kills\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), kills_wanted);
  std::fflush(stdout);
  const bool verbose = EnvOr("RF_SERVER_DURABILITY_VERBOSE", 0) != 0;  // a line per trial
  const auto t0 = Clock::now();
  DurabilityRun run(seed);
  ASSERT_NO_FATAL_FAILURE(run.Setup());
  int kills = 0, trials = 0, timer_kills = 0, ack_kills = 0, transition_kills = 0;
  // At least `kills_wanted` kills, and more (up to a cap) until the run has covered a halted
  // release and two approvals: on a loaded machine a timed kill often lands before the workload
  // got anywhere, and a run that never halted anything has not exercised the halt checks.
  auto covered = [&run] {
    int halted = 0, approvals = 0;
    for (const ReleaseModel& m : run.acked().releases) {
      halted += m.halted_wave ? 1 : 0;
      approvals += static_cast<int>(m.approvals.size());
    }
    return halted >= 1 && approvals >= 2;
  };
  while ((kills < kills_wanted || !covered()) && trials < 6 * kills_wanted) {
    ++trials;
    run.set_trial(trials);
    if (trials > 1) {
      if (!run.StartServer()) break;
      run.VerifyAfterRestart();
      if (ReportViolations(run)) break;
    }
    // The kill: after 0-300 ms from a timer thread (half the trials), right after the k-th
    // acknowledgement (1 s backstop), or right after the controller's next transition (3 s
    // backstop; these trials outlive a bake, so waves advance although a restart resets the
    // gate's bake-end evidence).
    const uint64_t mode = run.rnd()() % 20;
    const bool by_timer = mode < 10;
    const bool by_transition = mode >= 16;
    const auto backstop = std::chrono::seconds((by_transition ? 3 : 1) * delay_scale);
    std::atomic<bool> stop_timer{false};
    std::thread timer;
    const auto trial_start = Clock::now();
    if (by_timer) {
      const auto delay = std::chrono::milliseconds(run.rnd()() % 301 * delay_scale);
      const pid_t pid = run.server().pid();
      timer = std::thread([delay, pid, trial_start] {
        std::this_thread::sleep_until(trial_start + delay);
        ::kill(pid, SIGKILL);
      });
    } else if (by_transition) {
      run.KillAfterAcks(1, /*transitions_only=*/true);
    } else {
      run.KillAfterAcks(1 + static_cast<int>(run.rnd()() % 3));
    }
    // Traffic until the server is gone.
    while (run.Step()) {
      if (!by_timer && Clock::now() - trial_start > backstop) {
        ::kill(run.server().pid(), SIGKILL);
      }
    }
    if (timer.joinable()) timer.join();
    if (!run.server().ReapKilled()) {
      run.Violation("the server exited on its own instead of dying by the kill (see server.log)");
    }
    if (verbose) {
      const ReleaseModel* m = run.acked().releases.empty() ? nullptr : &run.acked().releases.back();
      std::printf("trial %d: %s kill after %.0f ms; newest %s %s wave %d\n", trials,
                  by_timer        ? "timed"
                  : by_transition ? "transition"
                                  : "ack",
                  std::chrono::duration<double, std::milli>(Clock::now() - trial_start).count(),
                  m ? m->id.c_str() : "-", m ? m->phase.c_str() : "-", m ? m->max_wave : -1);
    }
    ++kills;
    (by_timer ? timer_kills : by_transition ? transition_kills : ack_kills) += 1;
    run.KillAfterAcks(0);
    if (ReportViolations(run)) break;
  }
  if (::testing::Test::HasFailure()) {
    ADD_FAILURE() << "replay with RF_SERVER_DURABILITY_SEED=" << seed;
    return;
  }
  // The last restart: everything acknowledged, then many ticks and check-ins, then SIGTERM and
  // the offline check.
  run.set_trial(trials + 1);
  ASSERT_TRUE(run.StartServer());
  run.VerifyAfterRestart();
  run.FinalTicks(std::chrono::milliseconds(1500));
  run.VerifyAuditLog();
  ASSERT_FALSE(ReportViolations(run)) << "replay with RF_SERVER_DURABILITY_SEED=" << seed;
  run.TerminateAndVerifyOffline();

  int halted = 0, rolled_back = 0, completed = 0, approvals = 0, paused = 0;
  for (const ReleaseModel& m : run.acked().releases) {
    if (verbose) {
      std::printf("%s: %s wave %d, approvals %zu, fate %d\n", m.id.c_str(), m.phase.c_str(),
                  m.max_wave, m.approvals.size(), static_cast<int>(m.fate));
    }
    halted += m.halted_wave ? 1 : 0;
    rolled_back += m.rolled_back ? 1 : 0;
    completed += m.completed ? 1 : 0;
    approvals += static_cast<int>(m.approvals.size());
    paused += m.pauses;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "server durability seed %llu: %d kill -9 (%d timed 0-%d ms, %d right after an "
      "acknowledgement, %d right after a controller transition) in %d trials, %.1f s; %lld "
      "acknowledged mutations, %lld controller "
      "transitions seen, %zu audit "
      "entries served and re-checked after every restart, %zu releases (%d completed, %d "
      "halted, %d rolled back, %d pauses), %d approvals; %d refusals (races, 4xx)\n",
      static_cast<unsigned long long>(seed), kills, timer_kills, 300 * delay_scale, ack_kills,
      transition_kills, trials, secs, static_cast<long long>(run.acked().acks),
      static_cast<long long>(run.controller_transitions()), run.acked().audit_seen.size(),
      run.acked().releases.size(), completed, halted, rolled_back, paused, approvals,
      run.refusals());
  std::printf("audit log by action:");
  for (const auto& [action, n] : run.actions()) std::printf(" %s %d", action.c_str(), n);
  std::printf("\n");
  EXPECT_GE(kills, 50);
  EXPECT_GE(halted, 1) << "no release was halted: the halt checks never ran";
  EXPECT_GE(approvals, 2);
}

// The checks must be able to fail: after a real rollout, halt, kill -9 and restart, each forged
// acknowledgement is reported.
TEST(ServerDurability, CheckerDetectsForgedExpectations) {
  DurabilityRun run(7);
  ASSERT_NO_FATAL_FAILURE(run.Setup());
  ASSERT_EQ(run.UploadAndCreate(), Outcome::kAcked);
  ReleaseModel& m = run.acked().releases.back();
  ASSERT_EQ(run.Approve(m), Outcome::kAcked);
  ASSERT_EQ(run.Approve(m), Outcome::kAcked);
  ASSERT_EQ(run.Operate(m, "start"), Outcome::kAcked);
  ASSERT_TRUE(run.Round());
  ASSERT_EQ(run.Operate(m, "halt"), Outcome::kAcked);
  ASSERT_TRUE(m.halted_wave.has_value());
  bool alive = false;
  run.ReadAudit(0, &alive);
  ASSERT_TRUE(alive);
  ASSERT_TRUE(run.server().KillNine());
  ASSERT_TRUE(run.StartServer());
  run.VerifyAfterRestart();
  ASSERT_TRUE(run.violations().empty()) << run.violations()[0];
  const Acked good = run.acked();

  auto expect_detected = [&](const char* what, const std::string& needle) {
    run.VerifyAfterRestart();
    bool found = false;
    for (const std::string& v : run.violations())
      found = found || v.find(needle) != std::string::npos;
    EXPECT_TRUE(found) << what << ": no violation naming \"" << needle << "\"";
    run.acked() = good;
    run.clear_violations();
  };
  run.acked().releases.back().approvals.insert("zed");
  expect_detected("a lost approval", "acknowledged approval by zed lost");
  run.acked().audit_seen.rbegin()->second = std::string(64, '0');
  expect_detected("a changed audit entry", "differs from the one served before");
  run.acked().audit_seen[run.acked().audit_seen.rbegin()->first + 5] = std::string(64, '0');
  expect_detected("a lost audit entry", "(served before) lost");
  run.acked().operations.push_back({"release.pause", m.id, "oscar", "never sent"});
  expect_detected("a lost operation", "missing from the audit log");
  *run.acked().releases.back().halted_wave += 1;
  expect_detected("a halted release that advanced", "halted release's wave moved");
  run.acked().releases.back().completed = true;
  expect_detected("a lost completion", "a Completed release changed phase");
  run.acked().releases.back().max_wave += 1;
  expect_detected("a lost wave", "wave went back");
}

}  // namespace
}  // namespace rf::e2e
