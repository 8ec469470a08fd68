// Fuzzes the example sensor's own parsers (bundle payload -> rules, event lines) and its
// interpreter in the correct integration. Input: a payload and an event line separated by the
// first newline. Oracles: no crash or sanitizer report; a decoded rule only holds positions the
// template has; a payload that decodes re-decodes to the same rules.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "examples/sensor/ipc_sensor.h"
#include "examples/sensor/rules.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view payload = in.substr(0, nl);
  const std::string_view event = nl == std::string_view::npos ? "{}" : in.substr(nl + 1);

  sensor::RuleSet rules;
  if (sensor::DecodeRules(payload, &rules).empty()) {
    for (const sensor::Rule& r : rules.rules) {
      for (const sensor::RuleField& f : r.fields) {
        RF_FUZZ_CHECK(f.position >= 0 && f.position < sensor::kTemplateFields, r.id);
      }
    }
    sensor::RuleSet again;
    RF_FUZZ_CHECK(sensor::DecodeRules(payload, &again).empty() && again.rules.size() == rules.rules.size(),
                  "decoding is not deterministic");
  }
  sensor::Event e;
  (void)sensor::DecodeEvent(event, &e);
  // The correct integration supplies every input, so any content must be safe to evaluate.
  static sensor::IpcSensor* s = new sensor::IpcSensor({.integration = sensor::Integration::kCorrect});
  if (s->Load(payload).ok()) {
    std::vector<std::string> ids;
    (void)s->Match(event, &ids);
    RF_FUZZ_CHECK(ids.size() <= s->active_rules(), "more matches than rules");
  }
  return 0;
}
