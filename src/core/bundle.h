// Bundles: one immutable version of a channel's items, and their two encodings.
//
// Source form: YAML written by people (docs/bundle-format.md, "Source"). Built form: canonical JSON
// (the payload) inside a DSSE envelope; the bundle's identity is the SHA-256 of the payload bytes.
// Canonical JSON: object keys sorted bytewise, no whitespace, integers in decimal, strings with
// the minimal escapes of docs/bundle-format.md, absent fields omitted. Decoding a built payload
// re-encodes it and refuses anything that is not byte-identical, so one bundle has one identity.
#ifndef RINGFENCE_CORE_BUNDLE_H_
#define RINGFENCE_CORE_BUNDLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/content_type.h"
#include "core/finding.h"
#include "core/status.h"

namespace rf {

struct FieldValue {
  enum class Kind : uint8_t {
    kAbsent,    // the item does not set the field
    kWildcard,  // the field's wildcard ("matches anything")
    kString,    // string, enum, regex, glob, ipv4_prefix, sha256
    kInt,
    kBool,
    kInvalid,   // present but of the wrong type (a finding was recorded)
  };
  Kind kind = Kind::kAbsent;
  bool b = false;
  int64_t i = 0;
  std::string s;

  // True when a consumer must evaluate this value (anything but absent or wildcard).
  bool IsConcrete() const { return kind != Kind::kAbsent && kind != Kind::kWildcard; }
};

struct Item {
  std::string id;
  std::vector<FieldValue> values;  // indexed by field position; size == type.fields.size()
  uint32_t line = 0;               // source line (0 for built bundles)
};

struct Bundle {
  std::string channel;
  std::string content_type;
  int64_t schema_version = 0;
  int64_t version = 0;
  std::vector<Item> items;
};

struct DecodeLimits {
  size_t max_items = 10'000'000;  // hard ceiling before the type's own max_items is even checked
  size_t max_text_bytes = 512u << 20;
};

// Decodes a bundle source. Unusable input (YAML syntax, root not a mapping, missing or mistyped
// header keys, content_type differing from `type`) is an InvalidArgument naming file:line and key.
// Problems with individual items (unknown field, wrong value type, missing or duplicate-free id)
// are appended to `findings` and the bundle is still returned so that every problem is reported.
Result<Bundle> DecodeBundleSource(std::string_view yaml_text, std::string_view filename,
                                  const ContentType& type, std::vector<Finding>* findings,
                                  const DecodeLimits& limits = {});

// Decodes a canonical JSON payload (the content of a built bundle's envelope). As above, plus:
// a payload that is not in canonical form is refused (InvalidArgument).
Result<Bundle> DecodeBundlePayload(std::string_view json, const ContentType& type,
                                   std::vector<Finding>* findings,
                                   const DecodeLimits& limits = {});

// The canonical payload bytes. REQUIRES: no item has a kInvalid value.
std::string EncodeCanonicalPayload(const Bundle& bundle, const ContentType& type);

// Appends s as a JSON string literal with the canonical escapes.
void AppendJsonString(std::string* out, std::string_view s);

// Appends v as the shortest JSON number that reads back as v (std::to_chars); `null` when v is
// not finite (JSON has no infinity or NaN).
void AppendJsonNumber(std::string* out, double v);

}  // namespace rf

#endif  // RINGFENCE_CORE_BUNDLE_H_
