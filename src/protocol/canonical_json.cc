#include "protocol/canonical_json.h"

#include <algorithm>
#include <vector>

#include <boost/json.hpp>

#include "core/bundle.h"  // AppendJsonString: the canonical string escapes

namespace rf::protocol {
namespace {

void Encode(const boost::json::value& v, std::string* out) {
  switch (v.kind()) {
    case boost::json::kind::null: out->append("null"); break;
    case boost::json::kind::bool_: out->append(v.get_bool() ? "true" : "false"); break;
    case boost::json::kind::int64: out->append(std::to_string(v.get_int64())); break;
    case boost::json::kind::uint64: out->append(std::to_string(v.get_uint64())); break;
    case boost::json::kind::double_: out->append("<float>"); break;  // never canonical
    case boost::json::kind::string: AppendJsonString(out, v.get_string()); break;
    case boost::json::kind::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out->push_back(',');
        first = false;
        Encode(e, out);
      }
      out->push_back(']');
      break;
    }
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      std::vector<const boost::json::key_value_pair*> kvs;
      kvs.reserve(o.size());
      for (const auto& kv : o) kvs.push_back(&kv);
      std::sort(kvs.begin(), kvs.end(), [](const auto* a, const auto* b) {
        return std::string_view(a->key()) < std::string_view(b->key());
      });
      out->push_back('{');
      bool first = true;
      for (const auto* kv : kvs) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, kv->key());
        out->push_back(':');
        Encode(kv->value(), out);
      }
      out->push_back('}');
      break;
    }
  }
}

}  // namespace

std::string EncodeCanonicalJson(const boost::json::value& v) {
  std::string out;
  Encode(v, &out);
  return out;
}

Result<boost::json::value> ParseJson(std::string_view text, unsigned max_depth) {
  boost::system::error_code ec;
  boost::json::parse_options po;
  po.max_depth = max_depth;
  boost::json::value v = boost::json::parse(text, ec, {}, po);
  if (ec) return Status::InvalidArgument("not valid JSON (" + ec.message() + ")");
  return v;
}

Result<boost::json::value> ParseCanonicalJson(std::string_view text, unsigned max_depth) {
  RF_ASSIGN_OR_RETURN(boost::json::value v, ParseJson(text, max_depth));
  if (EncodeCanonicalJson(v) != text) {
    return Status::InvalidArgument(
        "not in canonical form (whitespace, key order, duplicate keys, escapes or a "
        "non-integer number)");
  }
  return v;
}

Result<std::string> GetString(const boost::json::object& o, std::string_view key,
                              std::string_view where) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    return Status::InvalidArgument(std::string(where) + ": '" + std::string(key) +
                                   "' is missing or not a string");
  }
  return std::string(v->get_string());
}

Result<int64_t> GetInt(const boost::json::object& o, std::string_view key, std::string_view where) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_int64()) {
    if (v && v->is_uint64()) {
      return Status::InvalidArgument(std::string(where) + ": '" + std::string(key) +
                                     "' is out of range");
    }
    return Status::InvalidArgument(std::string(where) + ": '" + std::string(key) +
                                   "' is missing or not an integer");
  }
  return v->get_int64();
}

Status CheckKeys(const boost::json::object& o, std::initializer_list<std::string_view> allowed,
                 std::string_view where) {
  for (const auto& kv : o) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(kv.key())) == allowed.end()) {
      return Status::InvalidArgument(std::string(where) + ": unknown key '" +
                                     std::string(kv.key()) + "'");
    }
  }
  return Status::Ok();
}

}  // namespace rf::protocol
