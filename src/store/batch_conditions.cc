#include "store/batch_conditions.h"

#include <string>

namespace rf::store {

Status CheckReleaseExpectation(const ReleaseExpectation& e,
                               const std::optional<rollout::ReleaseState>& stored) {
  if (!e.state && !stored) return Status::Ok();
  if (e.state && stored && *e.state == *stored) return Status::Ok();
  std::string what;
  if (!e.state) {
    what = "already exists";
  } else if (!stored) {
    what = "no longer exists";
  } else {
    what = "is now " + std::string(rollout::PhaseName(stored->phase)) + " wave " +
           std::to_string(stored->wave) + " (this server saw " +
           std::string(rollout::PhaseName(e.state->phase)) + " wave " +
           std::to_string(e.state->wave) + ")";
  }
  return Status::Aborted("release " + e.release_id + " " + what +
                         ": changed by another server; nothing stored, retry");
}

Status CheckFencingEpoch(int64_t fencing_epoch, int64_t current) {
  if (fencing_epoch == 0 || fencing_epoch == current) return Status::Ok();
  if (current == 0) {
    return Status::FailedPrecondition(
        "fenced: fencing epoch " + std::to_string(fencing_epoch) +
        " but no controller lease was granted in this store; nothing stored");
  }
  return Status::FailedPrecondition("fenced: controller epoch " + std::to_string(fencing_epoch) +
                                    " was superseded by epoch " + std::to_string(current) +
                                    " (another server leads); nothing stored");
}

}  // namespace rf::store
