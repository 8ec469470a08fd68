// Reviews (layer 3 on the server): recording approvals of a release. One concern of the release
// service (release_service.h); the verdict is admission::EvaluateApproval (pure, src/admission),
// the commit goes through ServiceState.
//
// Thread-safety: all methods may be called concurrently from any thread (ServiceState's contract).
#ifndef RINGFENCE_SERVICE_REVIEWS_H_
#define RINGFENCE_SERVICE_REVIEWS_H_

#include <string_view>

#include "core/status.h"
#include "server/interfaces.h"
#include "service/service_state.h"

namespace rf::service {

class Reviews {
 public:
  // `state` must outlive this object.
  explicit Reviews(ServiceState& state) : state_(state) {}

  // Records an approval (envelope text of an approval statement, docs/protocol.md). Approvals are
  // Ed25519 approval statements verified against the reviewer's registered key, never from the
  // release's author or the bundle's uploader, counted only from the roles of the channel's
  // policy. The caller must be the statement's reviewer, hold its role, have a registered key that
  // signed it; the release must be awaiting approval (or ready); the statement must name this
  // release, its bundle, channel, version and reports digest. When the quorum is reached the
  // release becomes Ready in the same commit.
  Result<ReleaseView> Approve(const server::Principal& actor, std::string_view release_id,
                              std::string_view approval_envelope);

 private:
  ServiceState& state_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_REVIEWS_H_
