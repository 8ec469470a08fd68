// The controller and the check-in path together, on a simulated clock and an in-memory release
// directory that applies rollout::Transition like the real release service.
#include "server/controller.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <thread>
#include <set>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "crypto/dsse.h"
#include "platform/sim_env.h"
#include "rollout/controller_core.h"
#include "server/agent_api.h"
#include "server/controller_testing.h"

namespace rf::server {
namespace {

constexpr int64_t kMinute = 60'000'000;
constexpr char kToken[] = "agent-token-0123456789";


// A simulated fleet that checks in through AgentApi and applies what it is told.
class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest()
      : inventory_(Env{&clock_, &fs_, &random_}, {}),
        credentials_(Env{&clock_, &fs_, &random_}, LongSessions()),
        controller_(dir_, inventory_, clock_, *crypto::SigningKey::FromSeed(std::string(32, 'k'))),
        api_(inventory_, credentials_, controller_, dir_, clock_, metrics_, kToken, "{}") {}

  static DeviceCredentialsOptions LongSessions() {
    DeviceCredentialsOptions o;
    o.session_ttl_s = 30 * 86400;  // longer than any test's simulated time
    return o;
  }

  void Enroll(int n) {
    for (int i = 0; i < n; ++i) {
      EnrollRequest e;
      e.device_id = "d-" + std::to_string(i);
      e.attrs = {{"os", i % 4 == 0 ? "linux" : "windows"},
                 {"tenant", i % 10 == 0 ? "acme" : "other"}};
      e.capabilities["ipc_rule"] = ConsumerCapability{{3}, 20, 0, 0};
      inventory_.Enroll(e, clock_.NowUnixMicros());
      crypto::PublicKey key;  // any distinct key: these devices never sign (sessions are issued)
      key.bytes[0] = static_cast<uint8_t>(i);
      key.bytes[1] = static_cast<uint8_t>(i >> 8);
      const int64_t now_s = clock_.NowUnixMicros() / 1'000'000;
      auto reg = credentials_.Register(e.device_id, key, now_s);
      ASSERT_TRUE(reg.ok()) << reg.status().ToString();
      devices_.push_back(
          {e.device_id, 0, 0, "", 0, credentials_.IssueSession(e.device_id, reg->epoch, now_s)});
    }
  }

  struct Dev {
    std::string id;
    int64_t seq;
    int64_t version;
    std::string sha;
    int64_t crashes;  // reported at the next check-in
    std::string session;  // the device's session token
  };

  // Every device checks in once. Returns the number of installs and reverts handed out.
  std::pair<int, int> CheckInAll(bool apply = true, bool treated_crash = false) {
    int installs = 0, reverts = 0;
    for (Dev& d : devices_) {
      std::string body = R"({"device_id":")" + d.id + R"(","seq":)" + std::to_string(++d.seq);
      if (d.version > 0) {
        body += R"(,"channels":{"291":{"current":{"version":)" + std::to_string(d.version) +
                R"(,"sha256":")" + d.sha + R"("}}})";
      }
      if (treated_crash && d.version > 0) body += R"(,"health":{"crashes":1})";
      body += "}";
      HttpRequest req{"POST", "/v1/agent/checkin", {}, d.session, body};
      auto res = api_.Handle(req);
      EXPECT_TRUE(res.has_value());
      EXPECT_EQ(res->status, 200) << res->body;
      auto v = boost::json::parse(res->body).as_object();
      auto& ch = v["channels"].as_object();
      if (auto* c = ch.if_contains("291")) {
        auto& o = c->as_object();
        const std::string action(o["action"].as_string());
        EXPECT_FALSE(o["release"].as_string().empty());
        if (action == "install") {
          ++installs;
          if (apply) {
            d.version = o["version"].as_int64();
            d.sha = std::string(o["sha256"].as_string());
          }
        } else if (action == "revert") {
          ++reverts;
          if (apply) d.version = 0;
        }
      }
    }
    return {installs, reverts};
  }

  // Advances the clock by `step` `n` times, ticking and checking in all devices each time.
  int Run(int n, int64_t step, bool treated_crash = false) {
    int installs = 0;
    for (int i = 0; i < n; ++i) {
      clock_.AdvanceMicros(step);
      EXPECT_TRUE(controller_.Tick().ok());
      installs += CheckInAll(true, treated_crash).first;
    }
    return installs;
  }

