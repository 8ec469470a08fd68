#include "core/bundle.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <boost/json.hpp>
#include <unordered_map>

#include "core/identifiers.h"
#include "format/yaml.h"

namespace rf {
namespace {

// One scalar as it arrived, before it is typed against a field.
struct Scalar {
  enum class Source : uint8_t { kYamlPlain, kYamlQuoted, kYamlNull, kJsonString, kJsonInt, kJsonBool, kOther };
  Source source;
  std::string_view text;
  int64_t i = 0;
  bool b = false;
  std::string_view other_desc;  // for kOther: "a list", "a number with a fraction", ...
};

bool IsStringSource(Scalar::Source s) {
  return s == Scalar::Source::kYamlPlain || s == Scalar::Source::kYamlQuoted ||
         s == Scalar::Source::kJsonString;
}

std::string Describe(const Scalar& v) {
  switch (v.source) {
    case Scalar::Source::kYamlPlain:
    case Scalar::Source::kYamlQuoted:
    case Scalar::Source::kJsonString: {
      std::string t(v.text.substr(0, 40));
      if (v.text.size() > 40) t += "…";
      return "'" + t + "'";
    }
    case Scalar::Source::kYamlNull: return "an empty value";
    case Scalar::Source::kJsonInt: return "the integer " + std::to_string(v.i);
    case Scalar::Source::kJsonBool: return v.b ? "true" : "false";
    case Scalar::Source::kOther: return std::string(v.other_desc);
  }
  return "?";
}

// Types one scalar against its field. On a type error returns kInvalid and sets *error.
FieldValue TypeValue(const FieldSpec& f, const Scalar& v, std::string* error) {
  FieldValue out;
  if (IsStringSource(v.source) && f.wildcard && v.text == *f.wildcard) {
    out.kind = FieldValue::Kind::kWildcard;
    return out;
  }
  const bool yaml = v.source == Scalar::Source::kYamlPlain || v.source == Scalar::Source::kYamlQuoted ||
                    v.source == Scalar::Source::kYamlNull;
  switch (f.type) {
    case FieldType::kInt:
      if (v.source == Scalar::Source::kJsonInt) {
        out.kind = FieldValue::Kind::kInt;
        out.i = v.i;
        return out;
      }
      if (v.source == Scalar::Source::kYamlPlain) {
        if (auto i = yaml::ParseInt(v.text)) {
          out.kind = FieldValue::Kind::kInt;
          out.i = *i;
          return out;
        }
      }
      *error = "expected an integer" + std::string(f.wildcard ? " or '" + *f.wildcard + "'" : "") +
               ", got " + Describe(v);
      break;
    case FieldType::kBool:
      if (v.source == Scalar::Source::kJsonBool) {
        out.kind = FieldValue::Kind::kBool;
        out.b = v.b;
        return out;
      }
      if (v.source == Scalar::Source::kYamlPlain) {
        if (v.text == "true" || v.text == "True" || v.text == "TRUE" || v.text == "false" ||
            v.text == "False" || v.text == "FALSE") {
          out.kind = FieldValue::Kind::kBool;
          out.b = v.text[0] == 't' || v.text[0] == 'T';
          return out;
        }
      }
      *error = "expected true or false" +
               std::string(f.wildcard ? " or '" + *f.wildcard + "'" : "") + ", got " + Describe(v);
      break;
    default:  // string-like: string, enum, regex, glob, ipv4_prefix, sha256
      if (v.source == Scalar::Source::kYamlNull) {
        out.kind = FieldValue::Kind::kString;  // blank: the required/non-empty check reports it
        return out;
      }
      if (IsStringSource(v.source) && (yaml || v.source == Scalar::Source::kJsonString)) {
        out.kind = FieldValue::Kind::kString;
        out.s = std::string(v.text);
        return out;
      }
      *error = "expected a string, got " + Describe(v);
      break;
  }
  out.kind = FieldValue::Kind::kInvalid;
  return out;
}

// Shared state of one decode: the type's key lookup table and the findings sink.
class ItemDecoder {
 public:
  ItemDecoder(const ContentType& type, std::vector<Finding>* findings)
      : type_(type), findings_(findings) {
    positions_.reserve(type.fields.size() * 2);
    for (size_t i = 0; i < type.fields.size(); ++i) {
      positions_.emplace(type.fields[i].name, static_cast<int>(i));
    }
  }

  Item NewItem(size_t index, uint32_t line) const {
    Item item;
    item.values.resize(type_.fields.size());
    item.line = line;
    item.id = "#" + std::to_string(index + 1);  // replaced once the id is known
    return item;
  }

