// Customer controls: per channel and tenant/group value, pin the previous release, delay, or
// exclude from early waves. One concern of the release service (release_service.h); commits
// through ServiceState. The controller reads them through ReleaseDirectory::Controls.
//
// Thread-safety: all methods may be called concurrently from any thread (ServiceState's contract).
#ifndef RINGFENCE_SERVICE_CUSTOMER_CONTROLS_H_
#define RINGFENCE_SERVICE_CUSTOMER_CONTROLS_H_

#include <vector>

#include "core/status.h"
#include "server/interfaces.h"
#include "service/service_state.h"

namespace rf::service {

class CustomerControls {
 public:
  // `state` must outlive this object.
  explicit CustomerControls(ServiceState& state) : state_(state) {}

  // Operator only. Upsert by (channel, attr, value); attr is "tenant" or "group".
  Status Put(const server::Principal& actor, const server::CustomerControl& control);
  // Operator only. NotFound if absent.
  Status Delete(const server::Principal& actor, const store::ControlKey& key);
  std::vector<server::CustomerControl> List() const;

 private:
  ServiceState& state_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_CUSTOMER_CONTROLS_H_
