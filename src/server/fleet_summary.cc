#include "server/fleet_summary.h"

#include <algorithm>
#include <boost/json.hpp>
#include <limits>
#include <vector>

#include "core/bundle.h"  // AppendJsonString
#include "server/fleet_inventory.h"

namespace rf::server {

namespace {

namespace json = boost::json;

constexpr std::string_view kFormat = "ringfence-fleet-summary-1";
constexpr size_t kMaxBytes = size_t{8} << 20;
constexpr size_t kMaxEntries = 100'000;
constexpr size_t kMaxString = 4096;
// Device counts above this are refused (sums over any number of rows cannot overflow).
constexpr int64_t kMaxDevices = int64_t{1} << 40;

using QuarantineRow =
    std::pair<const std::tuple<std::string, int64_t, std::string>, QuarantineCount>;

// The most common reasons first (ties: byte order), at most `limit`.
std::vector<std::pair<std::string, int64_t>> TopReasons(const QuarantineCount& c, size_t limit) {
  std::vector<std::pair<std::string, int64_t>> r(c.reasons.begin(), c.reasons.end());
  std::stable_sort(r.begin(), r.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (r.size() > limit) r.resize(limit);
  return r;
}

void AppendQuarantined(const FleetSummaryCounts& counts, std::string* out) {
  // Channels in order, newest version first.
  std::vector<const QuarantineRow*> rows;
  for (const auto& v : counts.quarantined) rows.push_back(&v);
  std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    const auto& [ca, va, sa] = a->first;
    const auto& [cb, vb, sb] = b->first;
    return ca != cb ? ca < cb : va > vb;
  });
  *out += '[';
  bool first = true;
  for (const auto* row : rows) {
    const auto& [channel, version, sha] = row->first;
    const QuarantineCount& c = row->second;
    const auto top = TopReasons(c, 1);
    if (!first) *out += ',';
    first = false;
    *out += "{\"channel\":";
    AppendJsonString(out, channel);
    *out += ",\"version\":" + std::to_string(version) + ",\"sha256\":";
    AppendJsonString(out, sha);
    *out += ",\"devices\":" + std::to_string(c.devices) + ",\"reason\":";
    AppendJsonString(out, top.empty() ? std::string() : top[0].first);
    *out += ",\"reason_devices\":" + std::to_string(top.empty() ? 0 : top[0].second) +
            ",\"reasons\":" +
            std::to_string(std::max<int64_t>(c.distinct_reasons, c.reasons.size())) + "}";
  }
  *out += ']';
}

// ----- decoding -----

Status Bad(const std::string& what) {
  return Status::InvalidArgument("fleet summary: " + what);
}

Status Count(const json::object& o, std::string_view key, int64_t* out, const std::string& where,
             int64_t max = kMaxDevices) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_int64() || v->get_int64() < 0 || v->get_int64() > max) {
    return Bad(where + std::string(key) + " is not an integer in [0, " + std::to_string(max) + "]");
  }
  *out = v->get_int64();
  return Status::Ok();
}

Status Str(const json::object& o, std::string_view key, std::string* out, const std::string& where) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string() || v->get_string().size() > kMaxString) {
    return Bad(where + std::string(key) + " is not a string of at most " +
               std::to_string(kMaxString) + " bytes");
  }
  *out = std::string(v->get_string());
  return Status::Ok();
}

Result<const json::array*> Array(const json::object& o, std::string_view key, size_t max,
                                 const std::string& where) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_array()) return Bad(where + std::string(key) + " is not an array");
  if (v->get_array().size() > max) {
    return Bad(where + std::string(key) + " has more than " + std::to_string(max) + " entries");
  }
  return &v->get_array();
}

// One entry's channel, version and sha256; `where` names it in errors.
Status Version(const json::value& x, std::string_view list, std::string* channel, int64_t* version,
               std::string* sha, const json::object** obj, std::string* where) {
  if (!x.is_object()) return Bad("an entry of " + std::string(list) + " is not an object");
  *obj = &x.get_object();
  RF_RETURN_IF_ERROR(Str(**obj, "channel", channel, std::string(list) + ": "));
  RF_RETURN_IF_ERROR(Count(**obj, "version", version, std::string(list) + ": ",
                           std::numeric_limits<int64_t>::max()));
  RF_RETURN_IF_ERROR(Str(**obj, "sha256", sha, std::string(list) + ": "));
  *where = std::string(list) + " " + *channel + " v" + std::to_string(*version) + ": ";
  return Status::Ok();
}

