// Gate evidence summed across replicas (docs/deploy.md "Gate evidence across replicas"): two
// in-process servers ("replicas") on one real PostgreSQL (testing/pg_test_server.h), each with its
// own fleet inventory, check-in API and controller, sharing the release state (a FakeDirectory
// stands in for the release service: fencing and compare-and-set on PostgreSQL are
// src/cluster/cluster_test.cc's), the controller lease and the gate_counts/gate_evidence tables.
// Devices check in split across the replicas.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/leader_lease.h"
#include "cluster/pg_gate_evidence.h"
#include "platform/sim_env.h"
#include "server/agent_api.h"
#include "server/controller.h"
#include "server/controller_testing.h"
#include "store/pg_store.h"
#include "testing/pg_test_server.h"

namespace rf::server {
namespace {

constexpr int64_t kMinute = 60'000'000;
constexpr int64_t kStep = 30'000'000;
constexpr char kToken[] = "agent-token-0123456789";

// A canary floor of 2 per stratum (os) and a share so small that only the floor picks devices.
constexpr char kFloorPlan[] = R"(plan: floors
waves:
  - {name: canary, devices: 0.01%, stratify: [os], min_per_stratum: 2, dispatch: 1s, bake: 10m}
  - {name: all, devices: 100%, dispatch: 10m, bake: 10m}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 90s, holdback: 1%}
on_failure: rollback
)";

DeviceCredentialsOptions LongSessions() {
  DeviceCredentialsOptions o;
  o.session_ttl_s = 30 * 86400;
  return o;
}

// One server: its own store connections, inventory, credentials, controller and check-in API.
struct Replica {
  Replica(const std::string& uri, const std::string& name, FakeDirectory& dir, Clock& clock,
          Filesystem& fs, Random& random)
      : store(*store::PgStore::Open(uri)),
        evidence(*store),
        lease(*store, clock, LeaseOptions(name)),
        inventory(Env{&clock, &fs, &random}, {}),
        credentials(Env{&clock, &fs, &random}, LongSessions()) {
    ControllerOptions o;
    o.fencing_epoch = [this] { return lease.Epoch(); };
    o.evidence = &evidence;
    o.replica = name;
    o.save_every_micros = 1;  // every tick: the failover test compares with the last tick
    controller = std::make_unique<Controller>(
        dir, inventory, clock, *crypto::SigningKey::FromSeed(std::string(32, 'k')), o);
    api = std::make_unique<AgentApi>(inventory, credentials, *controller, dir, clock, metrics,
                                     kToken, "{}");
  }
  static cluster::LeaseKeeperOptions LeaseOptions(const std::string& name) {
    cluster::LeaseKeeperOptions o;
    o.lease_micros = 6'000'000;
    o.renew_micros = 2'000'000;
    o.holder = name;
    return o;
  }

  std::unique_ptr<store::PgStore> store;
  cluster::PgGateEvidence evidence;
  cluster::LeaseKeeper lease;
  FleetInventory inventory;
  DeviceCredentials credentials;
  ServerMetrics metrics;
  std::unique_ptr<Controller> controller;
  std::unique_ptr<AgentApi> api;
};

struct Dev {
  std::string id;
  std::string os;
  EnrollRequest enroll;
  int home = 0;  // the replica it checks in on
  int64_t seq = 0;
  int64_t version = 0;
  std::string sha;
  std::string session[2];  // a session token from each replica
};

class GateAcrossReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = rf::testing::FreshPgTestDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    uri_ = *uri;
    for (const char* name : {"replica-a", "replica-b"}) {
      replicas_.push_back(std::make_unique<Replica>(uri_, name, dir_, clock_, fs_, random_));
    }
    // A leads (it asks first), B follows.
    ASSERT_TRUE(R(0).lease.Attempt().ok());
    ASSERT_TRUE(R(1).lease.Attempt().ok());
    ASSERT_GT(R(0).lease.Epoch(), 0);
    ASSERT_EQ(R(1).lease.Epoch(), 0);
  }
  void TearDown() override {
    replicas_.clear();
  }
  Replica& R(int i) { return *replicas_[static_cast<size_t>(i)]; }

  // `n` devices, even ones checking in on A, odd ones on B (or on `home(i)`); known to both (they
  // may move).
  void Enroll(int n, const std::function<int(int)>& home = nullptr) {
    for (int i = 0; i < n; ++i) {
      EnrollRequest e;
      e.device_id = "d-" + std::to_string(i);
      e.attrs = {{"os", i % 4 < 2 ? "linux" : "windows"}, {"tenant", "other"}};
      e.capabilities["ipc_rule"] = ConsumerCapability{{3}, 20, 0, 0};
      Dev d;
      d.id = e.device_id;
      d.os = e.attrs["os"];
      d.enroll = e;
      d.home = home ? home(i) : i % 2;
      crypto::PublicKey key;
      key.bytes[0] = static_cast<uint8_t>(i);
      key.bytes[1] = static_cast<uint8_t>(i >> 8);
      const int64_t now_s = clock_.NowUnixMicros() / 1'000'000;
      for (int r = 0; r < 2; ++r) {
        if (r == d.home) R(r).inventory.Enroll(e, clock_.NowUnixMicros());
        auto reg = R(r).credentials.Register(e.device_id, key, now_s);
        ASSERT_TRUE(reg.ok()) << reg.status().ToString();
        d.session[r] = R(r).credentials.IssueSession(e.device_id, reg->epoch, now_s);
      }
      devices_.push_back(std::move(d));
    }
  }

  // One check-in of `d` on its replica, reporting `crashes`; applies installs and reverts.
  void CheckIn(Dev& d, int crashes) {
    std::string body = R"({"device_id":")" + d.id + R"(","seq":)" + std::to_string(++d.seq);
    if (d.version > 0) {
      body += R"(,"channels":{"291":{"current":{"version":)" + std::to_string(d.version) +
              R"(,"sha256":")" + d.sha + R"("}}})";
    }
    if (crashes > 0) body += R"(,"health":{"crashes":)" + std::to_string(crashes) + "}";
    body += "}";
    auto res = R(d.home).api->Handle(
        HttpRequest{"POST", "/v1/agent/checkin", {}, d.session[d.home], body});
    ASSERT_TRUE(res.has_value());
    ASSERT_EQ(res->status, 200) << res->body;
    auto v = boost::json::parse(res->body).as_object();
    if (auto* c = v["channels"].as_object().if_contains("291")) {
      auto& o = c->as_object();
      if (o["action"].as_string() == "install") {
        d.version = o["version"].as_int64();
        d.sha = std::string(o["sha256"].as_string());
      } else if (o["action"].as_string() == "revert") {
        d.version = 0;
      }
    }
  }

  // One step: the clock moves, the follower then the leader tick, every device checks in;
  // devices running the release on replica `crash_home` (-1: none) report a crash.
  void Step(int crash_home = -1) {
    clock_.AdvanceMicros(kStep);
    for (int r : {0, 1}) ASSERT_TRUE(R(r).lease.Attempt().ok());  // A renews first: it keeps leading
    for (int r : {1, 0}) (void)R(r).controller->Tick();
    for (Dev& d : devices_) CheckIn(d, d.home == crash_home && d.version > 0 ? 1 : 0);
  }

  // The ids of the devices of `os` running the release, sorted.
  std::vector<std::string> RunningOf(const std::string& os) const {
    std::vector<std::string> out;
    for (const Dev& d : devices_) {
      if (d.os == os && d.version > 0) out.push_back(d.id);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // The ids of the `n` devices of `os` with the smallest non-holdback ranks for r-1, fleet-wide.
  std::vector<std::string> SmallestOf(const std::string& os, size_t n) const {
    std::vector<std::pair<double, std::string>> ranked;
    for (const Dev& d : devices_) {
      const double rank = rollout::CohortRank("r-1", d.id);
      if (d.os == os && rank < 0.99) ranked.emplace_back(rank, d.id);
    }
    std::sort(ranked.begin(), ranked.end());
    std::vector<std::string> out;
    for (size_t i = 0; i < n && i < ranked.size(); ++i) out.push_back(ranked[i].second);
    std::sort(out.begin(), out.end());
    return out;
  }
  // Replica `r`'s dispatch cutoff of r-1 for the stratum with `key`, or -1.
  double CutoffOf(int r, const std::string& key) {
    const std::vector<StratumStatus> strata = R(r).controller->Strata("r-1");
    const auto snap = R(r).controller->snapshot();
    auto ch = snap->channels.find("291");
    if (ch == snap->channels.end()) return -1;
    for (const ReleaseDispatch& d : ch->second) {
      if (d.release_id != "r-1") continue;
      for (size_t s = 0; s < strata.size() && s < d.cutoff.size(); ++s) {
        if (strata[s].key == key) return d.cutoff[s];
      }
    }
    return -1;
  }

  // Device `d` now checks in on replica `r` (its own replica died or the pool changed).
  void Move(Dev& d, int r) {
    d.home = r;
    R(r).inventory.Enroll(d.enroll, clock_.NowUnixMicros());
  }

  int Running(int home) const {
    int n = 0;
    for (const Dev& d : devices_) n += d.version > 0 && (home < 0 || d.home == home);
    return n;
  }

  // The published counts of `replica` for r-1, summed over strata: (treated crash events, treated).
  std::pair<int64_t, int64_t> Published(const std::string& replica) {
    auto rows = R(0).evidence.Counts("r-1");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    std::pair<int64_t, int64_t> out{0, 0};
    if (!rows.ok()) return out;
    for (const ReplicaCounts& c : *rows) {
      if (c.replica != replica) continue;
      for (const StratumCounts& s : c.strata) {
        out.first += s.treated_events[static_cast<int>(rollout::Signal::kCrash)];
        out.second += s.treated;
      }
    }
    return out;
  }

  std::string uri_;
  SimulatedClock clock_;
  // Enrolls 40 devices (each os stratum split 10/10 across A and B) and starts r-1 with
  // kFloorPlan; the share alone picks none of them.
  void StartFloorRelease() {
    Enroll(40);
    for (const Dev& d : devices_) ASSERT_GE(rollout::CohortRank("r-1", d.id), 0.0001) << d.id;
    dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros(), kFloorPlan);
  }

  MemFilesystem fs_;
  SeededRandom random_{7};
  FakeDirectory dir_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<Dev> devices_;
};

