// The acceptance test of issue 13 (scale-out; docs/deploy.md "Acceptance test"): a real
// PostgreSQL (testing/pg_test_server.h), three `ringfence server` replicas on it, HAProxy with
// deploy/haproxy.cfg in front, and RF_ACCEPT_AGENTS (default 300) real `ringfence-agent`
// processes, one per device (acceptance_fleet.h), all through HAProxy. Everything an operator does
// goes through the balancer, with reviewers' real signed approvals.
//
//   1. Good releases (the full flow to Completed), while the elected controller is killed (-9) at
//      random points, RF_ACCEPT_KILLS times in all (default 20): each time another replica must be
//      elected within 10 s (from the kill to its "controller: elected" log line, fencing epoch
//      up); the killed replica is started again. One release is paused (and a kill falls in the
//      pause: it must stay paused) and resumed; one is halted by the operator mid-rollout and must
//      never advance across the kills that follow. One non-leader is killed: the replica the
//      agents use, whose agents must carry on through the others.
//   2. Channel File 291 with every layer on the servers: layer 1 refuses the upload on every
//      replica. Then the replicas are restarted one by one with --skip-layer1 (layers 1 and 2 off,
//      layer 3 on, layer 5 off on the agents: layer 4 isolated, as `ringfence demo --layers 4`) and
//      CF291 is shipped: the gate must halt it and roll it back with the one-node containment
//      (harmed <= 5 % of the affected devices); the halted release never advances across kills.
//   3. Afterwards: every acknowledged operator action (2xx) is in the audit log, every
//      acknowledged approval on its release, the audit chain verifies, and the devices per version
//      the agents' replica reports match the agents' own state.
//
// Sanitizer builds run a smaller configuration (tests/CMakeLists.txt sets RF_ACCEPT_AGENTS,
// RF_ACCEPT_KILLS and RF_SANITIZED). Label `cluster`; a few minutes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "agent/trust_root.h"
#include "acceptance_fleet.h"
#include "demo/process_group.h"
#include "platform/env.h"
#include "server_harness.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::e2e {
namespace {

using rf::testing::ReadFileOrDie;
using rf::testing::WaitFor;
using std::chrono::seconds;

constexpr char kChannel[] = "291";

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}
int64_t Mono() { return PosixEnv().clock->MonotonicMicros(); }
double SecondsSince(int64_t t0) { return static_cast<double>(Mono() - t0) / 1e6; }
void Sleep(double s) { demo::SleepMs(static_cast<int64_t>(s * 1000)); }

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// The staged plan: a stratified canary (1 %, at least 2 per stratum, as the demo's), then 25 %
// and everyone. Silence after 10 s of a 2-3 s poll interval: generous under load.
std::string Plan(int canary_bake_s) {
  return "plan: accept-staged\n"
         "waves:\n"
         "  - {name: canary, devices: 1%, stratify: [os, agent_version], min_per_stratum: 2, "
         "dispatch: 2s, bake: " +
         std::to_string(canary_bake_s) +
         "s}\n"
         "  - {name: quarter, devices: 25%, dispatch: 2s, bake: 5s}\n"
         "  - {name: all, devices: 100%, dispatch: 2s, bake: 3s}\n"
         "gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 10s, "
         "confirm_after: 6s, holdback: 1%}\n"
         "on_failure: rollback\n";
}

// ----- the replicas -----

class Replicas {
 public:
  Replicas(std::string uri, const rf::testing::TempDir& dir, bool sanitized)
      : uri_(std::move(uri)), sanitized_(sanitized) {
    for (int i = 0; i < 3; ++i) {
      port_[i] = FreePort();
      data_[i] = dir.File("r" + std::to_string(i + 1));
      log_[i] = data_[i] + ".log";
    }
  }

