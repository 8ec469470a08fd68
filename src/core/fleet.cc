#include "core/fleet.h"

#include <boost/json.hpp>

#include "core/bundle.h"  // AppendJsonString

namespace rf {

bool ConsumerCapability::SupportsSchema(int64_t v) const {
  for (int64_t s : schema_versions) {
    if (s == v) return true;
  }
  return false;
}

std::string Stratum::Label() const {
  std::string out;
  for (const auto& [k, v] : attrs) {
    if (!out.empty()) out += ' ';
    out += k;
    out += '=';
    out += v;
  }
  return out.empty() ? "(no attributes)" : out;
}

namespace {

Result<int64_t> NonNegativeInt(const boost::json::value& v, const std::string& where) {
  if (v.is_int64() && v.get_int64() >= 0) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.get_uint64());
  }
  return Status::InvalidArgument(where + ": expected a non-negative integer");
}

}  // namespace

Result<CapabilityManifest> DecodeCapabilityManifest(const boost::json::value& v,
                                                    std::string_view where_prefix) {
  const std::string where(where_prefix);
  if (!v.is_object()) return Status::InvalidArgument(where + ": capabilities must be an object");
  CapabilityManifest out;
  for (const auto& kv : v.get_object()) {
    const std::string type(kv.key());
    const std::string w = where + ".capabilities." + type;
    if (!kv.value().is_object()) return Status::InvalidArgument(w + ": must be an object");
    ConsumerCapability cap;
    bool have_inputs = false, have_versions = false;
    for (const auto& f : kv.value().get_object()) {
      const std::string fw = w + "." + std::string(f.key());
      if (f.key() == "schema_versions") {
        if (!f.value().is_array() || f.value().get_array().empty()) {
          return Status::InvalidArgument(fw + ": must be a non-empty list of integers");
        }
        for (const auto& s : f.value().get_array()) {
          RF_ASSIGN_OR_RETURN(int64_t sv, NonNegativeInt(s, fw));
          cap.schema_versions.push_back(sv);
        }
        have_versions = true;
      } else if (f.key() == "inputs") {
        RF_ASSIGN_OR_RETURN(cap.inputs, NonNegativeInt(f.value(), fw));
        have_inputs = true;
      } else if (f.key() == "max_items") {
        RF_ASSIGN_OR_RETURN(cap.max_items, NonNegativeInt(f.value(), fw));
      } else if (f.key() == "max_bundle_bytes") {
        RF_ASSIGN_OR_RETURN(cap.max_bundle_bytes, NonNegativeInt(f.value(), fw));
      } else {
        return Status::InvalidArgument(
            fw + ": unknown key (allowed: schema_versions, inputs, max_items, max_bundle_bytes)");
      }
    }
    if (!have_versions) return Status::InvalidArgument(w + ": schema_versions is missing");
    if (!have_inputs) return Status::InvalidArgument(w + ": inputs is missing");
    out.emplace(type, std::move(cap));
  }
  return out;
}

Result<Fleet> ParseFleetJson(std::string_view json, std::string_view filename) {
  const std::string file(filename);
  boost::system::error_code ec;
  boost::json::parse_options po;
  po.max_depth = 16;
  boost::json::value v = boost::json::parse(json, ec, {}, po);
  if (ec) return Status::InvalidArgument(file + ": not valid JSON (" + ec.message() + ")");
  if (!v.is_object()) return Status::InvalidArgument(file + ": must be a JSON object");
  for (const auto& kv : v.get_object()) {
    if (kv.key() != "strata") {
      return Status::InvalidArgument(file + ": unknown key '" + std::string(kv.key()) + "'");
    }
  }
  const auto* strata = v.get_object().if_contains("strata");
  if (!strata || !strata->is_array()) {
    return Status::InvalidArgument(file + ": 'strata' is missing or not a list");
  }
  Fleet fleet;
  for (size_t i = 0; i < strata->get_array().size(); ++i) {
    const auto& s = strata->get_array()[i];
    const std::string w = file + ": strata[" + std::to_string(i) + "]";
    if (!s.is_object()) return Status::InvalidArgument(w + ": must be an object");
    Stratum st;
    bool have_devices = false;
    for (const auto& kv : s.get_object()) {
      if (kv.key() == "attrs") {
        if (!kv.value().is_object()) return Status::InvalidArgument(w + ".attrs: must be an object");
        for (const auto& a : kv.value().get_object()) {
          if (!a.value().is_string()) {
            return Status::InvalidArgument(w + ".attrs." + std::string(a.key()) +
                                           ": must be a string");
          }
          st.attrs.emplace(std::string(a.key()), std::string(a.value().get_string()));
        }
      } else if (kv.key() == "capabilities") {
        RF_ASSIGN_OR_RETURN(st.capabilities, DecodeCapabilityManifest(kv.value(), w));
      } else if (kv.key() == "devices") {
        RF_ASSIGN_OR_RETURN(st.devices, NonNegativeInt(kv.value(), w + ".devices"));
        have_devices = true;
      } else {
        return Status::InvalidArgument(w + ": unknown key '" + std::string(kv.key()) +
                                       "' (allowed: attrs, capabilities, devices)");
      }
    }
    if (!have_devices) return Status::InvalidArgument(w + ": 'devices' is missing");
    fleet.strata.push_back(std::move(st));
  }
  return fleet;
}

std::string EncodeFleetJson(const Fleet& fleet) {
  std::string out = "{\"strata\":[";
  for (size_t i = 0; i < fleet.strata.size(); ++i) {
    const Stratum& s = fleet.strata[i];
    if (i > 0) out += ',';
    out += "{\"attrs\":{";
    bool first = true;
    for (const auto& [k, v] : s.attrs) {
      if (!first) out += ',';
      first = false;
      AppendJsonString(&out, k);
      out += ':';
      AppendJsonString(&out, v);
    }
    out += "},\"capabilities\":{";
    first = true;
    for (const auto& [type, cap] : s.capabilities) {
      if (!first) out += ',';
      first = false;
      AppendJsonString(&out, type);
      out += ":{\"inputs\":" + std::to_string(cap.inputs);
      if (cap.max_bundle_bytes) {
        out += ",\"max_bundle_bytes\":" + std::to_string(cap.max_bundle_bytes);
      }
      if (cap.max_items) out += ",\"max_items\":" + std::to_string(cap.max_items);
      out += ",\"schema_versions\":[";
      for (size_t j = 0; j < cap.schema_versions.size(); ++j) {
        if (j > 0) out += ',';
        out += std::to_string(cap.schema_versions[j]);
      }
      out += "]}";
    }
    out += "},\"devices\":" + std::to_string(s.devices) + "}";
  }
  out += "]}";
  return out;
}

}  // namespace rf
