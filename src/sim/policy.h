// The interface between the fleet simulator and a rollout policy: what a policy sees (telemetry,
// never the ground truth) and what it may do (dispatch, stop, roll back).
//
// Every policy — ringfence's real controller core and the baselines of what peers do — is decided
// once per tick from the same simulated telemetry, delivered after the same ingest lag:
//
//   PolicyAction action(ctx.classes.size());
//   RF_RETURN_IF_ERROR(policy->Start(ctx, action));        // at release time
//   while (...) {                                           // every tick
//     action.Clear();
//     RF_RETURN_IF_ERROR(policy->OnTick(telemetry, action));
//   }
#ifndef RINGFENCE_SIM_POLICY_H_
#define RINGFENCE_SIM_POLICY_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "rollout/cohort.h"
#include "sim/scenario.h"

namespace rf::sim {

// One scenario stratum as a policy may know it: attributes and size, but not whether it fails.
struct DeviceClass {
  rollout::Attributes attrs;
  std::string label;
  int64_t devices = 0;  // all devices of the class
  bool eligible = false;
};

// What a policy knows about the simulation when it starts.
struct SimContext {
  std::vector<DeviceClass> classes;
  int64_t eligible_devices = 0;
  int64_t poll_interval_micros = 0;
  int64_t tick_micros = 0;
  int64_t telemetry_lag_micros = 0;
  uint64_t seed = 0;        // for a policy's own randomness (e.g. cohort ranks)
  std::string release_id;   // stable per scenario and seed
  // Optional (tests): the device ids of every class, classes.size() vectors of devices each. A
  // policy that ranks devices ranks these instead of its own synthetic ids (the parity test ranks
  // the server's real device ids this way). Empty: synthetic ids.
  std::vector<std::vector<std::string>> device_ids;
};

// Telemetry of one arm of one device class over one tick.
struct ArmTelemetry {
  int64_t at_risk = 0;                       // online devices at risk at the start of the tick
  std::array<int64_t, kNumSignals> events{};  // new events by FailureSignal, at most 1 per device
  double checkins = 0;                       // check-ins received during the tick (expected)
};

struct ClassTelemetry {
  ArmTelemetry treated;  // devices that applied the release (from their first check-in after dispatch)
  ArmTelemetry control;  // eligible devices not dispatched yet
  int64_t applied = 0;        // cumulative: devices that applied the release (the treated arm)
  // Cumulative: of those, devices the controller knows have applied (they reported it), n_H's
  // count. The engine's devices report as they apply (= applied); a server's report at their
  // next check-in (the parity test feeds such telemetry).
  int64_t acknowledged = 0;
  int64_t dispatched = 0;     // cumulative: devices offered the release
  int64_t silent_treated = 0;  // treated devices currently known to be silent
};

// Telemetry of one tick, as it reaches the controller.
struct Telemetry {
  int64_t now_micros = 0;       // when the policy decides (release started at 0)
  int64_t observed_micros = 0;  // end of the tick it describes: now - ingest lag
  int64_t lag_micros = 0;       // age of the newest complete telemetry (HealthSignals)
  std::vector<ClassTelemetry> classes;
};

// What a policy asks for at one tick.
struct PolicyAction {
  explicit PolicyAction(size_t classes = 0) : dispatch(classes, 0) {}
  void Clear() {
    std::fill(dispatch.begin(), dispatch.end(), 0);
    stop_dispatch = pause_dispatch = resume_dispatch = rollback = false;
    notes.clear();
  }
  // New devices per class to offer the release to now; the simulator picks them at random among
  // the class's devices not offered it yet, and clamps to how many remain.
  std::vector<int64_t> dispatch;
  // Halt: from now on no device applies the release (not even ones offered it earlier).
  bool stop_dispatch = false;
  // Pause (a gate hold): devices offered the release that have not applied it yet are told "not
  // now" at their next check-in; `resume_dispatch` offers it to them again. Dispatch counts the
  // policy keeps are unaffected: the simulator re-offers the revoked devices itself.
  bool pause_dispatch = false;
  bool resume_dispatch = false;
  // Send every exposed device back to its last-known-good content at its next check-in.
  bool rollback = false;
  // Decisions worth a line in the run's log ("12:30 HALT: ...").
  std::vector<std::string> notes;
};

class RolloutPolicy {
 public:
  virtual ~RolloutPolicy() = default;
  virtual std::string_view name() const = 0;
  // Called once at time 0. `action` is sized for ctx.classes and cleared.
  virtual Status Start(const SimContext& ctx, PolicyAction& action) = 0;
  // Called once per tick with the telemetry that arrived this tick. `action` is cleared.
  // An error aborts the simulation (it means a bug or an unusable configuration).
  virtual Status OnTick(const Telemetry& telemetry, PolicyAction& action) = 0;
  // True once the policy will offer the release to no further device (completed or halted).
  virtual bool Finished() const = 0;
  // The policy's final state for reports, e.g. "completed", "rolled back: <reason>".
  virtual std::string Outcome() const = 0;
  // Devices deliberately kept unexposed until the end (ringfence's holdback); 0 if none.
  virtual int64_t HeldBackDevices() const { return 0; }
};
using RolloutPolicyPtr = std::unique_ptr<RolloutPolicy>;

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_POLICY_H_