Status DecodeInstalled(const json::object& o, FleetSummaryCounts* c) {
  RF_ASSIGN_OR_RETURN(const json::array* a, Array(o, "installed", kMaxEntries, ""));
  std::map<std::string, int64_t, std::less<>> per_channel;  // devices with a version of it
  for (const json::value& x : *a) {
    std::string channel, sha, where;
    int64_t version = 0, devices = 0;
    const json::object* e = nullptr;
    RF_RETURN_IF_ERROR(Version(x, "installed", &channel, &version, &sha, &e, &where));
    RF_RETURN_IF_ERROR(Count(*e, "devices", &devices, where));
    int64_t& with = per_channel[channel];
    with += devices;  // each <= kMaxDevices, at most kMaxEntries: no overflow
    if (with > c->devices) return Bad(where + "the channel counts more devices than the fleet's");
    if (!c->installed[channel].emplace(std::pair{version, sha}, devices).second) {
      return Bad(where + "appears twice");
    }
  }
  return Status::Ok();
}

Status DecodeQuarantined(const json::object& o, FleetSummaryCounts* c) {
  RF_ASSIGN_OR_RETURN(const json::array* a, Array(o, "quarantined", kMaxEntries, ""));
  for (const json::value& x : *a) {
    std::string channel, sha, where;
    int64_t version = 0;
    const json::object* e = nullptr;
    RF_RETURN_IF_ERROR(Version(x, "quarantined", &channel, &version, &sha, &e, &where));
    QuarantineCount q;
    RF_RETURN_IF_ERROR(Count(*e, "devices", &q.devices, where));
    RF_RETURN_IF_ERROR(Count(*e, "distinct_reasons", &q.distinct_reasons, where));
    if (q.devices > c->devices) return Bad(where + "more devices than the fleet's");
    RF_ASSIGN_OR_RETURN(const json::array* reasons,
                        Array(*e, "reasons", kMaxPublishedReasons, where));
    int64_t sum = 0;
    for (const json::value& r : *reasons) {
      if (!r.is_object()) return Bad(where + "a reason is not an object");
      std::string reason;
      int64_t devices = 0;
      RF_RETURN_IF_ERROR(Str(r.get_object(), "reason", &reason, where + "reason: "));
      RF_RETURN_IF_ERROR(Count(r.get_object(), "devices", &devices, where + "reason: "));
      sum += devices;  // each <= q.devices (checked below), at most 32 of them: no overflow
      if (devices > q.devices || sum > q.devices) {
        return Bad(where + "its reasons count more devices than it has");
      }
      if (!q.reasons.emplace(std::move(reason), devices).second) {
        return Bad(where + "a reason appears twice");
      }
    }
    if (q.distinct_reasons < static_cast<int64_t>(q.reasons.size())) {
      return Bad(where + "distinct_reasons is less than the reasons listed");
    }
    if (!c->quarantined.emplace(std::tuple{channel, version, sha}, std::move(q)).second) {
      return Bad(where + "appears twice");
    }
  }
  return Status::Ok();
}

}  // namespace

FleetSummaryCounts CountFleetSummary(FleetInventory& inventory, int64_t now_micros,
                                     int64_t stale_after_micros) {
  std::vector<int64_t> per_installed;    // devices by installed-set id
  std::vector<int64_t> per_quarantined;  // devices by quarantined-set id (0: none)
  FleetSummaryCounts c;
  const int64_t stale_before = now_micros - stale_after_micros;
  inventory.Sweep([&](const SweepRecord& d) {
    ++c.devices;
    if (d.last_seen_micros >= stale_before) ++c.seen_recently;
    if (d.installed >= per_installed.size()) per_installed.resize(d.installed + 1, 0);
    ++per_installed[d.installed];
    if (d.quarantined != 0) {
      if (d.quarantined >= per_quarantined.size()) per_quarantined.resize(d.quarantined + 1, 0);
      ++per_quarantined[d.quarantined];
    }
  });
  for (uint32_t id = 0; id < per_installed.size(); ++id) {
    if (per_installed[id] == 0) continue;
    for (const ChannelReport& ch : inventory.installed(id).channels) {
      if (ch.current) {
        c.installed[ch.channel][{ch.current->version, ch.current->sha256}] += per_installed[id];
      }
    }
  }
  for (uint32_t id = 1; id < per_quarantined.size(); ++id) {
    if (per_quarantined[id] == 0) continue;
    for (const QuarantinedVersion& q : inventory.quarantined(id).entries) {
      QuarantineCount& qc = c.quarantined[{q.channel, q.version, q.sha256}];
      qc.devices += per_quarantined[id];
      qc.reasons[q.reason] += per_quarantined[id];
    }
  }
  for (auto& [key, qc] : c.quarantined) qc.distinct_reasons = static_cast<int64_t>(qc.reasons.size());
  return c;
}