// The regression of the per-replica floor (docs/deploy.md "Cohort floors"): each replica took the
// floor-th smallest rank of ITS share as the cutoff, so with two replicas 4 devices per stratum got
// the canary instead of 2. Now exactly the 2 smallest ranks of each stratum, fleet-wide, and none
// before the replicas' floor summaries are merged (the first tick holds the floor offers).
TEST_F(GateAcrossReplicasTest, CanaryFloorIsFleetWide) {
  StartFloorRelease();
  Step();  // both build their cohorts and publish their summaries: the floors wait
  EXPECT_TRUE(RunningOf("linux").empty());
  EXPECT_TRUE(RunningOf("windows").empty());
  for (int i = 0; i < 3; ++i) Step();
  for (const char* os : {"linux", "windows"}) {
    EXPECT_EQ(RunningOf(os), SmallestOf(os, 2)) << os;
    // Both replicas answer any device of the stratum the same way: one cutoff.
    const std::string key = std::string("os=") + os;
    EXPECT_GT(CutoffOf(0, key), 0);
    EXPECT_EQ(CutoffOf(0, key), CutoffOf(1, key)) << key;
  }
  // Both replicas' canary devices are among them (the floor is not one replica's).
  EXPECT_GT(Running(0), 0);
  EXPECT_GT(Running(1), 0);
  EXPECT_NE(dir_.PhaseOf("r-1"), rollout::Phase::kRolledBack);
}

