// The release state machine: (state, event, now) -> (new state, effects).
//
// Pure and total: Transition() reads no clock and performs nothing; the caller (server controller,
// simulator, tests) persists the new state and then carries out the effects, in order. An event
// that is not allowed in the current state returns FailedPrecondition naming the state and the
// event, and changes nothing.
//
//   AwaitingApproval --Approved--> Ready --Start--> Dispatching(0)
//   Dispatching(w) --Tick, dispatch window over--> Baking(w)
//   Baking(w) --Tick, bake over--> (effect RequestPromotion(w))
//             --GatePromoteOk--> Dispatching(w+1), or Completed after the last wave
//             --GatePromoteNotYet--> Baking(w) (asks again at the next Tick)
//   Dispatching/Baking --Pause | GateHold--> Paused --Resume | gate clears hold--> back
//   any active state --GateHalt--> RolledBack (on_failure: rollback) or Halted (on_failure: pause)
//   any non-final state --Halt--> Halted;  active/Halted/Completed --Rollback--> RolledBack
//
// Rules that make it safe:
//  * A Halted release never advances: every event except Rollback (and Tick, a no-op) is refused.
//  * RolledBack is terminal; Completed only accepts Rollback.
//  * The holdback wave (the last wave when gate.holdback > 0) is dispatched only after the last
//    plan wave's bake ended and the gate promoted it.
//  * Dispatch time spent paused does not count toward the dispatch window (pacing resumes where it
//    stopped); bake time does (exposed devices stay under observation while paused).
//  * Time never goes backwards: an event with now < state.last_event_micros is InvalidArgument.
// Full diagram: docs/rollout.md.
#ifndef RINGFENCE_ROLLOUT_RELEASE_H_
#define RINGFENCE_ROLLOUT_RELEASE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "rollout/plan.h"

namespace rf::rollout {

enum class Phase {
  kAwaitingApproval,  // created; approvals are collected elsewhere and end with kApproved
  kReady,             // approved, not started
  kDispatching,       // wave `wave` is being handed out (paced over its dispatch window)
  kBaking,            // wave `wave` fully dispatched, watched until its bake ends and gate promotes
  kPaused,            // by an operator and/or a gate hold; resumes into `resume_phase`
  kHalted,            // stopped for good (gate halt with on_failure: pause, or operator Halt)
  kRolledBack,        // terminal: every exposed device sent back to its last-known-good bundle
  kCompleted,         // every wave (including the holdback) dispatched and promoted
};
std::string_view PhaseName(Phase p);

// Timing of one wave, copied from the plan so the state is self-contained.
struct WaveTiming {
  std::string name;  // WaveName(plan, w), for audit texts
  int64_t dispatch_micros = 0;
  int64_t bake_micros = 0;
  friend bool operator==(const WaveTiming&, const WaveTiming&) = default;
};

// Everything the machine knows; a plain value the server persists (every field is a scalar, a
// string or a vector of scalars) and reloads after a restart.
struct ReleaseState {
  std::string release_id;
  Phase phase = Phase::kAwaitingApproval;
  FailureAction on_failure = FailureAction::kRollback;
  std::vector<WaveTiming> waves;  // one per wave of WaveCount(plan), holdback wave included
  int wave = -1;                  // current wave; -1 before Start

  // Paused only: the phase to return to (kDispatching or kBaking), and why it is paused. The
  // release leaves Paused when both flags are clear.
  Phase resume_phase = Phase::kReady;
  bool operator_paused = false;
  bool gate_hold = false;

  // Baking (and Paused from Baking): RequestPromotion was emitted and no answer came yet.
  bool promotion_requested = false;

  // Dispatch clock of the current wave: time dispatched before the current run segment, and when
  // the current segment started (meaningful while Dispatching).
  int64_t dispatch_elapsed_micros = 0;
  int64_t segment_started_micros = 0;
  // When the current wave's dispatch window ended (meaningful while Baking or Paused from Baking).
  int64_t bake_started_micros = 0;
  // Time of the last accepted event; events must not go back in time.
  int64_t last_event_micros = 0;
  // Last pause, hold or halt reason (empty if none).
  std::string reason;

