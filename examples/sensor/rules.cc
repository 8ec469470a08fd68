#include "examples/sensor/rules.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace sensor {
namespace {

std::string Str(const boost::json::string& s) { return std::string(s.data(), s.size()); }

std::string DecodeField(const Rule& rule, int pos, const boost::json::value& v, RuleField* f) {
  const IpcField& spec = kIpcFields[static_cast<size_t>(pos)];
  const std::string where = rule.id + "." + std::string(spec.name);
  f->position = pos;
  if (spec.kind == MatchKind::kInt) {
    if (const int64_t* i = v.if_int64()) {
      f->int_value = *i;
      f->text = std::to_string(*i);
      return "";
    }
    if (const uint64_t* u = v.if_uint64(); u != nullptr && *u <= uint64_t(INT64_MAX)) {
      f->int_value = static_cast<int64_t>(*u);
      f->text = std::to_string(*u);
      return "";
    }
    return where + ": expected an integer";
  }
  if (spec.kind == MatchKind::kBool) {
    if (const bool* b = v.if_bool()) {
      f->bool_value = *b;
      f->text = *b ? "true" : "false";
      return "";
    }
    return where + ": expected true or false";
  }
  if (const boost::json::string* s = v.if_string()) {
    f->text = Str(*s);
    return "";
  }
  return where + ": expected a string";
}

}  // namespace

std::string DecodeRules(std::string_view payload, RuleSet* out) {
  *out = RuleSet{};
  if (payload.size() > static_cast<size_t>(kMaxPayloadBytes)) {
    return "payload of " + std::to_string(payload.size()) + " bytes is over this sensor's limit of " +
           std::to_string(kMaxPayloadBytes);
  }
  boost::system::error_code ec;
  boost::json::value root = boost::json::parse(payload, ec);
  if (ec) return "payload is not JSON: " + ec.message();
  const boost::json::object* obj = root.if_object();
  if (obj == nullptr) return "payload is not a JSON object";
  const boost::json::value* items = nullptr;
  bool have_type = false, have_schema = false;
  for (const auto& [key, value] : *obj) {
    if (key == "channel") {
      if (!value.is_string()) return "channel: expected a string";
      out->channel = Str(value.get_string());
    } else if (key == "content_type") {
      if (!value.is_string() || value.get_string() != kContentType) {
        return "content_type: this sensor interprets only '" + std::string(kContentType) + "'";
      }
      have_type = true;
    } else if (key == "schema_version") {
      if (!value.is_int64() || value.get_int64() != kSchemaVersion) {
        return "schema_version: this sensor parses only version " + std::to_string(kSchemaVersion);
      }
      have_schema = true;
    } else if (key == "version") {
      if (!value.is_int64()) return "version: expected an integer";
      out->version = value.get_int64();
    } else if (key == "items") {
      items = &value;
    } else {
      return "unknown key '" + Str(key) + "'";
    }
  }
  if (!have_type || !have_schema) return "content_type and schema_version are required";
  if (items == nullptr || !items->is_array()) return "items: expected an array";
  const boost::json::array& arr = items->get_array();
  if (arr.size() > static_cast<size_t>(kMaxRules)) {
    return std::to_string(arr.size()) + " items is over this sensor's limit of " +
           std::to_string(kMaxRules);
  }
  out->rules.reserve(arr.size());
  for (size_t n = 0; n < arr.size(); ++n) {
    const boost::json::object* item = arr[n].if_object();
    if (item == nullptr) return "items[" + std::to_string(n) + "]: expected an object";
    Rule rule;
    const boost::json::value* id = item->if_contains("id");
    if (id == nullptr || !id->is_string() || id->get_string().empty()) {
      return "items[" + std::to_string(n) + "]: id must be a non-empty string";
    }
    rule.id = Str(id->get_string());
    for (const auto& [key, value] : *item) {
      if (key == "id") continue;
      const int pos = FieldPosition(std::string_view(key.data(), key.size()));
      if (pos < 0) return rule.id + ": unknown field '" + Str(key) + "'";
      if (value.is_string() && value.get_string() == kWildcard) continue;
      RuleField f;
      if (std::string err = DecodeField(rule, pos, value, &f); !err.empty()) return err;
      rule.fields.push_back(std::move(f));
    }
    std::sort(rule.fields.begin(), rule.fields.end(),
              [](const RuleField& a, const RuleField& b) { return a.position < b.position; });
    out->rules.push_back(std::move(rule));
  }
  return "";
}

}  // namespace sensor
