#include "service/release_service.h"

namespace rf::service {

ReleaseService::ReleaseService(std::unique_ptr<ServiceState> state, store::Store& store,
                               const server::FleetSource& fleet)
    : state_(std::move(state)), principals_(*state_), content_types_(*state_),
      bundles_(*state_, fleet), releases_(*state_, fleet), reviews_(*state_),
      policies_(*state_), controls_(*state_), audit_(store), directory_(*state_, controls_) {}

Result<std::unique_ptr<ReleaseService>> ReleaseService::Open(store::Store& store,
                                                             const server::FleetSource& fleet,
                                                             Clock& clock,
                                                             ReleaseServiceOptions options) {
  if (options.default_approvals_required < 1 || options.default_approver_roles.empty()) {
    return Status::InvalidArgument("default policy needs at least 1 approval from some role");
  }
  if (!options.layer2_consumers.empty() &&
      (options.layer2_env.clock == nullptr || options.layer2_env.fs == nullptr)) {
    return Status::InvalidArgument("layer 2 consumers need layer2_env (clock and filesystem)");
  }
  RF_ASSIGN_OR_RETURN(std::unique_ptr<ServiceState> state,
                      ServiceState::Load(store, clock, std::move(options)));
  return std::unique_ptr<ReleaseService>(new ReleaseService(std::move(state), store, fleet));
}

}  // namespace rf::service
