// Rollout plans: how a release reaches the fleet, in waves, and the linter that refuses unsafe ones.
//
// A plan is a user-authored YAML file (format: docs/rollout.md, samples: samples/plans/). Each wave
// has a *cumulative* size (a share of the eligible fleet such as "1%", or an absolute device count),
// a dispatch window over which its new devices are handed out evenly, and a bake time during which
// the gate watches before promotion. A random `gate.holdback` share of every stratum stays
// unexposed until the last plan wave's bake ends; it is then released as one extra final wave
// (see WaveCount()).
//
//   RF_ASSIGN_OR_RETURN(Plan plan, ParsePlan(text, "plans/standard.yaml"));
//   RF_RETURN_IF_ERROR(CheckPlan(plan));   // refuses unsafe plans, naming every reason
//
// Pure: no I/O, no clock reads. Thread-compatible (plain values).
#ifndef RINGFENCE_ROLLOUT_PLAN_H_
#define RINGFENCE_ROLLOUT_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace rf::rollout {

// A wave's cumulative size: a share of the eligible fleet, or an absolute number of devices.
struct WaveSize {
  enum class Kind { kShare, kCount };
  Kind kind = Kind::kShare;
  double share = 0;   // kShare: fraction in (0, 1]; "0.01%" is 0.0001.
  int64_t count = 0;  // kCount: devices, >= 1.

  static WaveSize Share(double fraction) { return {Kind::kShare, fraction, 0}; }
  static WaveSize Count(int64_t devices) { return {Kind::kCount, 0, devices}; }
  // "1%", "0.01%", "100%" or "1100" (as written in plans).
  std::string ToString() const;
  friend bool operator==(const WaveSize&, const WaveSize&) = default;
};

struct Wave {
  std::string name;                   // unique within the plan
  WaveSize devices;                   // cumulative: devices in this wave and all earlier ones
  std::vector<std::string> stratify;  // attribute names; empty = this wave sets no floor
  // Cumulative floor: after this wave every stratum has at least min(min_per_stratum, its
  // non-holdback eligible devices) exposed. Only with `stratify`; default 50 there (m_min,
  // docs/gate.md "Strata and the wave-0 floor").
  int64_t min_per_stratum = 0;
  int64_t dispatch_micros = 0;  // new devices are handed out evenly over this window
  int64_t bake_micros = 0;      // watched for this long after the dispatch window before promotion
  uint32_t line = 0;            // line of the wave in the plan file (0 if built in code)
  friend bool operator==(const Wave&, const Wave&) = default;
};

// What the gate watches. Names as in plans: silence, crash, error.
enum class Signal { kSilence, kCrash, kError };
std::string_view SignalName(Signal s);
std::optional<Signal> SignalFromName(std::string_view name);

// Largest gate.confirm_after and gate.lkg_after a plan may set: both are sent to agents, and the
// check-in response carries at most these (protocol::kMaxConfirmAfterMs, kMaxLkgAfterMs).
inline constexpr int64_t kMaxConfirmAfterMicros = 3'600'000'000LL;           // 1 h
inline constexpr int64_t kMaxLkgAfterMicros = 7 * 86'400LL * 1'000'000LL;  // 7 days

struct GateSettings {
  double alpha = 0.01;  // false-halt probability per release (all metrics, strata and waves)
  std::vector<Signal> signals = {Signal::kSilence, Signal::kCrash, Signal::kError};
  int64_t silence_after_micros = 90'000'000;  // no check-in for this long after apply = silent
  // Post-apply confirmation (docs/gate.md, "Post-apply confirmation"): a device that applied the
  // release checks in again this long (jittered up to +25 %) after reporting the apply; one whose
  // confirmation has not arrived 2 x confirm_after after that report is silent at once. 0 = off.
  // 10 s: docs/gate.md, "Post-apply confirmation" (15 s left CF291 at 125 harmed devices).
  int64_t confirm_after_micros = 10'000'000;
  // New content becomes the device's last known good only after it has run this long (clean
  // restarts included); until then a crash loop on it reverts to the previous LKG (docs/agent.md).
  // Sent to the agents with the release's install directive (docs/protocol.md, `lkg_after_ms`).
  int64_t lkg_after_micros = 10 * 60'000'000LL;
  double holdback = 0.01;  // share of each stratum kept unexposed until the last bake ends
  friend bool operator==(const GateSettings&, const GateSettings&) = default;
};