  // Starts replica i (its data dir, port and log are fixed); the first one made the secrets.
  void Start(int i) {
    if (i > 0 && !std::filesystem::exists(data_[i] + "/admin.token")) {
      std::filesystem::create_directories(data_[i]);
      std::filesystem::permissions(data_[i], std::filesystem::perms::owner_all);
      for (const char* f : {"admin.token", "agent.token", "release.key", "session.secret"}) {
        std::filesystem::copy_file(data_[0] + "/" + f, data_[i] + "/" + f);
      }
    }
    ServerOptions o;
    o.tick_ms = 250;
    o.poll_after_s = 2;
    o.flush_ms = 1000;
    o.stderr_path = log_[i];
    o.listen = "127.0.0.1:" + std::to_string(port_[i]);
    o.extra_args = {"--store", uri_,
                    "--lease-ms", "4000", "--lease-renew-ms", "1000"};
    if (skip_layer1_) o.extra_args.push_back("--skip-layer1");
    if (sanitized_) o.extra_args.insert(o.extra_args.end(), {"--layer2-memory-mb", "0"});
    for (const char* mode : {"legacy", "correct"}) {
      if (skip_layer1_) break;  // layer 4 isolated: layer 2 off too
      o.extra_args.push_back("--consumer");
      o.extra_args.push_back(testing::BinaryPath("examples/sensor/ringfence-sensor") +
                             " --integration " + mode);
    }
    server_[i] = std::make_unique<ServerProcess>(data_[i], o);
    ASSERT_EQ(server_[i]->port(), port_[i]) << ReadFileOrDie(log_[i]);
  }
  void set_skip_layer1(bool v) { skip_layer1_ = v; }

  bool Alive(int i) const { return server_[i] && server_[i]->pid() > 0; }
  bool Kill(int i) { return server_[i]->KillNine(); }
  int Terminate(int i) { return server_[i]->Terminate(); }
  int port(int i) const { return port_[i]; }
  const std::string& data(int i) const { return data_[i]; }
  const std::string& log(int i) const { return log_[i]; }

  // The last "controller: " line of replica i's log (its newest process's state; the log is
  // appended to across restarts). Reads only what was added since the last call.
  std::string ControllerLine(int i) const {
    std::ifstream in(log_[i], std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset_[i]));
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a partial line: read again next time
      offset_[i] += line.size() + 1;
      if (const size_t at = line.find("controller: "); at != std::string::npos) {
        last_[i] = line.substr(at);
      }
    }
    return last_[i];
  }
  // The live replica whose newest log line says it was elected, and its fencing epoch; -1 if none.
  int Leader(int64_t* epoch = nullptr) const {
    for (int i = 0; i < 3; ++i) {
      if (!Alive(i)) continue;
      const std::string line = ControllerLine(i);
      if (line.find("elected") == std::string::npos) continue;
      if (epoch) {
        const size_t at = line.find("epoch ");
        *epoch = at == std::string::npos ? -1 : std::atoll(line.c_str() + at + 6);
      }
      return i;
    }
    return -1;
  }

 private:
  std::string uri_;
  bool sanitized_;
  bool skip_layer1_ = false;
  int port_[3];
  std::string data_[3], log_[3];
  mutable size_t offset_[3] = {0, 0, 0};
  mutable std::string last_[3];
  std::unique_ptr<ServerProcess> server_[3];
};

// ----- the test -----

struct Acked {  // an operator action answered 2xx
  std::string release, action, who;
};

class ClusterAcceptance : public ::testing::Test {
 protected:
  void SetUp() override {
    agents_ = EnvInt("RF_ACCEPT_AGENTS", 300);
    kills_target_ = EnvInt("RF_ACCEPT_KILLS", 20);
    sanitized_ = EnvInt("RF_SANITIZED", 0) != 0;
    const unsigned seed = static_cast<unsigned>(EnvInt("RF_ACCEPT_SEED", 13));
    rng_.seed(seed);
    std::printf("cluster acceptance: %d agents, %d leader kills, seed %u%s\n", agents_,
                kills_target_, seed, sanitized_ ? ", sanitized build" : "");
    samples_ = LoadCf291Samples();
  }
  void TearDown() override {
    fleet_.reset();
    if (haproxy_.running()) haproxy_.Signal(SIGKILL);
    haproxy_ = demo::ChildProcess();
    replicas_.reset();
  }

  // ---- infrastructure ----
  void StartCluster();
  void Provision();
  void StartFleet();
  // Waits (tending the hosts) until done() or the deadline; false on timeout.
  bool Until(const std::function<bool()>& done, int deadline_s) {
    const int64_t end = Mono() + static_cast<int64_t>(deadline_s) * 1'000'000;
    while (true) {
      if (fleet_) fleet_->Tend(bad_version_);
      if (done()) return true;
      if (Mono() > end) return false;
      Sleep(0.1);
    }
  }
  // An operator request through HAProxy, retried while no replica answers it (502/503/504 or a
  // dropped connection while one was being killed) and while `retry_on` says so.
  // Retried only while no replica answers (HAProxy's 502/503/504 during a kill).
  Response Call(const std::string& method, const std::string& path, const std::string& token,
                const std::string& body = "") {
    Response r;
    Until([&] {
      r = front_->Do(method, path, token, body);
      return !(r.status == 0 || r.status == 502 || r.status == 503 || r.status == 504);
    }, 120);
    return r;
  }
  json::object Progress(const std::string& id) {
    return Call("GET", "/v1/releases/" + id + "/progress", admin_).Object();
  }

