// Channel policies: the review quorum (K approvals from roles) and the publisher keys of each
// channel. One concern of the release service (release_service.h); commits through ServiceState.
//
// Thread-safety: all methods may be called concurrently from any thread (ServiceState's contract).
#ifndef RINGFENCE_SERVICE_POLICIES_H_
#define RINGFENCE_SERVICE_POLICIES_H_

#include <string_view>
#include <vector>

#include "core/status.h"
#include "server/interfaces.h"
#include "service/service_state.h"

namespace rf::service {

class Policies {
 public:
  // `state` must outlive this object.
  explicit Policies(ServiceState& state) : state_(state) {}

  // Admin only. K >= 1 (0 only with ReleaseServiceOptions::allow_zero_approvals), roles non-empty
  // and not agent; publisher keys decode and are distinct; threshold in [1, keys] when keys are
  // given.
  Status Set(const server::Principal& actor, const store::ChannelPolicy& policy);
  std::vector<store::ChannelPolicy> List() const;
  // The policy in force for `channel` (its own, or the default).
  store::ChannelPolicy For(std::string_view channel) const;

 private:
  ServiceState& state_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_POLICIES_H_
