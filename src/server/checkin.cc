#include "server/checkin.h"

#include <boost/json.hpp>
#include <charconv>

#include "core/bundle.h"  // AppendJsonString

namespace rf::server {
namespace json = boost::json;
namespace {

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void AppendCaps(std::string* out, const CapabilityManifest& caps) {
  *out += '{';
  bool first = true;
  for (const auto& [type, cap] : caps) {  // std::map: sorted bytewise
    if (!first) *out += ',';
    first = false;
    AppendJsonString(out, type);
    *out += ":{\"inputs\":" + std::to_string(cap.inputs);
    if (cap.max_bundle_bytes > 0) *out += ",\"max_bundle_bytes\":" + std::to_string(cap.max_bundle_bytes);
    if (cap.max_items > 0) *out += ",\"max_items\":" + std::to_string(cap.max_items);
    *out += ",\"schema_versions\":[";
    for (size_t i = 0; i < cap.schema_versions.size(); ++i) {
      if (i) *out += ',';
      *out += std::to_string(cap.schema_versions[i]);
    }
    *out += "]}";
  }
  *out += '}';
}

void AppendRef(std::string* out, const BundleRef& r) {
  *out += "{\"sha256\":\"";
  *out += r.sha256;
  *out += "\",\"version\":";
  AppendInt(out, r.version);
  *out += '}';
}

}  // namespace

std::string EncodeProfileKey(const rollout::Attributes& attrs, const CapabilityManifest& caps) {
  std::string out = "{\"attrs\":{";
  bool first = true;
  for (const auto& [k, v] : attrs) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(&out, k);
    out += ':';
    AppendJsonString(&out, v);
  }
  out += "},\"capabilities\":";
  AppendCaps(&out, caps);
  out += '}';
  return out;
}

Status ParseProfileKey(std::string_view key, rollout::Attributes* attrs, CapabilityManifest* caps) {
  boost::system::error_code ec;
  json::value v = json::parse(key, ec);
  if (ec || !v.is_object()) return Status::DataLoss("profile key is not a JSON object");
  const json::object& o = v.get_object();
  const json::value* a = o.if_contains("attrs");
  const json::value* c = o.if_contains("capabilities");
  if (a == nullptr || c == nullptr || o.size() != 2) {
    return Status::DataLoss("profile key needs exactly attrs and capabilities");
  }
  auto decoded_attrs = protocol::DecodeAttributes(*a);
  if (!decoded_attrs.ok()) return Status::DataLoss(decoded_attrs.status().message());
  auto decoded_caps = protocol::DecodeCapabilities(*c);
  if (!decoded_caps.ok()) return Status::DataLoss(decoded_caps.status().message());
  *attrs = std::move(*decoded_attrs);
  *caps = std::move(*decoded_caps);
  return Status::Ok();
}

std::string EncodeInstalledKey(const std::vector<ChannelReport>& channels) {
  std::string out;
  out.reserve(16 + channels.size() * 200);
  out += '{';
  for (size_t i = 0; i < channels.size(); ++i) {
    const ChannelReport& ch = channels[i];
    if (i) out += ',';
    AppendJsonString(&out, ch.channel);
    out += ":{";
    if (ch.current) {
      out += "\"current\":";
      AppendRef(&out, *ch.current);
    }
    if (ch.lkg) {
      if (ch.current) out += ',';
      out += "\"lkg\":";
      AppendRef(&out, *ch.lkg);
    }
    out += '}';
  }
  out += '}';
  return out;
}

Result<std::vector<ChannelReport>> ParseInstalledKey(std::string_view key) {
  boost::system::error_code ec;
  json::value v = json::parse(key, ec);
  if (ec) return Status::DataLoss("installed key is not JSON");
  auto r = protocol::DecodeChannelReports(v, "installed");
  if (!r.ok()) return Status::DataLoss(r.status().message());
  return r;
}

std::string EncodeQuarantinedKey(const std::vector<QuarantinedVersion>& entries) {
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const QuarantinedVersion& q = entries[i];
    if (i) out += ',';
    out += "{\"channel\":";
    AppendJsonString(&out, q.channel);
    out += ",\"reason\":";
    AppendJsonString(&out, q.reason);
    out += ",\"sha256\":\"";
    out += q.sha256;
    out += "\",\"version\":";
    AppendInt(&out, q.version);
    out += '}';
  }
  out += ']';
  return out;
}

Result<std::vector<QuarantinedVersion>> ParseQuarantinedKey(std::string_view key) {
  boost::system::error_code ec;
  json::value v = json::parse(key, ec);
  if (ec) return Status::DataLoss("quarantined key is not JSON");
  auto r = protocol::DecodeQuarantinedList(v, "quarantined");
  if (!r.ok()) return Status::DataLoss(r.status().message());
  return r;
}

}  // namespace rf::server