  // ---- the release flow ----
  std::string Upload(const Bundle& b, int64_t version, Response* refusal = nullptr);
  std::string CreateApproveStart(const std::string& sha, int canary_bake_s);
  void Operator(const std::string& id, const std::string& action, const std::string& reason = "");
  // Good release at `version` to Completed while killing the leader at random points.
  void ShipGoodWithKills(int64_t version, bool pause_once, bool halt_midway);
  void ShipCf291();

  // ---- failures ----
  // kill -9 of the elected controller; the time until another replica is elected (recorded); the
  // killed replica started again.
  void KillLeader(const std::string& during);
  void KillAgentsReplica();
  void ExpectHaltedStays(const std::string& id, int64_t wave, int kills);
  int AgentsReplica();

  void VerifyAfterwards();
  // For a failure message: each replica's view of release `id` (phase, reason, gate, exposure per
  // wave, its cohort size) and its controller state.
  std::string Diagnose(const std::string& id);

  int agents_ = 300, kills_target_ = 20;
  bool sanitized_ = false;
  std::mt19937 rng_;
  Cf291Samples samples_;
  std::unique_ptr<testing::PgTestServer> pg_;
  std::unique_ptr<rf::testing::TempDir> dir_ = std::make_unique<rf::testing::TempDir>();
  std::unique_ptr<Replicas> replicas_;
  demo::ChildProcess haproxy_;
  int front_port_ = 0;
  std::unique_ptr<HttpConnection> front_;
  std::string admin_;
  crypto::SigningKey author_key_ = crypto::SigningKey::Generate();
  Principal alice_, olivia_;
  std::vector<Principal> reviewers_;
  std::unique_ptr<Fleet> fleet_;
  int64_t bad_version_ = -1;
  int64_t last_good_ = -1;
  std::vector<Acked> acked_;
  std::vector<double> takeovers_s_;
  std::vector<std::string> kill_points_;
  std::map<std::string, int64_t> halted_wave_;  // release -> wave when its halt was acknowledged
};

void ClusterAcceptance::StartCluster() {
  auto pg = testing::PgTestServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  pg_ = std::move(*pg);
  ASSERT_TRUE(pg_->CreateDatabase("ringfence").ok());
  replicas_ = std::make_unique<Replicas>(pg_->Uri("ringfence"), *dir_, sanitized_);
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(replicas_->Start(i));
  ASSERT_TRUE(WaitFor([&] { return replicas_->Leader() >= 0; }, seconds(60)));
  admin_ = Trim(ReadFileOrDie(replicas_->data(0) + "/admin.token"));

  // HAProxy on deploy/haproxy.cfg as is, the addresses from the environment (as cluster.sh).
  front_port_ = FreePort();
  setenv("RF_FRONT", ("127.0.0.1:" + std::to_string(front_port_)).c_str(), 1);
  for (int i = 0; i < 3; ++i) {
    setenv(("RF_REPLICA" + std::to_string(i + 1)).c_str(),
           ("127.0.0.1:" + std::to_string(replicas_->port(i))).c_str(), 1);
  }
  demo::ProcessSpec spec;
  spec.argv = {"/usr/sbin/haproxy", "-f", testing::SourcePath("deploy/haproxy.cfg"), "-db"};
  spec.stderr_path = dir_->File("haproxy.log");
  auto hp = demo::ChildProcess::Spawn(spec);
  ASSERT_TRUE(hp.ok()) << hp.status().ToString();
  haproxy_ = std::move(*hp);
  front_ = std::make_unique<HttpConnection>(front_port_);
  ASSERT_TRUE(WaitFor([&] { return front_->Do("GET", "/healthz", "").status == 200; }, seconds(60)))
      << ReadFileOrDie(dir_->File("haproxy.log"));
}