  int Running() const {
    int n = 0;
    for (const Dev& d : devices_) n += d.version > 0;
    return n;
  }

  SimulatedClock clock_;
  MemFilesystem fs_;
  SeededRandom random_{7};
  FakeDirectory dir_;
  FleetInventory inventory_;
  DeviceCredentials credentials_;
  Controller controller_;
  ServerMetrics metrics_;
  AgentApi api_;
  std::vector<Dev> devices_;
};

TEST_F(ControllerTest, WavesAdvanceToCompletion) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  EXPECT_EQ(CheckInAll().first, 0);  // nothing before any dispatch time has passed
  Run(5, kMinute);
  const int half = Running();
  Run(5, kMinute);
  const int canary = Running();
  EXPECT_GT(half, 0);
  EXPECT_GE(canary, half);
  EXPECT_GE(canary, 10);   // floors: 5 per stratum
  EXPECT_LE(canary, 60);   // 1% of 2000 plus floors, a binomial draw
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kBaking);
  // Bake (10m), a promotion hold of at most half a bake, the last wave, the holdback wave.
  Run(120, kMinute);
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kCompleted);
  EXPECT_EQ(Running(), 2000);
  // The signed statement verifies with the release key.
  auto snap = controller_.snapshot();
  const ReleaseDispatch& r = snap->channels.at("291").front();
  auto env = crypto::ParseEnvelope(r.statement);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->payload_type, kReleasePayloadType);
  auto key = crypto::SigningKey::FromSeed(std::string(32, 'k'));
  EXPECT_TRUE(crypto::VerifyEnvelope(*env, key->public_key()).ok());
  EXPECT_NE(env->payload.find(R"("action":"install")"), std::string::npos);
}

// Controller election (docs/deploy.md): a follower publishes dispatch (check-ins it answers hand
// the release out as the leader's would) but drives nothing; once elected, every transition it
// applies carries its fencing epoch to the directory (which the store checks).
TEST_F(ControllerTest, FollowerDispatchesButDrivesNothingAndTheLeaderFencesItsWrites) {
  Enroll(2000);
  std::atomic<int64_t> epoch{0};
  ControllerOptions o;
  o.fencing_epoch = [&epoch] { return epoch.load(); };
  Controller follower(dir_, inventory_, clock_, *crypto::SigningKey::FromSeed(std::string(32, 'k')),
                      o);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  const size_t events_before = dir_.events.size();  // the start
  for (int i = 0; i < 30; ++i) {
    clock_.AdvanceMicros(kMinute);
    ASSERT_TRUE(follower.Tick().ok());
  }
  // 30 minutes: the canary's dispatch time is long over, and nothing moved.
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kDispatching);
  EXPECT_EQ(dir_.events.size(), events_before);
  EXPECT_TRUE(dir_.epochs.empty());
  auto snap = follower.snapshot();
  const ReleaseDispatch& d = snap->channels.at("291").front();
  EXPECT_EQ(d.phase, rollout::Phase::kDispatching);
  ASSERT_FALSE(d.cutoff.empty());
  EXPECT_GT(*std::max_element(d.cutoff.begin(), d.cutoff.end()), 0.0);
  EXPECT_EQ(follower.Progress("r-1")->gate_state, "follower");
  // Elected with epoch 7: it drives, and says so with every write.
  epoch.store(7);
  ASSERT_TRUE(follower.Tick().ok());
  EXPECT_GT(dir_.events.size(), events_before);
  ASSERT_FALSE(dir_.epochs.empty());
  for (int64_t e : dir_.epochs) EXPECT_EQ(e, 7);
}

TEST_F(ControllerTest, OperatorHaltStopsInstallsAtTheNextCheckin) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  Run(4, kMinute);
  const int before = Running();
  EXPECT_GT(before, 0);
  clock_.AdvanceMicros(kMinute);
  // Halt between ticks: only the change listener can tell the check-in path.
  ASSERT_TRUE(dir_.ApplyEvent("r-1", rollout::Event::Halt("bad file", "carol"),
                              clock_.NowUnixMicros())
                  .ok());
  EXPECT_EQ(CheckInAll().first, 0);
  EXPECT_EQ(Run(30, kMinute), 0);
  EXPECT_EQ(Running(), before);
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kHalted);
}