// A replica dies after the floors settled: its summary stays counted (its row goes stale), its
// devices check in on the survivor, which answers them as the dead one did (the same canary
// devices, no third one); a replica started later (a restart) settles at once on the stored
// summaries and agrees.
TEST_F(GateAcrossReplicasTest, CanaryFloorSurvivesAReplicasDeath) {
  StartFloorRelease();
  for (int i = 0; i < 3; ++i) Step();
  const std::vector<std::string> linux = SmallestOf("linux", 2), windows = SmallestOf("windows", 2);
  ASSERT_EQ(RunningOf("linux"), linux);
  ASSERT_EQ(RunningOf("windows"), windows);
  const double linux_cut = CutoffOf(0, "os=linux"), windows_cut = CutoffOf(0, "os=windows");
  replicas_[1].reset();  // B dies: its devices move to A; its canary devices lost their install
  int moved_canary = 0;
  for (Dev& d : devices_) {
    if (d.home != 1) continue;
    d.home = 0;
    R(0).inventory.Enroll(d.enroll, clock_.NowUnixMicros());
    if (d.version > 0) ++moved_canary;
    d.version = 0;
    d.sha.clear();
  }
  ASSERT_GT(moved_canary, 0);
  for (int i = 0; i < 4; ++i) {
    clock_.AdvanceMicros(kStep);
    ASSERT_TRUE(R(0).lease.Attempt().ok());
    (void)R(0).controller->Tick();
    for (Dev& d : devices_) CheckIn(d, 0);
  }
  EXPECT_EQ(RunningOf("linux"), linux);  // A offered B's canary devices, and no one else
  EXPECT_EQ(RunningOf("windows"), windows);
  EXPECT_EQ(CutoffOf(0, "os=linux"), linux_cut);
  EXPECT_EQ(CutoffOf(0, "os=windows"), windows_cut);
  // A new replica, after the window, with some of the devices: the same cutoffs at its first tick.
  replicas_.push_back(std::make_unique<Replica>(uri_, "replica-c", dir_, clock_, fs_, random_));
  for (Dev& d : devices_) {
    if (d.os == "linux" || d.id == windows[0])
      R(2).inventory.Enroll(d.enroll, clock_.NowUnixMicros());
  }
  clock_.AdvanceMicros(kStep);
  ASSERT_TRUE(R(2).controller->Tick().ok());
  EXPECT_EQ(CutoffOf(2, "os=linux"), linux_cut);
  EXPECT_EQ(CutoffOf(2, "os=windows"), windows_cut);
}

// The regression of issue 13 item 4: crash reports that reach only a follower halt the release.
// Before, the leader's gate counted only its own check-ins: it never saw a crash here.
TEST_F(GateAcrossReplicasTest, CrashesReportedOnlyToTheFollowerHaltTheRelease) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  std::pair<int64_t, int64_t> a{0, 0}, b{0, 0};  // as published before the halt's tick
  for (int i = 0; i < 40 && dir_.PhaseOf("r-1") != rollout::Phase::kRolledBack; ++i) {
    a = Published("replica-a");
    b = Published("replica-b");
    Step(/*crash_home=*/1);
  }
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kRolledBack);
  // The leader's own counts have no crash at all: only the sum did. Both replicas had treated
  // devices.
  EXPECT_EQ(a.first, 0);
  EXPECT_GT(a.second, 0);
  EXPECT_GT(b.first, 0);
  EXPECT_GT(b.second, 0);
  // The finished release's rows are gone (the leader forgets them).
  EXPECT_TRUE(R(0).evidence.Counts("r-1")->empty());
  // Every decision carried the leader's epoch; the follower applied nothing.
  for (int64_t e : dir_.epochs) EXPECT_EQ(e, R(0).lease.Epoch());
  ASSERT_FALSE(dir_.epochs.empty());
  // The devices of both replicas are told to revert.
  for (int r : {1, 0}) (void)R(r).controller->Tick();
  for (Dev& d : devices_) CheckIn(d, 0);
  EXPECT_EQ(Running(-1), 0);
}

