// Simulation scenarios: a fleet, a release with hidden ground truth about how it fails, and the
// rollout plan to use (format: docs/simulator.md, "Scenario format").
//
//   RF_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path, kMaxScenarioBytes));
//   RF_ASSIGN_OR_RETURN(Scenario s, ParseScenario(text, path));
//   RF_ASSIGN_OR_RETURN(ScenarioFiles files, LoadScenarioFiles(s, fs));   // plan, type, bundle
//
// ParseScenario is pure (text in, value out). Paths inside a scenario are relative to the
// scenario file and are resolved against `filename` at parse time; LoadScenarioFiles reads them
// through rf::Filesystem.
#ifndef RINGFENCE_SIM_SCENARIO_H_
#define RINGFENCE_SIM_SCENARIO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fleet.h"
#include "core/status.h"
#include "platform/env.h"
#include "rollout/cohort.h"

namespace rf::sim {

// The largest scenario, plan, type or bundle file LoadScenarioFiles reads.
inline constexpr size_t kMaxScenarioFileBytes = 64u << 20;

// How a failing device shows its failure.
enum class FailureSignal : uint8_t {
  kSilence,  // stops checking in (a crashed host cannot report)
  kCrash,    // reports a crash at its next check-in
  kError,    // keeps checking in and reports errors at every check-in
};
inline constexpr int kNumSignals = 3;
std::string_view FailureSignalName(FailureSignal s);

// One condition of a failure's `match`: the device attribute `attr` has one of `values`.
struct AttrMatch {
  std::string attr;
  std::vector<std::string> values;
};

// Ground truth, hidden from every policy: devices matching `match` fail with probability `p`,
// `after_micros` after they apply the release, and then show `signal`.
struct FailureRule {
  std::vector<AttrMatch> match;  // all must hold; empty = every device
  double p = 1.0;
  int64_t after_micros = 0;
  FailureSignal signal = FailureSignal::kSilence;
  // The failure recurs on every boot (a boot loop): the device cannot recover by itself. For
  // `silence` this means it never checks in again; for `crash` it reports a crash at every
  // check-in until rolled back.
  bool repeats_on_boot = false;
  uint32_t line = 0;

  bool Matches(const rollout::Attributes& attrs) const;
};

// One group of identical devices. (The scenario format calls these strata; they may be finer than
// the plan's strata, which use only the plan's `stratify` attributes.)
struct ScenarioStratum {
  rollout::Attributes attrs;
  double share = 0;                 // of fleet.devices
  CapabilityManifest capabilities;  // content type -> what the consumer takes
  int64_t devices = 0;              // share x fleet.devices, rounded so that the strata sum up
  uint32_t line = 0;

  // "os=windows agent_version=7.11" (attributes in key order).
  std::string Label() const;
};

// Healthy noise, per device per day, identical for exposed and unexposed devices.
struct BaselineRates {
  double silence_per_day = 0;
  double crash_per_day = 0;
  double error_per_day = 0;
  double PerDay(FailureSignal s) const;
};

struct FleetSpec {
  int64_t devices = 0;
  int64_t poll_interval_micros = 0;  // every device checks in this often (with jitter)
  double online = 1.0;               // share of devices online at any time
  // Mean length of an offline spell (optional key `offline_spell`, an extension of the scenario
  // format). Going offline is graceful (censoring, not silence). Default: one poll interval —
  // the format gives only the share online, which this reads as "a device is online at a given
  // check-in with probability `online`"; longer spells (nights, weekends) are scenario choices.
  int64_t offline_spell_micros = 0;
  std::vector<ScenarioStratum> strata;
  BaselineRates baseline;
};

struct ReleaseSpec {
  std::string content_type;
  // Resolved paths of the content type and bundle source, or empty: both or neither.
  std::string type_path;
  std::string bundle_path;
  std::vector<FailureRule> failures;
  uint32_t type_line = 0;  // lines of the keys, for errors about the files they name
  uint32_t bundle_line = 0;
};

struct Scenario {
  std::string name;
  std::string filename;
  FleetSpec fleet;
  ReleaseSpec release;
  std::string plan_path;  // resolved
  uint32_t plan_line = 0;

  // Devices whose consumer takes the release's content type.
  bool Eligible(const ScenarioStratum& s) const;
  int64_t EligibleDevices() const;
  // The fleet as stage 1 sees it (strata with device counts and capability manifests).
  Fleet ToFleet() const;
};

// Parses a scenario. Errors are InvalidArgument "file:line:column: key 'k': reason": YAML syntax,
// unknown or missing keys, wrong types, shares outside (0, 1] or not summing to 1, duplicate
// strata, probabilities outside [0, 1], unknown signals, `type` without `bundle`.
[[nodiscard]] Result<Scenario> ParseScenario(std::string_view yaml, std::string_view filename);

// The files a scenario refers to, read through `fs`.
struct ScenarioFiles {
  std::string plan_text;
  std::string type_text;    // empty when the scenario names no type
  std::string bundle_text;  // empty when the scenario names no bundle
};
// Errors from `fs` (NotFound, ResourceExhausted) keep their code and get the scenario's
// "file:line: key 'plan': " in front.
[[nodiscard]] Result<ScenarioFiles> LoadScenarioFiles(const Scenario& scenario, Filesystem& fs);

// `relative` resolved against the directory of `base_file` (absolute paths are kept).
std::string ResolveRelative(std::string_view base_file, std::string_view relative);

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_SCENARIO_H_