// A tick decides under the controller's lock and commits without it: while its commit is stuck
// (a slow SQLite transaction, an operator mutation holding the service's write lock), a check-in
// is still answered, and a halt committed meanwhile reaches it. Before, the tick held the lock the
// check-in's RefreshIfStale needs across the commit, and the check-in waited for it.
TEST_F(ControllerTest, CheckinIsAnsweredWhileATickCommits) {
  Enroll(200);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  CheckInAll();
  std::promise<void> entered;
  std::promise<void> open;
  std::shared_future<void> release_commit = open.get_future().share();
  std::atomic<bool> armed{true};
  dir_.before_apply = [&] {
    if (armed.exchange(false)) {
      entered.set_value();
      release_commit.wait();
    }
  };
  clock_.AdvanceMicros(11 * kMinute);  // the canary's dispatch is over: the tick moves it on
  std::thread tick([&] { (void)controller_.Tick(); });
  auto in_commit = entered.get_future();
  if (in_commit.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    open.set_value();
    tick.join();
    FAIL() << "the tick applied no event";
  }
  // An operator halt commits while the tick's commit is stuck.
  ASSERT_TRUE(dir_.ApplyEvent("r-1", rollout::Event::Halt("bad file", "carol"),
                              clock_.NowUnixMicros())
                  .ok());
  auto checkin = std::async(std::launch::async, [&] { return CheckInAll(false).first; });
  const bool answered = checkin.wait_for(std::chrono::seconds(120)) == std::future_status::ready;
  open.set_value();
  tick.join();
  ASSERT_TRUE(answered) << "the check-in waited for the tick's commit";
  EXPECT_EQ(checkin.get(), 0);  // the halt reached it
  dir_.before_apply = nullptr;
  // The tick that finished afterwards does not publish its stale view over the halt.
  EXPECT_EQ(CheckInAll().first, 0);
}

TEST_F(ControllerTest, RollbackSendsRevertToDevicesRunningTheRelease) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  Run(10, kMinute);
  const int exposed = Running();
  ASSERT_GT(exposed, 0);
  ASSERT_TRUE(dir_.ApplyEvent("r-1", rollout::Event::Rollback("bad", "carol"),
                              clock_.NowUnixMicros())
                  .ok());
  auto [installs, reverts] = CheckInAll();
  EXPECT_EQ(installs, 0);
  EXPECT_EQ(reverts, exposed);
  EXPECT_EQ(Running(), 0);
  EXPECT_EQ(CheckInAll().second, 0);  // reverted devices are not told again
}

TEST_F(ControllerTest, GateHaltsOnCrashingTreatedDevicesAndReverts) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  // Every device that runs the release reports a crash at each check-in.
  for (int i = 0; i < 20 && dir_.PhaseOf("r-1") != rollout::Phase::kRolledBack; ++i) {
    Run(1, 30'000'000, /*treated_crash=*/true);
  }
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kRolledBack);
  const int exposed = Running();
  EXPECT_LT(exposed, 40);  // halted well inside the canary
  ASSERT_TRUE(controller_.Tick().ok());
  auto [installs, reverts] = CheckInAll();
  EXPECT_EQ(installs, 0);
  EXPECT_EQ(reverts, exposed);
}

// The dashboard's chart ends at the evidence a decision stood on: the driver's decisions are kept
// with the gate's e-values at that moment (before, the sampler's last point could be up to a
// second older than the halt and below the threshold).
TEST_F(ControllerTest, DecisionsKeepTheEvidenceTheyStoodOn) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  EXPECT_TRUE(controller_.DecisionsAfter(0).empty());
  for (int i = 0; i < 20 && dir_.PhaseOf("r-1") != rollout::Phase::kRolledBack; ++i) {
    Run(1, 30'000'000, /*treated_crash=*/true);
  }
  ASSERT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kRolledBack);
  const std::vector<DecisionEvidence> d = controller_.DecisionsAfter(0);
  ASSERT_FALSE(d.empty());
  for (size_t i = 1; i < d.size(); ++i) EXPECT_GT(d[i].seq, d[i - 1].seq);
  EXPECT_EQ(d.back().phase, "RolledBack");
  EXPECT_EQ(d.back().t_us, clock_.NowUnixMicros());
  // The halt (straight to RolledBack, or Halted first): the evidence it stood on.
  auto halt = std::find_if(d.begin(), d.end(), [](const DecisionEvidence& x) {
    return x.phase == "Halted" || x.phase == "RolledBack";
  });
  ASSERT_NE(halt, d.end());
  EXPECT_EQ(halt->release_id, "r-1");
  EXPECT_GT(halt->progress.e_threshold, 0);
  EXPECT_GE(halt->progress.max_e_value, halt->progress.e_threshold);
  ASSERT_FALSE(halt->metrics.empty());
  EXPECT_EQ(halt->metrics[0].release_id, "r-1");
  EXPECT_GT(halt->progress.harmed_devices, 0);
  EXPECT_TRUE(controller_.DecisionsAfter(d.back().seq).empty());
}

