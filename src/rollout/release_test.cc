#include "rollout/release.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace rf::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kT0 = 1'700'000'000'000'000;  // an arbitrary start time

// canary: dispatch 10m, bake 30m; all: dispatch 20m, bake 60m; holdback: dispatch 20m, no bake.
Plan TestPlan(FailureAction on_failure = FailureAction::kRollback) {
  Plan p;
  p.name = "t";
  p.stratify = {"os"};
  Wave canary;
  canary.name = "canary";
  canary.devices = WaveSize::Share(0.001);
  canary.stratify = {"os"};
  canary.min_per_stratum = 50;
  canary.dispatch_micros = 10 * kMinute;
  canary.bake_micros = 30 * kMinute;
  Wave all;
  all.name = "all";
  all.devices = WaveSize::Share(1.0);
  all.dispatch_micros = 20 * kMinute;
  all.bake_micros = 60 * kMinute;
  p.waves = {canary, all};
  p.on_failure = on_failure;
  return p;
}

Effect Dispatch(int w) { return {EffectKind::kDispatchWave, w, ""}; }
Effect Request(int w) { return {EffectKind::kRequestPromotion, w, ""}; }

std::vector<EffectKind> Kinds(const std::vector<Effect>& fx) {
  std::vector<EffectKind> out;
  for (const Effect& e : fx) out.push_back(e.kind);
  return out;
}

// Drives one release and fails the test on any refused event.
class Driver {
 public:
  explicit Driver(FailureAction a = FailureAction::kRollback)
      : state_(NewRelease(TestPlan(a), "rel-1", kT0)) {}

  std::vector<Effect> Do(const Event& e, int64_t at) {
    Result<TransitionResult> r = Transition(state_, e, at);
    EXPECT_TRUE(r.ok()) << EventKindName(e.kind) << ": " << r.status().ToString();
    if (!r.ok()) return {};
    state_ = r->state;
    return r->effects;
  }
  Status Try(const Event& e, int64_t at) const { return Transition(state_, e, at).status(); }

  const ReleaseState& state() const { return state_; }
  ReleaseState& mutable_state() { return state_; }

 private:
  ReleaseState state_;
};

// ----- construction and names -----

TEST(ReleaseTest, NewReleaseAwaitsApproval) {
  ReleaseState s = NewRelease(TestPlan(FailureAction::kPause), "rel-9", kT0);
  EXPECT_EQ(s.release_id, "rel-9");
  EXPECT_EQ(s.phase, Phase::kAwaitingApproval);
  EXPECT_EQ(s.on_failure, FailureAction::kPause);
  EXPECT_EQ(s.wave, -1);
  EXPECT_EQ(s.last_event_micros, kT0);
  ASSERT_EQ(s.waves.size(), 3u);  // canary, all, holdback
  EXPECT_EQ(s.waves[0], (WaveTiming{"canary", 10 * kMinute, 30 * kMinute}));
  EXPECT_EQ(s.waves[1], (WaveTiming{"all", 20 * kMinute, 60 * kMinute}));
  EXPECT_EQ(s.waves[2], (WaveTiming{"holdback", 20 * kMinute, 0}));
  EXPECT_FALSE(IsFinished(s));
  EXPECT_EQ(NextDeadline(s), std::nullopt);
  EXPECT_EQ(DispatchElapsedMicros(s, kT0 + kMinute), 0);
}

TEST(ReleaseTest, Names) {
  EXPECT_EQ(PhaseName(Phase::kRolledBack), "RolledBack");
  EXPECT_EQ(EventKindName(EventKind::kGatePromoteNotYet), "GatePromoteNotYet");
  EXPECT_EQ(EffectKindName(EffectKind::kRollbackToLkg), "RollbackToLkg");
}

// ----- the whole way -----