void ClusterAcceptance::Provision() {
  Response r = Call("POST", "/v1/content-types", admin_, "{\"yaml\":" + Quote(samples_.type_yaml) + "}");
  ASSERT_EQ(r.status / 100, 2) << r.body;
  const std::string pub = crypto::EncodePublicKeyFile(author_key_.public_key());
  r = Call("PUT", std::string("/v1/policies/") + kChannel, admin_,
           "{\"approvals\":2,\"roles\":[\"reviewer\"],\"publisher_keys\":[" + Quote(pub) +
               "],\"publisher_threshold\":1}");
  ASSERT_EQ(r.status / 100, 2) << r.body;
  alice_ = CreatePrincipal(*front_, admin_, "alice", {"author"}, false);
  for (const char* name : {"bob", "carol", "dave"}) {
    reviewers_.push_back(CreatePrincipal(*front_, admin_, name, {"reviewer"}, true));
  }
  olivia_ = CreatePrincipal(*front_, admin_, "olivia", {"operator"}, false);
  // Every replica has seen the last change (changes are applied in order).
  for (int i = 0; i < 3; ++i) {
    HttpConnection direct(replicas_->port(i));
    ASSERT_TRUE(WaitFor([&] { return direct.Do("GET", "/v1/whoami", olivia_.token).status == 200; },
                        seconds(60)));
  }
  // The trust root every agent is provisioned with: the release key, alice, the reviewers (2).
  const std::string agent_token = Trim(ReadFileOrDie(replicas_->data(0) + "/agent.token"));
  r = Call("GET", "/v1/trust", agent_token);
  ASSERT_EQ(r.status, 200) << r.body;
  agent::TrustRoot trust;
  const json::object trust_answer = r.Object();
  for (const auto& k : trust_answer.at("release_keys").as_array()) {
    auto key = crypto::DecodePublicKeyFile(k.as_string());
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    trust.release_keys.push_back(*key);
  }
  trust.publisher_keys = {author_key_.public_key()};
  trust.publisher_threshold = 1;
  for (const auto& p : reviewers_) trust.reviewer_keys.push_back(p.key->public_key());
  trust.approval_threshold = 2;
  rf::testing::WriteFileOrDie(dir_->File("trust.json"), agent::EncodeTrustRoot(trust));
}

int ClusterAcceptance::AgentsReplica() {
  int best = -1;
  int64_t most = 0;
  for (int i = 0; i < 3; ++i) {
    if (!replicas_->Alive(i)) continue;
    HttpConnection direct(replicas_->port(i));
    const int64_t seen = Int(direct.Do("GET", "/v1/fleet/summary?scope=replica", admin_).Object(), "seen_recently");
    if (seen > most) most = seen, best = i;
  }
  return best;
}

void ClusterAcceptance::StartFleet() {
  FleetOptions o;
  o.agents = agents_;
  o.dir = dir_->File("hosts");
  o.server_url = "http://127.0.0.1:" + std::to_string(front_port_);
  o.token_path = replicas_->data(0) + "/agent.token";
  o.trust_path = dir_->File("trust.json");
  o.sanitized = sanitized_;
  const int64_t t0 = Mono();
  fleet_ = std::make_unique<Fleet>(o);
  // Every device checked in recently on some replica.
  ASSERT_TRUE(Until([&] {
    int64_t seen = 0;
    for (int i = 0; i < 3; ++i) {
      HttpConnection direct(replicas_->port(i));
      seen += Int(direct.Do("GET", "/v1/fleet/summary?scope=replica", admin_).Object(), "seen_recently");
    }
    return seen >= agents_;
  }, 300)) << "the fleet did not check in";
  std::printf("%d agents started and checked in after %.1f s (agents' replica: r%d)\n", agents_,
              SecondsSince(t0), AgentsReplica() + 1);
}

// ---- releases ----

std::string ClusterAcceptance::Upload(const Bundle& b, int64_t version, Response* refusal) {
  Response r = Call("POST", "/v1/bundles", alice_.token, UploadBody(samples_, b, version, author_key_));
  if (r.status / 100 == 2) return Str(r.Object(), "sha256");
  if (refusal) {
    *refusal = r;
  } else {
    ADD_FAILURE() << "upload of v" << version << " refused: " << r.body;
  }
  return "";
}

