// FleetSummaryApi: GET /v1/fleet/summary, the dashboard's fleet page beyond the strata
// (docs/dashboard.md "Fleet", docs/api/openapi.yaml): per channel, how many devices report each
// installed version (current) and how many report none; health, devices seen within
// `stale_after_micros` against those not; and quarantines: per (channel, version, sha256) the
// devices that quarantined it, with the most common reason they gave (the inventory keeps each
// device's quarantined set, the union of what its check-ins reported; src/server/fleet_inventory.h).
// Read-only: one sweep of the in-memory inventory (server/fleet_summary.h CountFleetSummary), at
// most once per `min_interval_micros` (several pages share one answer), merged with the other
// replicas' published counts when `options.whole` is set (docs/deploy.md "The fleet summary
// across replicas").
//
// Thread-safe.
#ifndef RINGFENCE_SERVER_UI_FLEET_H_
#define RINGFENCE_SERVER_UI_FLEET_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "platform/env.h"
#include "server/fleet_summary.h"
#include "server/interfaces.h"
#include "server/ui_api.h"

namespace rf::server {

class FleetInventory;

struct FleetSummaryOptions {
  int64_t stale_after_micros = 180'000'000;  // not seen for longer: stale (server: 3 x --poll-after)
  int64_t min_interval_micros = 2'000'000;   // an answer younger than this is served again
  // The whole fleet's counts from this replica's (cluster::ClusterFleet::WholeSummary); an error
  // is answered as such (503 when the other replicas' counts cannot be read). Empty: this
  // server's inventory is the fleet (one server).
  std::function<Result<FleetSummaryCounts>(FleetSummaryCounts local)> whole;
};

class FleetSummaryApi {
 public:
  using Authenticator = UiAuthenticator;

  // `inventory` and `clock` must outlive this object.
  FleetSummaryApi(FleetInventory& inventory, Clock& clock, Authenticator authenticate,
                  FleetSummaryOptions options = {});

  static bool Handles(std::string_view path);  // /v1/fleet/summary
  // 401 / 403 forbidden_role (agents) / 405 / 400 (a query but scope=fleet|replica) / 503
  // (options.whole failed) / 200 with the summary.
  HttpResponse Handle(const HttpRequest& request);

  // kFleet: the whole fleet (options.whole); kReplica: this server's inventory alone.
  enum class Scope { kFleet = 0, kReplica = 1 };
  // The summary JSON at `now_micros` (one sweep; no cache).
  Result<std::string> Compute(int64_t now_micros, Scope scope = Scope::kFleet);

 private:
  FleetInventory& inventory_;
  Clock& clock_;
  const Authenticator authenticate_;
  const FleetSummaryOptions options_;

  struct Cached {
    std::string body;
    int64_t at = 0;  // clock_.MonotonicMicros() of body; valid when !body.empty()
  };
  std::mutex mu_;      // serializes sweeps; guards the caches
  Cached cached_[2];   // by Scope
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_UI_FLEET_H_