TEST(ReleaseTest, HappyPathThroughEveryWaveIncludingTheHoldback) {
  Driver d;
  EXPECT_THAT(Kinds(d.Do(Event::Approved("alice"), kT0)), ElementsAre(EffectKind::kRecordAudit));
  EXPECT_EQ(d.state().phase, Phase::kReady);

  std::vector<Effect> fx = d.Do(Event::Start("bob"), kT0 + kSecond);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kRecordAudit, EffectKind::kRecordAudit,
                                     EffectKind::kDispatchWave));
  EXPECT_EQ(fx.back(), Dispatch(0));
  EXPECT_THAT(fx[0].text, HasSubstr("started by bob"));
  EXPECT_EQ(d.state().phase, Phase::kDispatching);
  EXPECT_EQ(d.state().wave, 0);
  const int64_t start = kT0 + kSecond;
  EXPECT_EQ(NextDeadline(d.state()), start + 10 * kMinute);

  // Mid-window: nothing changes.
  EXPECT_TRUE(d.Do(Event::Tick(), start + 5 * kMinute).empty());
  EXPECT_EQ(DispatchElapsedMicros(d.state(), start + 5 * kMinute), 5 * kMinute);
  // Window over: baking, from the exact end of the window.
  fx = d.Do(Event::Tick(), start + 10 * kMinute + 7 * kSecond);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kRecordAudit));
  EXPECT_EQ(d.state().phase, Phase::kBaking);
  EXPECT_EQ(d.state().bake_started_micros, start + 10 * kMinute);
  EXPECT_EQ(NextDeadline(d.state()), start + 40 * kMinute);
  EXPECT_EQ(DispatchElapsedMicros(d.state(), start + 11 * kMinute), 10 * kMinute);
  // Bake over: ask the gate, once.
  EXPECT_TRUE(d.Do(Event::Tick(), start + 40 * kMinute - 1).empty());
  EXPECT_THAT(d.Do(Event::Tick(), start + 40 * kMinute), ElementsAre(Request(0)));
  EXPECT_TRUE(d.state().promotion_requested);
  EXPECT_EQ(NextDeadline(d.state()), std::nullopt);
  EXPECT_TRUE(d.Do(Event::Tick(), start + 41 * kMinute).empty());

  // Promoted: wave 1 starts at once.
  const int64_t w1 = start + 42 * kMinute;
  fx = d.Do(Event::GatePromoteOk(0), w1);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kRecordAudit, EffectKind::kRecordAudit,
                                     EffectKind::kDispatchWave));
  EXPECT_EQ(fx.back(), Dispatch(1));
  EXPECT_EQ(d.state().phase, Phase::kDispatching);
  EXPECT_EQ(d.state().wave, 1);
  EXPECT_EQ(DispatchElapsedMicros(d.state(), w1), 0);

  // The holdback is not dispatched before wave 1's bake has ended and the gate promoted it.
  d.Do(Event::Tick(), w1 + 20 * kMinute);  // -> baking
  EXPECT_EQ(d.state().phase, Phase::kBaking);
  EXPECT_FALSE(d.Try(Event::GatePromoteOk(), w1 + 50 * kMinute).ok());
  EXPECT_THAT(d.Do(Event::Tick(), w1 + 80 * kMinute), ElementsAre(Request(1)));
  fx = d.Do(Event::GatePromoteOk(), w1 + 80 * kMinute);
  EXPECT_EQ(fx.back(), Dispatch(2));
  EXPECT_EQ(d.state().wave, 2);

  // The holdback wave: dispatch window, no bake, then the gate's final word.
  const int64_t h = w1 + 80 * kMinute;
  EXPECT_THAT(Kinds(d.Do(Event::Tick(), h + 20 * kMinute)), ElementsAre(EffectKind::kRecordAudit,
                                                                        EffectKind::kRequestPromotion));
  fx = d.Do(Event::GatePromoteOk(2), h + 20 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kRecordAudit, EffectKind::kRecordAudit));
  EXPECT_EQ(d.state().phase, Phase::kCompleted);
  EXPECT_TRUE(IsFinished(d.state()));
  EXPECT_EQ(NextDeadline(d.state()), std::nullopt);
}

TEST(ReleaseTest, OneTickCrossesDispatchEndAndBakeEnd) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  std::vector<Effect> fx = d.Do(Event::Tick(), kT0 + 3 * 60 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kRecordAudit, EffectKind::kRequestPromotion));
  EXPECT_EQ(d.state().phase, Phase::kBaking);
  EXPECT_EQ(d.state().bake_started_micros, kT0 + 10 * kMinute);  // not the late tick's time
  EXPECT_TRUE(d.state().promotion_requested);
}

