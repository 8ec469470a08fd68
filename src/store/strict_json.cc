#include "store/strict_json.h"

namespace rf::store {

Result<boost::json::object> ParseJsonObject(std::string_view text, std::string_view where,
                                            StatusCode code) {
  boost::json::parse_options opts;
  opts.max_depth = 32;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, opts);
  if (ec) return Status(code, std::string(where) + ": not valid JSON: " + ec.message());
  if (!v.is_object()) return Status(code, std::string(where) + ": expected a JSON object");
  return std::move(v.as_object());
}

StrictObject::StrictObject(const boost::json::object& o, std::string where, StatusCode code)
    : o_(o), where_(std::move(where)), code_(code) {}

Status StrictObject::Error(std::string_view key, std::string_view what) const {
  return Status(code_, where_ + ": key '" + std::string(key) + "': " + std::string(what));
}

const boost::json::value* StrictObject::Find(std::string_view key) {
  seen_.emplace(key);
  auto it = o_.find(key);
  return it == o_.end() ? nullptr : &it->value();
}

Status StrictObject::String(std::string_view key, std::string* out) {
  const auto* v = Find(key);
  if (v == nullptr) return Error(key, "missing");
  if (!v->is_string()) return Error(key, "expected a string");
  *out = std::string(v->as_string());
  return Status::Ok();
}

Status StrictObject::OptString(std::string_view key, std::string* out, bool* present) {
  if (present) *present = false;
  if (o_.find(key) == o_.end()) {
    seen_.emplace(key);
    return Status::Ok();
  }
  if (present) *present = true;
  return String(key, out);
}

Status StrictObject::Int(std::string_view key, int64_t* out) {
  const auto* v = Find(key);
  if (v == nullptr) return Error(key, "missing");
  if (v->is_int64()) {
    *out = v->as_int64();
  } else if (v->is_uint64()) {
    if (v->as_uint64() > static_cast<uint64_t>(INT64_MAX)) return Error(key, "integer too large");
    *out = static_cast<int64_t>(v->as_uint64());
  } else {
    return Error(key, "expected an integer");
  }
  return Status::Ok();
}

Status StrictObject::OptInt(std::string_view key, int64_t* out, bool* present) {
  if (present) *present = false;
  if (o_.find(key) == o_.end()) {
    seen_.emplace(key);
    return Status::Ok();
  }
  if (present) *present = true;
  return Int(key, out);
}

Status StrictObject::Bool(std::string_view key, bool* out) {
  const auto* v = Find(key);
  if (v == nullptr) return Error(key, "missing");
  if (!v->is_bool()) return Error(key, "expected true or false");
  *out = v->as_bool();
  return Status::Ok();
}

Status StrictObject::OptBool(std::string_view key, bool* out, bool* present) {
  if (present) *present = false;
  if (o_.find(key) == o_.end()) {
    seen_.emplace(key);
    return Status::Ok();
  }
  if (present) *present = true;
  return Bool(key, out);
}

Status StrictObject::Double(std::string_view key, double* out) {
  const auto* v = Find(key);
  if (v == nullptr) return Error(key, "missing");
  if (v->is_double()) {
    *out = v->as_double();
  } else if (v->is_int64()) {
    *out = static_cast<double>(v->as_int64());
  } else if (v->is_uint64()) {
    *out = static_cast<double>(v->as_uint64());
  } else {
    return Error(key, "expected a number");
  }
  return Status::Ok();
}

Status StrictObject::Array(std::string_view key, const boost::json::array** out) {
  const auto* v = Find(key);
  if (v == nullptr) return Error(key, "missing");
  if (!v->is_array()) return Error(key, "expected an array");
  *out = &v->as_array();
  return Status::Ok();
}

Status StrictObject::StringArray(std::string_view key, std::vector<std::string>* out) {
  const boost::json::array* a = nullptr;
  RF_RETURN_IF_ERROR(Array(key, &a));
  out->clear();
  for (size_t i = 0; i < a->size(); ++i) {
    if (!(*a)[i].is_string()) {
      return Error(key, "element " + std::to_string(i) + ": expected a string");
    }
    out->emplace_back((*a)[i].as_string());
  }
  return Status::Ok();
}

Status StrictObject::OptStringArray(std::string_view key, std::vector<std::string>* out,
                                    bool* present) {
  if (present) *present = false;
  if (o_.find(key) == o_.end()) {
    seen_.emplace(key);
    return Status::Ok();
  }
  if (present) *present = true;
  return StringArray(key, out);
}

Status StrictObject::Finish() const {
  for (const auto& kv : o_) {
    if (!seen_.contains(std::string_view(kv.key()))) {
      return Status(code_, where_ + ": unknown key '" + std::string(kv.key()) + "'");
    }
  }
  return Status::Ok();
}

}  // namespace rf::store