// A healthy release: the leader's progress and the promotion stand on the devices of both
// replicas, and the waves advance to completion.
TEST_F(GateAcrossReplicasTest, SummedExposureAdvancesTheWaves) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  // The canary's dispatch and bake (10 + 10 minutes) and at most half a bake's hold at its end.
  for (int i = 0; i < 56; ++i) Step();
  ASSERT_GT(Running(0), 0);
  ASSERT_GT(Running(1), 0);
  // The leader's exposure is both replicas' (not just its own half).
  for (int r : {1, 0}) (void)R(r).controller->Tick();
  auto p = R(0).controller->Progress("r-1");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->exposed_devices, Running(-1));
  EXPECT_GT(p->exposed_devices, Running(0));
  EXPECT_EQ(p->gate_state == "follower", false);
  EXPECT_EQ(R(1).controller->Progress("r-1")->gate_state, "follower");
  EXPECT_GE(dir_.WaveOf("r-1"), 1);
  for (int i = 0; i < 100 && dir_.PhaseOf("r-1") != rollout::Phase::kCompleted; ++i) Step();
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kCompleted);
  EXPECT_EQ(Running(-1), static_cast<int>(devices_.size()));
}

// Publications are cumulative and only move forward: repeating one, or one arriving late, changes
// nothing; the sum counts a dead replica's events but not its devices once its row is stale.
TEST_F(GateAcrossReplicasTest, PublicationsAreIdempotent) {
  ReplicaCounts c;
  c.replica = "replica-b";
  c.seq = 5;
  c.updated_us = 1000;
  c.newest_seen_us = 900;
  StratumCounts s;
  s.key = "os=linux";
  s.treated_at_risk = 10;
  s.control_at_risk = 90;
  s.treated = 10;
  s.applied = 8;
  s.treated_events = {0, 4, 1};
  c.strata.push_back(s);
  cluster::PgGateEvidence& ev = R(0).evidence;
  ASSERT_TRUE(ev.Publish("r-9", c).ok());
  ASSERT_TRUE(ev.Publish("r-9", c).ok());  // repeated
  ReplicaCounts late = c;                  // an older publication arriving late
  late.seq = 4;
  late.strata[0].treated_events = {0, 1, 0};
  ASSERT_TRUE(ev.Publish("r-9", late).ok());
  auto rows = ev.Counts("r-9");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(EncodeReplicaCounts((*rows)[0]), EncodeReplicaCounts(c));
  // A second replica; then the sum, with B's row fresh and then stale.
  ReplicaCounts a = c;
  a.replica = "replica-a";
  a.seq = 1;
  a.updated_us = 5000;
  ASSERT_TRUE(ev.Publish("r-9", a).ok());
  rows = ev.Counts("r-9");
  ASSERT_TRUE(rows.ok());
  ReplicaCounts fresh = SumReplicaCounts(*rows, 0);
  ASSERT_EQ(fresh.strata.size(), 1u);
  EXPECT_EQ(fresh.strata[0].treated, 20);
  EXPECT_EQ(fresh.strata[0].treated_events[1], 8);
  ReplicaCounts stale = SumReplicaCounts(*rows, 2000);  // B stopped publishing at 1000
  EXPECT_EQ(stale.strata[0].treated, 10);               // its devices: counted where they went
  EXPECT_EQ(stale.strata[0].treated_events[1], 8);      // its evidence: still counted
  // A row that does not decode is skipped and named.
  std::string bad;
  ASSERT_TRUE(R(0).store->PutGateCounts("r-9", {"replica-c", 1, 1, "{\"format\":\"x\"}"}).ok());
  rows = ev.Counts("r-9", &bad);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2u);
  EXPECT_NE(bad.find("replica-c"), std::string::npos) << bad;
  // Forget drops the release's rows.
  ASSERT_TRUE(ev.Forget("r-9").ok());
  EXPECT_TRUE(ev.Counts("r-9")->empty());
}

