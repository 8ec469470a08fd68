// FleetAdminApi: the operator endpoints for device credentials (docs/protocol.md "Device
// credentials"; CLI: `ringfence fleet revoke|reset|credential DEVICE`).
//
//   GET  /v1/fleet/devices/{id}/credential   {"device_id","state","key_id","epoch"}
//   POST /v1/fleet/devices/{id}/revoke       the device's sessions end now; no check-in, session
//                                            or enrollment until an operator resets it
//   POST /v1/fleet/devices/{id}/reset        the next enrollment of {id} may register any key
//
// Callers need the operator role (admin implies it): 401 unauthenticated for an unknown token,
// 403 forbidden_role otherwise. The POSTs take no body (or "{}"). Kept apart from
// service::OperatorApi (it needs DeviceCredentials, which lives in the agent runtime); the server
// routes /v1/fleet/devices/... here (Handles) before the operator API. Thread-safe.
#ifndef RINGFENCE_SERVER_FLEET_ADMIN_API_H_
#define RINGFENCE_SERVER_FLEET_ADMIN_API_H_

#include <functional>
#include <string_view>

#include "core/status.h"
#include "platform/env.h"
#include "server/device_credentials.h"
#include "server/interfaces.h"

namespace rf::server {

class FleetAdminApi {
 public:
  // The principal holding a bearer token, or Unauthenticated.
  using Authenticator = std::function<Result<Principal>(std::string_view bearer_token)>;

  // `credentials` and `clock` must outlive the API.
  FleetAdminApi(DeviceCredentials& credentials, Clock& clock, Authenticator authenticate);

  // True for every path under /v1/fleet/devices/.
  static bool Handles(std::string_view path);
  HttpResponse Handle(const HttpRequest& req) const;

 private:
  DeviceCredentials& credentials_;
  Clock& clock_;
  Authenticator authenticate_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_FLEET_ADMIN_API_H_
