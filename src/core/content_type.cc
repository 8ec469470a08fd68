#include "core/content_type.h"

#include <unordered_set>

#include "format/yaml.h"

namespace rf {

namespace {
constexpr std::pair<FieldType, std::string_view> kTypeNames[] = {
    {FieldType::kString, "string"}, {FieldType::kInt, "int"},
    {FieldType::kBool, "bool"},     {FieldType::kEnum, "enum"},
    {FieldType::kRegex, "regex"},   {FieldType::kGlob, "glob"},
    {FieldType::kIpv4Prefix, "ipv4_prefix"}, {FieldType::kSha256, "sha256"},
};

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool IsStringLike(FieldType t) {
  return t == FieldType::kString || t == FieldType::kRegex || t == FieldType::kGlob;
}

Result<RegexMode> ParseRegexMode(yaml::NodeRef at, const std::string& mode) {
  if (mode == "search") return RegexMode::kSearch;
  if (mode == "match") return RegexMode::kMatch;
  return yaml::ErrorAt(at, "regex_mode", "unknown regex_mode '" + mode + "' (known: search, match)");
}

Result<FieldSpec> ParseField(yaml::NodeRef f, size_t position) {
  RF_RETURN_IF_ERROR(yaml::CheckMapping(
      f, "field",
      {"name", "type", "wildcard", "required", "max_length", "min", "max", "values", "regex_mode"}));
  FieldSpec spec;
  RF_ASSIGN_OR_RETURN(spec.name, yaml::GetString(f, "name"));
  if (!IsIdentifier(spec.name) || spec.name == "id") {
    return yaml::ErrorAt(f.Get("name"), "name",
                         "field name '" + spec.name +
                             "' must match [a-z0-9_]+ (at most 64 characters) and not be 'id'");
  }
  RF_ASSIGN_OR_RETURN(std::string type, yaml::GetString(f, "type"));
  auto t = ParseFieldType(type);
  if (!t) {
    return yaml::ErrorAt(f.Get("type"), "type",
                         "unknown field type '" + type + "' for field '" + spec.name +
                             "' (known: string, int, bool, enum, regex, glob, ipv4_prefix, sha256)");
  }
  spec.type = *t;
  if (auto w = f.Get("wildcard")) {
    if (!w.IsScalar() || w.Text().empty()) {
      return yaml::ErrorAt(w, "wildcard", "wildcard must be a non-empty string");
    }
    spec.wildcard = std::string(w.Text());
  }
  RF_ASSIGN_OR_RETURN(spec.required, yaml::GetBool(f, "required", false));
  if (f.Get("max_length")) {
    if (!IsStringLike(spec.type)) {
      return yaml::ErrorAt(f.Get("max_length"), "max_length",
                           "max_length applies only to string, regex and glob fields");
    }
    RF_ASSIGN_OR_RETURN(int64_t ml, yaml::GetInt(f, "max_length"));
    if (ml <= 0) return yaml::ErrorAt(f.Get("max_length"), "max_length", "must be positive");
    spec.max_length = ml;
  }
  if (f.Get("regex_mode")) {
    if (spec.type != FieldType::kRegex) {
      return yaml::ErrorAt(f.Get("regex_mode"), "regex_mode", "regex_mode applies only to regex fields");
    }
    RF_ASSIGN_OR_RETURN(std::string mode, yaml::GetString(f, "regex_mode"));
    RF_ASSIGN_OR_RETURN(spec.regex_mode, ParseRegexMode(f.Get("regex_mode"), mode));
  }
  for (std::string_view k : {"min", "max"}) {
    if (!f.Get(k)) continue;
    if (spec.type != FieldType::kInt) {
      return yaml::ErrorAt(f.Get(k), k, "min and max apply only to int fields");
    }
    RF_ASSIGN_OR_RETURN(int64_t v, yaml::GetInt(f, k));
    (k == "min" ? spec.min : spec.max) = v;
  }
  if (spec.min && spec.max && *spec.min > *spec.max) {
    return yaml::ErrorAt(f.Get("min"), "min",
                         "min " + std::to_string(*spec.min) + " is greater than max " +
                             std::to_string(*spec.max));
  }
  if (auto vals = f.Get("values")) {
    if (spec.type != FieldType::kEnum) {
      return yaml::ErrorAt(vals, "values", "values applies only to enum fields");
    }
    if (!vals.IsSequence() || vals.size() == 0) {
      return yaml::ErrorAt(vals, "values", "values must be a non-empty list");
    }
    std::unordered_set<std::string> seen;
    for (yaml::NodeRef v : vals.Items()) {
      if (!v.IsScalar() || v.Text().empty()) {
        return yaml::ErrorAt(v, "values", "enum values must be non-empty strings");
      }
      if (!seen.insert(std::string(v.Text())).second) {
        return yaml::ErrorAt(v, "values", "duplicate enum value '" + std::string(v.Text()) + "'");
      }
      spec.values.emplace_back(v.Text());
    }
  } else if (spec.type == FieldType::kEnum) {
    return yaml::ErrorAt(f, "values", "enum field '" + spec.name + "' needs a list of values");
  }
  if (spec.wildcard && spec.type == FieldType::kEnum) {
    for (const auto& v : spec.values) {
      if (v == *spec.wildcard) {
        return yaml::ErrorAt(f.Get("wildcard"), "wildcard",
                             "wildcard '" + v + "' is also one of the enum values");
      }
    }
  }
  (void)position;
  return spec;
}

}  // namespace

std::string_view FieldTypeName(FieldType t) {
  for (const auto& [type, name] : kTypeNames) {
    if (type == t) return name;
  }
  return "?";
}

std::optional<FieldType> ParseFieldType(std::string_view name) {
  for (const auto& [type, n] : kTypeNames) {
    if (n == name) return type;
  }
  return std::nullopt;
}

std::string_view RegexEngineName(RegexEngine e) {
  switch (e) {
    case RegexEngine::kRe2: return "re2";
    case RegexEngine::kEcmaScript: return "ecmascript";
    case RegexEngine::kPcre2: return "pcre2";
  }
  return "?";
}

int ContentType::FieldPosition(std::string_view n) const {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name == n) return static_cast<int>(i);
  }
  return -1;
}