// At the controller: ticks that bring no new check-ins add no events, however often the counts
// are published and read.
TEST_F(GateAcrossReplicasTest, RepeatedTicksAddNoEvents) {
  Enroll(400);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  for (int i = 0; i < 4; ++i) Step(/*crash_home=*/1);
  ASSERT_NE(dir_.PhaseOf("r-1"), rollout::Phase::kRolledBack);
  const int64_t harmed = R(0).controller->Progress("r-1")->harmed_devices;
  for (int i = 0; i < 3; ++i) {
    for (int r : {1, 0}) ASSERT_TRUE(R(r).controller->Tick().ok());
  }
  EXPECT_EQ(R(0).controller->Progress("r-1")->harmed_devices, harmed);
}

// Failover: the new leader continues the gate with the evidence summed so far (e-values, events)
// instead of fresh gates at E = 1.
TEST_F(GateAcrossReplicasTest, ANewLeaderContinuesTheSummedEvidence) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  for (int i = 0; i < 6; ++i) Step();
  ASSERT_GT(Running(1), 2);
  // Two devices on B report one crash each: evidence, not yet a halt (min_treated_events 3).
  int crashed = 0;
  for (Dev& d : devices_) {
    if (d.home == 1 && d.version > 0 && crashed < 2) {
      CheckIn(d, 1);
      ++crashed;
    }
  }
  Step();
  ASSERT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kDispatching);
  const auto before = R(0).controller->Progress("r-1");
  ASSERT_TRUE(before.has_value());
  ASSERT_EQ(before->harmed_devices, 2);
  ASSERT_GT(before->max_e_value, 1.5);
  // A stops (a clean shutdown hands the lease over); B takes over at its next attempt.
  R(0).lease.Stop();
  ASSERT_TRUE(R(1).lease.Attempt().ok());
  ASSERT_GT(R(1).lease.Epoch(), 0);
  ASSERT_TRUE(R(1).controller->Tick().ok());
  const auto after = R(1).controller->Progress("r-1");
  ASSERT_TRUE(after.has_value());
  EXPECT_NE(after->gate_state, "follower");
  EXPECT_EQ(after->harmed_devices, 2);  // fresh gates would have 0
  EXPECT_GT(after->max_e_value, before->max_e_value / 2);
  // B goes on counting: a third crash on A's devices (A still answers check-ins) halts it.
  for (Dev& d : devices_) {
    if (d.home == 0 && d.version > 0) {
      CheckIn(d, 1);
      break;
    }
  }
  for (int i = 0; i < 10 && dir_.PhaseOf("r-1") != rollout::Phase::kRolledBack; ++i) {
    clock_.AdvanceMicros(kStep);
    ASSERT_TRUE(R(1).lease.Attempt().ok());
    (void)R(0).controller->Tick();
    (void)R(1).controller->Tick();
    for (Dev& d : devices_) {
      if (d.version > 0 && d.home == 0) CheckIn(d, 1);
    }
  }
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kRolledBack);
  EXPECT_EQ(dir_.epochs.back(), R(1).lease.Epoch());
}

// One cohort definition per release (docs/deploy.md "One cohort definition per release"): two
// replicas with unlike shares of the fleet (300 and 100 devices) build the same cohorts, and a
// count-sized canary (40 devices) is 40 of the whole fleet. Before, each replica turned 40 into a
// share of its own fleet (40/300 on A, 40/100 on B) and about 80 devices got the canary.
TEST_F(GateAcrossReplicasTest, OneCohortDefinitionAcrossReplicas) {
  constexpr char kCountPlan[] = R"(plan: count
waves:
  - {name: canary, devices: 40, stratify: [os], min_per_stratum: 1, dispatch: 1s, bake: 10m}
  - {name: all, devices: 100%, dispatch: 10m, bake: 10m}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 90s, holdback: 1%}
