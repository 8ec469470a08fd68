#include "server/ui_what_if.h"

#include <cstdlib>

namespace rf::server {

namespace {

constexpr std::string_view kPrefix = "/v1/releases/";
constexpr std::string_view kSuffix = "/what-if";

HttpResponse Bad(std::string message) {
  return ErrorResponse(Status::InvalidArgument(std::move(message)), "invalid_request");
}

}  // namespace

bool WhatIfApi::Handles(std::string_view path) {
  if (path.size() <= kPrefix.size() + kSuffix.size()) return false;
  if (path.substr(0, kPrefix.size()) != kPrefix) return false;
  if (path.substr(path.size() - kSuffix.size()) != kSuffix) return false;
  return path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()).find('/') ==
         std::string_view::npos;
}

HttpResponse WhatIfApi::Handle(const HttpRequest& req) const {
  auto who = authenticate_(req.bearer_token);
  if (!who.ok()) return ErrorResponse(who.status(), "unauthenticated");
  if (who->Has(Role::kAgent)) {
    return ErrorResponse(Status::PermissionDenied("an agent token may not call operator endpoints"),
                         "forbidden_role");
  }
  if (req.method != "GET") return MethodNotAllowed(req.method, req.path, "GET");
  double p = 1.0;
  std::string signal = "crash";
  for (const auto& [k, v] : req.query) {
    if (k == "p") {
      char* end = nullptr;
      p = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !(p >= 0 && p <= 1)) {
        return Bad("query parameter 'p': expected a number between 0 and 1");
      }
    } else if (k == "signal") {
      if (v != "crash" && v != "silence" && v != "error") {
        return Bad("query parameter 'signal': expected crash, silence or error");
      }
      signal = v;
    } else {
      return Bad("unknown query parameter '" + k + "'");
    }
  }
  const std::string_view path = req.path;
  auto release = lookup_(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
  if (!release.ok()) return ErrorResponse(release.status(), "not_found");
  if (!simulate_) {
    return ErrorResponse(Status::Unavailable("this server was built without the simulator"), "unavailable");
  }
  auto json = simulate_(*release, p, signal);
  if (!json.ok()) {
    return ErrorResponse(json.status(), json.status().code() == StatusCode::kFailedPrecondition
                                            ? "failed_precondition"
                                            : "invalid_request");
  }
  return JsonResponse(200, std::move(*json));
}

}  // namespace rf::server
