#include "rollout/release.h"

#include <algorithm>
#include <utility>

namespace rf::rollout {

std::string_view PhaseName(Phase p) {
  switch (p) {
    case Phase::kAwaitingApproval:
      return "AwaitingApproval";
    case Phase::kReady:
      return "Ready";
    case Phase::kDispatching:
      return "Dispatching";
    case Phase::kBaking:
      return "Baking";
    case Phase::kPaused:
      return "Paused";
    case Phase::kHalted:
      return "Halted";
    case Phase::kRolledBack:
      return "RolledBack";
    case Phase::kCompleted:
      return "Completed";
  }
  return "?";
}

std::string_view EventKindName(EventKind k) {
  switch (k) {
    case EventKind::kApproved:
      return "Approved";
    case EventKind::kStart:
      return "Start";
    case EventKind::kTick:
      return "Tick";
    case EventKind::kGateHalt:
      return "GateHalt";
    case EventKind::kGateHold:
      return "GateHold";
    case EventKind::kGatePromoteOk:
      return "GatePromoteOk";
    case EventKind::kGatePromoteNotYet:
      return "GatePromoteNotYet";
    case EventKind::kPause:
      return "Pause";
    case EventKind::kResume:
      return "Resume";
    case EventKind::kHalt:
      return "Halt";
    case EventKind::kRollback:
      return "Rollback";
  }
  return "?";
}

std::string_view EffectKindName(EffectKind k) {
  switch (k) {
    case EffectKind::kDispatchWave:
      return "DispatchWave";
    case EffectKind::kStopDispatch:
      return "StopDispatch";
    case EffectKind::kRequestPromotion:
      return "RequestPromotion";
    case EffectKind::kRollbackToLkg:
      return "RollbackToLkg";
    case EffectKind::kPage:
      return "Page";
    case EffectKind::kRecordAudit:
      return "RecordAudit";
  }
  return "?";
}

ReleaseState NewRelease(const Plan& plan, std::string release_id, int64_t now) {
  ReleaseState s;
  s.release_id = std::move(release_id);
  s.on_failure = plan.on_failure;
  const int n = WaveCount(plan);
  for (int w = 0; w < n; ++w) {
    s.waves.push_back({WaveName(plan, w), WaveDispatchMicros(plan, w), WaveBakeMicros(plan, w)});
  }
  s.last_event_micros = now;
  return s;
}

bool IsFinished(const ReleaseState& state) {
  return state.phase == Phase::kHalted || state.phase == Phase::kRolledBack ||
         state.phase == Phase::kCompleted;
}

namespace {

bool HasWave(const ReleaseState& s) {
  return s.wave >= 0 && static_cast<size_t>(s.wave) < s.waves.size();
}

const WaveTiming& Current(const ReleaseState& s) { return s.waves[static_cast<size_t>(s.wave)]; }

// One transition under construction. Handlers mutate `s_` and append to `fx_`, or return a
// refusal; Transition() discards both on refusal.
class Machine {
 public:
  Machine(const ReleaseState& state, const Event& event, int64_t now)
      : s_(state), event_(event), now_(now) {}

  Status Apply() {
    switch (event_.kind) {
      case EventKind::kApproved:
        return OnApproved();
      case EventKind::kStart:
        return OnStart();
      case EventKind::kTick:
        RunTimers();
        return Status::Ok();
      case EventKind::kGateHalt:
        return OnGateHalt();
      case EventKind::kGateHold:
        return OnGateHold();
      case EventKind::kGatePromoteOk:
      case EventKind::kGatePromoteNotYet:
        return OnPromotionAnswer(event_.kind == EventKind::kGatePromoteOk);
      case EventKind::kPause:
        return OnPause();
      case EventKind::kResume:
        return OnResume();
      case EventKind::kHalt:
        return OnHalt();
      case EventKind::kRollback:
        return OnRollback();
    }
    return Status::InvalidArgument("unknown event kind");
  }

  ReleaseState& state() { return s_; }
  std::vector<Effect>& effects() { return fx_; }

 private:
  // "Dispatching(wave 1 'early')".
  std::string StateText() const {
    std::string t(PhaseName(s_.phase));
    if (s_.phase == Phase::kPaused) {
      t += " from ";
      t += PhaseName(s_.resume_phase);
    }
    if (HasWave(s_)) t += "(wave " + std::to_string(s_.wave) + " '" + Current(s_).name + "')";
    return t;
  }

  Status Refuse(std::string_view why) const {
    return Status::FailedPrecondition("release " + s_.release_id + ": event " +
                                      std::string(EventKindName(event_.kind)) +
                                      " refused in state " + StateText() + ": " +
                                      std::string(why));
  }

