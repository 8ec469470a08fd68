// The seams inside `ringfence server`, so that the HTTP/agent runtime and the release service can
// be built and tested apart:
//
//   http_server (Beast, one TU) --HttpRequest--> Router --> AgentApi (check-in, bundles)
//                                                       \-> OperatorApi (ReleaseService)
//   Controller --reads--> FleetSource (in-memory inventory, fed by check-ins)
//              --reads/applies events--> ReleaseService (durable: SQLite store + audit)
//              --publishes--> DispatchSnapshot --read by--> AgentApi on every check-in
//
// Nothing here includes Boost.Beast or SQLite. Status -> HTTP status mapping lives in exactly one
// place (HttpStatusFor).
#ifndef RINGFENCE_SERVER_INTERFACES_H_
#define RINGFENCE_SERVER_INTERFACES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bundle.h"  // AppendJsonString
#include "core/fleet.h"
#include "admission/records.h"
#include "core/status.h"
#include "protocol/http_status.h"
#include "rollout/plan.h"
#include "rollout/release.h"

namespace rf::server {

// ----- HTTP, transport-agnostic -----

struct HttpRequest {
  std::string method;                              // "GET", "POST", ...
  std::string path;                                // "/v1/releases/r-7" (no query string)
  std::map<std::string, std::string, std::less<>> query;  // decoded query parameters
  std::string bearer_token;                        // from "Authorization: Bearer X"; "" if absent
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// The one mapping from Status to HTTP: InvalidArgument 400, Unauthenticated 401, PermissionDenied
// 403, NotFound 404, AlreadyExists/Aborted/FailedPrecondition/OutOfRange 409, ResourceExhausted
// 413, Unavailable 503, DeadlineExceeded 504, everything else 500.
// (protocol/http_status.h, with the client side's inverse).
using protocol::HttpStatusFor;

inline HttpResponse JsonResponse(int http_status, std::string body) {
  HttpResponse r;
  r.status = http_status;
  r.body = std::move(body);
  return r;
}

// {"error":{"code":code,"message":status.message()}} with HttpStatusFor(status). A 401 carries
// `WWW-Authenticate: Bearer realm="ringfence"` (RFC 9110 section 11.6.1), so every 401 of the
// server has it.
// REQUIRES: `code` is snake_case ASCII (it is not escaped).
inline HttpResponse ErrorResponse(const Status& status, std::string_view code) {
  std::string body = "{\"error\":{\"code\":\"";
  body.append(code);
  body += "\",\"message\":";
  AppendJsonString(&body, status.message());
  body += "}}";
  HttpResponse r = JsonResponse(HttpStatusFor(status), std::move(body));
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"ringfence\"");
  return r;
}

// 405 method_not_allowed with the `Allow` header RFC 9110 section 15.5.6 requires, e.g.
// MethodNotAllowed("PUT", "/v1/trust", "GET, HEAD").
inline HttpResponse MethodNotAllowed(std::string_view method, std::string_view path,
                                     std::string_view allow) {
  std::string body = "{\"error\":{\"code\":\"method_not_allowed\",\"message\":";
  AppendJsonString(&body, std::string(method) + " is not allowed on " + std::string(path) +
                              " (allowed: " + std::string(allow) + ")");
  body += "}}";
  HttpResponse r = JsonResponse(405, std::move(body));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

// ----- principals and roles (records: admission/records.h) -----

using admission::Principal;
using admission::Role;
using admission::RoleName;

// ----- the fleet as devices report it -----

// Read access to the in-memory fleet inventory (owned by the agent runtime). Thread-safe.
class FleetSource {
 public:
  virtual ~FleetSource() = default;
  // Layer 1's inventory: one stratum per distinct (attrs, capability manifest), with device counts,
  // from every enrolled device.
  virtual Fleet Inventory() const = 0;
  // Number of enrolled devices.
  virtual int64_t DeviceCount() const = 0;
  // The fleet layer 1 judges content against (uploads, and the re-check at a release's start): the
  // whole fleet. Several servers: every replica's inventory (cluster/cluster_fleet.h,
  // docs/deploy.md "Layer 1 across replicas"); an error if part of it cannot be read, and the
  // check then fails closed. Default: Inventory().
  virtual Result<Fleet> WholeFleet() const { return Inventory(); }
};

// ----- releases, as the controller needs them -----

using admission::CustomerControl;
using admission::ReleaseRecord;

// The durable side. Implemented by the release service on the store; every mutating call is
// durable (fsynced, audited) before it returns OK. Thread-safe.
class ReleaseDirectory {
 public:
  virtual ~ReleaseDirectory() = default;
  // Releases that are started and not finished (Dispatching, Baking, Paused) plus finished ones
  // whose effects still matter to devices (Halted, RolledBack, Completed), newest first per channel.
  virtual std::vector<ReleaseRecord> ActiveReleases() const = 0;
  // Applies `event` through rollout::Transition at `now_micros`, persists the new state and its
  // audit entries, and returns the transition. Refused events change nothing.
  virtual Result<rollout::TransitionResult> ApplyEvent(std::string_view release_id,
                                                       const rollout::Event& event,
                                                       int64_t now_micros) = 0;
  // ApplyEvent as the elected controller holding `fencing_epoch` of the controller lease
  // (docs/deploy.md "Controller election"; 0: not elected, as ApplyEvent): refused with
  // FailedPrecondition ("fenced"), changing nothing, once another controller holds a newer epoch.
  // The default knows no lease and refuses every nonzero epoch.
  virtual Result<rollout::TransitionResult> ApplyFencedEvent(std::string_view release_id,
                                                             const rollout::Event& event,
                                                             int64_t now_micros,
                                                             int64_t fencing_epoch) {
    if (fencing_epoch != 0) {
      return Status::FailedPrecondition("fenced: this directory has no controller lease");
    }
    return ApplyEvent(release_id, event, now_micros);
  }
  virtual std::vector<CustomerControl> Controls() const = 0;
  // The bundle's DSSE envelope bytes, or NotFound.
  virtual Result<std::string> BundleEnvelope(std::string_view sha256) const = 0;
  // Approval envelopes (JSON texts) recorded for the bundle.
  virtual std::vector<std::string> Approvals(std::string_view sha256) const = 0;
  // Called (on any thread) after every accepted state change, so the controller republishes the
  // dispatch snapshot at once (a halt must reach the next check-in).
  virtual void SetChangeListener(std::function<void()> listener) = 0;
};

// ----- live progress of a release, for the operator API's watch view -----

// What the controller knows about a started release beyond its durable state: per-wave exposure
// and the gate's current judgement. Filled by the runtime; the operator API serves it at
// GET /v1/releases/{id}/progress next to the durable state.
struct WaveProgress {
  std::string name;
  int64_t target_devices = 0;   // cumulative devices this wave should reach
  int64_t exposed_devices = 0;  // devices handed this release so far (cumulative)
};

struct ReleaseProgress {
  std::vector<WaveProgress> waves;
  int64_t eligible_devices = 0;  // devices that consume the release's content type
  int64_t exposed_devices = 0;   // devices offered/applied the release
  int64_t applied_devices = 0;   // devices that reported `applied`
  int64_t harmed_devices = 0;    // exposed devices that crashed, errored or went silent
  std::string gate_state;        // e.g. "watching", "promote", "hold", "halt"
  double max_e_value = 0;        // largest e-value across metrics and strata
  double e_threshold = 0;        // e-value at which the gate halts
  std::string gate_detail;       // one line for people, e.g. "crash: e=3.2 in os=windows ..."
};

// Implemented by the runtime's controller. Thread-safe.
class ProgressSource {
 public:
  virtual ~ProgressSource() = default;
  // The release's live progress, or nullopt if the controller does not track it (not started,
  // or finished long ago).
  virtual std::optional<ReleaseProgress> Progress(std::string_view release_id) const = 0;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_INTERFACES_H_
