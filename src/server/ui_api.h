// What the dashboard's read-only endpoints share (docs/dashboard.md; /v1/releases/{id}/history,
// /v1/releases/{id}/what-if, /v1/fleet/summary, /v1/changes): who may call them and the shape of
// a release's sub-resource path. One definition, used by ui_history, ui_what_if, ui_fleet and
// ui_changes.
//
// Pure functions; thread-safe if the authenticator is.
#ifndef RINGFENCE_SERVER_UI_API_H_
#define RINGFENCE_SERVER_UI_API_H_

#include <functional>
#include <optional>
#include <string_view>

#include "core/status.h"
#include "server/interfaces.h"

namespace rf::server {

// The principal holding a bearer token, or Unauthenticated (the server passes the release
// service's principal registry).
using UiAuthenticator = std::function<Result<Principal>(std::string_view token)>;

// The check a dashboard endpoint makes before anything else, in this order: the token names a
// principal (else 401 unauthenticated), not an agent (else 403 forbidden_role: agents may not call
// operator endpoints, as in the operator API), and the method is GET (else 405 with `Allow: GET`).
// nullopt: the request may go on; otherwise the refusal to send.
std::optional<HttpResponse> RefuseUnlessOperatorGet(const UiAuthenticator& authenticate,
                                                    const HttpRequest& request);

// The {id} of /v1/releases/{id}SUFFIX (e.g. suffix "/history"): one non-empty path segment.
// nullopt for any other path.
std::optional<std::string_view> ReleaseSubresourceId(std::string_view path, std::string_view suffix);

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_UI_API_H_
