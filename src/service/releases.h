// Releases: creating a release of an accepted bundle under a plan, reading them, and the
// operator's transitions (start, pause, resume, halt, rollback). One concern of the release
// service (release_service.h); transitions are rollout::Transition, committed through
// ServiceState (CommitTransition, shared with the controller's ReleaseDirectory).
//
// Thread-safety: all methods may be called concurrently from any thread (ServiceState's contract).
#ifndef RINGFENCE_SERVICE_RELEASES_H_
#define RINGFENCE_SERVICE_RELEASES_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "rollout/release.h"
#include "server/interfaces.h"
#include "service/service_state.h"

namespace rf::service {

class Releases {
 public:
  // `state` and `fleet` must outlive this object.
  Releases(ServiceState& state, const server::FleetSource& fleet) : state_(state), fleet_(fleet) {}

  // Author only. A release of an accepted bundle under the plan (ParsePlan + CheckPlan; every
  // linter finding in the error). Ids are "r-1", "r-2", ...
  // `allow_unsafe_plan` is the audited break-glass: an admin (only) may create a release under a
  // plan the linter refuses (e.g. everyone at once); the findings and the admin's name go into a
  // `release.unsafe_plan` audit entry in the same commit. A plan that does not parse is refused.
  // When the channel's policy requires 0 approvals the release is Ready at once.
  Result<ReleaseView> Create(const server::Principal& actor, std::string_view bundle_sha256,
                             std::string_view plan_yaml, bool allow_unsafe_plan = false);
  Result<ReleaseView> Get(std::string_view release_id) const;
  // Newest first; channel "" = all.
  std::vector<ReleaseView> List(std::string_view channel_filter = {}) const;
  // Operator only. Start re-checks the quorum under the channel's current policy, and layer 1
  // against the fleet as it is now (devices may have reported new consumer versions since upload).
  Result<rollout::TransitionResult> Start(const server::Principal& actor, std::string_view id);
  Result<rollout::TransitionResult> Pause(const server::Principal& actor, std::string_view id,
                                          std::string_view reason);
  Result<rollout::TransitionResult> Resume(const server::Principal& actor, std::string_view id);
  Result<rollout::TransitionResult> Halt(const server::Principal& actor, std::string_view id,
                                         std::string_view reason);
  Result<rollout::TransitionResult> Rollback(const server::Principal& actor, std::string_view id,
                                             std::string_view reason);

 private:
  Result<rollout::TransitionResult> OperatorEvent(const server::Principal& actor,
                                                  std::string_view id, rollout::Event event,
                                                  bool check_quorum);
  // Layer 1 on the release's bundle against `fleet` (FleetSource::WholeFleet, read before the
  // write lock: on several servers it is a database read); FailedPrecondition if rejected.
  // REQUIRES: the write lock (`m` is the writer's model).
  Status RecheckLayerOne(const Model& m, const server::ReleaseRecord& r, const Fleet& fleet) const;

  ServiceState& state_;
  const server::FleetSource& fleet_;
};

// Applies `event` to release `id` at `now` (rollout::Transition) and commits the new state with
// its `release.<event>` audit entry by `actor`. A halt, pause, rollback or gate halt/hold is
// clamped to the release's last event time; a tick that changes nothing but last_event_micros is
// not written. The caller calls NotifyChange after `w` is gone.
Result<rollout::TransitionResult> CommitTransition(ServiceState::Writer& w, std::string_view id,
                                                   const rollout::Event& event, int64_t now,
                                                   const std::string& actor);

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_RELEASES_H_
