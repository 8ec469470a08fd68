// The check-in path's pure decision: what one device is told about one release at check-in.
// (How a release is driven by its gate is rollout/driver.h.)
//
// The server's check-in path (src/server/agent_api.cc) owns threads, the clock and the stores;
// every rule it applies per device lives here so that it can be read and tested alone:
//
//   DeviceFacts f = ...;           // what the device reported and where it falls in the cohorts
//   ReleaseFacts r = ...;          // the release's phase and the customer controls that apply
//   switch (DecideDeviceAction(r, f)) { case DeviceAction::kInstall: ... }
//
// Pure: no I/O, no clock reads (times are arguments). Thread-safe.
#ifndef RINGFENCE_ROLLOUT_CONTROLLER_CORE_H_
#define RINGFENCE_ROLLOUT_CONTROLLER_CORE_H_

#include <cstdint>

#include "rollout/release.h"

namespace rf::rollout {

enum class DeviceAction : uint8_t {
  kKeep,     // absent from the response: keep what you have
  kInstall,  // fetch, verify and apply the release's bundle
  kRevert,   // the release was rolled back and the device runs it: switch to LKG
};

// One release of a channel, as the check-in path sees it.
struct ReleaseFacts {
  Phase phase = Phase::kAwaitingApproval;
  int64_t version = 0;
  int wave = -1;         // current wave
  int wave_count = 0;    // WaveCount(plan)
  int64_t started_micros = 0;
  // Customer controls matching the device for this channel (admission/records.h CustomerControl),
  // already combined: any pin wins, the longest delay, any exclusion.
  bool pin_previous = false;
  int64_t delay_micros = 0;
  bool exclude_early_waves = false;
};

// One device, for that release.
struct DeviceFacts {
  bool eligible = false;         // its consumer takes the content type and schema version
  bool has_current = false;      // something is installed on the channel
  int64_t current_version = 0;
  bool runs_release = false;     // current == the release's bundle (version and digest)
  bool targeted = false;         // rank < the stratum's paced cutoff now (cohort.h)
  bool quarantined = false;      // the device quarantined this release's bundle
};

// The rules (docs/server.md, "Check-in decisions"):
//  * RolledBack: kRevert to devices running the release, nothing to others.
//  * Dispatching/Baking: kInstall to eligible, targeted devices on an older version, unless a
//    customer control holds them back (pin N-1; delay not yet over at `now`; excluded from early
//    waves while the release is not in its last wave) or they quarantined it.
//  * Completed: kInstall to every eligible device on an older version, same controls except the
//    early-wave exclusion (no early wave is left).
//  * Every other phase (not started, Paused, Halted): kKeep. A halted release is never installed.
DeviceAction DecideDeviceAction(const ReleaseFacts& release, const DeviceFacts& device,
                                int64_t now_micros);

}  // namespace rf::rollout

#endif  // RINGFENCE_ROLLOUT_CONTROLLER_CORE_H_