// What the controller does when the gate halts the release.
//   kRollback: stop dispatch and send every exposed device back to its last-known-good bundle.
//   kPause:    stop dispatch and page; devices keep what they have until an operator decides
//              (the release is Halted either way: it never advances again).
enum class FailureAction { kRollback, kPause };
std::string_view FailureActionName(FailureAction a);

struct Plan {
  std::string name;
  std::string filename;  // as given to ParsePlan; used in linter messages
  std::vector<Wave> waves;
  // The attributes that define strata (e.g. {os, agent_version}): the `stratify` list shared by
  // every wave that has one (ParsePlan rejects differing lists). Empty = one stratum.
  std::vector<std::string> stratify;
  GateSettings gate;
  FailureAction on_failure = FailureAction::kRollback;
  uint32_t gate_line = 0;  // line of `gate:` (0 if absent or built in code)
  friend bool operator==(const Plan&, const Plan&) = default;
};

// Parses a plan. Every error is InvalidArgument "file:line:column: key 'k': reason" and names the
// offending key; unknown keys are rejected. Syntax only (plus rules without which the plan has no
// meaning, e.g. a share must be in (0%, 100%]); safety rules are LintPlan's.
[[nodiscard]] Result<Plan> ParsePlan(std::string_view yaml, std::string_view filename);

// ----- waves of a release -----
// Number of waves a release under `plan` dispatches: the plan's waves, plus one final holdback wave
// when gate.holdback > 0. Wave indices 0..WaveCount()-1 are used by cohorts and the release
// state machine alike.
int WaveCount(const Plan& plan);
// True for the extra final wave that releases the holdback.
bool IsHoldbackWave(const Plan& plan, int wave);
// Dispatch window and bake of wave `wave` (REQUIRES: 0 <= wave < WaveCount(plan)). The holdback
// wave is dispatched over the last plan wave's dispatch window and has no bake of its own (no
// control group is left to compare against); its completion still waits for the gate.
int64_t WaveDispatchMicros(const Plan& plan, int wave);
int64_t WaveBakeMicros(const Plan& plan, int wave);
// "canary", ..., and "holdback" for the holdback wave.
std::string WaveName(const Plan& plan, int wave);

// ----- linter -----
struct LintOptions {
  // Largest share the first wave may have.
  double max_first_wave_share = 0.01;
  // alpha must be in (0, max_alpha].
  double max_alpha = 0.1;
  // holdback must be in (0, max_holdback].
  double max_holdback = 0.10;
  // Eligible fleet size, if known: lets absolute counts be compared with shares (first-wave size,
  // increasing sizes). Without it, counts are only compared with counts.
  std::optional<int64_t> fleet_size;
};

struct LintFinding {
  // Stable rule id: "first-wave-stratified", "first-wave-size", "bake-required",
  // "dispatch-required", "increasing-sizes", "last-wave-all", "alpha-range", "holdback-range",
  // "silence-signal", "silence-after", "holdback-shadows-wave". Documented in docs/rollout.md.
  std::string rule;
  int wave = -1;        // index of the wave concerned, -1 for plan-wide findings
  std::string message;  // "file:line: wave 'canary': reason" (file:line omitted if unknown)
};

// Every reason the plan is unsafe; empty when it may be used. Deterministic order (plan-wide
// rules, then waves in order).
std::vector<LintFinding> LintPlan(const Plan& plan, const LintOptions& options = {});

// OK, or FailedPrecondition whose message lists every finding ("unsafe plan: ...; ...").
[[nodiscard]] Status CheckPlan(const Plan& plan, const LintOptions& options = {});

}  // namespace rf::rollout

#endif  // RINGFENCE_ROLLOUT_PLAN_H_
