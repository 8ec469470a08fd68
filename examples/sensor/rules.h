// The sensor's own decoder for bundle payloads (canonical JSON, docs/bundle-format.md) into rules.
// A consumer never trusts a validator upstream: it checks what it needs itself.
#ifndef RINGFENCE_EXAMPLES_SENSOR_RULES_H_
#define RINGFENCE_EXAMPLES_SENSOR_RULES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "examples/sensor/ipc_fields.h"

namespace sensor {

// One matcher field of a rule: absent fields and wildcards are not stored (they match anything).
struct RuleField {
  int position = 0;
  std::string text;  // the value as text (ints in decimal, bools "true"/"false")
  int64_t int_value = 0;
  bool bool_value = false;
};

struct Rule {
  std::string id;
  std::vector<RuleField> fields;  // concrete fields, by increasing position
};

struct RuleSet {
  std::string channel;
  int64_t version = 0;
  std::vector<Rule> rules;
};

// Decodes a payload. Returns "" or the reason it is refused: not JSON, wrong content type or
// schema version, over kMaxRules / kMaxPayloadBytes, unknown key, a value of the wrong JSON type.
// Field positions are taken from kIpcFields (all 21), whatever the integration supplies.
std::string DecodeRules(std::string_view payload, RuleSet* out);

}  // namespace sensor

#endif  // RINGFENCE_EXAMPLES_SENSOR_RULES_H_