  std::string By() const { return event_.actor.empty() ? "" : " by " + event_.actor; }
  std::string Because() const { return event_.reason.empty() ? "" : ": " + event_.reason; }
  std::string WaveText(int w) const {
    return "wave " + std::to_string(w) + " '" + s_.waves[static_cast<size_t>(w)].name + "'";
  }

  void Emit(EffectKind kind, int wave = -1, std::string text = "") {
    fx_.push_back({kind, wave, std::move(text)});
  }
  void Audit(std::string text) { Emit(EffectKind::kRecordAudit, -1, std::move(text)); }

  // Dispatch clock of the current wave, clamped to its window.
  int64_t DispatchedSoFar() const {
    const int64_t window = Current(s_).dispatch_micros;
    int64_t e = s_.dispatch_elapsed_micros;
    if (s_.phase == Phase::kDispatching) e += now_ - s_.segment_started_micros;
    return std::clamp<int64_t>(e, 0, window);
  }

  void StartWave(int w, int64_t at) {
    s_.phase = Phase::kDispatching;
    s_.wave = w;
    s_.dispatch_elapsed_micros = 0;
    s_.segment_started_micros = at;
    s_.bake_started_micros = 0;
    s_.promotion_requested = false;
    Audit(WaveText(w) + " dispatch started (" + std::to_string(w + 1) + " of " +
          std::to_string(s_.waves.size()) + ")");
    Emit(EffectKind::kDispatchWave, w);
  }

  // Dispatch window end and bake end, each at its own time, as often as `now_` allows.
  void RunTimers() {
    if (s_.phase == Phase::kDispatching) {
      const WaveTiming& t = Current(s_);
      const int64_t end = s_.segment_started_micros + (t.dispatch_micros - s_.dispatch_elapsed_micros);
      if (now_ < end) return;
      s_.dispatch_elapsed_micros = t.dispatch_micros;
      s_.phase = Phase::kBaking;
      s_.bake_started_micros = end;
      s_.promotion_requested = false;
      Audit(WaveText(s_.wave) + " dispatched; baking");
    }
    if (s_.phase == Phase::kBaking && !s_.promotion_requested) {
      if (now_ < s_.bake_started_micros + Current(s_).bake_micros) return;
      s_.promotion_requested = true;
      Emit(EffectKind::kRequestPromotion, s_.wave);
    }
  }

  Status OnApproved() {
    if (s_.phase != Phase::kAwaitingApproval) {
      return Refuse("only a release awaiting approval can be approved");
    }
    s_.phase = Phase::kReady;
    Audit("approved" + By());
    return Status::Ok();
  }

  Status OnStart() {
    if (s_.phase == Phase::kAwaitingApproval) return Refuse("the release is not approved yet");
    if (s_.phase != Phase::kReady) return Refuse("the release was already started");
    Audit("started" + By());
    StartWave(0, now_);
    return Status::Ok();
  }

  bool Active() const {
    return s_.phase == Phase::kDispatching || s_.phase == Phase::kBaking ||
           s_.phase == Phase::kPaused;
  }

  Status RefuseInactive() const {
    switch (s_.phase) {
      case Phase::kAwaitingApproval:
      case Phase::kReady:
        return Refuse("nothing has been dispatched yet");
      case Phase::kHalted:
        return Refuse("a halted release never advances (only Rollback is accepted); reason: " +
                      s_.reason);
      case Phase::kRolledBack:
        return Refuse("the release was rolled back");
      case Phase::kCompleted:
        return Refuse("the release is completed");
      default:
        return Refuse("not allowed");
    }
  }

  // Leaves Dispatching or Baking for Paused; freezes the dispatch clock.
  void EnterPause() {
    s_.dispatch_elapsed_micros = DispatchedSoFar();
    s_.resume_phase = s_.phase;
    s_.phase = Phase::kPaused;
    // An outstanding promotion request is void: the next Tick after resuming asks again.
    s_.promotion_requested = false;
    Emit(EffectKind::kStopDispatch);
  }

  // Leaves Paused for the phase it interrupted, when nothing holds it any more.
  void LeavePause(const std::string& why) {
    s_.phase = s_.resume_phase;
    s_.resume_phase = Phase::kReady;
    s_.reason.clear();
    if (s_.phase == Phase::kDispatching) s_.segment_started_micros = now_;
    Audit("resumed " + WaveText(s_.wave) + why);
    Emit(EffectKind::kDispatchWave, s_.wave);
  }