on_failure: rollback
)";
  Enroll(400, [](int i) { return i < 300 ? 0 : 1; });
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros(), kCountPlan);
  Step();  // both build and publish their sketches: nothing is offered until they settle
  EXPECT_EQ(Running(-1), 0);
  EXPECT_EQ(R(0).controller->Progress("r-1")->gate_state, "settling");
  for (int i = 0; i < 3; ++i) Step();
  const std::vector<StratumStatus> a = R(0).controller->Strata("r-1");
  const std::vector<StratumStatus> b = R(1).controller->Strata("r-1");
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), a.size());
  int64_t eligible = 0;
  for (size_t s = 0; s < a.size(); ++s) {
    EXPECT_EQ(a[s].key, b[s].key);
    EXPECT_EQ(a[s].eligible, b[s].eligible);
    EXPECT_EQ(a[s].held_back, b[s].held_back);
    EXPECT_EQ(CutoffOf(0, a[s].key), CutoffOf(1, a[s].key)) << a[s].key;
    EXPECT_NEAR(CutoffOf(0, a[s].key), 0.0, 0.2) << a[s].key;
    eligible += a[s].eligible;
  }
  // The strata of 200 devices are estimated from 64 ranks per replica.
  EXPECT_NEAR(static_cast<double>(eligible), 400.0, 120.0);
  // About 40 (each device with probability ~0.1); on the replicas' own shares it was ~80.
  EXPECT_GT(Running(-1), 15);
  EXPECT_LT(Running(-1), 65);
  EXPECT_GT(Running(1), 0);
  EXPECT_LT(Running(1), 25);  // B's 100 devices: ~10 (40% of them before)
}

// The acceptance test's stall (docs/deploy.md "Acceptance test"): every device checks in on A,
// which leads; A dies and its devices move to B, which had none when it built the release.
// Before, B's cohorts had no strata: it discarded the shared gate evidence ("the strata
// changed"), saw no exposure, and the release never advanced. Now B's cohorts are the release's
// one definition: B continues the evidence and the release completes.
TEST_F(GateAcrossReplicasTest, ANewLeaderThatHadNoDevicesContinuesTheRelease) {
  Enroll(600, [](int) { return 0; });
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  for (int i = 0; i < 22; ++i) Step();  // the canary's 10 minutes of dispatch, into its bake
  ASSERT_GT(Running(0), 5);
  int crashed = 0;  // two crashes: evidence the new leader must keep, not yet a halt
  for (Dev& d : devices_) {
    if (d.version > 0 && crashed < 2) {
      CheckIn(d, 1);
      ++crashed;
    }
  }
  Step();
  ASSERT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kBaking);  // the canary, not halted
  const auto before = R(0).controller->Progress("r-1");
  ASSERT_TRUE(before.has_value());
  ASSERT_EQ(before->harmed_devices, 2);
  R(0).lease.Stop();
  replicas_[0].reset();  // A dies; every device moves to B
  for (Dev& d : devices_) Move(d, 1);
  auto step_b = [&] {
    clock_.AdvanceMicros(kStep);
    ASSERT_TRUE(R(1).lease.Attempt().ok());
    (void)R(1).controller->Tick();
    for (Dev& d : devices_) CheckIn(d, 0);
  };
  step_b();
  ASSERT_GT(R(1).lease.Epoch(), 0);
  const auto after = R(1).controller->Progress("r-1");
  ASSERT_TRUE(after.has_value());
  EXPECT_NE(after->gate_state, "follower");
  EXPECT_EQ(after->harmed_devices, before->harmed_devices);  // fresh gates would have 0
  EXPECT_EQ(R(1).controller->Strata("r-1").size(), 2u);    // B's own inventory had none
  for (int i = 0; i < 120 && dir_.PhaseOf("r-1") != rollout::Phase::kCompleted; ++i) step_b();
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kCompleted);
  EXPECT_EQ(Running(-1), static_cast<int>(devices_.size()));
}