  // Routes one key/value pair of an item.
  void Set(Item* item, std::string_view key, const Scalar& v, bool* has_id) {
    if (key == "id") {
      *has_id = true;
      if (!IsStringSource(v.source) || !IsValidItemId(v.text)) {
        Add("item.id", item->id, "", -1,
            "item id must be " + std::string(kIdRule) + ", got " + Describe(v));
        return;
      }
      item->id = std::string(v.text);
      return;
    }
    auto it = positions_.find(key);
    if (it == positions_.end()) {
      Add("item.unknown_field", item->id, std::string(key), -1,
          "unknown field '" + std::string(key) + "': content type " + type_.name +
              " has no such field");
      return;
    }
    const int pos = it->second;
    std::string error;
    item->values[pos] = TypeValue(type_.fields[pos], v, &error);
    if (!error.empty()) {
      Add("field.type", item->id, type_.fields[pos].name, pos,
          std::string(FieldTypeName(type_.fields[pos].type)) + " field: " + error);
    }
  }

  void MissingId(const Item& item) {
    Add("item.id", item.id, "", -1, "item has no id");
  }

  void Add(std::string check, std::string item, std::string field, int position,
           std::string message) {
    Finding f;
    f.check = std::move(check);
    f.item = std::move(item);
    f.field = std::move(field);
    f.position = position;
    f.message = std::move(message);
    findings_->push_back(std::move(f));
  }