// Per-stratum canary coverage against the plan's floor (the dashboard's "floor met").
TEST_F(ControllerTest, StrataReportTheFloorInForce) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  EXPECT_TRUE(controller_.Strata("no-such-release").empty());
  Run(12, kMinute);  // the canary is dispatched
  const std::vector<StratumStatus> strata = controller_.Strata("r-1");
  ASSERT_GE(strata.size(), 2u);
  int64_t eligible = 0;
  for (const StratumStatus& s : strata) {
    EXPECT_FALSE(s.key.empty());
    EXPECT_EQ(s.floor, 5);  // the plan's min_per_stratum
    EXPECT_GE(s.treated, std::min<int64_t>(s.floor, s.eligible - s.held_back)) << s.key;
    eligible += s.eligible;
  }
  EXPECT_EQ(eligible, controller_.Progress("r-1")->eligible_devices);
}

TEST_F(ControllerTest, SilentTreatedDevicesHaltTheRelease) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  // Devices that install go silent (a boot loop): they stop checking in. The first silences hold
  // the release (treated devices without data, docs/gate.md); the evidence keeps accumulating
  // while it is held, until the gate halts it.
  std::set<std::string> dead;
  bool held = false;
  auto active = [&] {
    const rollout::Phase p = dir_.PhaseOf("r-1");
    return p == rollout::Phase::kDispatching || p == rollout::Phase::kPaused;
  };
  for (int i = 0; i < 20 && active(); ++i) {
    held |= dir_.PhaseOf("r-1") == rollout::Phase::kPaused;
    clock_.AdvanceMicros(30'000'000);
    ASSERT_TRUE(controller_.Tick().ok());
    for (Dev& d : devices_) {
      if (d.version > 0) continue;
      std::string body = R"({"device_id":")" + d.id + R"(","seq":)" + std::to_string(++d.seq) + "}";
      auto res = api_.Handle(HttpRequest{"POST", "/v1/agent/checkin", {}, d.session, body});
      if (res->body.find("install") != std::string::npos) d.version = 43;  // and dies
    }
  }
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kRolledBack);
  EXPECT_TRUE(held);
}

TEST_F(ControllerTest, CustomerControls) {
  Enroll(2000);
  CustomerControl pin{"291", "tenant", "acme", true, 0, false};
  dir_.controls.push_back(pin);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  Run(150, kMinute);
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kCompleted);
  for (const Dev& d : devices_) {
    const int i = std::stoi(d.id.substr(2));
    EXPECT_EQ(d.version > 0, i % 10 != 0) << d.id;  // acme stays on N-1
  }
}