std::string ClusterAcceptance::CreateApproveStart(const std::string& sha, int canary_bake_s) {
  Response r = Call("POST", "/v1/releases", alice_.token,
                    "{\"bundle_sha256\":" + Quote(sha) + ",\"plan_yaml\":" + Quote(Plan(canary_bake_s)) + "}");
  EXPECT_EQ(r.status, 201) << r.body;
  const std::string id = Str(r.Object(), "release_id");
  if (id.empty()) return id;
  for (int i = 0; i < 2; ++i) {
    // Whichever replica HAProxy picks serves what another acknowledged (docs/deploy.md "Any
    // replica takes any request"): nothing is retried but a replica that is down.
    Response got = Call("GET", "/v1/releases/" + id, reviewers_[i].token);
    EXPECT_EQ(got.status, 200) << got.body;
    Response a = Call("POST", "/v1/releases/" + id + "/approvals", reviewers_[i].token,
                      SignedApprovalBody(got.Object(), reviewers_[i]));
    EXPECT_EQ(a.status / 100, 2) << a.body;
    if (a.status / 100 == 2) acked_.push_back({id, "release.approve", reviewers_[i].name});
  }
  Response s = Call("POST", "/v1/releases/" + id + "/start", olivia_.token, "{}");
  EXPECT_EQ(s.status / 100, 2) << s.body;
  if (s.status / 100 == 2) acked_.push_back({id, "release.start", "olivia"});
  return id;
}

void ClusterAcceptance::Operator(const std::string& id, const std::string& action,
                                 const std::string& reason) {
  const std::string body = reason.empty() ? "{}" : "{\"reason\":" + Quote(reason) + "}";
  Response r = Call("POST", "/v1/releases/" + id + "/" + action, olivia_.token, body);
  ASSERT_EQ(r.status / 100, 2) << action << " " << id << ": " << r.body;
  acked_.push_back({id, "release." + action, "olivia"});
  if (action == "halt") {
    const json::object o = r.Object();
    const auto* rel = o.if_contains("release");
    ASSERT_TRUE(rel && rel->is_object()) << r.body;
    halted_wave_[id] = Int(rel->as_object(), "wave");
  }
}


// ---- failures ----

void ClusterAcceptance::KillLeader(const std::string& during) {
  int64_t old_epoch = -1, new_epoch = -1;
  int old = -1, now = -1;
  ASSERT_TRUE(Until([&] { return (old = replicas_->Leader(&old_epoch)) >= 0; }, 120))
      << "no elected controller";
  const int64_t t0 = Mono();
  ASSERT_TRUE(replicas_->Kill(old)) << "r" << old + 1 << " had already exited";
  // The deadline of the wait is generous; the bound (10 s) is checked on what it took.
  ASSERT_TRUE(Until([&] {
    now = replicas_->Leader(&new_epoch);
    return now >= 0 && now != old;
  }, 120)) << "no replica took over from r" << old + 1;
  const double took = SecondsSince(t0);
  EXPECT_GT(new_epoch, old_epoch);
  EXPECT_LE(took, 10.0) << "takeover after killing r" << old + 1 << " " << during;
  takeovers_s_.push_back(took);
  kill_points_.push_back(during);
  std::printf("kill %zu: r%d (epoch %lld) killed %s; r%d elected (epoch %lld) after %.2f s\n",
              takeovers_s_.size(), old + 1, static_cast<long long>(old_epoch), during.c_str(),
              now + 1, static_cast<long long>(new_epoch), took);
  std::fflush(stdout);
  ASSERT_NO_FATAL_FAILURE(replicas_->Start(old));
}

// kill -9 of the replica the agents check in on (HAProxy hashes their one source address to
// one replica) while it does not lead; it is started again after its agents moved.
void ClusterAcceptance::KillAgentsReplica() {
  const int victim = AgentsReplica();
  ASSERT_GE(victim, 0);
  const int leader = replicas_->Leader();
  if (victim == leader) {
    std::printf("the agents' replica r%d leads; killing the leader first\n", victim + 1);
    ASSERT_NO_FATAL_FAILURE(KillLeader("(to make the agents' replica a follower)"));
    return KillAgentsReplica();
  }
  ASSERT_TRUE(replicas_->Kill(victim));
  const int64_t t0 = Mono();
  // Its agents carry on through the others: all of them check in on the survivors.
  ASSERT_TRUE(Until([&] {
    int64_t seen = 0;
    for (int i = 0; i < 3; ++i) {
      if (i == victim || !replicas_->Alive(i)) continue;
      HttpConnection direct(replicas_->port(i));
      seen += Int(direct.Do("GET", "/v1/fleet/summary?scope=replica", admin_).Object(), "seen_recently");
    }
    return seen >= fleet_->size() - fleet_->Facts(bad_version_).down;
  }, 180)) << "the agents of r" << victim + 1 << " did not move to the other replicas";
  std::printf("non-leader r%d (the agents' replica) killed: its agents check in on the others "
              "after %.1f s\n", victim + 1, SecondsSince(t0));
  ASSERT_NO_FATAL_FAILURE(replicas_->Start(victim));
}