 private:
  const ContentType& type_;
  std::vector<Finding>* findings_;
  std::unordered_map<std::string_view, int> positions_;
};

Scalar FromYaml(yaml::NodeRef n) {
  Scalar s;
  if (!n.IsScalar()) {
    s.source = Scalar::Source::kOther;
    s.other_desc = n.IsSequence() ? "a list" : "a mapping";
    return s;
  }
  if (n.IsNull()) {
    s.source = Scalar::Source::kYamlNull;
    return s;
  }
  s.source = n.IsPlain() ? Scalar::Source::kYamlPlain : Scalar::Source::kYamlQuoted;
  s.text = n.Text();
  return s;
}

Scalar FromJson(const boost::json::value& v) {
  Scalar s;
  switch (v.kind()) {
    case boost::json::kind::string:
      s.source = Scalar::Source::kJsonString;
      s.text = std::string_view(v.get_string().data(), v.get_string().size());
      break;
    case boost::json::kind::int64:
      s.source = Scalar::Source::kJsonInt;
      s.i = v.get_int64();
      break;
    case boost::json::kind::uint64:
      if (v.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
        s.source = Scalar::Source::kJsonInt;
        s.i = static_cast<int64_t>(v.get_uint64());
      } else {
        s.source = Scalar::Source::kOther;
        s.other_desc = "an integer beyond 64 bits";
      }
      break;
    case boost::json::kind::bool_:
      s.source = Scalar::Source::kJsonBool;
      s.b = v.get_bool();
      break;
    case boost::json::kind::double_:
      s.source = Scalar::Source::kOther;
      s.other_desc = "a number with a fraction";
      break;
    case boost::json::kind::null:
      s.source = Scalar::Source::kOther;
      s.other_desc = "null";
      break;
    case boost::json::kind::array:
      s.source = Scalar::Source::kOther;
      s.other_desc = "a list";
      break;
    case boost::json::kind::object:
      s.source = Scalar::Source::kOther;
      s.other_desc = "an object";
      break;
  }
  return s;
}

Status CheckHeaderContentType(const ContentType& type, std::string_view got, std::string_view where) {
  if (got != type.name) {
    return Status::InvalidArgument(std::string(where) + ": bundle is of content type '" +
                                   std::string(got) + "' but the type file describes '" +
                                   type.name + "'");
  }
  return Status::Ok();
}

void CheckSchemaVersion(const Bundle& b, const ContentType& type, std::vector<Finding>* findings) {
  if (b.schema_version != type.schema_version) {
    Finding f;
    f.check = "bundle.schema_version";
    f.message = "bundle declares schema_version " + std::to_string(b.schema_version) +
                " but content type " + type.name + " is schema_version " +
                std::to_string(type.schema_version);
    findings->push_back(std::move(f));
  }
}

}  // namespace

Result<Bundle> DecodeBundleSource(std::string_view yaml_text, std::string_view filename,
                                  const ContentType& type, std::vector<Finding>* findings,
                                  const DecodeLimits& limits) {
  if (yaml_text.size() > limits.max_text_bytes) {
    return Status::ResourceExhausted(std::string(filename) + ": bundle source is larger than " +
                                     std::to_string(limits.max_text_bytes) + " bytes");
  }
  RF_ASSIGN_OR_RETURN(yaml::Document doc, yaml::Parse(yaml_text, filename));
  yaml::NodeRef root = doc.root();
  if (!root) return Status::InvalidArgument(std::string(filename) + ": file is empty");
  RF_RETURN_IF_ERROR(yaml::CheckMapping(
      root, "bundle", {"channel", "content_type", "schema_version", "version", "items"}));
  Bundle b;
  RF_ASSIGN_OR_RETURN(b.channel, yaml::GetString(root, "channel"));
  if (b.channel.empty() || b.channel.size() > 128) {
    return yaml::ErrorAt(root.Get("channel"), "channel", "must be 1-128 characters");
  }
  RF_ASSIGN_OR_RETURN(b.content_type, yaml::GetString(root, "content_type"));
  RF_RETURN_IF_ERROR(
      CheckHeaderContentType(type, b.content_type, root.Get("content_type").Where()));
  RF_ASSIGN_OR_RETURN(b.schema_version, yaml::GetInt(root, "schema_version"));
  RF_ASSIGN_OR_RETURN(b.version, yaml::GetInt(root, "version"));
  if (b.version < 1) return yaml::ErrorAt(root.Get("version"), "version", "must be at least 1");
  yaml::NodeRef items = root.Get("items");
  if (!items) return yaml::ErrorAt(root, "items", "required key is missing");
  if (!items.IsSequence()) return yaml::ErrorAt(items, "items", "must be a list of items");
  if (items.size() > limits.max_items) {
    return Status::ResourceExhausted(items.Where() + ": more than " +
                                     std::to_string(limits.max_items) + " items");
  }
  CheckSchemaVersion(b, type, findings);
  ItemDecoder dec(type, findings);
  b.items.reserve(items.size());
  items.ForEachItem([&](yaml::NodeRef n) {
    Item item = dec.NewItem(b.items.size(), n.line());
    if (!n.IsMapping()) {
      dec.Add("item.shape", item.id, "", -1,
              "line " + std::to_string(n.line()) + ": an item must be a mapping of field: value");
      b.items.push_back(std::move(item));
      return;
    }
    bool has_id = false;
    if (yaml::NodeRef id = n.Get("id")) dec.Set(&item, "id", FromYaml(id), &has_id);
    n.ForEachEntry([&](yaml::NodeRef k, yaml::NodeRef v) {
      if (k.Text() == "id") return;
      dec.Set(&item, k.Text(), FromYaml(v), &has_id);
    });
    if (!has_id) dec.MissingId(item);
    b.items.push_back(std::move(item));
  });
  return b;
}

Result<Bundle> DecodeBundlePayload(std::string_view json, const ContentType& type,
                                   std::vector<Finding>* findings, const DecodeLimits& limits) {
  if (json.size() > limits.max_text_bytes) {
    return Status::ResourceExhausted("bundle payload is larger than " +
                                     std::to_string(limits.max_text_bytes) + " bytes");
  }
  boost::system::error_code ec;
  boost::json::parse_options po;
  po.max_depth = 8;
  // One arena for the whole DOM: a 100,000-item payload is millions of small nodes.
  boost::json::monotonic_resource arena;
  boost::json::value v = boost::json::parse(json, ec, &arena, po);
  if (ec) return Status::InvalidArgument("bundle payload is not valid JSON (" + ec.message() + ")");
  if (!v.is_object()) return Status::InvalidArgument("bundle payload is not a JSON object");
  const auto& o = v.get_object();
  for (const auto& kv : o) {
    const auto k = kv.key();
    if (k != "channel" && k != "content_type" && k != "schema_version" && k != "version" &&
        k != "items") {
      return Status::InvalidArgument("bundle payload has unknown key '" + std::string(k) + "'");
    }
  }
  auto str = [&](std::string_view key) -> Result<std::string> {
    const auto* x = o.if_contains(key);
    if (!x || !x->is_string()) {
      return Status::InvalidArgument("bundle payload: '" + std::string(key) +
                                     "' is missing or not a string");
    }
    return std::string(x->get_string());
  };
  auto integer = [&](std::string_view key) -> Result<int64_t> {
    const auto* x = o.if_contains(key);
    if (!x || !x->is_int64()) {
      return Status::InvalidArgument("bundle payload: '" + std::string(key) +
                                     "' is missing or not an integer");
    }
    return x->get_int64();
  };
  Bundle b;
  RF_ASSIGN_OR_RETURN(b.channel, str("channel"));
  RF_ASSIGN_OR_RETURN(b.content_type, str("content_type"));
  RF_RETURN_IF_ERROR(CheckHeaderContentType(type, b.content_type, "bundle payload"));
  RF_ASSIGN_OR_RETURN(b.schema_version, integer("schema_version"));
  RF_ASSIGN_OR_RETURN(b.version, integer("version"));
  const auto* items = o.if_contains("items");
  if (!items || !items->is_array()) {
    return Status::InvalidArgument("bundle payload: 'items' is missing or not a list");
  }
  if (items->get_array().size() > limits.max_items) {
    return Status::ResourceExhausted("bundle payload: more than " +
                                     std::to_string(limits.max_items) + " items");
  }
  CheckSchemaVersion(b, type, findings);
  ItemDecoder dec(type, findings);
  const size_t findings_before = findings->size();
  b.items.reserve(items->get_array().size());
  for (const auto& iv : items->get_array()) {
    Item item = dec.NewItem(b.items.size(), 0);
    if (!iv.is_object()) {
      dec.Add("item.shape", item.id, "", -1, "an item must be an object of field: value");
      b.items.push_back(std::move(item));
      continue;
    }
    bool has_id = false;
    if (const auto* id = iv.get_object().if_contains("id")) dec.Set(&item, "id", FromJson(*id), &has_id);
    for (const auto& kv : iv.get_object()) {
      if (kv.key() == "id") continue;
      dec.Set(&item, std::string_view(kv.key().data(), kv.key().size()), FromJson(kv.value()),
              &has_id);
    }
    if (!has_id) dec.MissingId(item);
    b.items.push_back(std::move(item));
  }
  // Canonical form: one bundle, one byte sequence, one identity.
  if (findings->size() == findings_before && EncodeCanonicalPayload(b, type) != json) {
    return Status::InvalidArgument(
        "bundle payload is not in canonical form (keys sorted, no whitespace; see "
        "docs/bundle-format.md)");
  }
  return b;
}

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

void AppendJsonNumber(std::string* out, double v) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  out->append(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
}

std::string EncodeCanonicalPayload(const Bundle& bundle, const ContentType& type) {
  // Item keys in bytewise order: "id" sorted among the field names.
  std::vector<int> order(type.fields.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return type.fields[a].name < type.fields[b].name; });
  size_t id_slot = 0;
  while (id_slot < order.size() && type.fields[order[id_slot]].name < "id") ++id_slot;

