// The fleet simulator engine: a simulated clock, devices that check in on their poll interval,
// go offline and come back, make healthy noise, and fail as the scenario's hidden ground truth
// says once they apply the release; a rollout policy decides each tick from the telemetry.
//
// Scale: devices are never simulated one by one. Each device class (scenario stratum) is a set of
// counters (not offered, offered-but-offline, healthy, failing by signal, silent, ...), and every
// random outcome is an exact binomial draw over a counter (sampling.h). A tick costs O(classes)
// plus O(scheduled groups), so 10 million devices cost what 10 thousand do; the policy's own cost
// (e.g. ranking every device for cohorts) dominates. Model and its approximations:
// docs/simulator.md.
//
//   SimulationOptions options;
//   RF_ASSIGN_OR_RETURN(SimResult r, RunSimulation(scenario, *policy, options, /*seed=*/1));
//
// Deterministic: the same scenario, policy, options and seed give the same result.
#ifndef RINGFENCE_SIM_ENGINE_H_
#define RINGFENCE_SIM_ENGINE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/policy.h"
#include "sim/scenario.h"

namespace rf::sim {

struct SimulationOptions {
  // Simulated time per step; events are counted per tick (docs/gate.md, "Defaults": 10 s).
  int64_t tick_micros = 10'000'000;
  // Delay between a device's report and the controller seeing it (docs/gate.md, "Defaults": L).
  int64_t telemetry_lag_micros = 30'000'000;
  // A device is declared silent this long after its last check-in. Normally the plan's
  // gate.silence_after; every policy sees the same silence events.
  int64_t silence_after_micros = 90'000'000;
  // Post-apply confirmation (rollout/confirmation.h), normally the plan's gate.confirm_after: a
  // device that applied checks in again this long (jittered) after its apply report, and one that
  // stops before confirming is silent at the confirmation deadline. 0 = off.
  int64_t confirm_after_micros = 0;
  // A device that crashed once (no repeats_on_boot) is back this long after its crash.
  int64_t reboot_micros = 5 * 60'000'000LL;
  // Hard end of a run. 8 days covers a 7-day phased release and its stragglers.
  int64_t max_duration_micros = 8 * 24 * 3600'000'000LL;
  // After the policy has finished and nothing is in flight, the run still continues this long,
  // so that late failures are counted.
  int64_t settle_micros = 10 * 60'000'000LL;
};

// Outcome for one scenario stratum.
struct StratumOutcome {
  std::string label;
  bool eligible = false;
  int64_t devices = 0;
  int64_t dispatched = 0;  // offered the release
  int64_t exposed = 0;     // applied it
  int64_t harmed = 0;      // applied it and failed
  std::optional<int64_t> full_dispatch_micros;  // when all its devices had been offered it
};

// Devices exposed and harmed so far, at a simulated time.
struct TimelinePoint {
  int64_t micros = 0;
  int64_t exposed = 0;
  int64_t harmed = 0;
};

struct SimResult {
  std::string scenario;
  std::string policy;
  uint64_t seed = 0;
  int64_t devices = 0;
  int64_t eligible = 0;
  int64_t exposed = 0;  // devices that applied the release
  int64_t harmed = 0;   // devices that applied it and failed
  bool halted = false;
  std::optional<int64_t> halt_micros;          // when the policy stopped dispatch
  std::optional<int64_t> full_dispatch_micros;  // when every eligible device had been offered it
  std::optional<int64_t> reach_99_micros;      // when 99% of eligible devices had applied it
  // When 99% of the eligible devices outside the policy's holdback had applied it.
  std::optional<int64_t> reach_99_outside_holdback_micros;
  int64_t held_back = 0;
  int64_t end_micros = 0;  // simulated time at the end of the run
  std::string outcome;     // the policy's own summary
  std::vector<StratumOutcome> strata;
  std::vector<std::string> log;  // "mm:ss note" lines from the policy
  // Exposed and harmed totals at the start and at each tick at which either changed (the
  // `sim --compare --html` picture, docs/simulator.md).
  std::vector<TimelinePoint> timeline;
};

// The context a policy gets for `scenario` (classes in scenario order, eligibility, sizes).
SimContext MakeSimContext(const Scenario& scenario, const SimulationOptions& options,
                          uint64_t seed);

// Runs one simulation. InvalidArgument for unusable options (tick <= 0, poll interval shorter
// than a tick); any error the policy returns aborts the run and is returned.
[[nodiscard]] Result<SimResult> RunSimulation(const Scenario& scenario, RolloutPolicy& policy,
                                              const SimulationOptions& options, uint64_t seed);

// "mm:ss" or "hh:mm:ss" of a simulated time.
std::string FormatSimTime(int64_t micros);

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_ENGINE_H_