// A halted release keeps its wave while the leader is killed `kills` times.
void ClusterAcceptance::ExpectHaltedStays(const std::string& id, int64_t wave, int kills) {
  for (int k = 0; k < kills; ++k) {
    Until([] { return false; }, 1 + static_cast<int>(rng_() % 4));
    ASSERT_NO_FATAL_FAILURE(KillLeader("after the halt of " + id));
    Until([] { return false; }, 3);  // the new leader steps the release a few times
    json::object p = Progress(id);
    EXPECT_EQ(Int(p, "wave"), wave) << id << " advanced after its halt";
    const std::string phase = Str(p, "phase");
    EXPECT_TRUE(phase == "Halted" || phase == "RolledBack") << id << ": " << phase;
  }
}

// ---- releases ----

void ClusterAcceptance::ShipGoodWithKills(int64_t version, bool pause_once, bool halt_midway) {
  const std::string sha = Upload(samples_.good, version);
  ASSERT_FALSE(sha.empty());
  const std::string id = CreateApproveStart(sha, /*canary_bake_s=*/5);
  ASSERT_FALSE(id.empty());
  const int64_t t0 = Mono();
  std::printf("release %s (v%lld) started\n", id.c_str(), static_cast<long long>(version));
  std::string phase;
  int64_t wave = -1;
  auto look = [&] {
    json::object p = Progress(id);
    phase = Str(p, "phase");
    wave = Int(p, "wave");
    return phase == "Completed" || phase == "Halted" || phase == "RolledBack";
  };
  const int kills_reserved = 2;  // after CF291's halt
  while (!look()) {
    if (halt_midway && wave >= 1) {
      Operator(id, "halt", "acceptance: an operator halt mid-rollout");
      ASSERT_NO_FATAL_FAILURE(ExpectHaltedStays(id, halted_wave_[id], 2));
      return;
    }
    if (static_cast<int>(takeovers_s_.size()) >= kills_target_ - kills_reserved) {
      ASSERT_TRUE(Until(look, 300)) << id << " stuck in " << phase << " wave " << wave
                                    << Diagnose(id);
      break;
    }
    // A random point of the rollout: 0.5-8 s from here.
    const int64_t until = Mono() + static_cast<int64_t>((0.5 + (rng_() % 76) / 10.0) * 1e6);
    Until([&] { return Mono() >= until; }, 60);
    if (look()) break;
    const std::string during = "in " + id + " " + phase + " wave " + std::to_string(wave);
    if (pause_once) {
      pause_once = false;
      Operator(id, "pause", "acceptance: paused across a leader kill");
      const int64_t paused_wave = Int(Progress(id), "wave");
      ASSERT_NO_FATAL_FAILURE(KillLeader(during + " (paused)"));
      Until([] { return false; }, 3);
      json::object p = Progress(id);
      EXPECT_EQ(Str(p, "phase"), "Paused") << "a paused release moved on after the kill";
      EXPECT_EQ(Int(p, "wave"), paused_wave);
      Operator(id, "resume");
      continue;
    }
    ASSERT_NO_FATAL_FAILURE(KillLeader(during));
  }
  ASSERT_EQ(phase, "Completed") << id << Diagnose(id);
  // Every device up runs it (checked from the agents' own state).
  ASSERT_TRUE(Until([&] {
    FleetFacts f = fleet_->Facts(bad_version_);
    return f.by_version.size() == 1 && f.by_version.begin()->first == version;
  }, 300)) << "not every device runs v" << version;
  last_good_ = version;
  std::printf("release %s completed; every device on v%lld after %.1f s\n", id.c_str(),
              static_cast<long long>(version), SecondsSince(t0));
}

