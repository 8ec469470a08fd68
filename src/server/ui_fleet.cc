#include "server/ui_fleet.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "server/fleet_inventory.h"

namespace rf::server {

namespace {
constexpr std::string_view kPath = "/v1/fleet/summary";
}  // namespace

FleetSummaryApi::FleetSummaryApi(FleetInventory& inventory, Clock& clock, Authenticator authenticate,
                                 FleetSummaryOptions options)
    : inventory_(inventory), clock_(clock), authenticate_(std::move(authenticate)), options_(options) {}

bool FleetSummaryApi::Handles(std::string_view path) { return path == kPath; }

std::string FleetSummaryApi::Compute(int64_t now_micros) {
  std::vector<int64_t> per_installed;    // devices by installed-set id
  std::vector<int64_t> per_quarantined;  // devices by quarantined-set id (0: none)
  int64_t devices = 0, stale = 0;
  const int64_t stale_before = now_micros - options_.stale_after_micros;
  inventory_.Sweep([&](const SweepRecord& d) {
    ++devices;
    if (d.last_seen_micros < stale_before) ++stale;
    if (d.installed >= per_installed.size()) per_installed.resize(d.installed + 1, 0);
    ++per_installed[d.installed];
    if (d.quarantined != 0) {
      if (d.quarantined >= per_quarantined.size()) per_quarantined.resize(d.quarantined + 1, 0);
      ++per_quarantined[d.quarantined];
    }
  });
  // channel -> (version, sha256) -> devices
  std::map<std::string, std::map<std::pair<int64_t, std::string>, int64_t>> channels;
  for (uint32_t id = 0; id < per_installed.size(); ++id) {
    if (per_installed[id] == 0) continue;
    for (const ChannelReport& c : inventory_.installed(id).channels) {
      if (c.current) channels[c.channel][{c.current->version, c.current->sha256}] += per_installed[id];
    }
  }
  std::string out = "{\"devices\":" + std::to_string(devices) +
                    ",\"stale_after_s\":" + std::to_string(options_.stale_after_micros / 1'000'000) +
                    ",\"seen_recently\":" + std::to_string(devices - stale) +
                    ",\"stale\":" + std::to_string(stale) + ",\"channels\":[";
  bool first_channel = true;
  for (const auto& [channel, versions] : channels) {
    if (!first_channel) out += ',';
    first_channel = false;
    out += "{\"channel\":";
    AppendJsonString(&out, channel);
    out += ",\"versions\":[";
    int64_t with = 0;
    bool first = true;
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {  // newest first
      if (!first) out += ',';
      first = false;
      out += "{\"version\":" + std::to_string(it->first.first) + ",\"sha256\":";
      AppendJsonString(&out, it->first.second);
      out += ",\"devices\":" + std::to_string(it->second) + "}";
      with += it->second;
    }
    out += "],\"without\":" + std::to_string(devices - with) + "}";
  }
  out += "],\"quarantined\":";
  AppendQuarantined(per_quarantined, &out);
  out += '}';
  return out;
}

void FleetSummaryApi::AppendQuarantined(const std::vector<int64_t>& per_set, std::string* out) {
  // (channel, version, sha256) -> devices, and per reason the devices giving it.
  struct Count {
    int64_t devices = 0;
    std::map<std::string, int64_t> reasons;
  };
  std::map<std::tuple<std::string, int64_t, std::string>, Count> versions;
  for (uint32_t id = 1; id < per_set.size(); ++id) {
    if (per_set[id] == 0) continue;
    for (const QuarantinedVersion& q : inventory_.quarantined(id).entries) {
      Count& c = versions[{q.channel, q.version, q.sha256}];
      c.devices += per_set[id];
      c.reasons[q.reason] += per_set[id];
    }
  }
  // Channels in order, newest version first.
  std::vector<const std::pair<const std::tuple<std::string, int64_t, std::string>, Count>*> rows;
  for (const auto& v : versions) rows.push_back(&v);
  std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    const auto& [ca, va, sa] = a->first;
    const auto& [cb, vb, sb] = b->first;
    return ca != cb ? ca < cb : va > vb;
  });
  *out += '[';
  bool first = true;
  for (const auto* row : rows) {
    const auto& [channel, version, sha] = row->first;
    const Count& c = row->second;
    // The most common reason (ties: the first in byte order); "" when devices gave none.
    const auto top = std::max_element(c.reasons.begin(), c.reasons.end(),
                                      [](const auto& a, const auto& b) { return a.second < b.second; });
    if (!first) *out += ',';
    first = false;
    *out += "{\"channel\":";
    AppendJsonString(out, channel);
    *out += ",\"version\":" + std::to_string(version) + ",\"sha256\":";
    AppendJsonString(out, sha);
    *out += ",\"devices\":" + std::to_string(c.devices) + ",\"reason\":";
    AppendJsonString(out, top->first);
    *out += ",\"reason_devices\":" + std::to_string(top->second) +
            ",\"reasons\":" + std::to_string(c.reasons.size()) + "}";
  }
  *out += ']';
}

HttpResponse FleetSummaryApi::Handle(const HttpRequest& req) {
  if (auto refused = RefuseUnlessOperatorGet(authenticate_, req)) return std::move(*refused);
  if (!req.query.empty()) {
    return ErrorResponse(
        Status::InvalidArgument("unknown query parameter '" + req.query.begin()->first + "'"),
        "invalid_request");
  }
  std::lock_guard<std::mutex> l(mu_);
  const int64_t mono = clock_.MonotonicMicros();
  if (cached_.empty() || mono - cached_at_ >= options_.min_interval_micros) {
    cached_ = Compute(clock_.NowUnixMicros());
    cached_at_ = mono;
  }
  return JsonResponse(200, cached_);
}

}  // namespace rf::server