TEST(DeviceActionRules, DelayAndEarlyWaveExclusion) {
  rollout::ReleaseFacts r;
  r.phase = rollout::Phase::kDispatching;
  r.version = 5;
  r.wave = 0;
  r.wave_count = 3;
  r.started_micros = 1000;
  rollout::DeviceFacts d;
  d.eligible = true;
  d.targeted = true;
  EXPECT_EQ(rollout::DecideDeviceAction(r, d, 2000), rollout::DeviceAction::kInstall);
  r.delay_micros = 5000;
  EXPECT_EQ(rollout::DecideDeviceAction(r, d, 2000), rollout::DeviceAction::kKeep);
  EXPECT_EQ(rollout::DecideDeviceAction(r, d, 6000), rollout::DeviceAction::kInstall);
  r.exclude_early_waves = true;
  EXPECT_EQ(rollout::DecideDeviceAction(r, d, 6000), rollout::DeviceAction::kKeep);
  r.wave = 2;
  EXPECT_EQ(rollout::DecideDeviceAction(r, d, 6000), rollout::DeviceAction::kInstall);
  d.has_current = true;
  d.current_version = 5;
  EXPECT_EQ(rollout::DecideDeviceAction(r, d, 6000), rollout::DeviceAction::kKeep);
  r.phase = rollout::Phase::kHalted;
  d.current_version = 1;
  EXPECT_EQ(rollout::DecideDeviceAction(r, d, 6000), rollout::DeviceAction::kKeep);
  r.phase = rollout::Phase::kRolledBack;
  d.runs_release = true;
  EXPECT_EQ(rollout::DecideDeviceAction(r, d, 6000), rollout::DeviceAction::kRevert);
}

}  // namespace
}  // namespace rf::server

namespace rf::server {
namespace {

// A restarted server continues each live release's gate evidence and bake from the controller's
// saved state (ControllerOptions::state_dir) instead of fresh gates: the e-values are the same
// after the restart, and the wave promotes at its bake end, not a full bake after the restart.
TEST_F(ControllerTest, ARestartContinuesTheGateEvidenceAndTheBake) {
  ControllerOptions persist;
  persist.fs = &fs_;
  persist.state_dir = "/data/controller";
  persist.save_every_micros = kMinute;
  auto key = *crypto::SigningKey::FromSeed(std::string(32, 'k'));
  auto a = std::make_unique<Controller>(dir_, inventory_, clock_, key, persist);
  auto api_a = std::make_unique<AgentApi>(inventory_, credentials_, *a, dir_, clock_, metrics_,
                                           kToken, "{}");
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  // Background noise, the same in both arms: each check-in reports an error with probability 1/50
  // (independent draws: devices that error at every check-in would be overdispersed noise).
  auto run = [&](Controller& c, AgentApi& api, int minutes) {
    for (int i = 0; i < minutes; ++i) {
      clock_.AdvanceMicros(kMinute);
      ASSERT_TRUE(c.Tick().ok());
      for (Dev& d : devices_) {
        std::string body = R"({"device_id":")" + d.id + R"(","seq":)" + std::to_string(++d.seq);
        if (d.version > 0) {
          body += R"(,"channels":{"291":{"current":{"version":)" + std::to_string(d.version) +
                  R"(,"sha256":")" + d.sha + R"("}}})";
        }
        if (random_.Below(50) == 0) body += R"(,"health":{"errors":1})";
        body += "}";
        auto res = api.Handle(HttpRequest{"POST", "/v1/agent/checkin", {}, d.session, body});
        ASSERT_TRUE(res.has_value() && res->status == 200);
        auto v = boost::json::parse(res->body).as_object();
        if (auto* c291 = v["channels"].as_object().if_contains("291")) {
          auto& o = c291->as_object();
          if (o["action"].as_string() == "install") {
            d.version = o["version"].as_int64();
            d.sha = std::string(o["sha256"].as_string());
          }
        }
      }
    }
  };
  ASSERT_TRUE(a->Tick().ok());
  run(*a, *api_a, 10);  // the canary's dispatch window
  ASSERT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kBaking);
  run(*a, *api_a, 8);   // 8 of its 10 bake minutes
  ASSERT_EQ(dir_.WaveOf("r-1"), 0);
  const std::vector<GateMetric> before = a->GateMetrics();
  ASSERT_FALSE(before.empty());
  ASSERT_TRUE(fs_.Exists(persist.state_dir + "/" + "722d31" + ".gate.json"));  // hex of "r-1"

