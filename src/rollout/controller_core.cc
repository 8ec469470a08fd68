#include "rollout/controller_core.h"

namespace rf::rollout {

DeviceAction DecideDeviceAction(const ReleaseFacts& release, const DeviceFacts& device,
                                int64_t now_micros) {
  if (release.phase == Phase::kRolledBack) {
    return device.runs_release ? DeviceAction::kRevert : DeviceAction::kKeep;
  }
  const bool dispatching = release.phase == Phase::kDispatching || release.phase == Phase::kBaking;
  const bool completed = release.phase == Phase::kCompleted;
  if (!dispatching && !completed) return DeviceAction::kKeep;
  if (!device.eligible || device.quarantined) return DeviceAction::kKeep;
  if (device.has_current && device.current_version >= release.version) return DeviceAction::kKeep;
  if (release.pin_previous) return DeviceAction::kKeep;
  if (release.delay_micros > 0 && now_micros < release.started_micros + release.delay_micros) {
    return DeviceAction::kKeep;
  }
  if (completed) return DeviceAction::kInstall;
  if (release.exclude_early_waves && release.wave < release.wave_count - 1) {
    return DeviceAction::kKeep;
  }
  return device.targeted ? DeviceAction::kInstall : DeviceAction::kKeep;
}

}  // namespace rf::rollout
