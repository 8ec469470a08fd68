// ReleaseDriver: the one definition of how a started release is driven by its gate. The server's
// controller (src/server/controller.cc) and the simulator's RingfencePolicy (src/sim) are thin
// adapters around it: they count devices from their own telemetry into a DriverTick, apply the
// events the driver asks for to the release's authoritative state, and carry out the effects.
// Specification: docs/gate.md, "The release driver".
//
// Per tick the driver
//   1. feeds the strata's at-risk counts and events into its SequentialGate and ticks it;
//   2. records the applied devices (for n_H) and derives the HealthSignals (telemetry lag,
//      treated devices without data, sample-ratio mismatch) from the tick;
//   3. asks the gate: HALT -> GateHalt; HOLD -> GateHold (once; paged and audited once if the hold
//      lasts the maximum hold); a cleared hold -> GatePromoteNotYet;
//   4. applies a Tick when a timer of the release is due, and answers every RequestPromotion with
//      DecideAtBakeEnd: n_H (devices that applied and have been watched for the wave's bake),
//      n_min (DriverOptions::min_baked_share), the next wave's size and the promotion-bound hold
//      clock. A waived bound promotes with a paged, audited event; an insufficient-exposure hold
//      that lasts the maximum hold is paged and audited once.
//
//   ReleaseDriver d = *ReleaseDriver::Create(plan, std::move(cohorts), options);
//   every tick:  DriverTick t = ...;                       // counts from the adapter's telemetry
//                DriverOutput out;
//                RF_RETURN_IF_ERROR(d.Step(t, current_state, port, &out));
//                for (const DriverTransition& x : out.transitions) carry out x.result.effects;
//
// Pure: no I/O, no clock reads (times are in DriverTick), no randomness. Events reach the
// release only through the TransitionPort the caller passes.
// Thread-safety: none; REQUIRES external synchronization.
#ifndef RINGFENCE_ROLLOUT_DRIVER_H_
#define RINGFENCE_ROLLOUT_DRIVER_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "rollout/cohort.h"
#include "rollout/gate.h"
#include "rollout/plan.h"
#include "rollout/release.h"

namespace rf::rollout {

inline constexpr int kSignalCount = 3;  // Signal::kSilence, kCrash, kError

struct DriverOptions {
  // Gate options other than alpha, which comes from the plan (GateSettings::alpha).
  GateOptions gate;
  // n_min(w) for PROMOTE as a share of the devices expected in waves <= w (Cohorts::
  // ExpectedExposed): ceil(share * expected). 0 = no minimum beyond one baked device.
  double min_baked_share = 0;
  // The maximum hold, as a multiple of the current wave's bake: a promotion held this long on the
  // promotion bound is waived (BakeSummary::max_promotion_hold_micros), and a hold for any other
  // reason that lasts this long is paged and audited once. 0 = hold indefinitely, never page.
  // Half a bake: docs/gate.md, "Measured in the simulator".
  double max_promotion_hold_bakes = 0.5;
  // Sample-ratio mismatch (docs/gate.md, "The release driver"): a stratum whose acknowledged share
  // of treated devices is implausibly below the other strata's. Per-look level of the check
  // (Bonferroni over strata); 0 disables it.
  double srm_alpha = 1e-6;
  // A stratum is checked only with at least this many treated devices (and so are the others).
  int64_t srm_min_treated = 20;
  // Acknowledgements lag the offer by up to a check-in interval: a stratum mismatches only if its
  // acknowledged share is below the others' minus this tolerance, beyond the level above.
  double srm_tolerance = 0.1;
};

// What an adapter counted for one stratum of the release's cohorts over one tick.
struct StratumTelemetry {
  // Devices alive in each arm at the start of the tick, before its events (SetAtRisk).
  int64_t treated_at_risk = 0;
  int64_t control_at_risk = 0;
  // New events of the tick by Signal (at most one per device), clamped by the driver to the
  // at-risk count of their arm.
  std::array<int64_t, kSignalCount> treated_events{};
  std::array<int64_t, kSignalCount> control_events{};
  // The treated arm: devices handed the release (server: offered at a check-in or running it;
  // simulator: applied). Cumulative.
  int64_t treated = 0;
  // Of those, devices known to have applied it (server: report running it; simulator: applied).
  // Their sum over strata, over time, is n_H's history.
  int64_t applied = 0;
  // Of the treated, devices that currently send no telemetry (silent).
  int64_t treated_silent = 0;
};

struct DriverTick {
  int64_t now_micros = 0;       // when the decision is taken
  int64_t observed_micros = 0;  // the time the counts describe (<= now); keys n_H's history
  // Age of the newest complete telemetry (HealthSignals::telemetry_lag_seconds).
  double telemetry_lag_seconds = 0;
  std::vector<StratumTelemetry> strata;  // one per stratum of the cohorts, in their order
};

// How the driver changes the release: the adapter applies `event` at `now` to the release's
// authoritative state through rollout::Transition (the simulator in memory, the server through
// ReleaseDirectory::ApplyEvent, which persists and audits) and returns the transition. A refused
// event returns its error and changes nothing.
class TransitionPort {
 public:
  virtual ~TransitionPort() = default;
  virtual Result<TransitionResult> Apply(const Event& event, int64_t now) = 0;
};

// One event the driver applied and what it did. result.effects still contains RequestPromotion
// (the driver answered it with the following transition); adapters carry out the others.
struct DriverTransition {
  Event event;
  TransitionResult result;
};

struct DriverOutput {
  std::vector<DriverTransition> transitions;  // in the order applied
  // Lines worth logging ("PROMOTE 'canary' ...", "promotion of 'early' not yet: ...", "hold
  // cleared", a halt's reason). Pages and audit texts are effects of the transitions.
  std::vector<std::string> notes;
  HealthSignals health;     // what this tick's HealthSignals were (control_rate_ratio empty)
  std::string gate_state;   // "watching", "hold", "halt", "promote"
  std::string gate_detail;  // DescribeDecision of the last decision
};

// What the driver keeps between ticks besides the gate's evidence, for persistence: a restarted
// server continues it (ControllerOptions::state_dir).
struct DriverMemory {
  std::vector<std::pair<int64_t, int64_t>> applied_history;  // (observed time, applied devices)
  // The promotion-bound hold clock of wave `bound_hold_wave`: time held between consecutive
  // kPromotionBoundNotMet answers, and whether it is running (its last answer was one).
  int bound_hold_wave = -1;
  int64_t bound_hold_micros = 0;
  bool bound_hold_running = false;
  // Other holds: since when (-1: not holding), and the episode already paged.
  int64_t exposure_hold_since = -1;
  int exposure_paged_wave = -1;
  int64_t gate_hold_since = -1;
  bool gate_hold_paged = false;
};

// "mm:ss", or "h:mm:ss" from one hour on (negative values with a leading '-').
std::string FormatDuration(int64_t micros);

class ReleaseDriver {
 public:
  // The gate gets one e-process per (signal of plan.gate.signals, stratum of `cohorts`), with
  // options.gate and the plan's alpha. InvalidArgument from SequentialGate::Create.
  static Result<std::unique_ptr<ReleaseDriver>> Create(const Plan& plan, Cohorts cohorts,
                                                       DriverOptions options);