  // kill -9: nothing more is saved; a new controller starts on the same data.
  api_a.reset();
  a.reset();
  auto b = std::make_unique<Controller>(dir_, inventory_, clock_, key, persist);
  auto api_b = std::make_unique<AgentApi>(inventory_, credentials_, *b, dir_, clock_, metrics_,
                                           kToken, "{}");
  ASSERT_TRUE(b->Tick().ok());
  const std::vector<GateMetric> after = b->GateMetrics();
  ASSERT_EQ(after.size(), before.size());
  bool any_evidence = false;
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].metric, before[i].metric);
    EXPECT_NEAR(std::log(after[i].e_value), std::log(before[i].e_value), 1e-9) << before[i].metric;
    any_evidence |= std::abs(std::log(before[i].e_value)) > 1e-6;
  }
  EXPECT_TRUE(any_evidence);  // a fresh gate would say E = 1 everywhere
  // Bake end 2 minutes later, plus at most half a bake held on the promotion bound.
  run(*b, *api_b, 8);
  EXPECT_EQ(dir_.WaveOf("r-1"), 1);
  // A finished release's evidence file is removed.
  run(*b, *api_b, 120);
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kCompleted);
  EXPECT_FALSE(fs_.Exists(persist.state_dir + "/" + "722d31" + ".gate.json"));
}

}  // namespace
}  // namespace rf::server

namespace rf::server {
namespace {

// The gate's HOLD rules fire in the server (docs/gate.md, "The release driver"): no check-in
// reaches the server for three minutes (an ingest outage) and the release holds on telemetry lag;
// when check-ins arrive again the hold clears and the release goes on.
TEST_F(ControllerTest, TelemetryLagHoldsTheReleaseUntilCheckinsArrive) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  Run(3, kMinute);
  ASSERT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kDispatching);
  for (int i = 0; i < 18; ++i) {  // 3 minutes of ticks, no check-in
    clock_.AdvanceMicros(10'000'000);
    ASSERT_TRUE(controller_.Tick().ok());
  }
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kPaused);
  auto p = controller_.Progress("r-1");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->gate_state, "hold");
  EXPECT_NE(p->gate_detail.find("HOLD: telemetry lag 180 s > 120 s"), std::string::npos)
      << p->gate_detail;
  EXPECT_EQ(CheckInAll().first, 0);  // held: nothing new is handed out
  Run(2, kMinute);
  EXPECT_EQ(dir_.PhaseOf("r-1"), rollout::Phase::kDispatching);
  p = controller_.Progress("r-1");
  EXPECT_EQ(p->gate_state, "watching") << p->gate_detail;
  EXPECT_NE(std::find(dir_.events.begin(), dir_.events.end(), "GateHold"), dir_.events.end());
}

// One stratum's devices take the release but never report running it, while the other
// stratum's do: dispatched and acknowledged counts disagree, and the release holds on a
// sample-ratio mismatch (with too few such devices in the canary to tell, in the last wave).
TEST_F(ControllerTest, SampleRatioMismatchHoldsTheRelease) {
  Enroll(2000);
  dir_.AddStartedRelease("r-1", 43, clock_.NowUnixMicros());
  ASSERT_TRUE(controller_.Tick().ok());
  bool held = false;
  for (int minute = 0; minute < 90 && !held; ++minute) {
    clock_.AdvanceMicros(kMinute);
    ASSERT_TRUE(controller_.Tick().ok());
    held = dir_.PhaseOf("r-1") == rollout::Phase::kPaused;
    for (size_t i = 0; i < devices_.size(); ++i) {
      Dev& d = devices_[i];
      std::string body = R"({"device_id":")" + d.id + R"(","seq":)" + std::to_string(++d.seq);
      if (d.version > 0) {
        body += R"(,"channels":{"291":{"current":{"version":)" + std::to_string(d.version) +
                R"(,"sha256":")" + d.sha + R"("}}})";
      }
      body += "}";
      auto res = api_.Handle(HttpRequest{"POST", "/v1/agent/checkin", {}, d.session, body});
      ASSERT_TRUE(res.has_value() && res->status == 200);
      auto v = boost::json::parse(res->body).as_object();
      auto* c = v["channels"].as_object().if_contains("291");
      // Linux devices (every fourth) fail to apply it, silently: they keep what they have.
      if (c != nullptr && c->as_object()["action"].as_string() == "install" && i % 4 != 0) {
        d.version = c->as_object()["version"].as_int64();
        d.sha = std::string(c->as_object()["sha256"].as_string());
      }
    }
  }
  ASSERT_TRUE(held);
  EXPECT_EQ(dir_.WaveOf("r-1"), 1);
  auto p = controller_.Progress("r-1");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->gate_state, "hold");
  EXPECT_NE(p->gate_detail.find("HOLD: sample ratio mismatch"), std::string::npos)
      << p->gate_detail;
}

}  // namespace
}  // namespace rf::server