TEST(ReleaseTest, PromoteNotYetAsksAgainAtTheNextTick) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  d.Do(Event::Tick(), kT0 + 40 * kMinute);
  EXPECT_TRUE(d.state().promotion_requested);
  EXPECT_TRUE(d.Do(Event::GatePromoteNotYet(0), kT0 + 40 * kMinute).empty());
  EXPECT_EQ(d.state().phase, Phase::kBaking);
  EXPECT_FALSE(d.state().promotion_requested);
  EXPECT_EQ(NextDeadline(d.state()), kT0 + 40 * kMinute);
  EXPECT_THAT(d.Do(Event::Tick(), kT0 + 41 * kMinute), ElementsAre(Request(0)));
  d.Do(Event::GatePromoteOk(), kT0 + 41 * kMinute);
  EXPECT_EQ(d.state().wave, 1);
}

TEST(ReleaseTest, StalePromotionAnswerIsRefusedButAStaleHaltIsHonoured) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  d.Do(Event::Tick(), kT0 + 40 * kMinute);
  d.Do(Event::GatePromoteOk(0), kT0 + 40 * kMinute);
  d.Do(Event::Tick(), kT0 + 120 * kMinute);  // wave 1 dispatched and baked
  ASSERT_TRUE(d.state().promotion_requested);
  Status st = d.Try(Event::GatePromoteOk(0), kT0 + 120 * kMinute);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("about wave 0, the release is in wave 1"));
  EXPECT_FALSE(d.Try(Event::GatePromoteNotYet(2), kT0 + 120 * kMinute).ok());
  d.Do(Event::GateHalt("crash rate in wave 0", 0), kT0 + 121 * kMinute);
  EXPECT_EQ(d.state().phase, Phase::kRolledBack);
}

// ----- failure -----

TEST(ReleaseTest, GateHaltRollsBackWhenThePlanSaysRollback) {
  Driver d(FailureAction::kRollback);
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  std::vector<Effect> fx = d.Do(Event::GateHalt("silence e-value 1.2e5 in os=windows"), kT0 + 3 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kStopDispatch, EffectKind::kRollbackToLkg,
                                     EffectKind::kRecordAudit, EffectKind::kPage));
  EXPECT_THAT(fx[3].text, HasSubstr("silence e-value 1.2e5 in os=windows"));
  EXPECT_THAT(fx[3].text, HasSubstr("rel-1"));
  EXPECT_EQ(d.state().phase, Phase::kRolledBack);
  EXPECT_EQ(d.state().reason, "silence e-value 1.2e5 in os=windows");
  EXPECT_EQ(d.state().dispatch_elapsed_micros, 3 * kMinute);  // frozen where it stopped
  EXPECT_TRUE(IsFinished(d.state()));
}

TEST(ReleaseTest, GateHaltHaltsWithoutRollbackWhenThePlanSaysPause) {
  Driver d(FailureAction::kPause);
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  d.Do(Event::Tick(), kT0 + 15 * kMinute);  // baking
  std::vector<Effect> fx = d.Do(Event::GateHalt("crash"), kT0 + 16 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kStopDispatch, EffectKind::kRecordAudit,
                                     EffectKind::kPage));
  EXPECT_EQ(d.state().phase, Phase::kHalted);
  // The operator then decides to roll back.
  fx = d.Do(Event::Rollback("confirmed bad", "carol"), kT0 + 30 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kStopDispatch, EffectKind::kRollbackToLkg,
                                     EffectKind::kRecordAudit));
  EXPECT_THAT(fx[2].text, HasSubstr("by carol from Halted"));
  EXPECT_EQ(d.state().phase, Phase::kRolledBack);
}

TEST(ReleaseTest, HaltedReleaseNeverAdvances) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  d.Do(Event::Halt("looks wrong", "dave"), kT0 + kMinute);
  ASSERT_EQ(d.state().phase, Phase::kHalted);
  const ReleaseState halted = d.state();
  const std::vector<Event> events = {
      Event::Approved(),         Event::Start(),           Event::GateHalt("x"),
      Event::GateHold("x"),      Event::GatePromoteOk(),   Event::GatePromoteNotYet(),
      Event::Pause("x"),         Event::Resume(),          Event::Halt("again")};
  for (int64_t t : {kMinute, 60 * kMinute, 24 * 60 * kMinute}) {
    for (const Event& e : events) {
      Status st = d.Try(e, kT0 + t);
      EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << EventKindName(e.kind);
      EXPECT_THAT(st.message(), HasSubstr("refused in state Halted")) << st.message();
    }
    // Time passing changes nothing (a no-op, not a refusal).
    EXPECT_TRUE(d.Do(Event::Tick(), kT0 + t).empty());
    ReleaseState expected = halted;
    expected.last_event_micros = kT0 + t;
    EXPECT_EQ(d.state(), expected);
  }
  EXPECT_THAT(d.Try(Event::Resume(), kT0 + 2 * 24 * 60 * kMinute).message(),
              HasSubstr("a halted release never advances"));
}