  // One tick (see the file comment). `state` is the release's state as the adapter knows it now;
  // the driver follows it through the port's results. A release that is not live (Dispatching,
  // Baking or Paused) only has its evidence recorded. InvalidArgument if tick.strata does not
  // have one entry per stratum or a count is negative; errors of the port are returned as they
  // are (the evidence of the tick is kept).
  Status Step(const DriverTick& tick, ReleaseState state, TransitionPort& port, DriverOutput* out);

  const SequentialGate& gate() const { return *gate_; }
  const Cohorts& cohorts() const { return cohorts_; }
  const Plan& plan() const { return plan_; }
  // The gate metric of `s`, or -1 if the plan does not watch it.
  int metric_of(Signal s) const { return metric_of_[static_cast<int>(s)]; }
  // Treated and applied devices of the last tick, summed over strata.
  int64_t treated() const { return treated_; }
  int64_t applied() const { return applied_; }
  // The stratum's key for texts ("(all)" for the single unstratified stratum).
  std::string StratumName(int stratum) const;
  // While a wave is held at its bake end: "promotion refused N times: why"; else "".
  std::string PendingPromotionText() const;

  // Persistence: the evidence (SequentialGate::EncodeState) and the memory at `now`.
  std::string EncodeGate() const { return gate_->EncodeState(); }
  DriverMemory Memory(int64_t now) const;
  // Restores both at `now` (running clocks resume at `now`). Errors of RestoreState; nothing
  // changes on error.
  Status Restore(std::string_view gate_text, const DriverMemory& memory, int64_t now);

 private:
  ReleaseDriver(Plan plan, Cohorts cohorts, DriverOptions options,
                std::unique_ptr<SequentialGate> gate, std::array<int, kSignalCount> metric_of);
  Status Observe(const DriverTick& tick);
  bool SampleRatioMismatch(std::span<const StratumTelemetry> strata) const;
  int64_t BakedDevices(int64_t bake_micros, int64_t now) const;
  int64_t MaxHoldMicros(int wave) const;
  Status Apply(const Event& event, int64_t now, ReleaseState& state, TransitionPort& port,
               DriverOutput* out);
  Status AnswerPromotion(int wave, int64_t now, ReleaseState& state, TransitionPort& port,
                         DriverOutput* out);
  std::string NotYetText(const Decision& d, const BakeSummary& bake) const;

  Plan plan_;
  Cohorts cohorts_;
  DriverOptions options_;
  std::unique_ptr<SequentialGate> gate_;
  std::array<int, kSignalCount> metric_of_;
  HealthSignals health_;
  int64_t treated_ = 0;
  int64_t applied_ = 0;
  int64_t max_bake_micros_ = 0;
  std::deque<std::pair<int64_t, int64_t>> applied_history_;
  int bound_hold_wave_ = -1;
  int64_t bound_hold_micros_ = 0;
  int64_t bound_hold_since_ = -1;
  int64_t exposure_hold_since_ = -1;
  int exposure_paged_wave_ = -1;
  int64_t gate_hold_since_ = -1;
  bool gate_hold_paged_ = false;
  int not_yet_wave_ = -1;  // wave whose "promotion not yet" was last noted
  int64_t not_yet_count_ = 0;
  std::string last_not_yet_;
};

}  // namespace rf::rollout

#endif  // RINGFENCE_ROLLOUT_DRIVER_H_