  // Stops for good. `gate` true when the gate decided (on_failure applies; pages).
  void Stop(bool gate) {
    if (s_.phase == Phase::kDispatching || s_.phase == Phase::kPaused) {
      s_.dispatch_elapsed_micros = DispatchedSoFar();
    }
    s_.operator_paused = false;
    s_.gate_hold = false;
    s_.promotion_requested = false;
    s_.resume_phase = Phase::kReady;
    s_.reason = event_.reason;
    const bool started = s_.wave >= 0;
    if (started) Emit(EffectKind::kStopDispatch);
    const bool rollback = gate && s_.on_failure == FailureAction::kRollback;
    const std::string where = started ? " in " + WaveText(s_.wave) : "";
    if (rollback) {
      s_.phase = Phase::kRolledBack;
      Emit(EffectKind::kRollbackToLkg);
      Audit("halted by the gate" + where + Because() + "; rolling back to last-known-good");
    } else {
      s_.phase = Phase::kHalted;
      Audit(std::string(gate ? "halted by the gate" : "halted") + By() + where + Because());
    }
    if (gate) {
      Emit(EffectKind::kPage, -1,
           "release " + s_.release_id + " halted by the gate" + where + Because() +
               (rollback ? " (rolled back to last-known-good)" : " (paused: decide rollback)"));
    }
  }

  Status OnGateHalt() {
    if (!Active()) return RefuseInactive();
    Stop(/*gate=*/true);
    return Status::Ok();
  }

  Status OnGateHold() {
    if (!Active()) return RefuseInactive();
    if (s_.phase == Phase::kPaused) {
      if (!s_.gate_hold) {
        s_.gate_hold = true;
        s_.reason = event_.reason;
        Audit("held by the gate" + Because());
      }
      return Status::Ok();  // holds repeat every tick while their cause lasts
    }
    EnterPause();
    s_.gate_hold = true;
    s_.reason = event_.reason;
    Audit("held by the gate in " + WaveText(s_.wave) + Because());
    return Status::Ok();
  }

  Status OnPromotionAnswer(bool ok) {
    if (!Active()) return RefuseInactive();
    if (event_.wave >= 0 && event_.wave != s_.wave) {
      return Refuse("the answer is about wave " + std::to_string(event_.wave) +
                    ", the release is in wave " + std::to_string(s_.wave));
    }
    if (s_.phase == Phase::kPaused) {
      // The gate no longer holds; an operator pause still does.
      if (!s_.gate_hold) return Refuse("paused by an operator; no promotion while paused");
      s_.gate_hold = false;
      if (s_.operator_paused) {
        Audit("gate hold cleared; still paused by an operator");
      } else {
        LeavePause(" (gate hold cleared)");
      }
      return Status::Ok();
    }
    if (s_.phase == Phase::kDispatching) return Refuse("the wave is still being dispatched");
    if (!s_.promotion_requested) return Refuse("no promotion was requested (the bake is not over)");
    s_.promotion_requested = false;
    if (!ok) return Status::Ok();  // asked again at the next Tick
    const int next = s_.wave + 1;
    Audit(WaveText(s_.wave) + " promoted by the gate");
    if (static_cast<size_t>(next) < s_.waves.size()) {
      StartWave(next, now_);
    } else {
      s_.phase = Phase::kCompleted;
      Audit("completed: every wave dispatched and promoted");
    }
    return Status::Ok();
  }

  Status OnPause() {
    if (s_.phase == Phase::kDispatching || s_.phase == Phase::kBaking) {
      EnterPause();
      s_.operator_paused = true;
      s_.reason = event_.reason;
      Audit("paused" + By() + " in " + WaveText(s_.wave) + Because());
      return Status::Ok();
    }
    if (s_.phase == Phase::kPaused) {
      if (s_.operator_paused) return Refuse("already paused by an operator");
      s_.operator_paused = true;
      Audit("paused" + By() + " (also held by the gate)" + Because());
      return Status::Ok();
    }
    return RefuseInactive();
  }

  Status OnResume() {
    if (s_.phase != Phase::kPaused) {
      if (s_.phase == Phase::kDispatching || s_.phase == Phase::kBaking) {
        return Refuse("the release is not paused");
      }
      return RefuseInactive();
    }
    if (!s_.operator_paused) {
      return Refuse("held by the gate (" + s_.reason + "); only the gate clears a hold");
    }
    s_.operator_paused = false;
    if (s_.gate_hold) {
      Audit("operator pause lifted" + By() + "; still held by the gate: " + s_.reason);
    } else {
      LeavePause(By());
    }
    return Status::Ok();
  }