Result<ContentType> ParseContentType(std::string_view yaml_text, std::string_view filename) {
  RF_ASSIGN_OR_RETURN(yaml::Document doc, yaml::Parse(yaml_text, filename));
  yaml::NodeRef root = doc.root();
  if (!root) return Status::InvalidArgument(std::string(filename) + ": file is empty");
  RF_RETURN_IF_ERROR(yaml::CheckMapping(
      root, "content type",
      {"content_type", "schema_version", "fields", "limits", "regex_engine", "regex_mode"}));
  ContentType ct;
  RF_ASSIGN_OR_RETURN(ct.name, yaml::GetString(root, "content_type"));
  if (!IsIdentifier(ct.name)) {
    return yaml::ErrorAt(root.Get("content_type"), "content_type",
                         "'" + ct.name + "' must match [a-z0-9_]+");
  }
  RF_ASSIGN_OR_RETURN(ct.schema_version, yaml::GetInt(root, "schema_version"));
  if (ct.schema_version < 1) {
    return yaml::ErrorAt(root.Get("schema_version"), "schema_version", "must be at least 1");
  }
  yaml::NodeRef fields = root.Get("fields");
  if (!fields) return yaml::ErrorAt(root, "fields", "required key is missing");
  if (!fields.IsSequence() || fields.size() == 0) {
    return yaml::ErrorAt(fields, "fields", "must be a non-empty list of fields");
  }
  if (fields.size() > 1024) return yaml::ErrorAt(fields, "fields", "more than 1024 fields");
  std::unordered_set<std::string> names;
  for (yaml::NodeRef f : fields.Items()) {
    RF_ASSIGN_OR_RETURN(FieldSpec spec, ParseField(f, ct.fields.size()));
    if (!names.insert(spec.name).second) {
      return yaml::ErrorAt(f.Get("name"), "name", "duplicate field name '" + spec.name + "'");
    }
    ct.fields.push_back(std::move(spec));
  }
  if (yaml::NodeRef lim = root.Get("limits")) {
    RF_RETURN_IF_ERROR(yaml::CheckMapping(
        lim, "limits", {"max_items", "max_bundle_bytes", "max_growth", "unique"}));
    RF_ASSIGN_OR_RETURN(ct.limits.max_items, yaml::GetInt(lim, "max_items", 0));
    if (ct.limits.max_items < 0) {
      return yaml::ErrorAt(lim.Get("max_items"), "max_items", "must not be negative");
    }
    RF_ASSIGN_OR_RETURN(ct.limits.max_bundle_bytes, yaml::GetInt(lim, "max_bundle_bytes", 0));
    if (ct.limits.max_bundle_bytes < 0) {
      return yaml::ErrorAt(lim.Get("max_bundle_bytes"), "max_bundle_bytes",
                           "must not be negative");
    }
    if (lim.Get("max_growth")) {
      RF_ASSIGN_OR_RETURN(double g, yaml::GetDouble(lim, "max_growth", 0));
      if (g < 0) return yaml::ErrorAt(lim.Get("max_growth"), "max_growth", "must not be negative");
      ct.limits.max_growth = g;
    }
    if (yaml::NodeRef u = lim.Get("unique")) {
      if (!u.IsSequence()) return yaml::ErrorAt(u, "unique", "must be a list of field names");
      for (yaml::NodeRef n : u.Items()) {
        int pos = n.IsScalar() ? ct.FieldPosition(n.Text()) : -1;
        if (pos < 0) {
          return yaml::ErrorAt(n, "unique",
                               "'" + std::string(n.IsScalar() ? n.Text() : "") +
                                   "' is not a field of this content type");
        }
        for (int p : ct.unique_positions) {
          if (p == pos) return yaml::ErrorAt(n, "unique", "field listed twice");
        }
        ct.limits.unique.emplace_back(n.Text());
        ct.unique_positions.push_back(pos);
      }
    }
  }
  RF_ASSIGN_OR_RETURN(std::string engine, yaml::GetString(root, "regex_engine", "re2"));
  if (engine == "re2") {
    ct.regex_engine = RegexEngine::kRe2;
  } else if (engine == "ecmascript" || engine == "backtracking") {
    ct.regex_engine = RegexEngine::kEcmaScript;
  } else if (engine == "pcre2") {
    ct.regex_engine = RegexEngine::kPcre2;
  } else {
    return yaml::ErrorAt(root.Get("regex_engine"), "regex_engine",
                         "unknown engine '" + engine + "' (known: re2, ecmascript, backtracking, pcre2)");
  }
  if (root.Get("regex_mode")) {
    RF_ASSIGN_OR_RETURN(std::string mode, yaml::GetString(root, "regex_mode"));
    RF_ASSIGN_OR_RETURN(ct.regex_mode, ParseRegexMode(root.Get("regex_mode"), mode));
  }
  return ct;
}

}  // namespace rf