  std::string out;
  out.reserve(64 + bundle.items.size() * (16 + type.fields.size() * 16));
  out += "{\"channel\":";
  AppendJsonString(&out, bundle.channel);
  out += ",\"content_type\":";
  AppendJsonString(&out, bundle.content_type);
  out += ",\"items\":[";
  for (size_t n = 0; n < bundle.items.size(); ++n) {
    const Item& item = bundle.items[n];
    if (n) out.push_back(',');
    out.push_back('{');
    bool first = true;
    auto key = [&](std::string_view k) {
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(&out, k);
      out.push_back(':');
    };
    for (size_t k = 0; k <= order.size(); ++k) {
      if (k == id_slot) {
        key("id");
        AppendJsonString(&out, item.id);
      }
      if (k == order.size()) break;
      const int pos = order[k];
      const FieldValue& v = item.values[pos];
      switch (v.kind) {
        case FieldValue::Kind::kAbsent:
        case FieldValue::Kind::kInvalid:
          break;
        case FieldValue::Kind::kWildcard:
          key(type.fields[pos].name);
          AppendJsonString(&out, *type.fields[pos].wildcard);
          break;
        case FieldValue::Kind::kString:
          key(type.fields[pos].name);
          AppendJsonString(&out, v.s);
          break;
        case FieldValue::Kind::kInt:
          key(type.fields[pos].name);
          out += std::to_string(v.i);
          break;
        case FieldValue::Kind::kBool:
          key(type.fields[pos].name);
          out += v.b ? "true" : "false";
          break;
      }
    }
    out.push_back('}');
  }
  out += "],\"schema_version\":";
  out += std::to_string(bundle.schema_version);
  out += ",\"version\":";
  out += std::to_string(bundle.version);
  out.push_back('}');
  return out;
}

}  // namespace rf
