// The fleet summary's counts (docs/dashboard.md "Fleet", docs/deploy.md "The fleet summary across
// replicas"): how many devices, how many were heard from recently, per channel how many report
// each installed version, and per quarantined version how many devices quarantined it and why.
// One server counts its inventory (CountFleetSummary); on PostgreSQL each replica publishes its
// counts (EncodeFleetSummaryCounts, in its fleet_profiles row) and the others decode them
// (DecodeFleetSummaryCounts) and merge (cluster::MergeFleetSummaries); FleetSummaryJson is what
// GET /v1/fleet/summary answers, from either.
#ifndef RINGFENCE_SERVER_FLEET_SUMMARY_H_
#define RINGFENCE_SERVER_FLEET_SUMMARY_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "core/status.h"

namespace rf::server {

class FleetInventory;

// Devices per quarantined version.
struct QuarantineCount {
  int64_t devices = 0;
  // Devices per reason given. A decoded publication holds at most kMaxPublishedReasons of them
  // (the most common); `distinct_reasons` is the number of distinct reasons the counter saw.
  std::map<std::string, int64_t, std::less<>> reasons;
  int64_t distinct_reasons = 0;
};

struct FleetSummaryCounts {
  int64_t devices = 0;
  int64_t seen_recently = 0;  // <= devices
  // channel -> (version, sha256) -> devices reporting it as their current install
  std::map<std::string, std::map<std::pair<int64_t, std::string>, int64_t>, std::less<>> installed;
  // (channel, version, sha256) -> devices that quarantined it
  std::map<std::tuple<std::string, int64_t, std::string>, QuarantineCount> quarantined;
};

// Reasons a publication carries per quarantined version (the most common; ties in byte order).
inline constexpr size_t kMaxPublishedReasons = 32;

// One sweep of `inventory`: devices seen at or after now_micros - stale_after_micros are recent.
FleetSummaryCounts CountFleetSummary(FleetInventory& inventory, int64_t now_micros,
                                     int64_t stale_after_micros);

// GET /v1/fleet/summary's body (docs/api/openapi.yaml FleetSummary): channels in byte order,
// versions newest first; per channel `without` = devices - devices with a version of it; per
// quarantined version the most common reason (ties: the first in byte order; "" if none).
std::string FleetSummaryJson(const FleetSummaryCounts& counts, int64_t stale_after_micros);

// The publication format, JSON "ringfence-fleet-summary-1" (docs/deploy.md "The fleet summary
// across replicas"). Encode keeps kMaxPublishedReasons reasons per quarantined version.
std::string EncodeFleetSummaryCounts(const FleetSummaryCounts& counts);
// InvalidArgument naming the problem for text that is not such a publication: oversized (more
// than 8 MiB, 100,000 versions, kMaxPublishedReasons reasons per version, 4 KiB per string), a
// count that is negative, a duplicate entry, seen_recently > devices, or a version's reasons
// summing to more than its devices.
Result<FleetSummaryCounts> DecodeFleetSummaryCounts(std::string_view text);

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_FLEET_SUMMARY_H_