TEST(ReleaseTest, OperatorHaltBeforeStartPreventsStart) {
  Driver d;
  std::vector<Effect> fx = d.Do(Event::Halt("wrong bundle", "erin"), kT0);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kRecordAudit));  // nothing to stop, no page
  EXPECT_EQ(d.state().phase, Phase::kHalted);
  EXPECT_FALSE(d.Try(Event::Approved(), kT0).ok());
  EXPECT_FALSE(d.Try(Event::Start(), kT0).ok());
  // Nothing was dispatched, so there is nothing to roll back.
  EXPECT_THAT(d.Try(Event::Rollback("x"), kT0).message(),
              HasSubstr("refused in state Halted: nothing has been dispatched"));
}

TEST(ReleaseTest, RollbackAfterCompletion) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  int64_t t = kT0;
  for (int w = 0; w < 3; ++w) {
    t += 200 * kMinute;
    d.Do(Event::Tick(), t);
    d.Do(Event::GatePromoteOk(w), t);
  }
  ASSERT_EQ(d.state().phase, Phase::kCompleted);
  std::vector<Effect> fx = d.Do(Event::Rollback("late-onset crashes"), t + 60 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kStopDispatch, EffectKind::kRollbackToLkg,
                                     EffectKind::kRecordAudit));
  EXPECT_EQ(d.state().phase, Phase::kRolledBack);
}

// ----- pause, hold, resume -----

TEST(ReleaseTest, PausedDispatchTimeDoesNotCount) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  std::vector<Effect> fx = d.Do(Event::Pause("investigating", "frank"), kT0 + 4 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kStopDispatch, EffectKind::kRecordAudit));
  EXPECT_EQ(d.state().phase, Phase::kPaused);
  EXPECT_EQ(d.state().resume_phase, Phase::kDispatching);
  EXPECT_TRUE(d.state().operator_paused);
  EXPECT_EQ(DispatchElapsedMicros(d.state(), kT0 + 50 * kMinute), 4 * kMinute);
  EXPECT_EQ(NextDeadline(d.state()), std::nullopt);
  EXPECT_TRUE(d.Do(Event::Tick(), kT0 + 50 * kMinute).empty());  // no timer runs while paused
  EXPECT_EQ(d.state().phase, Phase::kPaused);

  fx = d.Do(Event::Resume("frank"), kT0 + 60 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kRecordAudit, EffectKind::kDispatchWave));
  EXPECT_EQ(fx.back(), Dispatch(0));
  EXPECT_EQ(d.state().phase, Phase::kDispatching);
  EXPECT_EQ(d.state().reason, "");
  EXPECT_EQ(DispatchElapsedMicros(d.state(), kT0 + 61 * kMinute), 5 * kMinute);
  // 6 minutes of window left: it ends at 66m, not at 10m.
  EXPECT_EQ(NextDeadline(d.state()), kT0 + 66 * kMinute);
  d.Do(Event::Tick(), kT0 + 65 * kMinute);
  EXPECT_EQ(d.state().phase, Phase::kDispatching);
  d.Do(Event::Tick(), kT0 + 66 * kMinute);
  EXPECT_EQ(d.state().phase, Phase::kBaking);
  EXPECT_EQ(d.state().bake_started_micros, kT0 + 66 * kMinute);
}

TEST(ReleaseTest, BakeTimeCountsWhilePausedAndPauseVoidsAPendingRequest) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  d.Do(Event::Tick(), kT0 + 40 * kMinute);
  ASSERT_TRUE(d.state().promotion_requested);
  d.Do(Event::Pause("wait for the vendor"), kT0 + 41 * kMinute);
  EXPECT_FALSE(d.state().promotion_requested);
  // The gate's late answer cannot promote a paused release.
  Status st = d.Try(Event::GatePromoteOk(), kT0 + 41 * kMinute);
  EXPECT_THAT(st.message(), HasSubstr("paused by an operator"));
  std::vector<Effect> fx = d.Do(Event::Resume(), kT0 + 90 * kMinute);
  EXPECT_EQ(fx.back(), Dispatch(0));  // devices of waves <= 0 that were offline get it again
  EXPECT_EQ(d.state().phase, Phase::kBaking);
  EXPECT_EQ(DispatchElapsedMicros(d.state(), kT0 + 90 * kMinute), 10 * kMinute);
  EXPECT_THAT(d.Do(Event::Tick(), kT0 + 90 * kMinute), ElementsAre(Request(0)));
}

