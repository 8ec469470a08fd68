#include "server/ui_api.h"

namespace rf::server {

std::optional<HttpResponse> RefuseUnlessOperatorGet(const UiAuthenticator& authenticate,
                                                    const HttpRequest& req) {
  auto who = authenticate(req.bearer_token);
  if (!who.ok()) return ErrorResponse(who.status(), "unauthenticated");
  if (who->Has(Role::kAgent)) {
    return ErrorResponse(Status::PermissionDenied("an agent token may not call operator endpoints"),
                         "forbidden_role");
  }
  if (req.method != "GET") return MethodNotAllowed(req.method, req.path, "GET");
  return std::nullopt;
}

std::optional<std::string_view> ReleaseSubresourceId(std::string_view path, std::string_view suffix) {
  constexpr std::string_view kPrefix = "/v1/releases/";
  if (path.size() <= kPrefix.size() + suffix.size()) return std::nullopt;
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  if (path.substr(path.size() - suffix.size()) != suffix) return std::nullopt;
  const std::string_view id = path.substr(kPrefix.size(), path.size() - kPrefix.size() - suffix.size());
  if (id.find('/') != std::string_view::npos) return std::nullopt;
  return id;
}

}  // namespace rf::server
