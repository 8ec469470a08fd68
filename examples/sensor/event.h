// A named-pipe event as the sensor observes it: one value per template field, as text.
#ifndef RINGFENCE_EXAMPLES_SENSOR_EVENT_H_
#define RINGFENCE_EXAMPLES_SENSOR_EVENT_H_

#include <array>
#include <string>
#include <string_view>

#include "examples/sensor/ipc_fields.h"

namespace sensor {

struct Event {
  // Indexed by field position. Integers in decimal, booleans "true"/"false"; "" when unknown.
  std::array<std::string, kIpcFields.size()> values;
};

// Decodes one event line: a JSON object, field name -> string, integer or bool (consumer process
// protocol, docs/sdk.md). Unknown names are ignored (real events carry more attributes); missing
// ones stay "". Returns "" or why the line is unusable (not JSON, not an object, a value of
// another JSON type, over kMaxEventBytes).
std::string DecodeEvent(std::string_view json, Event* event);

}  // namespace sensor

#endif  // RINGFENCE_EXAMPLES_SENSOR_EVENT_H_