TEST(ReleaseTest, GateHoldIsClearedOnlyByTheGate) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  std::vector<Effect> fx = d.Do(Event::GateHold("telemetry lag 3m"), kT0 + 2 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kStopDispatch, EffectKind::kRecordAudit));
  EXPECT_TRUE(d.state().gate_hold);
  EXPECT_FALSE(d.state().operator_paused);
  EXPECT_EQ(d.state().reason, "telemetry lag 3m");
  // Holds repeat every tick while their cause lasts: accepted, nothing new.
  EXPECT_TRUE(d.Do(Event::GateHold("telemetry lag 4m"), kT0 + 3 * kMinute).empty());
  // An operator cannot resume past the gate.
  EXPECT_THAT(d.Try(Event::Resume(), kT0 + 4 * kMinute).message(),
              HasSubstr("only the gate clears a hold"));
  fx = d.Do(Event::GatePromoteNotYet(), kT0 + 5 * kMinute);
  EXPECT_THAT(Kinds(fx), ElementsAre(EffectKind::kRecordAudit, EffectKind::kDispatchWave));
  EXPECT_EQ(d.state().phase, Phase::kDispatching);
  EXPECT_FALSE(d.state().gate_hold);
  EXPECT_EQ(DispatchElapsedMicros(d.state(), kT0 + 5 * kMinute), 2 * kMinute);
}

TEST(ReleaseTest, OperatorPauseAndGateHoldTogether) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  d.Do(Event::Tick(), kT0 + 10 * kMinute);  // baking
  d.Do(Event::GateHold("srm"), kT0 + 11 * kMinute);
  EXPECT_THAT(Kinds(d.Do(Event::Pause("me too", "gina"), kT0 + 12 * kMinute)),
              ElementsAre(EffectKind::kRecordAudit));
  EXPECT_TRUE(d.state().operator_paused && d.state().gate_hold);
  EXPECT_FALSE(d.Try(Event::Pause("again"), kT0 + 12 * kMinute).ok());
  // Gate clears first: still paused by the operator.
  EXPECT_THAT(Kinds(d.Do(Event::GatePromoteNotYet(), kT0 + 13 * kMinute)),
              ElementsAre(EffectKind::kRecordAudit));
  EXPECT_EQ(d.state().phase, Phase::kPaused);
  EXPECT_FALSE(d.state().gate_hold);
  // Gate holds again, operator resumes: still held by the gate.
  d.Do(Event::GateHold("srm again"), kT0 + 14 * kMinute);
  EXPECT_THAT(Kinds(d.Do(Event::Resume("gina"), kT0 + 15 * kMinute)),
              ElementsAre(EffectKind::kRecordAudit));
  EXPECT_EQ(d.state().phase, Phase::kPaused);
  EXPECT_FALSE(d.state().operator_paused);
  // Gate clears: back to baking.
  d.Do(Event::GatePromoteOk(), kT0 + 16 * kMinute);
  EXPECT_EQ(d.state().phase, Phase::kBaking);
  EXPECT_FALSE(d.state().promotion_requested);
  // A halt while paused still halts.
  d.Do(Event::GateHold("lag"), kT0 + 17 * kMinute);
  d.Do(Event::GateHalt("crash"), kT0 + 18 * kMinute);
  EXPECT_EQ(d.state().phase, Phase::kRolledBack);
  EXPECT_FALSE(d.state().gate_hold);
}

// ----- bad input -----

TEST(ReleaseTest, TimeMustNotGoBackwards) {
  Driver d;
  d.Do(Event::Approved(), kT0 + kMinute);
  Status st = d.Try(Event::Start(), kT0);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("time went backwards"));
  EXPECT_TRUE(d.Try(Event::Start(), kT0 + kMinute).ok());  // equal time is fine
}

