// AgentApi: the agent endpoints of docs/protocol.md, and Router, which puts every endpoint of
// `ringfence server` behind one HttpHandler.
//
//   POST /v1/agent/enroll                 register or update a device (fleet token + the
//                                         device's key and proof of possession)
//   POST /v1/agent/session                a new session token (signed by the device's key)
//   POST /v1/agent/checkin                report state and health, receive directives (the
//                                         device's session token)
//   GET  /v1/bundles/{sha256}             the bundle's DSSE envelope (immutable)
//   GET  /v1/bundles/{sha256}/approvals   approval envelopes recorded for it
//   GET  /v1/trust                        the server's release public key(s)
//
// Who may call what (docs/protocol.md "Device credentials"): the fleet token only enrolls (and
// fetches bundles and trust); a check-in needs the session token of the device it names (403
// forbidden_device for another device's id); bundles and trust take the fleet token or any valid
// session token. Enrollments that add a credential are rate-limited (429 + Retry-After).
//
// Every refusal is a JSON error naming the problem and stores nothing. A check-in is decided
// against the controller's DispatchSnapshot (rollout::DecideDeviceAction per channel, newest
// release first; the first release that asks for an action wins). Thread-safe.
#ifndef RINGFENCE_SERVER_AGENT_API_H_
#define RINGFENCE_SERVER_AGENT_API_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "platform/env.h"
#include "server/checkin.h"
#include "server/controller.h"
#include "server/device_credentials.h"
#include "server/fleet_inventory.h"
#include "server/interfaces.h"
#include "server/metrics.h"
#include "server/rate_limiter.h"

namespace rf::server {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct AgentApiOptions {
  int64_t poll_after_s = 60;  // poll_after_s in enroll and check-in responses
  // Enrollments that add a credential (a new device, or a new key after an operator reset): a
  // token bucket per server of this rate and burst; beyond it 429 with Retry-After.
  double enroll_rate_per_s = 20;
  double enroll_burst = 200;
};

class AgentApi {
 public:
  // References must outlive the API. `trust_json` is the body of GET /v1/trust.
  AgentApi(FleetInventory& inventory, DeviceCredentials& credentials, Controller& controller,
           ReleaseDirectory& releases, Clock& clock, ServerMetrics& metrics,
           std::string agent_token, std::string trust_json, AgentApiOptions options = {});

  // The response for an agent endpoint, or nullopt if `req` is for another endpoint.
  std::optional<HttpResponse> Handle(const HttpRequest& req);
  // True for the paths this API serves (whatever the method).
  static bool IsAgentPath(std::string_view path);

 private:
  HttpResponse Enroll(const HttpRequest& req);
  HttpResponse Session(const HttpRequest& req);
  HttpResponse Checkin(const HttpRequest& req);
  // {"device_id":..,"poll_after_s":..,"session_token":..,"session_expires_s":..}
  std::string SessionBody(std::string_view device_id, uint32_t epoch, int64_t now_s);
  HttpResponse Bundle(std::string_view sha);
  HttpResponse Approvals(std::string_view sha);
  HttpResponse Error(const Status& st, std::string_view code);

  FleetInventory& inventory_;
  DeviceCredentials& credentials_;
  Controller& controller_;
  ReleaseDirectory& releases_;
  Clock& clock_;
  ServerMetrics& metrics_;
  std::string agent_token_;
  std::string trust_json_;
  AgentApiOptions options_;
  TokenBucket enroll_limit_;
};

// Constant-time comparison of a presented token with the expected one.
bool TokenEquals(std::string_view presented, std::string_view expected);

// Routes: /healthz and /metrics (no token), the agent endpoints, then everything else to the
// operator API. An agent token on any other endpoint is 403 forbidden_role; without an operator
// API other paths are 404. Measures every request's latency into ServerMetrics.
class Router {
 public:
  Router(AgentApi& agent, ServerMetrics& metrics, Controller& controller,
         const FleetSource& fleet, Clock& clock, std::string agent_token,
         HttpHandler operator_api);
  HttpResponse Handle(const HttpRequest& req);

 private:
  HttpResponse Route(const HttpRequest& req);
  AgentApi& agent_;
  ServerMetrics& metrics_;
  Controller& controller_;
  const FleetSource& fleet_;
  Clock& clock_;
  std::string agent_token_;
  HttpHandler operator_api_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_AGENT_API_H_
