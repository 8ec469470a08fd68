// Running a scenario end to end: layer 1 on the scenario's bundle (when it names one), then one or
// more seeded simulation runs per policy, then reports (text, compare table, JSON).
//
//   RF_ASSIGN_OR_RETURN(ScenarioRun run, RunScenario(scenario, files, options));
//   std::cout << FormatCompareTable(run);
//
// Policies by name: "ringfence" (the real rollout core, with the scenario's plan) and the
// baselines "all-at-once", "appconfig-canary", "argo-threshold", "kayenta", "phased-7day".
#ifndef RINGFENCE_SIM_RUNNER_H_
#define RINGFENCE_SIM_RUNNER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/stage1.h"
#include "core/status.h"
#include "rollout/plan.h"
#include "sim/engine.h"
#include "sim/policy.h"
#include "sim/ringfence_policy.h"
#include "sim/scenario.h"

namespace rf::sim {

// Every policy name, ringfence first.
const std::vector<std::string>& PolicyNames();

// A fresh policy. InvalidArgument naming the known policies for an unknown name.
[[nodiscard]] Result<RolloutPolicyPtr> MakePolicy(std::string_view name, const rollout::Plan& plan,
                                                  const RingfencePolicyOptions& ringfence = {});

struct Layer1Outcome {
  enum class State { kNotApplicable, kSkipped, kAccepted, kRejected };
  State state = State::kNotApplicable;
  StageOneReport report;  // kAccepted / kRejected
};
std::string_view Layer1StateName(Layer1Outcome::State s);

// Parses the scenario's content type and checks its bundle against the scenario's fleet.
// kNotApplicable when the scenario names no bundle. Unusable type or bundle files are errors.
[[nodiscard]] Result<Layer1Outcome> RunLayer1(const Scenario& scenario, const ScenarioFiles& files);

struct RunOptions {
  std::vector<std::string> policies = {"ringfence"};
  uint64_t seed = 1;
  int runs = 1;  // run i uses seed + i
  bool skip_layer1 = false;
  // Engine settings; silence_after_micros and confirm_after_micros are replaced by the
  // plan's gate.silence_after and gate.confirm_after.
  SimulationOptions simulation;
  // Settings of the ringfence policy (gate options other than alpha).
  RingfencePolicyOptions ringfence;
};

// Statistics over the runs of one policy.
struct PolicySummary {
  std::string policy;
  std::vector<SimResult> runs;
  double mean_exposed = 0, mean_harmed = 0;
  int64_t median_harmed = 0, p90_harmed = 0, max_harmed = 0;
  int halted_runs = 0;
  std::optional<int64_t> median_halt_micros, max_halt_micros;   // over halted runs
  std::optional<int64_t> median_full_micros;                    // over runs that got there
  std::optional<int64_t> median_reach_99_micros, max_reach_99_micros;
  std::optional<int64_t> median_reach_99_outside_holdback_micros,
      max_reach_99_outside_holdback_micros;
  int full_runs = 0;  // runs in which every eligible device was offered the release
};

struct ScenarioRun {
  const Scenario* scenario = nullptr;  // not owned
  rollout::Plan plan;
  RunOptions options;
  Layer1Outcome layer1;
  bool blocked_by_layer1 = false;  // layer 1 rejected the bundle: nothing was shipped
  std::vector<PolicySummary> policies;
};

// Parses and lints the plan, runs layer 1 (unless skipped), then every policy `runs` times.
// Errors: unusable plan/type/bundle files, unknown policy names, runs < 1, engine errors.
[[nodiscard]] Result<ScenarioRun> RunScenario(const Scenario& scenario, const ScenarioFiles& files,
                                              const RunOptions& options);

// Human-readable report of one policy (per-stratum table and decision log when runs == 1).
std::string FormatText(const ScenarioRun& run);
// The compare table's cells: a header and one row per policy ("" = a column unused here).
struct CompareTable {
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;
};
CompareTable BuildCompareTable(const ScenarioRun& run);
// One table, one row per policy (BuildCompareTable, aligned as text).
std::string FormatCompareTable(const ScenarioRun& run);
// JSON: a single run of a single policy is one flat object (devices_exposed, devices_harmed,
// halted, time_to_halt_s, time_to_full_s, ... and "strata": [...]); otherwise
// {"scenario", "layer1", "policies": [{"policy", "summary", "runs": [flat objects]}]}.
std::string FormatJson(const ScenarioRun& run);

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_RUNNER_H_