TEST(ReleaseTest, MalformedStateIsRejected) {
  Driver d;
  d.Do(Event::Approved(), kT0);
  d.Do(Event::Start(), kT0);
  ReleaseState bad = d.state();
  bad.wave = 7;
  EXPECT_EQ(Transition(bad, Event::Tick(), kT0).status().code(), StatusCode::kInvalidArgument);
  bad = d.state();
  bad.waves.clear();
  EXPECT_EQ(Transition(bad, Event::Tick(), kT0).status().code(), StatusCode::kInvalidArgument);
  bad = d.state();
  bad.phase = Phase::kPaused;
  bad.resume_phase = Phase::kCompleted;
  EXPECT_EQ(Transition(bad, Event::Resume(), kT0).status().code(), StatusCode::kInvalidArgument);
}

// ----- every (state, event) pair -----

enum class Scenario {
  kAwaitingApproval,
  kReady,
  kDispatching,
  kBakingEarly,      // bake not over
  kBakingRequested,  // bake over, RequestPromotion emitted
  kPausedByOperator,
  kHeldByGate,
  kHalted,
  kRolledBack,
  kCompleted,
};

const char* ScenarioName(Scenario s) {
  switch (s) {
    case Scenario::kAwaitingApproval: return "AwaitingApproval";
    case Scenario::kReady: return "Ready";
    case Scenario::kDispatching: return "Dispatching";
    case Scenario::kBakingEarly: return "BakingEarly";
    case Scenario::kBakingRequested: return "BakingRequested";
    case Scenario::kPausedByOperator: return "PausedByOperator";
    case Scenario::kHeldByGate: return "HeldByGate";
    case Scenario::kHalted: return "Halted";
    case Scenario::kRolledBack: return "RolledBack";
    case Scenario::kCompleted: return "Completed";
  }
  return "?";
}

ReleaseState Reach(Scenario s) {
  Driver d;
  if (s == Scenario::kAwaitingApproval) return d.state();
  d.Do(Event::Approved(), kT0);
  if (s == Scenario::kReady) return d.state();
  d.Do(Event::Start(), kT0);
  switch (s) {
    case Scenario::kDispatching:
      d.Do(Event::Tick(), kT0 + kMinute);
      break;
    case Scenario::kBakingEarly:
      d.Do(Event::Tick(), kT0 + 11 * kMinute);
      break;
    case Scenario::kBakingRequested:
      d.Do(Event::Tick(), kT0 + 40 * kMinute);
      break;
    case Scenario::kPausedByOperator:
      d.Do(Event::Pause("p"), kT0 + kMinute);
      break;
    case Scenario::kHeldByGate:
      d.Do(Event::Tick(), kT0 + 11 * kMinute);
      d.Do(Event::GateHold("h"), kT0 + 12 * kMinute);
      break;
    case Scenario::kHalted:
      d.Do(Event::Halt("h"), kT0 + kMinute);
      break;
    case Scenario::kRolledBack:
      d.Do(Event::Rollback("r"), kT0 + kMinute);
      break;
    case Scenario::kCompleted:
      for (int w = 0; w < 3; ++w) {
        d.Do(Event::Tick(), kT0 + (w + 1) * 200 * kMinute);
        d.Do(Event::GatePromoteOk(), kT0 + (w + 1) * 200 * kMinute);
      }
      break;
    default:
      break;
  }
  return d.state();
}

Event MakeEvent(EventKind k) {
  Event e;
  e.kind = k;
  e.reason = "why";
  e.actor = "op";
  return e;
}

struct MatrixCase {
  Scenario scenario;
  EventKind event;
  std::optional<Phase> result;  // nullopt = refused
};

