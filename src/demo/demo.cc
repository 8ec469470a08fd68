#include "demo/demo.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "agent/agent.h"
#include "agent/agent_state.h"
#include "agent/trust_root.h"
#include "core/bundle.h"
#include "core/content_type.h"
#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "protocol/statements.h"
#include "demo/operator_client.h"
#include "demo/process_group.h"
#include "platform/process.h"
#include "service/release_service.h"

namespace rf::demo {
namespace {

namespace json = boost::json;

constexpr std::string_view kChannel = "291";

// ---------------------------------------------------------------------------------------------
// Small helpers.

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

std::string Dirname(const std::string& p) {
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

bool IsExecutable(const std::string& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

std::string FirstExecutable(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates) {
    if (IsExecutable(c)) return c;
  }
  return "";
}

std::optional<json::object> ParseObject(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string Str(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t Int(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return 0;
}

// The server's error message from an error reply, or the body.
std::string ErrorMessage(const Reply& r) {
  if (auto o = ParseObject(r.body)) {
    if (const auto* e = o->if_contains("error"); e && e->is_object()) {
      return Str(e->as_object(), "code") + ": " + Str(e->as_object(), "message");
    }
  }
  return "HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The fleet: three strata, the first two on the legacy sensor (20 inputs: crashes on CF291).

struct Stratum {
  const char* os;
  const char* agent_version;
  const char* integration;  // ringfence-sensor --integration
  double share;
};
constexpr Stratum kStrata[] = {
    {"windows", "7.11", "legacy", 0.35},
    {"windows", "7.15", "legacy", 0.35},
    {"linux", "7.16", "correct", 0.30},
};

bool Affected(const Stratum& s) { return std::string_view(s.integration) == "legacy"; }

// The staged plan (layer 4): a stratified canary of 3 devices per stratum, then everyone. Short
// windows so that the demo takes seconds; silence after 3 s of a 1 s poll interval. A device that
// applied owes its post-apply confirmation 3-3.75 s later and is silent only if it has not
// confirmed 6 s after its apply report (docs/gate.md, "Post-apply confirmation"): a host still
// busy loading the bundle on a loaded machine is not silent, a crashed one is silent at once.
std::string StagedPlan(int canary_bake_s) {
  return "plan: demo-staged\n"
         "waves:\n"
         "  - {name: canary, devices: 1%, stratify: [os, agent_version], min_per_stratum: 2, "
         "dispatch: 2s, bake: " +
         std::to_string(canary_bake_s) +
         "s}\n"
         "  - {name: all, devices: 100%, dispatch: 2s, bake: 2s}\n"
         "gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 3s, confirm_after: 3s, "
         "holdback: 1%}\n"
         "on_failure: rollback\n";
}

// Layer 4 off: everyone at once, no holdback (no control group: the gate cannot compare).
// The linter refuses it; only an admin's audited break-glass creates it.
std::string AllAtOncePlan() {
  return "plan: all-at-once\n"
         "waves:\n"
         "  - {name: all, devices: 100%, dispatch: 1s, bake: 6s}\n"
         "gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 3s, confirm_after: 3s, "
         "holdback: 0%}\n"
         "on_failure: rollback\n";
}

struct Samples {
  std::string type_yaml;
  ContentType type;
  Bundle bad;   // Channel File 291 as shipped, one version up
  Bundle good;  // the same items with nothing at position >= 20: what every device ran before
};

Result<Samples> LoadSamples(Env env, const std::string& dir) {
  Samples s;
  RF_ASSIGN_OR_RETURN(s.type_yaml, env.fs->ReadFile(dir + "/ipc_rule.type.yaml", 1 << 20));
  RF_ASSIGN_OR_RETURN(s.type, ParseContentType(s.type_yaml, dir + "/ipc_rule.type.yaml"));
  RF_ASSIGN_OR_RETURN(std::string src, env.fs->ReadFile(dir + "/cf291.bundle.yaml", 1 << 20));
  std::vector<Finding> findings;
  RF_ASSIGN_OR_RETURN(s.bad, DecodeBundleSource(src, dir + "/cf291.bundle.yaml", s.type, &findings));
  for (const auto& f : findings) {
    if (f.severity == Severity::kError) return Status::InvalidArgument("cf291 sample: " + f.message);
  }
  s.good = s.bad;
  for (auto& item : s.good.items) {
    for (size_t pos = 20; pos < item.values.size(); ++pos) {
      if (item.values[pos].IsConcrete()) {
        item.values[pos] = FieldValue();
        item.values[pos].kind = FieldValue::Kind::kWildcard;
      }
    }
  }
  s.bad.version = s.good.version + 1;
  return s;
}

std::string BuildEnvelope(const Bundle& b, const ContentType& type, const crypto::SigningKey& key) {
  crypto::Envelope e;
  e.payload_type = std::string(crypto::kBundlePayloadType);
  e.payload = EncodeCanonicalPayload(b, type);
  crypto::SignEnvelope(&e, key);
  return crypto::SerializeEnvelope(e);
}

// ---------------------------------------------------------------------------------------------
// One simulated host: the agent process and the "machine" around it.

struct Host {
  std::string device_id;
  const Stratum* stratum = nullptr;
  std::string state_dir, log_path;
  ChildProcess agent;
  int boots = 0;
  int consecutive_crashes = 0;
  int crashes_with_bad = 0;  // host crashes whose guard marker named the CF291 bundle
  bool down = false;         // crashed max_boot_crashes times in a row: stays down
  int64_t next_boot_micros = 0;
};

struct HostFacts {
  std::optional<int64_t> current_version;
  bool healthy = false;          // current ran healthy
  bool marker = false;           // loading.json present (content on probation)
  std::vector<agent::QuarantineEntry> quarantined;
};

// ---------------------------------------------------------------------------------------------
// One run.

class Run {
 public:
  Run(const DemoOptions& o, const LayerSet& layers, const Samples& samples, Env env,
      std::string dir, std::function<void(const std::string&)> log)
      : o_(o), layers_(layers), samples_(samples), env_(env), dir_(std::move(dir)), log_(std::move(log)) {
    result_.layers = layers;
    result_.devices = o.agents;
  }
  ~Run() { Teardown(); }

  RunResult Execute() {
    const int64_t t0 = Mono();
    Status s = Steps();
    if (!s.ok()) {
      result_.error = s.ToString();
      Log("failed: " + result_.error);
    }
    if (!Interrupted() && (s.ok() || !result_.phase.empty())) Measure();
    Teardown();
    result_.wall_s = static_cast<double>(Mono() - t0) / 1e6;
    return result_;
  }

 private:
  int64_t Mono() { return env_.clock->MonotonicMicros(); }
  bool Interrupted() const { return o_.interrupted && o_.interrupted->load(); }
  void Log(const std::string& line) { log_("[" + layers_.Label() + "] " + line); }

  Status Steps() {
    RF_RETURN_IF_ERROR(StartServer());
    RF_RETURN_IF_ERROR(Provision());
    RF_RETURN_IF_ERROR(StartHosts());
    RF_RETURN_IF_ERROR(WaitFor("every device enrolled", 60, [&]() -> Result<bool> {
      RF_ASSIGN_OR_RETURN(Reply r, admin_->Send("GET", "/v1/fleet"));
      auto o = ParseObject(r.body);
      return o && Int(*o, "devices") >= o_.agents;
    }));
    // The last known good: shipped with the staged plan, approved as this run's policy requires.
    std::string lkg_release;
    RF_RETURN_IF_ERROR(ShipGood(&lkg_release));
    // Channel File 291.
    return ShipBad();
  }

  // ----- server -----
  Status StartServer() {
    data_dir_ = dir_ + "/server";
    RF_RETURN_IF_ERROR(env_.fs->CreateDirs(data_dir_, 0700));
    ProcessSpec spec;
    spec.argv = {o_.ringfence_bin, "server", "--data", data_dir_, "--listen", "127.0.0.1:0",
                 "--poll-after", "1", "--tick-ms", "250", "--flush-ms", "1000", "--threads", "2",
                 // The whole demo fleet enrolls in its first second (a real fleet trickles in).
                 "--enroll-rate", "1000", "--enroll-burst", "100000"};
    if (!layers_.Has(3)) spec.argv.push_back("--allow-unreviewed");
    if (!layers_.Has(1)) spec.argv.push_back("--skip-layer1");
    if (layers_.Has(2)) {
      for (const char* mode : {"legacy", "correct"}) {
        spec.argv.push_back("--consumer");
        spec.argv.push_back(o_.sensor_bin + " --integration " + mode);
      }
    }
    spec.stderr_path = dir_ + "/server.log";
    spec.capture_stdout = true;
    RF_ASSIGN_OR_RETURN(server_, ChildProcess::Spawn(spec));
    auto line = server_.ReadStdoutLine(*env_.clock, 30'000);
    if (!line.ok()) {
      return Status::Unavailable("ringfence server did not start (" + line.status().message() +
                                 "); see " + spec.stderr_path);
    }
    const std::string prefix = "listening on ";
    if (line->rfind(prefix, 0) != 0) return Status::Unavailable("unexpected server output: " + *line);
    url_ = "http://" + line->substr(prefix.size());
    RF_ASSIGN_OR_RETURN(std::string admin_token, env_.fs->ReadFile(data_dir_ + "/admin.token", 4096));
    admin_ = std::make_unique<OperatorClient>(url_, Trim(admin_token));
    Log("server " + url_ + " (data " + data_dir_ + ")");
    return Status::Ok();
  }

  // ----- people, keys, policy, content type, trust root -----
  Status Provision() {
    author_key_ = crypto::SigningKey::Generate();
    for (int i = 0; i < 3; ++i) reviewer_keys_.push_back(crypto::SigningKey::Generate());
    RF_ASSIGN_OR_RETURN(std::string author_token, CreatePrincipal("alice", {"author"}, nullptr));
    author_ = std::make_unique<OperatorClient>(url_, author_token);
    const char* reviewers[] = {"bob", "carol", "dave"};
    for (int i = 0; i < 3; ++i) {
      RF_ASSIGN_OR_RETURN(std::string t, CreatePrincipal(reviewers[i], {"reviewer"}, &reviewer_keys_[i]));
      reviewer_names_.push_back(reviewers[i]);
      reviewers_.push_back(std::make_unique<OperatorClient>(url_, t));
    }
    RF_ASSIGN_OR_RETURN(std::string op_token, CreatePrincipal("olivia", {"operator"}, nullptr));
    operator_ = std::make_unique<OperatorClient>(url_, op_token);

    // Layer 3: 2 of the 3 reviewers, on the server and on every device; off: 0 on both.
    const int k = layers_.Has(3) ? 2 : 0;
    std::string pub = crypto::EncodePublicKeyFile(author_key_.public_key());
    std::string policy = "{\"approvals\":" + std::to_string(k) +
                         ",\"roles\":[\"reviewer\"],\"publisher_keys\":[" + Quote(pub) +
                         "],\"publisher_threshold\":1}";
    RF_RETURN_IF_ERROR(Expect(admin_->Send("PUT", "/v1/policies/" + std::string(kChannel), policy),
                              "policy set"));
    RF_RETURN_IF_ERROR(Expect(admin_->Send("POST", "/v1/content-types",
                                           "{\"yaml\":" + Quote(samples_.type_yaml) + "}"),
                              "content type add"));

    // The trust root every agent is provisioned with (out of band): the release key from
    // GET /v1/trust, the author as publisher, the three reviewers.
    RF_ASSIGN_OR_RETURN(std::string agent_token, env_.fs->ReadFile(data_dir_ + "/agent.token", 4096));
    OperatorClient agent_client(url_, Trim(agent_token));
    RF_ASSIGN_OR_RETURN(Reply trust_reply, agent_client.Send("GET", "/v1/trust"));
    auto trust_obj = ParseObject(trust_reply.body);
    if (!trust_reply.ok() || !trust_obj || !trust_obj->contains("release_keys")) {
      return Status::Unavailable("GET /v1/trust: " + ErrorMessage(trust_reply));
    }
    agent::TrustRoot trust;
    for (const auto& k_text : trust_obj->at("release_keys").as_array()) {
      if (!k_text.is_string()) continue;
      RF_ASSIGN_OR_RETURN(crypto::PublicKey key, crypto::DecodePublicKeyFile(k_text.as_string()));
      trust.release_keys.push_back(key);
    }
    trust.publisher_keys = {author_key_.public_key()};
    trust.publisher_threshold = 1;
    for (const auto& rk : reviewer_keys_) trust.reviewer_keys.push_back(rk.public_key());
    trust.approval_threshold = k;
    trust_path_ = dir_ + "/trust.json";
    RF_RETURN_IF_ERROR(env_.fs->WriteFileAtomic(trust_path_, agent::EncodeTrustRoot(trust), 0644));
    token_path_ = data_dir_ + "/agent.token";
    return Status::Ok();
  }

  Result<std::string> CreatePrincipal(const std::string& name, const std::vector<std::string>& roles,
                                      const crypto::SigningKey* reviewer_key) {
    std::string body = "{\"name\":" + Quote(name) + ",\"roles\":[";
    for (size_t i = 0; i < roles.size(); ++i) body += (i ? "," : "") + Quote(roles[i]);
    body += "]";
    if (reviewer_key) {
      body += ",\"reviewer_public_key\":" + Quote(crypto::EncodePublicKeyFile(reviewer_key->public_key()));
    }
    body += "}";
    RF_ASSIGN_OR_RETURN(Reply r, admin_->Send("POST", "/v1/principals", body));
    auto o = ParseObject(r.body);
    if (!r.ok() || !o) return Status::Unavailable("principal add " + name + ": " + ErrorMessage(r));
    return Str(*o, "token");
  }

  Status Expect(const Result<Reply>& r, const std::string& what) {
    if (!r.ok()) return r.status();
    if (!r->ok()) return Status::FailedPrecondition(what + ": " + ErrorMessage(*r));
    return Status::Ok();
  }

  // ----- hosts -----
  Status StartHosts() {
    int made = 0;
    for (size_t si = 0; si < std::size(kStrata); ++si) {
      const Stratum& st = kStrata[si];
      const int n = si + 1 == std::size(kStrata)
                        ? o_.agents - made
                        : static_cast<int>(o_.agents * st.share + 0.5);
      for (int i = 0; i < n; ++i, ++made) {
        auto h = std::make_unique<Host>();
        char id[32];
        std::snprintf(id, sizeof id, "dev-%04d", made);
        h->device_id = id;
        h->stratum = &st;
        h->state_dir = dir_ + "/hosts/" + h->device_id;
        h->log_path = h->state_dir + ".log";
        RF_RETURN_IF_ERROR(env_.fs->CreateDirs(h->state_dir, 0700));
        if (Affected(st)) ++result_.affected;
        hosts_.push_back(std::move(h));
      }
    }
    for (auto& h : hosts_) {
      RF_RETURN_IF_ERROR(Boot(*h));
      if (Interrupted()) return Status::Aborted("interrupted");
    }
    Log(std::to_string(hosts_.size()) + " hosts booted (" + std::to_string(result_.affected) +
        " on the legacy sensor)");
    return Status::Ok();
  }

  Status Boot(Host& h) {
    ProcessSpec spec;
    spec.argv = {o_.agent_bin, "--server", url_, "--token", token_path_, "--state", h.state_dir,
                 "--trust", trust_path_, "--device-id", h.device_id,
                 "--attr", std::string("os=") + h.stratum->os,
                 "--attr", std::string("agent_version=") + h.stratum->agent_version,
                 "--consumer", o_.sensor_bin + " --integration " + h.stratum->integration,
                 "--consumer-run-args", "load {bundle}", "--consumer-oneshot",
                 "--host-crash-on-consumer-crash",
                 "--poll-min", "1", "--poll-max", "2", "--poll-default", "1",
                 "--backoff-base-ms", "500", "--backoff-max-ms", "2000"};
    if (!layers_.Has(5)) {
      spec.argv.insert(spec.argv.end(), {"--no-preflight", "--max-unclean-starts", "0"});
    } else if (layers_.guard_only) {
      spec.argv.insert(spec.argv.end(), {"--no-preflight", "--max-unclean-starts", "3"});
    } else {
      spec.argv.insert(spec.argv.end(), {"--max-unclean-starts", "3"});
    }
    spec.stderr_path = h.log_path;
    RF_ASSIGN_OR_RETURN(h.agent, ChildProcess::Spawn(spec));
    ++h.boots;
    return Status::Ok();
  }

  HostFacts ReadFacts(const Host& h) {
    HostFacts f;
    f.marker = env_.fs->Exists(h.state_dir + "/loading.json");
    auto text = env_.fs->ReadFile(h.state_dir + "/state.json", 1 << 20);
    if (!text.ok()) return f;
    auto st = agent::DecodeAgentState(*text);
    if (!st.ok()) return f;
    if (auto it = st->channels.find(std::string(kChannel)); it != st->channels.end()) {
      if (it->second.current) {
        f.current_version = it->second.current->version;
        f.healthy = it->second.current->sha256 == it->second.healthy_sha256;
      }
    }
    f.quarantined = st->quarantined;
    return f;
  }

  // The version named in the guard's marker: what the host was loading when it went down.
  std::optional<int64_t> MarkerVersion(const Host& h) {
    auto text = env_.fs->ReadFile(h.state_dir + "/loading.json", 64 << 10);
    if (!text.ok()) return std::nullopt;
    auto o = ParseObject(*text);
    if (!o) return std::nullopt;
    const auto* b = o->if_contains("bundles");
    if (!b || !b->is_object()) return std::nullopt;
    const auto* ch = b->as_object().if_contains(kChannel);
    if (!ch || !ch->is_object()) return std::nullopt;
    return Int(ch->as_object(), "version");
  }

  // The machines around the agents: reap exits, reboot crashed hosts after the delay.
  void TendHosts() {
    const int64_t now = Mono();
    for (auto& hp : hosts_) {
      Host& h = *hp;
      if (h.down) continue;
      if (h.agent.running()) {
        auto exit = h.agent.Poll();
        if (!exit) continue;
        if (exit->exit_code == agent::kHostCrashExitCode) {
          ++h.consecutive_crashes;
          if (MarkerVersion(h) == samples_.bad.version) ++h.crashes_with_bad;
          if (h.consecutive_crashes >= o_.max_boot_crashes) {
            h.down = true;  // the recovery screen: it waits for a person
            continue;
          }
        } else if (!stopping_) {
          Log(h.device_id + ": agent exited (" +
              (exit->signal ? "signal " + std::to_string(exit->signal)
                            : "exit " + std::to_string(exit->exit_code)) +
              "), restarting; see " + h.log_path);
        }
        h.next_boot_micros = now + o_.reboot_delay_ms * 1000;
        continue;
      }
      if (stopping_ || now < h.next_boot_micros) continue;
      if (Status s = Boot(h); !s.ok()) {
        Log(h.device_id + ": cannot boot: " + s.ToString());
        h.next_boot_micros = now + o_.reboot_delay_ms * 1000;
      } else if (h.consecutive_crashes > 0 && !ReadFacts(h).marker) {
        h.consecutive_crashes = 0;  // booted into content that is not on probation
      }
    }
  }

  // Polls `done` every 200 ms (tending the hosts meanwhile) for up to `timeout_s`.
  Status WaitFor(const std::string& what, int64_t timeout_s, const std::function<Result<bool>()>& done) {
    const int64_t deadline = Mono() + timeout_s * 1'000'000;
    for (;;) {
      TendHosts();
      if (Interrupted()) return Status::Aborted("interrupted");
      RF_ASSIGN_OR_RETURN(bool ok, done());
      if (ok) return Status::Ok();
      if (Mono() > deadline) return Status::DeadlineExceeded("timed out waiting for " + what);
      SleepMs(200);
    }
  }

  // ----- releases -----
  // Uploads as the author; OK with the bundle's digest, or FailedPrecondition carrying the refusal.
  Result<std::string> Upload(const Bundle& b, std::string* refusal) {
    const std::string env = BuildEnvelope(b, samples_.type, author_key_);
    RF_ASSIGN_OR_RETURN(Reply r, author_->Send("POST", "/v1/bundles", "{\"envelope\":" + Quote(env) + "}"));
    auto o = ParseObject(r.body);
    if (r.ok() && o) return Str(*o, "sha256");
    *refusal = ErrorMessage(r);
    return Status::FailedPrecondition("upload refused: " + *refusal);
  }

  // Creates the release (as the author under the staged plan, or as the admin with the audited
  // break-glass when layer 4 is off), collects the approvals the policy asks for, starts it.
  Result<std::string> CreateApproveStart(const std::string& sha, bool staged, int canary_bake_s) {
    Result<Reply> created = Status::Unavailable("not sent");
    if (staged) {
      created = author_->Send("POST", "/v1/releases",
                              "{\"bundle_sha256\":" + Quote(sha) +
                                  ",\"plan_yaml\":" + Quote(StagedPlan(canary_bake_s)) + "}");
    } else {
      created = admin_->Send("POST", "/v1/releases",
                             "{\"bundle_sha256\":" + Quote(sha) + ",\"plan_yaml\":" +
                                 Quote(AllAtOncePlan()) + ",\"allow_unsafe_plan\":true}");
    }
    if (!created.ok()) return created.status();
    auto rel = ParseObject(created->body);
    if (!created->ok() || !rel) return Status::FailedPrecondition("release create: " + ErrorMessage(*created));
    const std::string id = Str(*rel, "release_id");
    const int k = layers_.Has(3) ? 2 : 0;
    for (int i = 0; i < k; ++i) RF_RETURN_IF_ERROR(Approve(i, id));
    RF_RETURN_IF_ERROR(Expect(operator_->Send("POST", "/v1/releases/" + id + "/start", "{}"), "start " + id));
    return id;
  }

  // Reviewer i reads the release and its check reports, signs the approval statement with their
  // own key and submits it. The reviewer approves what the reports show: when no layer produced a
  // report, there is nothing to read and the reviewer approves anyway (what review alone can do).
  Status Approve(int i, const std::string& id) {
    OperatorClient& c = *reviewers_[i];
    RF_ASSIGN_OR_RETURN(Reply r, c.Send("GET", "/v1/releases/" + id));
    auto rel = ParseObject(r.body);
    if (!r.ok() || !rel) return Status::FailedPrecondition("release get: " + ErrorMessage(r));
    const auto* reports = rel->if_contains("reports");
    std::string l1, l2;
    if (reports && reports->is_object()) {
      l1 = Str(reports->as_object(), "layer1");
      l2 = Str(reports->as_object(), "layer2");
    }
    protocol::ApprovalStatement s;
    s.bundle_sha256 = Str(*rel, "bundle_sha256");
    s.channel = Str(*rel, "channel");
    s.release_id = id;
    s.reports_sha256 = crypto::Sha256Hex(l1 + l2);
    s.reviewer = reviewer_names_[i];
    s.role = "reviewer";
    s.version = Int(*rel, "version");
    crypto::Envelope e;
    e.payload_type = std::string(protocol::kApprovalPayloadType);
    e.payload = protocol::EncodeApprovalStatement(s);
    crypto::SignEnvelope(&e, reviewer_keys_[i]);
    return Expect(c.Send("POST", "/v1/releases/" + id + "/approvals",
                         "{\"envelope\":" + Quote(crypto::SerializeEnvelope(e)) + "}"),
                  "approve " + id + " as " + reviewer_names_[i]);
  }

  Result<std::string> Phase(const std::string& id) {
    RF_ASSIGN_OR_RETURN(Reply r, admin_->Send("GET", "/v1/releases/" + id + "/progress"));
    auto o = ParseObject(r.body);
    if (!r.ok() || !o) return Status::Unavailable("progress: " + ErrorMessage(r));
    return Str(*o, "phase");
  }

  Status ShipGood(std::string* id) {
    std::string refusal;
    auto sha = Upload(samples_.good, &refusal);
    if (!sha.ok()) return Status::FailedPrecondition("the good bundle was refused: " + refusal);
    RF_ASSIGN_OR_RETURN(*id, CreateApproveStart(*sha, /*staged=*/true, /*canary_bake_s=*/2));
    Log("good bundle v" + std::to_string(samples_.good.version) + " released (" + *id + ")");
    RF_RETURN_IF_ERROR(WaitFor("the good bundle on every device", 90, [&]() -> Result<bool> {
      RF_ASSIGN_OR_RETURN(std::string phase, Phase(*id));
      if (phase == "Halted" || phase == "RolledBack") {
        return Status::FailedPrecondition("the good bundle's release ended " + phase);
      }
      if (phase != "Completed") return false;
      for (auto& h : hosts_) {
        HostFacts f = ReadFacts(*h);
        if (f.current_version != samples_.good.version || !f.healthy) return false;
      }
      return true;
    }));
    Log("every device runs v" + std::to_string(samples_.good.version) + " (the LKG)");
    return Status::Ok();
  }

  Status ShipBad() {
    std::string refusal;
    auto sha = Upload(samples_.bad, &refusal);
    if (!sha.ok()) {
      result_.refused_at_upload = refusal;
      result_.refused_by_layer = refusal.find("layer 2") != std::string::npos ||
                                         refusal.find("dynamic") != std::string::npos
                                     ? 2
                                     : 1;
      Log("CF291 refused at upload: " + refusal.substr(0, 200));
      // Nothing was released; watch the fleet briefly so that a device could not be exposed
      // unnoticed, then measure.
      return WaitFor("a quiet fleet", 2, [] { return Result<bool>(false); }).code() ==
                     StatusCode::kDeadlineExceeded
                 ? Status::Ok()
                 : Status::Aborted("interrupted");
    }
    RF_ASSIGN_OR_RETURN(bad_release_, CreateApproveStart(*sha, layers_.Has(4), /*canary_bake_s=*/10));
    result_.phase = "Dispatching";
    Log("CF291 v" + std::to_string(samples_.bad.version) + " released (" + bad_release_ + ")");
    // Until the release has finished and every host has settled.
    Status s = WaitFor("the CF291 release to finish and the hosts to settle", o_.run_timeout_s,
                       [&]() -> Result<bool> {
                         RF_ASSIGN_OR_RETURN(result_.phase, Phase(bad_release_));
                         const bool finished = result_.phase == "Completed" ||
                                               result_.phase == "Halted" ||
                                               result_.phase == "RolledBack";
                         if (!finished) return false;
                         for (auto& h : hosts_) {
                           if (!Settled(*h)) return false;
                         }
                         return true;
                       });
    if (s.code() == StatusCode::kDeadlineExceeded) {
      Log("stopped waiting after " + std::to_string(o_.run_timeout_s) + " s: " + s.message());
      return Status::Ok();
    }
    return s;
  }

  bool Settled(const Host& h) {
    if (h.down) return true;
    if (!h.agent.running()) return false;  // rebooting
    HostFacts f = ReadFacts(h);
    if (f.marker) return false;  // content on probation: the guard is still counting
    if (result_.phase == "RolledBack" && f.current_version == samples_.bad.version) return false;
    return true;
  }

  // ----- figures -----
  void Measure() {
    const int64_t bad = samples_.bad.version;
    for (auto& hp : hosts_) {
      const Host& h = *hp;
      HostFacts f = ReadFacts(h);
      bool exposed = f.current_version == bad || h.crashes_with_bad > 0;
      bool preflight = false;
      for (const auto& q : f.quarantined) {
        if (q.channel != kChannel || q.version != bad) continue;
        exposed = true;
        if (q.reason.rfind("pre-flight", 0) == 0) preflight = true;
      }
      if (exposed) ++result_.exposed;
      if (preflight) ++result_.preflight_caught;
      if (h.crashes_with_bad > 0) {
        ++result_.harmed;
        if (h.down) {
          ++result_.down;
        } else if (f.current_version == samples_.good.version && h.agent.running()) {
          ++result_.recovered;
        }
      }
    }
    if (!bad_release_.empty()) MeasureRelease();
    result_.stopped_by = Explain();
  }

  void MeasureRelease() {
    auto r = admin_->Send("GET", "/v1/releases/" + bad_release_);
    if (r.ok() && r->ok()) {
      if (auto o = ParseObject(r->body)) {
        result_.phase = Str(*o, "phase");
        if (const auto* a = o->if_contains("approvals"); a && a->is_array()) {
          result_.approvals = static_cast<int>(a->as_array().size());
        }
      }
    }
    result_.halted = result_.phase == "Halted" || result_.phase == "RolledBack";
    // Time to halt from the audit log: the release's start to its first halting transition.
    std::vector<json::object> entries;
    for (int64_t after = 0;;) {
      auto audit = admin_->Send("GET", "/v1/audit?after=" + std::to_string(after) + "&limit=1000");
      if (!audit.ok() || !audit->ok()) return;
      auto o = ParseObject(audit->body);
      if (!o || !o->contains("entries") || !o->at("entries").is_array()) return;
      const auto& page = o->at("entries").as_array();
      for (const auto& e : page) {
        if (!e.is_object()) continue;
        after = std::max(after, Int(e.as_object(), "seq"));
        entries.push_back(e.as_object());
      }
      if (page.size() < 1000) break;
    }
    std::optional<int64_t> start_us, halt_us;
    for (const auto& eo : entries) {
      if (Str(eo, "subject") != bad_release_) continue;
      const std::string action = Str(eo, "action");
      if (action == "release.start" && !start_us) start_us = Int(eo, "time_us");
      if ((action == "release.gate_halt" || action == "release.halt") && !halt_us) {
        halt_us = Int(eo, "time_us");
        halt_action_ = action;
        if (const auto* d = eo.if_contains("details"); d && d->is_object()) {
          halt_reason_ = Str(d->as_object(), "reason");
          halt_wave_ = Int(d->as_object(), "wave");
        }
      }
    }
    if (start_us && halt_us) result_.time_to_halt_s = static_cast<double>(*halt_us - *start_us) / 1e6;
  }

  std::string Explain() {
    const RunResult& r = result_;
    if (!r.error.empty() && r.phase.empty() && r.refused_at_upload.empty()) {
      return "run failed: " + r.error;
    }
    if (!r.refused_at_upload.empty()) {
      std::string why = r.refused_at_upload;
      for (size_t at; (at = why.find(o_.sensor_bin)) != std::string::npos;) {
        why.replace(at, o_.sensor_bin.size(), "ringfence-sensor");
      }
      if (why.size() > 400) why = why.substr(0, 397) + "...";
      return "layer " + std::to_string(r.refused_by_layer) + " refused the upload, nothing shipped: " + why;
    }
    std::vector<std::string> parts;
    if (r.halted) {
      std::string p = "layer 4's gate halted the rollout " + FormatSeconds(r.time_to_halt_s.value_or(0)) +
                      " s after start";
      if (halt_wave_ == 0) p += ", in the canary";
      p += " (" + std::to_string(r.exposed) + " devices had it, " + std::to_string(r.harmed) +
           " crashed and went silent) and rolled it back";
      parts.push_back(p);
    }
    if (r.preflight_caught > 0) {
      parts.push_back("layer 5's pre-flight load crashed in a sandboxed child on " +
                      std::to_string(r.preflight_caught) + " of " + std::to_string(r.affected) +
                      " legacy-sensor devices, which quarantined it before applying it (the " +
                      std::to_string(r.devices - r.affected) + " devices on the correct sensor run it)");
    }
    if (r.recovered > 0 && layers_.Has(5)) {
      parts.push_back("layer 5's crash-loop guard brought " + std::to_string(r.recovered) + " of " +
                      std::to_string(r.harmed) + " crashed hosts back on their LKG");
    } else if (r.recovered > 0) {
      // Layer 5 is off (no guard): what brought them back is the rollback, installed by the agent
      // when the rebooted host checked in before loading the content again.
      parts.push_back("the rollback brought " + std::to_string(r.recovered) + " of " +
                      std::to_string(r.harmed) +
                      " crashed hosts back on the LKG when they rebooted (layer 5 is off)");
    }
    if (layers_.Has(3) && r.approvals > 0 && r.harmed > 0) {
      parts.push_back("layer 3 did not stop it: " + std::to_string(r.approvals) +
                      " of 3 reviewers signed approvals; with layers 1 and 2 off they were shown no "
                      "check report that could have told them, and a signature proves who approved, "
                      "not that the file is safe (every agent verified the approvals and installed it)");
    }
    if (parts.empty() || (r.down > 0 && r.recovered == 0 && !r.halted)) {
      parts.push_back("nothing stopped it: " + std::to_string(r.harmed) + " of " +
                      std::to_string(r.affected) + " legacy-sensor devices crashed and " +
                      std::to_string(r.down) + " are still down (boot loop)");
    } else if (r.down > 0) {
      parts.push_back(std::to_string(r.down) + " crashed hosts are still down (boot loop)");
    }
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
    if (!r.error.empty()) out += " [incomplete: " + r.error + "]";
    return out;
  }

  void Teardown() {
    stopping_ = true;
    for (auto& h : hosts_) h->agent.Signal(SIGTERM);
    const int64_t deadline = Mono() + 3'000'000;
    for (auto& h : hosts_) {
      while (h->agent.running() && Mono() < deadline) {
        if (h->agent.Poll()) break;
        SleepMs(5);
      }
      if (h->agent.running()) h->agent.Terminate(*env_.clock, 0);
    }
    if (server_.running()) server_.Terminate(*env_.clock, 5'000);
  }

  const DemoOptions& o_;
  const LayerSet layers_;
  const Samples& samples_;
  Env env_;
  const std::string dir_;
  std::function<void(const std::string&)> log_;
  RunResult result_;

  std::string data_dir_, url_, trust_path_, token_path_;
  ChildProcess server_;
  std::unique_ptr<OperatorClient> admin_, author_, operator_;
  std::vector<std::unique_ptr<OperatorClient>> reviewers_;
  std::vector<std::string> reviewer_names_;
  crypto::SigningKey author_key_ = crypto::SigningKey::Generate();
  std::vector<crypto::SigningKey> reviewer_keys_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::string bad_release_;
  std::string halt_action_, halt_reason_;
  int64_t halt_wave_ = -1;
  bool stopping_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string LayerSet::Label() const {
  if (layers.empty()) return "none";
  std::string s;
  for (int l : layers) s += (s.empty() ? "" : " ") + std::to_string(l);
  if (guard_only) s += " (guard only)";
  return s;
}

namespace {

std::vector<LayerSet> EachAlone() {
  return {{{1}, false}, {{2}, false}, {{3}, false}, {{4}, false}, {{5}, false}, {{5}, true}};
}

}  // namespace

Result<std::vector<LayerSet>> ParseLayerSpec(std::string_view spec) {
  std::vector<LayerSet> runs;
  if (spec == "all") {
    runs.push_back({{1, 2, 3, 4, 5}, false});
  } else if (spec == "none") {
    runs.push_back({{}, false});
  } else if (spec == "each") {
    runs = EachAlone();
  } else if (spec == "5g") {
    runs.push_back({{5}, true});
  } else {
    LayerSet set;
    std::string token;
    std::stringstream in{std::string(spec)};
    while (std::getline(in, token, ',')) {
      if (token.size() != 1 || token[0] < '1' || token[0] > '5') {
        return Status::InvalidArgument("--layers: '" + std::string(spec) +
                                       "': expected all, none, each, 5g or layers 1-5 like 1,4,5");
      }
      set.layers.insert(token[0] - '0');
    }
    if (set.layers.empty()) return Status::InvalidArgument("--layers: empty");
    runs.push_back(set);
  }
  return runs;
}

void SizeToMachine(DemoOptions* o, unsigned cores) {
  const int c = static_cast<int>(std::clamp(cores, 1u, 16u));
  // One run per core at a time, 100 agents per core in all: every agent polls every 1-2 s and
  // loads the sensor on each bundle, which keeps a 2-core machine busy but not starved (800
  // agents on 2 cores reached a load of 77-112, issue 11).
  if (o->parallel <= 0) o->parallel = c;
  if (o->agents <= 0) o->agents = std::clamp(100 * c / std::max(1, o->parallel), 30, 200);
}

std::vector<LayerSet> DefaultRuns() {
  std::vector<LayerSet> runs = {{{1, 2, 3, 4, 5}, false}};
  for (const auto& r : EachAlone()) runs.push_back(r);
  runs.push_back({{}, false});
  return runs;
}

Result<std::vector<RunResult>> RunDemo(const DemoOptions& options, Env env, std::ostream& log) {
  DemoOptions o = options;
  SizeToMachine(&o, std::thread::hardware_concurrency());
  if (o.agents < 6) return Status::InvalidArgument("--agents: at least 6 (two per stratum)");
  if (o.runs.empty()) o.runs = DefaultRuns();
  if (o.ringfence_bin.empty()) {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return Status::FailedPrecondition("cannot find this binary (/proc/self/exe)");
    o.ringfence_bin.assign(buf, static_cast<size_t>(n));
  }
  const std::string bin_dir = Dirname(o.ringfence_bin);
  if (o.agent_bin.empty()) {
    o.agent_bin = FirstExecutable({bin_dir + "/ringfence-agent/ringfence-agent", bin_dir + "/ringfence-agent"});
  }
  if (o.sensor_bin.empty()) {
    o.sensor_bin = FirstExecutable({bin_dir + "/../examples/sensor/ringfence-sensor", bin_dir + "/ringfence-sensor"});
  }
  if (!IsExecutable(o.agent_bin)) return Status::FailedPrecondition("ringfence-agent not found (--agent-bin)");
  if (!IsExecutable(o.sensor_bin)) return Status::FailedPrecondition("ringfence-sensor not found (--sensor-bin)");
  if (o.samples_dir.empty()) {
    for (const std::string& d : {std::string("samples/content"), bin_dir + "/../../samples/content",
                                 bin_dir + "/../samples/content"}) {
      if (env.fs->Exists(d + "/cf291.bundle.yaml")) {
        o.samples_dir = d;
        break;
      }
    }
    if (o.samples_dir.empty()) return Status::FailedPrecondition("samples/content not found (--samples)");
  }
  RF_ASSIGN_OR_RETURN(Samples samples, LoadSamples(env, o.samples_dir));
  std::string root;
  if (o.work_dir.empty()) {
    RF_ASSIGN_OR_RETURN(root, MakeTempDir("ringfence-demo"));
  } else {
    RF_RETURN_IF_ERROR(env.fs->CreateDirs(o.work_dir, 0700));
    root = o.work_dir;
  }

  std::mutex log_mu;
  auto log_line = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mu);
    log << line << std::endl;
  };
  log_line("ringfence demo: " + std::to_string(o.runs.size()) + " runs of " + std::to_string(o.agents) +
           " devices, " + std::to_string(o.parallel) + " at a time, in " + root);

  std::vector<RunResult> results(o.runs.size());
  std::mutex next_mu;
  size_t next = 0;
  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(next_mu);
        if (next >= o.runs.size()) return;
        i = next++;
      }
      if (o.interrupted && o.interrupted->load()) return;
      const std::string dir = root + "/run-" + std::to_string(i + 1);
      if (Status s = env.fs->CreateDirs(dir, 0700); !s.ok()) {
        results[i].layers = o.runs[i];
        results[i].error = s.ToString();
        continue;
      }
      Run run(o, o.runs[i], samples, env, dir, log_line);
      results[i] = run.Execute();
      if (o.interrupted && o.interrupted->load()) return;
      log_line("[" + o.runs[i].Label() + "] done in " + FormatSeconds(results[i].wall_s) + " s: exposed " +
               std::to_string(results[i].exposed) + ", harmed " + std::to_string(results[i].harmed) +
               ", recovered " + std::to_string(results[i].recovered));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, std::min<int>(o.parallel, static_cast<int>(o.runs.size()))); ++t) {
    threads.emplace_back(worker);
  }
  for (auto& t : threads) t.join();
  if (!o.keep) {
    RemoveTree(root);
  } else {
    log_line("kept " + root);
  }
  if (o.interrupted && o.interrupted->load()) return Status::Aborted("interrupted");
  return results;
}

std::string DemoJson(const std::vector<RunResult>& results, double wall_s) {
  std::string out = "{\"runs\": [";
  for (size_t i = 0; i < results.size(); ++i) {
    const RunResult& r = results[i];
    out += i ? ",\n  " : "\n  ";
    out += "{\"layers\": [";
    bool first = true;
    for (int l : r.layers.layers) {
      out += (first ? "" : ", ") + std::to_string(l);
      first = false;
    }
    out += "], \"label\": " + Quote(r.layers.Label());
    out += ", \"guard_only\": " + std::string(r.layers.guard_only ? "true" : "false");
    out += ", \"devices\": " + std::to_string(r.devices);
    out += ", \"affected\": " + std::to_string(r.affected);
    out += ", \"exposed\": " + std::to_string(r.exposed);
    out += ", \"harmed\": " + std::to_string(r.harmed);
    out += ", \"recovered\": " + std::to_string(r.recovered);
    out += ", \"down\": " + std::to_string(r.down);
    out += ", \"preflight_refused\": " + std::to_string(r.preflight_caught);
    out += ", \"halted\": " + std::string(r.halted ? "true" : "false");
    out += ", \"time_to_halt_s\": " + (r.time_to_halt_s ? FormatSeconds(*r.time_to_halt_s) : std::string("null"));
    out += ", \"refused_at_upload_by_layer\": " + std::to_string(r.refused_by_layer);
    out += ", \"phase\": " + Quote(r.phase);
    out += ", \"approvals\": " + std::to_string(r.approvals);
    out += ", \"stopped_by\": " + Quote(r.stopped_by);
    out += ", \"wall_s\": " + FormatSeconds(r.wall_s);
    if (!r.error.empty()) out += ", \"error\": " + Quote(r.error);
    out += "}";
  }
  out += "\n], \"wall_s\": " + FormatSeconds(wall_s) + "}\n";
  return out;
}

std::string DemoText(const std::vector<RunResult>& results, double wall_s) {
  auto pad = [](std::string s, size_t w, bool right) {
    if (s.size() >= w) return s;
    return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
  };
  std::string out;
  if (!results.empty()) {
    out += "Channel File 291 on " + std::to_string(results[0].devices) + " devices (" +
           std::to_string(results[0].affected) +
           " on the legacy sensor that crashes on it), real server and agents, per set of layers:\n\n";
  }
  out += pad("layers on", 20, false) + pad("exposed", 8, true) + pad("harmed", 8, true) +
         pad("recovered", 11, true) + pad("down", 6, true) + pad("halted", 8, true) +
         pad("time to halt", 14, true) + "\n";
  for (const auto& r : results) {
    if (!r.error.empty()) {
      // Never a row of zeros that reads as "contained": the run did not complete.
      out += pad(r.layers.Label(), 20, false) + "FAILED: " + r.error + "\n";
      continue;
    }
    out += pad(r.layers.Label(), 20, false) + pad(std::to_string(r.exposed), 8, true) +
           pad(std::to_string(r.harmed), 8, true) + pad(std::to_string(r.recovered), 11, true) +
           pad(std::to_string(r.down), 6, true) + pad(r.halted ? "yes" : "no", 8, true) +
           pad(r.time_to_halt_s ? FormatSeconds(*r.time_to_halt_s) + " s" : "-", 14, true) + "\n";
  }
  out += "\nWhat stopped the file:\n";
  for (const auto& r : results) {
    out += "  " + pad(r.layers.Label() + ":", 19, false) + " " +
           (r.error.empty() ? r.stopped_by : "FAILED (" + r.error + ")") + "\n";
  }
  out += "\nexposed = received the bundle; harmed = its host crashed on it; recovered = back on the last\n"
         "known good and checking in; down = still crashed at the end. Total time " +
         FormatSeconds(wall_s) + " s.\n";
  return out;
}

}  // namespace rf::demo