  Status OnHalt() {
    if (s_.phase == Phase::kHalted) return Refuse("already halted");
    if (s_.phase == Phase::kRolledBack || s_.phase == Phase::kCompleted) return RefuseInactive();
    Stop(/*gate=*/false);
    return Status::Ok();
  }

  Status OnRollback() {
    switch (s_.phase) {
      case Phase::kDispatching:
      case Phase::kBaking:
      case Phase::kPaused:
      case Phase::kHalted:
      case Phase::kCompleted:
        break;
      case Phase::kAwaitingApproval:
      case Phase::kReady:
        return Refuse("nothing has been dispatched; halt it instead");
      case Phase::kRolledBack:
        return Refuse("already rolled back");
    }
    if (s_.wave < 0) return Refuse("nothing has been dispatched, so there is nothing to roll back");
    if (s_.phase == Phase::kDispatching || s_.phase == Phase::kPaused) {
      s_.dispatch_elapsed_micros = DispatchedSoFar();
    }
    const std::string from(PhaseName(s_.phase));
    s_.phase = Phase::kRolledBack;
    s_.operator_paused = false;
    s_.gate_hold = false;
    s_.promotion_requested = false;
    s_.resume_phase = Phase::kReady;
    s_.reason = event_.reason;
    Emit(EffectKind::kStopDispatch);
    Emit(EffectKind::kRollbackToLkg);
    Audit("rolled back" + By() + " from " + from + Because());
    return Status::Ok();
  }

  ReleaseState s_;
  std::vector<Effect> fx_;
  const Event& event_;
  const int64_t now_;
};

Status Validate(const ReleaseState& s, int64_t now) {
  if (now < s.last_event_micros) {
    return Status::InvalidArgument("release " + s.release_id + ": time went backwards (" +
                                   std::to_string(now) + " < " +
                                   std::to_string(s.last_event_micros) + ")");
  }
  if (s.waves.empty()) return Status::InvalidArgument("release " + s.release_id + ": no waves");
  const bool needs_wave = s.phase == Phase::kDispatching || s.phase == Phase::kBaking ||
                          s.phase == Phase::kPaused;
  if (needs_wave && !HasWave(s)) {
    return Status::InvalidArgument("release " + s.release_id + ": wave " +
                                   std::to_string(s.wave) + " out of range in state " +
                                   std::string(PhaseName(s.phase)));
  }
  if (s.phase == Phase::kPaused && s.resume_phase != Phase::kDispatching &&
      s.resume_phase != Phase::kBaking) {
    return Status::InvalidArgument("release " + s.release_id + ": paused without a phase to resume");
  }
  return Status::Ok();
}

}  // namespace

Result<TransitionResult> Transition(const ReleaseState& state, const Event& event, int64_t now) {
  RF_RETURN_IF_ERROR(Validate(state, now));
  if (event.page && event.kind != EventKind::kGateHold && event.kind != EventKind::kGateHalt &&
      event.kind != EventKind::kGatePromoteOk && event.kind != EventKind::kGatePromoteNotYet) {
    return Status::InvalidArgument("release " + state.release_id + ": only a gate event pages (" +
                                   std::string(EventKindName(event.kind)) + ")");
  }
  Machine m(state, event, now);
  RF_RETURN_IF_ERROR(m.Apply());
  m.state().last_event_micros = now;
  if (event.page) {
    m.effects().push_back({EffectKind::kRecordAudit, -1, "paged: " + event.reason});
    m.effects().push_back({EffectKind::kPage, -1, "release " + state.release_id + ": " + event.reason});
  }
  return TransitionResult{std::move(m.state()), std::move(m.effects())};
}

int64_t DispatchElapsedMicros(const ReleaseState& state, int64_t now) {
  if (!HasWave(state)) return 0;
  const int64_t window = Current(state).dispatch_micros;
  int64_t e = state.dispatch_elapsed_micros;
  if (state.phase == Phase::kDispatching) e += now - state.segment_started_micros;
  if (state.phase == Phase::kBaking ||
      (state.phase == Phase::kPaused && state.resume_phase == Phase::kBaking) ||
      state.phase == Phase::kCompleted) {
    e = window;
  }
  return std::clamp<int64_t>(e, 0, window);
}

std::optional<int64_t> NextDeadline(const ReleaseState& state) {
  if (!HasWave(state)) return std::nullopt;
  const WaveTiming& t = Current(state);
  if (state.phase == Phase::kDispatching) {
    return state.segment_started_micros + (t.dispatch_micros - state.dispatch_elapsed_micros);
  }
  if (state.phase == Phase::kBaking && !state.promotion_requested) {
    return state.bake_started_micros + t.bake_micros;
  }
  return std::nullopt;
}

}  // namespace rf::rollout