  friend bool operator==(const ReleaseState&, const ReleaseState&) = default;
};

// A release in kAwaitingApproval for `plan` (which should have passed CheckPlan()).
ReleaseState NewRelease(const Plan& plan, std::string release_id, int64_t now);

enum class EventKind {
  kApproved,           // approvals complete (decided elsewhere)
  kStart,              // operator starts the rollout
  kTick,               // time passed; timers (dispatch window, bake) are evaluated at `now`
  kGateHalt,           // the gate found harm: stop
  kGateHold,           // the gate cannot judge now (telemetry lag, SRM, environment): pause
  kGatePromoteOk,      // answer to RequestPromotion: promote; also clears a gate hold
  kGatePromoteNotYet,  // answer to RequestPromotion: healthy, not enough evidence; clears a hold
  kPause,              // operator
  kResume,             // operator
  kHalt,               // operator
  kRollback,           // operator
};
std::string_view EventKindName(EventKind k);

struct Event {
  EventKind kind = EventKind::kTick;
  std::string reason;  // gate halt/hold, pause, halt, rollback: why (goes to audit and page)
  std::string actor;   // operator events: who (goes to audit)
  // Gate decisions: the wave the decision is about, or -1 for "the current wave". A promotion
  // answer about another wave is refused (a stale answer must not promote the next wave); a halt
  // about any wave is honoured.
  int wave = -1;
  // Gate events only: also page the on-call operator with `reason` and record it in the audit
  // log (a waived promotion bound, a hold that lasted the maximum hold; docs/gate.md). An accepted
  // event with `page` ends its effects with RecordAudit "paged: <reason>" and Page
  // "release <id>: <reason>"; a refused one pages nothing.
  bool page = false;

  static Event Approved(std::string actor = "") { return {EventKind::kApproved, "", std::move(actor)}; }
  static Event Start(std::string actor = "") { return {EventKind::kStart, "", std::move(actor)}; }
  static Event Tick() { return {EventKind::kTick, "", ""}; }
  static Event GateHalt(std::string reason, int wave = -1) {
    return {EventKind::kGateHalt, std::move(reason), "gate", wave};
  }
  static Event GateHold(std::string reason, int wave = -1) {
    return {EventKind::kGateHold, std::move(reason), "gate", wave};
  }
  static Event GatePromoteOk(int wave = -1) { return {EventKind::kGatePromoteOk, "", "gate", wave}; }
  static Event GatePromoteNotYet(int wave = -1) {
    return {EventKind::kGatePromoteNotYet, "", "gate", wave};
  }
  static Event Pause(std::string reason, std::string actor = "") {
    return {EventKind::kPause, std::move(reason), std::move(actor)};
  }
  static Event Resume(std::string actor = "") { return {EventKind::kResume, "", std::move(actor)}; }
  static Event Halt(std::string reason, std::string actor = "") {
    return {EventKind::kHalt, std::move(reason), std::move(actor)};
  }
  static Event Rollback(std::string reason, std::string actor = "") {
    return {EventKind::kRollback, std::move(reason), std::move(actor)};
  }
};

enum class EffectKind {
  // Serve the release to devices in waves <= `wave`, paced: the rank cutoff is
  // Cohorts::PacedCutoff(s, wave, DispatchElapsedMicros(state, now)). Also re-issued on resume.
  // Idempotent for the adapter.
  kDispatchWave,
  // Hand the release to no device that does not already have it (devices keep what they have).
  kStopDispatch,
  // Ask the gate whether wave `wave` may be promoted; answer with kGatePromoteOk/NotYet.
  kRequestPromotion,
  // Send every exposed device back to its last-known-good bundle (a roll-forward to LKG).
  kRollbackToLkg,
  // Page the on-call operator with `text`.
  kPage,
  // Append `text` to the release's durable audit log.
  kRecordAudit,
};
std::string_view EffectKindName(EffectKind k);

struct Effect {
  EffectKind kind;
  int wave = -1;     // kDispatchWave, kRequestPromotion
  std::string text;  // kPage, kRecordAudit
  friend bool operator==(const Effect&, const Effect&) = default;
};

struct TransitionResult {
  ReleaseState state;
  std::vector<Effect> effects;  // to be carried out in order, after `state` is persisted
};

// The pure transition function. OK with the new state and effects, or:
//   FailedPrecondition "release R: event E refused in state S: reason" if E is not allowed in S;
//   InvalidArgument if now < state.last_event_micros or the state is malformed.
// A refused event changes nothing. A Tick may cross several timers at once (dispatch end and bake
// end); they are applied at their own times, not at `now`.
[[nodiscard]] Result<TransitionResult> Transition(const ReleaseState& state, const Event& event,
                                                  int64_t now);

// Dispatch time of the current wave elapsed at `now`, excluding pauses (0 before Start; the full
// window once the wave is baking). Feed it to Cohorts::PacedCutoff.
int64_t DispatchElapsedMicros(const ReleaseState& state, int64_t now);

// The earliest time at which a Tick would change the state (dispatch window end, bake end), or
// nullopt if only another event can. Lets a simulator jump time.
std::optional<int64_t> NextDeadline(const ReleaseState& state);

// True in kHalted, kRolledBack and kCompleted: the release will dispatch nothing new.
bool IsFinished(const ReleaseState& state);

}  // namespace rf::rollout

#endif  // RINGFENCE_ROLLOUT_RELEASE_H_
