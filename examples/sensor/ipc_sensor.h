// IpcSensor: the ipc_rule consumer, as a ringfence::Consumer (the agent SDK's interface).
//
//   sensor::IpcSensor s({.integration = sensor::Integration::kLegacy});
//   s.Manifest();   // {"ipc_rule":{"inputs":20,...}}: inputs = SuppliedInputs(integration)
//   s.Load(payload);  // legacy + a concrete 21st field: SIGSEGV (see integration.h)
#ifndef RINGFENCE_EXAMPLES_SENSOR_IPC_SENSOR_H_
#define RINGFENCE_EXAMPLES_SENSOR_IPC_SENSOR_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "examples/sensor/event.h"
#include "examples/sensor/integration.h"
#include "examples/sensor/interpreter.h"
#include "ringfence/consumer.hpp"

namespace sensor {

struct SensorOptions {
  Integration integration = Integration::kCorrect;  // how many inputs the integration supplies
  RegexEngine regex_engine = RegexEngine::kRe2;     // how regex fields are matched
};

class IpcSensor : public ringfence::Consumer {
 public:
  explicit IpcSensor(SensorOptions options);

  std::vector<ringfence::Capability> Capabilities() const override;
  // Decodes and compiles; changes nothing.
  ringfence::Outcome Validate(std::string_view payload) override;
  // Decodes, compiles and swaps the rules in, then (as the real sensor does at once) evaluates
  // the IPC activity pending at load: the sensor's own control-pipe connection (StartupEvent()).
  ringfence::Outcome Load(std::string_view payload) override;
  // Evaluates one event line (event.h) against the active rules.
  ringfence::Outcome Match(std::string_view event_json, std::vector<std::string>* matches) override;

  // Evaluates a decoded event; the integration code path.
  void Process(const Event& event, std::vector<std::string>* matches);

  static Event StartupEvent();
  size_t active_rules() const { return rules_ ? rules_->size() : 0; }

 private:
  std::string Prepare(std::string_view payload, std::unique_ptr<CompiledRules>* out) const;

  SensorOptions options_;
  GuardedInputArray inputs_;
  std::unique_ptr<CompiledRules> rules_;
};

}  // namespace sensor

#endif  // RINGFENCE_EXAMPLES_SENSOR_IPC_SENSOR_H_
