#include "examples/sensor/event.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace sensor {

std::string DecodeEvent(std::string_view json, Event* event) {
  *event = Event{};
  if (json.size() > kMaxEventBytes) return "event over " + std::to_string(kMaxEventBytes) + " bytes";
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec) return "event is not JSON: " + ec.message();
  const boost::json::object* obj = v.if_object();
  if (obj == nullptr) return "event is not a JSON object";
  for (const auto& [key, value] : *obj) {
    const int pos = FieldPosition(std::string_view(key.data(), key.size()));
    if (pos < 0) continue;
    std::string& out = event->values[static_cast<size_t>(pos)];
    if (const boost::json::string* s = value.if_string()) {
      out.assign(s->data(), s->size());
    } else if (const int64_t* i = value.if_int64()) {
      out = std::to_string(*i);
    } else if (const uint64_t* u = value.if_uint64()) {
      out = std::to_string(*u);
    } else if (const bool* b = value.if_bool()) {
      out = *b ? "true" : "false";
    } else {
      return "event field '" + std::string(key) + "' must be a string, integer or bool";
    }
  }
  return "";
}

}  // namespace sensor