void ClusterAcceptance::ShipCf291() {
  bad_version_ = last_good_ + 1;
  // Every layer on: layer 1 refuses CF291 on whichever replica takes the upload (HAProxy's
  // round robin: three uploads, three replicas).
  for (int i = 0; i < 3; ++i) {
    Response refusal;
    const std::string sha = Upload(samples_.bad, bad_version_, &refusal);
    EXPECT_TRUE(sha.empty()) << "CF291 accepted with every layer on (upload " << i + 1 << ")";
    EXPECT_NE(refusal.body.find("peer_pipe_regex"), std::string::npos) << refusal.body;
  }
  // Layer 4 isolated: the replicas restarted one by one with --skip-layer1 (no layer 2).
  replicas_->set_skip_layer1(true);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(replicas_->Terminate(i), 0);
    ASSERT_NO_FATAL_FAILURE(replicas_->Start(i));
    ASSERT_TRUE(Until([&] { return replicas_->Leader() >= 0; }, 120));
  }
  const std::string sha = Upload(samples_.bad, bad_version_);
  ASSERT_FALSE(sha.empty());
  const std::string id = CreateApproveStart(sha, /*canary_bake_s=*/30);
  ASSERT_FALSE(id.empty());
  const int64_t t0 = Mono();
  std::string phase;
  json::object p;
  ASSERT_TRUE(Until([&] {
    p = Progress(id);
    phase = Str(p, "phase");
    return phase == "Halted" || phase == "RolledBack" || phase == "Completed";
  }, 600)) << "CF291's release did not finish" << Diagnose(id);
  const double to_halt = SecondsSince(t0);
  ASSERT_TRUE(phase == "Halted" || phase == "RolledBack") << json::serialize(p);
  halted_wave_[id] = Int(p, "wave");
  // The gate halted it; it never advances, across kills of the leader.
  ASSERT_NO_FATAL_FAILURE(ExpectHaltedStays(id, halted_wave_[id], 2));
  EXPECT_TRUE(Until([&] { return Str(Progress(id), "phase") == "RolledBack" && fleet_->Settled(); }, 300))
      << "CF291 not rolled back / hosts not settled: " << json::serialize(Progress(id));
  FleetFacts f = fleet_->Facts(bad_version_);
  std::printf("CF291 (%s): halted in wave %lld after %.1f s (seen by the test); devices %d, "
              "affected %d, exposed %d, harmed %d, down %d\n", id.c_str(),
              static_cast<long long>(halted_wave_[id]), to_halt, f.devices, f.affected, f.exposed,
              f.harmed, f.down);
  EXPECT_EQ(halted_wave_[id], 0) << "CF291 left the canary";
  EXPECT_GT(f.harmed, 0);
  // At most 5 % of the affected devices, or the canary's floor (2 devices in each of the fleet's
  // three strata), whichever is more: one node harms the floor's affected devices at least, and
  // in the sanitizer builds' 60-device fleet the floor is above 5 % (300 devices: 5 % is above it).
  constexpr int kCanaryFloorDevices = 2 * 3;
  EXPECT_LE(f.harmed, std::max(f.affected / 20, kCanaryFloorDevices))
      << "more than 5 % of the affected devices (or the canary floor) harmed";
  // Layer 5 is off: a harmed host stays down unless the rollback reached it between its crashed
  // boots (it is then back on the last good version: below). Only harmed hosts are down.
  EXPECT_LE(f.down, f.harmed);
  // The others are back on the last good version.
  for (const auto& [version, n] : f.by_version) {
    EXPECT_EQ(version, last_good_) << n << " devices on v" << version;
  }
}

// ---- afterwards ----

std::string ClusterAcceptance::Diagnose(const std::string& id) {
  std::string out;
  for (int i = 0; i < 3; ++i) {
    out += "\n  r" + std::to_string(i + 1) + " (" + replicas_->ControllerLine(i) + "): ";
    if (!replicas_->Alive(i)) {
      out += "down";
      continue;
    }
    HttpConnection direct(replicas_->port(i));
    const json::object p = direct.Do("GET", "/v1/releases/" + id + "/progress", admin_).Object();
    out += Str(p, "phase") + " wave " + std::to_string(Int(p, "wave")) + " (" + Str(p, "reason") + ")";
    if (const auto* g = p.if_contains("progress"); g && g->is_object()) {
      const json::object& o = g->as_object();
      out += "; eligible " + std::to_string(Int(o, "eligible_devices")) + ", exposed " +
             std::to_string(Int(o, "exposed_devices")) + ", harmed " +
             std::to_string(Int(o, "harmed_devices")) + ", gate " + Str(o, "gate_state") + ": " +
             Str(o, "gate_detail");
    }
  }
  return out;
}

