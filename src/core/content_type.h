// Content types: the schema of one kind of content (CrowdStrike's "template type").
//
// A content type is an ordered list of typed fields plus limits. A field's position (its index in
// `fields`) is what a consumer's capability manifest talks about: a consumer with `inputs: 20`
// evaluates positions 0..19 only. Format: docs/content-type.md.
#ifndef RINGFENCE_CORE_CONTENT_TYPE_H_
#define RINGFENCE_CORE_CONTENT_TYPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/regex_cost.h"
#include "core/status.h"

namespace rf {

enum class FieldType : uint8_t { kString, kInt, kBool, kEnum, kRegex, kGlob, kIpv4Prefix, kSha256 };

std::string_view FieldTypeName(FieldType t);
std::optional<FieldType> ParseFieldType(std::string_view name);

// The engine consumers compile regex fields with (`regex_engine:`). Backtracking engines get the
// worst-case cost analysis in their own dialect (docs/stage1-checks.md, regex.cost).
enum class RegexEngine : uint8_t {
  kRe2,         // `re2`: linear-time (RE2 syntax); patterns only need to compile
  kEcmaScript,  // `ecmascript` (alias `backtracking`): libstdc++ std::regex, ECMAScript syntax
  kPcre2,       // `pcre2`: PCRE2 8-bit interpreter (ModSecurity/CRS, Snort, Suricata rules)
  kBacktracking = kEcmaScript,  // the original name of kEcmaScript
};

std::string_view RegexEngineName(RegexEngine e);

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kString;
  std::optional<std::string> wildcard;  // the value meaning "matches anything"
  bool required = false;                // present and non-empty in every item
  std::optional<int64_t> max_length;    // bytes; string-like types
  std::optional<int64_t> min, max;      // int
  std::vector<std::string> values;      // enum
  // regex: whether consumers search the input or match all of it; unset: the type's regex_mode.
  std::optional<RegexMode> regex_mode;
};

struct ContentLimits {
  int64_t max_items = 0;         // 0 = unlimited
  int64_t max_bundle_bytes = 0;  // canonical payload bytes; 0 = unlimited
  std::optional<double> max_growth;  // e.g. 0.5: at most +50% items or bytes over the previous bundle
  std::vector<std::string> unique;   // fields whose combined value must be unique across items
};

struct ContentType {
  std::string name;
  int64_t schema_version = 0;
  std::vector<FieldSpec> fields;
  ContentLimits limits;
  RegexEngine regex_engine = RegexEngine::kRe2;
  // How consumers apply regex fields (`regex_mode: search|match`); search, the default, is the
  // safe assumption: std::regex_search and pcre2_match retry from every start position.
  RegexMode regex_mode = RegexMode::kSearch;
  std::vector<int> unique_positions;  // positions of limits.unique, resolved

  // Position of the field called `name`, or -1.
  int FieldPosition(std::string_view name) const;
};

// Parses and validates a content type file. Errors (YAML syntax, unknown key, unknown field type,
// duplicate field names, bad limits, constraints that do not fit the type) are InvalidArgument
// naming file, line and key.
Result<ContentType> ParseContentType(std::string_view yaml_text, std::string_view filename);

}  // namespace rf

#endif  // RINGFENCE_CORE_CONTENT_TYPE_H_