// Devices that move between replicas (docs/deploy.md "Devices that move between replicas"): B's
// devices, canary ones among them, move to A while B stays up. B still has them, with their last
// check-in there, and before counted every one silent (treated ones as "treated without data")
// once silence_after passed. Now B holds each as a candidate, A answers that it sees it, and B
// leaves it out of its counts: no silence event, no silent treated device, anywhere.
TEST_F(GateAcrossReplicasTest, DevicesThatMoveAreNotCountedSilent) {
  Enroll(400);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  for (int i = 0; i < 24; ++i) Step();  // the canary's dispatch, into its bake
  ASSERT_GT(Running(1), 0);
  for (Dev& d : devices_) {
    if (d.home == 1) Move(d, 0);
  }
  for (int i = 0; i < 8; ++i) Step();  // 4 minutes: silence_after (90 s) passes on B
  auto rows = R(0).evidence.Counts("r-1");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  constexpr int kSilence = static_cast<int>(rollout::Signal::kSilence);
  int64_t silences = 0, silent_treated = 0, b_at_risk = 0;
  for (const ReplicaCounts& c : *rows) {
    for (const StratumCounts& x : c.strata) {
      silences += x.treated_events[kSilence] + x.control_events[kSilence];
      silent_treated += x.treated_silent;
      if (c.replica == "replica-b") b_at_risk += x.treated_at_risk + x.control_at_risk;
    }
  }
  EXPECT_EQ(silences, 0);
  EXPECT_EQ(silent_treated, 0);
  EXPECT_EQ(b_at_risk, 0);  // they are A's now
  EXPECT_NE(dir_.PhaseOf("r-1"), rollout::Phase::kRolledBack);
  // A device that really stops is still a silence: every device on A falls silent.
  for (int i = 0; i < 8; ++i) {
    clock_.AdvanceMicros(kStep);
    for (int r : {0, 1}) ASSERT_TRUE(R(r).lease.Attempt().ok());
    for (int r : {1, 0}) (void)R(r).controller->Tick();
  }
  rows = R(0).evidence.Counts("r-1");
  ASSERT_TRUE(rows.ok());
  silences = 0;
  for (const ReplicaCounts& c : *rows) {
    for (const StratumCounts& x : c.strata) {
      silences += x.treated_events[kSilence] + x.control_events[kSilence];
    }
  }
  EXPECT_GT(silences, 300);
}

// A replica that builds the release after devices that ran it through another left it (a
// restart, here: B ticks for the first time only then): they are silent on B from its build, so it
// counted them as "treated without data" from its first tick and the gate held the release (the
// acceptance test's second stall). Now they are candidates too, which A answers.
TEST_F(GateAcrossReplicasTest, DevicesSilentSinceAReplicasBuildAreCheckedElsewhere) {
  Enroll(400, [](int) { return 0; });
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  auto step_a = [&] {  // only A ticks; every device checks in where it lives
    clock_.AdvanceMicros(kStep);
    ASSERT_TRUE(R(0).lease.Attempt().ok());
    (void)R(0).controller->Tick();
    for (Dev& d : devices_) CheckIn(d, 0);
  };
  for (int i = 0; i < 24; ++i) step_a();  // the canary runs on A's devices
  ASSERT_GT(Running(0), 0);
  for (Dev& d : devices_) {  // the running ones report it to B once, then go back to A
    if (d.version == 0) continue;
    Move(d, 1);
    CheckIn(d, 0);
    d.home = 0;
  }
  for (int i = 0; i < 4; ++i) step_a();  // silence_after (90 s) passes for them on B
  for (int i = 0; i < 6; ++i) Step();     // B builds the release now, and both tick
  auto rows = R(0).evidence.Counts("r-1");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  int64_t b_treated = 0, silent_treated = 0;
  for (const ReplicaCounts& c : *rows) {
    for (const StratumCounts& x : c.strata) {
      silent_treated += x.treated_silent;
      if (c.replica == "replica-b") b_treated += x.treated;
    }
  }
  EXPECT_EQ(silent_treated, 0);
  EXPECT_EQ(b_treated, 0);  // left out: they check in on A
  EXPECT_EQ(R(0).controller->Progress("r-1")->gate_detail.find("without data"), std::string::npos);
}

}  // namespace
}  // namespace rf::server