std::string FleetSummaryJson(const FleetSummaryCounts& counts, int64_t stale_after_micros) {
  std::string out = "{\"devices\":" + std::to_string(counts.devices) +
                    ",\"stale_after_s\":" + std::to_string(stale_after_micros / 1'000'000) +
                    ",\"seen_recently\":" + std::to_string(counts.seen_recently) +
                    ",\"stale\":" + std::to_string(counts.devices - counts.seen_recently) +
                    ",\"channels\":[";
  bool first_channel = true;
  for (const auto& [channel, versions] : counts.installed) {
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
    out += "],\"without\":" + std::to_string(std::max<int64_t>(0, counts.devices - with)) + "}";
  }
  out += "],\"quarantined\":";
  AppendQuarantined(counts, &out);
  out += '}';
  return out;
}

std::string EncodeFleetSummaryCounts(const FleetSummaryCounts& c) {
  std::string out = "{\"format\":\"" + std::string(kFormat) + "\",\"devices\":" +
                    std::to_string(c.devices) +
                    ",\"seen_recently\":" + std::to_string(c.seen_recently) + ",\"installed\":[";
  bool first = true;
  for (const auto& [channel, versions] : c.installed) {
    for (const auto& [v, devices] : versions) {
      if (!first) out += ',';
      first = false;
      out += "{\"channel\":";
      AppendJsonString(&out, channel);
      out += ",\"version\":" + std::to_string(v.first) + ",\"sha256\":";
      AppendJsonString(&out, v.second);
      out += ",\"devices\":" + std::to_string(devices) + "}";
    }
  }
  out += "],\"quarantined\":[";
  first = true;
  for (const auto& [key, q] : c.quarantined) {
    const auto& [channel, version, sha] = key;
    if (!first) out += ',';
    first = false;
    out += "{\"channel\":";
    AppendJsonString(&out, channel);
    out += ",\"version\":" + std::to_string(version) + ",\"sha256\":";
    AppendJsonString(&out, sha);
    out += ",\"devices\":" + std::to_string(q.devices) + ",\"distinct_reasons\":" +
           std::to_string(std::max<int64_t>(q.distinct_reasons, q.reasons.size())) +
           ",\"reasons\":[";
    bool first_reason = true;
    for (const auto& [reason, devices] : TopReasons(q, kMaxPublishedReasons)) {
      if (!first_reason) out += ',';
      first_reason = false;
      out += "{\"reason\":";
      AppendJsonString(&out, reason);
      out += ",\"devices\":" + std::to_string(devices) + "}";
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

Result<FleetSummaryCounts> DecodeFleetSummaryCounts(std::string_view text) {
  if (text.size() > kMaxBytes) {
    return Bad(std::to_string(text.size()) + " bytes, more than " + std::to_string(kMaxBytes));
  }
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Bad("not a JSON object");
  const json::object& o = v.get_object();
  const auto* format = o.if_contains("format");
  if (format == nullptr || !format->is_string() || format->get_string() != kFormat) {
    return Bad("format is not \"" + std::string(kFormat) + "\"");
  }
  FleetSummaryCounts c;
  RF_RETURN_IF_ERROR(Count(o, "devices", &c.devices, ""));
  RF_RETURN_IF_ERROR(Count(o, "seen_recently", &c.seen_recently, ""));
  if (c.seen_recently > c.devices) return Bad("seen_recently is more than devices");
  RF_RETURN_IF_ERROR(DecodeInstalled(o, &c));
  RF_RETURN_IF_ERROR(DecodeQuarantined(o, &c));
  return c;
}

}  // namespace rf::server
