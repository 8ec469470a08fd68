// rf_durability_helper DIR SEED: performs a scripted sequence of operations on a SqliteStore in DIR
// through ReleaseService and prints one line per acknowledged operation (after the call returned
// OK, so after its commit). durability_test.cc kill -9s it at random points and checks, after
// reopening DIR, that nothing acknowledged was lost and that a halted release never advanced.
//
// Lines (each written with one write(2), so a kill never splits a line that was reported):
//   B <release> <time_us>                 an event on <release> at <time_us> is about to be applied
//   S <release> <time_us> <phase> <wave>  acknowledged: the release's committed state
//   P <release> <reviewer>                acknowledged: the approval is recorded
//   H <release> <wave>                    acknowledged: halted at <wave>
//   A <seq> <hash>                        acknowledged: an audit entry appended by the side thread
//   X <message>                           a violation (the test fails on it)
//   D                                     the script finished
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "crypto/crypto.h"
#include "platform/sim_env.h"
#include "service/release_service.h"
#include "service/testing/fixtures.h"
#include "store/sqlite_store.h"

namespace rf::service {
namespace {

using rollout::Event;
using rollout::Phase;
using server::Principal;
using server::Role;

void Say(const std::string& line) {
  std::string l = line + "\n";
  if (::write(1, l.data(), l.size()) < 0) std::_Exit(3);
}

[[noreturn]] void Fail(const std::string& what, const Status& st) {
  Say("X " + what + ": " + st.ToString());
  std::_Exit(2);
}

int Run(const std::string& dir, uint64_t seed) {
  SeededRandom rnd(seed);
  Env env = PosixEnv();
  if (Status st = env.fs->CreateDirs(dir, 0700); !st.ok()) Fail("create dir", st);
  auto store = store::SqliteStore::Open(dir + "/" + store::kDatabaseFileName);
  if (!store.ok()) Fail("open store", store.status());
  testing::FakeFleet fleet;
  fleet.Set(testing::TwoStrataFleet(21));
  // Simulated time, starting at the real wall clock so it moves forward across runs.
  SimulatedClock clock(env.clock->NowUnixMicros());
  ReleaseServiceOptions options;
  auto service_or = ReleaseService::Open(**store, fleet, clock, options);
  if (!service_or.ok()) Fail("open service", service_or.status());
  ReleaseService& s = **service_or;

  const crypto::SigningKey bob_key = testing::KeyFromByte(2), carol_key = testing::KeyFromByte(3);
  if (Status st = s.principals().Ensure("admin", {Role::kAdmin}, "admin-token-0123456789abcdef"); !st.ok()) {
    Fail("admin", st);
  }
  const Principal admin{"admin", {Role::kAdmin}};
  const Principal alice{"alice", {Role::kAuthor}};
  const Principal oscar{"oscar", {Role::kOperator}};
  for (auto [name, key] : {std::pair<const char*, const crypto::SigningKey*>{"bob", &bob_key},
                           {"carol", &carol_key}}) {
    auto t = s.principals().Create(admin, name, {Role::kReviewer},
                               crypto::EncodePublicKeyFile(key->public_key()));
    if (!t.ok() && t.status().code() != StatusCode::kAlreadyExists) Fail("principal", t.status());
  }
  if (auto t = s.content_types().Add(admin, testing::TypeYaml()); !t.ok()) Fail("type", t.status());
  store::ChannelPolicy policy{"291", 2, {Role::kReviewer}, {}, 0};
  if (Status st = s.policies().Set(admin, policy); !st.ok()) Fail("policy", st);

  // A side thread appends audit entries straight to the store while the script runs, so commits
  // are shared (group commit) at the moment of the kill.
  std::atomic<bool> stop{false};
  std::thread side([&] {
    for (int i = 0; !stop.load(); ++i) {
      store::WriteBatch b;
      b.audit.push_back({"helper", "helper.mark", "mark " + std::to_string(i), "{}",
                         clock.NowUnixMicros()});
      std::vector<store::AuditEntry> appended;
      Status st = (*store)->Apply(b, &appended);
      if (!st.ok()) Fail("side apply", st);
      Say("A " + std::to_string(appended[0].seq) + " " + appended[0].hash);
    }
  });

  // One release per run: upload, create, approve twice, start, then waves under the controller.
  int64_t version = 1000;
  for (const auto& b : s.bundles().List("291")) version = std::max(version, b.version);
  ++version;
  UploadResult up;
  if (Status st = s.bundles().Upload(alice, testing::BuildEnvelope(testing::BundleSource(version, false)), &up);
      !st.ok()) {
    Fail("upload", st);
  }
  auto v = s.releases().Create(alice, up.bundle.sha256, testing::PlanYaml());
  if (!v.ok()) Fail("create", v.status());
  const std::string id = v->record.release_id;
  auto report_state = [&] {
    const rollout::ReleaseState st = s.releases().Get(id)->record.state;
    Say("S " + id + " " + std::to_string(st.last_event_micros) + " " +
        std::string(rollout::PhaseName(st.phase)) + " " + std::to_string(st.wave));
    return st;
  };
  report_state();
  for (auto [name, key] : {std::pair<const char*, const crypto::SigningKey*>{"bob", &bob_key},
                           {"carol", &carol_key}}) {
    clock.AdvanceMicros(1000);
    Say("B " + id + " " + std::to_string(clock.NowUnixMicros()));  // may complete the quorum
    auto a = s.reviews().Approve(Principal{name, {Role::kReviewer}}, id,
                       testing::SignApproval(*s.releases().Get(id), name, "reviewer", *key));
    if (!a.ok()) Fail("approve", a.status());
    Say(std::string("P ") + id + " " + name);
    report_state();
  }
  // Halt after a random number of controller steps (or never: the release completes).
  const int halt_after = static_cast<int>(rnd.Below(14));
  int step = 0;
  bool halted = false;
  int halted_wave = -1;
  auto event = [&](const Event& e, bool operator_event) {
    clock.AdvanceMicros(1000);
    Say("B " + id + " " + std::to_string(clock.NowUnixMicros()));
    Result<rollout::TransitionResult> r = Status::Internal("unset");
    if (operator_event) {
      switch (e.kind) {
        case rollout::EventKind::kStart: r = s.releases().Start(oscar, id); break;
        case rollout::EventKind::kPause: r = s.releases().Pause(oscar, id, e.reason); break;
        case rollout::EventKind::kResume: r = s.releases().Resume(oscar, id); break;
        case rollout::EventKind::kHalt: r = s.releases().Halt(oscar, id, e.reason); break;
        default: break;
      }
    } else {
      r = s.directory().ApplyEvent(id, e, clock.NowUnixMicros());
    }
    const rollout::ReleaseState st = report_state();
    if (halted && st.phase != Phase::kHalted) Say("X halted release advanced");
    return r.ok();
  };
  if (!event(Event::Start(), true)) Fail("start", Status::Internal("refused"));
  while (!halted) {
    const rollout::ReleaseState st = s.releases().Get(id)->record.state;
    if (rollout::IsFinished(st)) break;
    if (step++ == halt_after) {
      if (!event(Event::Halt("durability script"), true)) Fail("halt", Status::Internal("refused"));
      halted = true;
      halted_wave = s.releases().Get(id)->record.state.wave;
      Say("H " + id + " " + std::to_string(halted_wave));
      break;
    }
    if (step == 3) {
      event(Event::Pause("look"), true);
      event(Event::Resume(), true);
    }
    auto deadline = rollout::NextDeadline(st);
    if (st.promotion_requested) {
      event(Event::GatePromoteOk(), false);
    } else if (deadline) {
      clock.SetUnixMicros(std::max(clock.NowUnixMicros(), *deadline));
      event(Event::Tick(), false);
    } else {
      break;
    }
  }
  if (halted) {
    // Everything that could advance it must be refused, before and after restarts.
    for (int i = 0; i < 3; ++i) {
      clock.AdvanceMicros(3'600'000'000LL);
      if (event(Event::GatePromoteOk(), false)) Say("X promote accepted after halt");
      if (event(Event::Resume(), true)) Say("X resume accepted after halt");
      event(Event::Tick(), false);
    }
  }
  stop = true;
  side.join();
  Say("D");
  return 0;
}

}  // namespace
}  // namespace rf::service

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: rf_durability_helper DIR SEED\n");
    return 2;
  }
  return rf::service::Run(argv[1], std::strtoull(argv[2], nullptr, 10));
}