std::vector<MatrixCase> AllCases() {
  using S = Scenario;
  using E = EventKind;
  using P = Phase;
  const std::vector<S> scenarios = {S::kAwaitingApproval, S::kReady,          S::kDispatching,
                                    S::kBakingEarly,      S::kBakingRequested, S::kPausedByOperator,
                                    S::kHeldByGate,       S::kHalted,          S::kRolledBack,
                                    S::kCompleted};
  // Accepted (scenario, event) pairs and the phase they lead to; every other pair is refused,
  // except Tick, which is accepted everywhere and (in these scenarios) changes no phase.
  std::map<std::pair<S, E>, P> accepted = {
      {{S::kAwaitingApproval, E::kApproved}, P::kReady},
      {{S::kReady, E::kStart}, P::kDispatching},
      {{S::kAwaitingApproval, E::kHalt}, P::kHalted},
      {{S::kReady, E::kHalt}, P::kHalted},
      {{S::kBakingRequested, E::kGatePromoteOk}, P::kDispatching},
      {{S::kBakingRequested, E::kGatePromoteNotYet}, P::kBaking},
      {{S::kHeldByGate, E::kGatePromoteOk}, P::kBaking},
      {{S::kHeldByGate, E::kGatePromoteNotYet}, P::kBaking},
      {{S::kPausedByOperator, E::kResume}, P::kDispatching},
      {{S::kHalted, E::kRollback}, P::kRolledBack},
      {{S::kCompleted, E::kRollback}, P::kRolledBack},
  };
  for (S s : {S::kDispatching, S::kBakingEarly, S::kBakingRequested, S::kPausedByOperator,
              S::kHeldByGate}) {
    accepted[{s, E::kGateHalt}] = P::kRolledBack;  // on_failure: rollback
    accepted[{s, E::kGateHold}] = P::kPaused;
    accepted[{s, E::kHalt}] = P::kHalted;
    accepted[{s, E::kRollback}] = P::kRolledBack;
    if (s != S::kPausedByOperator) accepted[{s, E::kPause}] = P::kPaused;
  }
  std::vector<MatrixCase> out;
  for (S s : scenarios) {
    for (int k = 0; k <= static_cast<int>(E::kRollback); ++k) {
      E e = static_cast<E>(k);
      std::optional<Phase> r;
      if (auto it = accepted.find({s, e}); it != accepted.end()) r = it->second;
      if (e == E::kTick) r = Reach(s).phase;
      out.push_back({s, e, r});
    }
  }
  return out;
}

void PrintTo(const MatrixCase& c, std::ostream* os) {
  *os << ScenarioName(c.scenario) << " + " << EventKindName(c.event) << " -> "
      << (c.result ? PhaseName(*c.result) : std::string_view("refused"));
}

class TransitionMatrixTest : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(TransitionMatrixTest, AcceptedOrRefusedAsSpecified) {
  const MatrixCase& c = GetParam();
  const ReleaseState before = Reach(c.scenario);
  const int64_t now = before.last_event_micros + kSecond;
  Result<TransitionResult> r = Transition(before, MakeEvent(c.event), now);
  if (!c.result) {
    ASSERT_FALSE(r.ok()) << "accepted, leading to " << PhaseName(r->state.phase);
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(r.status().message(),
                HasSubstr("event " + std::string(EventKindName(c.event)) + " refused in state " +
                          std::string(PhaseName(before.phase))));
    EXPECT_THAT(r.status().message(), HasSubstr("release rel-1"));
    return;
  }
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state.phase, *c.result);
  EXPECT_EQ(r->state.last_event_micros, now);
  // Every accepted non-Tick event leaves an audit trail.
  if (c.event != EventKind::kTick && c.event != EventKind::kGatePromoteNotYet &&
      !(c.event == EventKind::kGateHold && before.phase == Phase::kPaused && before.gate_hold)) {
    bool audited = false;
    for (const Effect& e : r->effects) audited = audited || e.kind == EffectKind::kRecordAudit;
    EXPECT_TRUE(audited);
  }
  // Whatever stops the release stops dispatch first, if anything was dispatched.
  if ((*c.result == Phase::kHalted || *c.result == Phase::kRolledBack) && before.wave >= 0 &&
      before.phase != Phase::kHalted && before.phase != Phase::kRolledBack) {
    ASSERT_FALSE(r->effects.empty());
    EXPECT_EQ(r->effects.front().kind, EffectKind::kStopDispatch);
  }
  // Reaching RolledBack always rolls devices back.
  if (*c.result == Phase::kRolledBack && before.phase != Phase::kRolledBack) {
    bool rolled = false;
    for (const Effect& e : r->effects) rolled = rolled || e.kind == EffectKind::kRollbackToLkg;
    EXPECT_TRUE(rolled);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllPairs, TransitionMatrixTest, ::testing::ValuesIn(AllCases()),
    [](const ::testing::TestParamInfo<MatrixCase>& p) {
      return std::string(ScenarioName(p.param.scenario)) + "_" +
             std::string(EventKindName(p.param.event));
    });

}  // namespace
}  // namespace rf::rollout
