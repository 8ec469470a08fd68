#include "server/ui_fleet.h"

#include <utility>

namespace rf::server {

namespace {
constexpr std::string_view kPath = "/v1/fleet/summary";
}  // namespace

FleetSummaryApi::FleetSummaryApi(FleetInventory& inventory, Clock& clock, Authenticator authenticate,
                                 FleetSummaryOptions options)
    : inventory_(inventory), clock_(clock), authenticate_(std::move(authenticate)), options_(std::move(options)) {}

bool FleetSummaryApi::Handles(std::string_view path) { return path == kPath; }

Result<std::string> FleetSummaryApi::Compute(int64_t now_micros, Scope scope) {
  FleetSummaryCounts counts = CountFleetSummary(inventory_, now_micros, options_.stale_after_micros);
  if (scope == Scope::kFleet && options_.whole) {
    RF_ASSIGN_OR_RETURN(counts, options_.whole(std::move(counts)));
  }
  return FleetSummaryJson(counts, options_.stale_after_micros);
}

HttpResponse FleetSummaryApi::Handle(const HttpRequest& req) {
  if (auto refused = RefuseUnlessOperatorGet(authenticate_, req)) return std::move(*refused);
  Scope scope = Scope::kFleet;
  for (const auto& [name, value] : req.query) {
    if (name != "scope") {
      return ErrorResponse(Status::InvalidArgument("unknown query parameter '" + name + "'"),
                           "invalid_request");
    }
    if (value != "fleet" && value != "replica") {
      return ErrorResponse(
          Status::InvalidArgument("scope must be 'fleet' or 'replica', not '" + value + "'"),
          "invalid_request");
    }
    if (value == "replica") scope = Scope::kReplica;
  }
  std::lock_guard<std::mutex> l(mu_);
  Cached& cache = cached_[static_cast<int>(scope)];
  const int64_t mono = clock_.MonotonicMicros();
  if (cache.body.empty() || mono - cache.at >= options_.min_interval_micros) {
    auto summary = Compute(clock_.NowUnixMicros(), scope);
    if (!summary.ok()) return ErrorResponse(summary.status(), "fleet_unavailable");
    cache.body = std::move(*summary);
    cache.at = mono;
  }
  return JsonResponse(200, cache.body);
}

}  // namespace rf::server
