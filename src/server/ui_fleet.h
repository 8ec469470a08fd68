// FleetSummaryApi: GET /v1/fleet/summary, the dashboard's fleet page beyond the strata
// (docs/dashboard.md "Fleet", docs/api/openapi.yaml): per channel, how many devices report each
// installed version (current) and how many report none; health, devices seen within
// `stale_after_micros` against those not; and quarantines: per (channel, version, sha256) the
// devices that quarantined it, with the most common reason they gave (the inventory keeps each
// device's quarantined set, the union of what its check-ins reported; src/server/fleet_inventory.h).
// Read-only, from the in-memory inventory (one sweep of every device, at most once per
// `min_interval_micros`: several pages share one answer).
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
#include "server/interfaces.h"
#include "server/ui_api.h"

namespace rf::server {

class FleetInventory;

struct FleetSummaryOptions {
  int64_t stale_after_micros = 180'000'000;  // not seen for longer: stale (server: 3 x --poll-after)
  int64_t min_interval_micros = 2'000'000;   // an answer younger than this is served again
};

class FleetSummaryApi {
 public:
  using Authenticator = UiAuthenticator;

  // `inventory` and `clock` must outlive this object.
  FleetSummaryApi(FleetInventory& inventory, Clock& clock, Authenticator authenticate,
                  FleetSummaryOptions options = {});

  static bool Handles(std::string_view path);  // /v1/fleet/summary
  // 401 / 403 forbidden_role (agents) / 405 / 400 (any query) / 200 with the summary.
  HttpResponse Handle(const HttpRequest& request);

  // The summary JSON at `now_micros` (one sweep; no cache).
  std::string Compute(int64_t now_micros);

 private:
  // Appends the "quarantined" array from the devices per quarantined-set id.
  void AppendQuarantined(const std::vector<int64_t>& per_set, std::string* out);

  FleetInventory& inventory_;
  Clock& clock_;
  const Authenticator authenticate_;
  const FleetSummaryOptions options_;

  std::mutex mu_;  // serializes sweeps; guards the cache
  std::string cached_;
  int64_t cached_at_ = 0;  // clock_.MonotonicMicros() of cached_; valid when !cached_.empty()
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_UI_FLEET_H_