void ClusterAcceptance::VerifyAfterwards() {
  Response v = Call("GET", "/v1/audit/verify", admin_);
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_TRUE(v.Object().at("ok").as_bool()) << v.body;
  // Every acknowledged action is in the audit log (the store), by subject, action and actor.
  std::multiset<std::string> logged;
  for (int64_t after = 0;;) {
    Response page = Call("GET", "/v1/audit?after=" + std::to_string(after) + "&limit=1000", admin_);
    ASSERT_EQ(page.status, 200) << page.body;
    const json::object body = page.Object();
    const auto& entries = body.at("entries").as_array();
    for (const auto& e : entries) {
      const auto& o = e.as_object();
      after = std::max(after, Int(o, "seq"));
      logged.insert(Str(o, "subject") + " " + Str(o, "action") + " " + Str(o, "actor"));
    }
    if (entries.size() < 1000) break;
  }
  for (const Acked& a : acked_) {
    if (logged.count(a.release + " " + a.action + " " + a.who) == 0) {
      std::string of_release;
      for (const auto& l : logged) {
        if (l.rfind(a.release + " ", 0) == 0) of_release += "\n  " + l;
      }
      ADD_FAILURE() << "acknowledged but not in the audit log: " << a.release << " " << a.action
                    << " by " << a.who << "; the release's entries:" << of_release;
    }
    if (a.action != "release.approve") continue;
    Response r = Call("GET", "/v1/releases/" + a.release, admin_);
    EXPECT_NE(r.body.find("\"reviewer\":\"" + a.who + "\""), std::string::npos)
        << "acknowledged approval by " << a.who << " missing on " << a.release;
  }
  // Devices per version: the agents' replica's inventory against the agents' own state.
  FleetFacts f = fleet_->Facts(bad_version_);
  const int at = AgentsReplica();
  ASSERT_GE(at, 0);
  std::map<int64_t, int64_t> server_view;
  HttpConnection direct(replicas_->port(at));
  EXPECT_TRUE(Until([&] {
    server_view.clear();
    json::object s = direct.Do("GET", "/v1/fleet/summary?scope=replica", admin_).Object();
    const auto* chans = s.if_contains("channels");
    if (!chans || !chans->is_array()) return false;
    for (const auto& c : chans->as_array()) {
      if (Str(c.as_object(), "channel") != kChannel) continue;
      for (const auto& ver : c.as_object().at("versions").as_array()) {
        server_view[Int(ver.as_object(), "version")] += Int(ver.as_object(), "devices");
      }
    }
    // Devices down for good (harmed) stay in the inventory with what they last reported.
    return server_view[last_good_] == f.by_version[last_good_];
  }, 120)) << "r" << at + 1 << " reports " << server_view[last_good_] << " devices on v"
           << last_good_ << ", the agents " << f.by_version[last_good_];
}

TEST_F(ClusterAcceptance, ThreeReplicasHAProxyAndRealAgentsSurviveLeaderKillsAndContainCf291) {
  const int64_t t0 = Mono();
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_NO_FATAL_FAILURE(Provision());
  ASSERT_NO_FATAL_FAILURE(StartFleet());
  int64_t version = samples_.good.version;
  ASSERT_NO_FATAL_FAILURE(ShipGoodWithKills(version++, /*pause_once=*/true, false));
  ASSERT_NO_FATAL_FAILURE(KillAgentsReplica());
  ASSERT_NO_FATAL_FAILURE(ShipGoodWithKills(version++, false, /*halt_midway=*/true));
  do {
    ASSERT_NO_FATAL_FAILURE(ShipGoodWithKills(version++, false, false));
  } while (static_cast<int>(takeovers_s_.size()) < kills_target_ - 2);
  ASSERT_NO_FATAL_FAILURE(ShipCf291());
  ASSERT_NO_FATAL_FAILURE(VerifyAfterwards());

  std::vector<double> t = takeovers_s_;
  ASSERT_GE(static_cast<int>(t.size()), kills_target_);
  std::sort(t.begin(), t.end());
  std::printf("%zu leader kills: takeover min %.2f s, median %.2f s, max %.2f s; wall %.0f s; "
              "load average %s\n", t.size(), t.front(), t[t.size() / 2], t.back(), SecondsSince(t0),
              ReadFileOrDie("/proc/loadavg").c_str());
}

}  // namespace
}  // namespace rf::e2e
