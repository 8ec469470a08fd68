// The operator API: JSON endpoints under /v1/ over ReleaseService, transport-agnostic (the
// runtime's HTTP server hands it a parsed HttpRequest and writes back the HttpResponse).
//
//   OperatorApi api(*service, fleet, &progress, {});
//   HttpResponse r = api.Handle(request);   // any thread
//
// Every request: bearer token -> principal (401 `unauthenticated` if unknown) -> agent tokens get
// 403 `forbidden_role` on every operator endpoint -> strict JSON body decoding (unknown keys,
// wrong types, missing keys: 400 `invalid_request` naming the key; bodies over the limit: 413
// `body_too_large`) -> ReleaseService, which checks the role per operation (403 `forbidden_role`).
// Errors are {"error":{"code":..,"message":..}} with HttpStatusFor(status). Endpoints:
// docs/api/openapi.yaml. Routing note for the runtime: everything under /v1/bundles/ (bundle and
// approval downloads), /v1/agent/* and /v1/trust is the agent API's; every other path under /v1/
// (including /v1/bundles itself: list and upload) belongs here (Handles() tells).
//
// Thread-safe (holds no state of its own besides references).
#ifndef RINGFENCE_SERVICE_OPERATOR_API_H_
#define RINGFENCE_SERVICE_OPERATOR_API_H_

#include <cstddef>

#include "server/interfaces.h"
#include "service/release_service.h"

namespace rf::service {

struct OperatorApiOptions {
  // Largest body of POST /v1/bundles (a JSON-escaped envelope), bytes.
  size_t max_upload_body_bytes = 96u << 20;
  // Largest body of every other request, bytes.
  size_t max_body_bytes = 1u << 20;
  // Largest page of GET /v1/audit.
  size_t max_audit_page = 1000;
};

class OperatorApi {
 public:
  // `progress` may be null (the watch view then shows only durable state).
  OperatorApi(ReleaseService& service, const server::FleetSource& fleet,
              const server::ProgressSource* progress, OperatorApiOptions options = {});

  // True if `method path` is an operator endpoint (what the router should send here).
  static bool Handles(std::string_view method, std::string_view path);

  server::HttpResponse Handle(const server::HttpRequest& request) const;

 private:
  ReleaseService& service_;
  const server::FleetSource& fleet_;
  const server::ProgressSource* progress_;
  const OperatorApiOptions options_;
};

// The JSON the API serves for a release (GET /v1/releases/{id}); exposed for tests and the CLI.
std::string ReleaseViewJson(const ReleaseView& v);

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_OPERATOR_API_H_
