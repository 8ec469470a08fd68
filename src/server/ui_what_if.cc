#include "server/ui_what_if.h"

#include <cstdlib>
#include <optional>

namespace rf::server {

namespace {

constexpr std::string_view kSuffix = "/what-if";

HttpResponse Bad(std::string message) {
  return ErrorResponse(Status::InvalidArgument(std::move(message)), "invalid_request");
}

}  // namespace

bool WhatIfApi::Handles(std::string_view path) { return ReleaseSubresourceId(path, kSuffix).has_value(); }

HttpResponse WhatIfApi::Handle(const HttpRequest& req) const {
  if (auto refused = RefuseUnlessOperatorGet(authenticate_, req)) return std::move(*refused);
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
  const std::optional<std::string_view> id = ReleaseSubresourceId(req.path, kSuffix);
  if (!id) return ErrorResponse(Status::NotFound("no such path " + req.path), "not_found");
  auto release = lookup_(*id);
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
