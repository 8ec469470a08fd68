#include "examples/sensor/ipc_sensor.h"

namespace sensor {

IpcSensor::IpcSensor(SensorOptions options)
    : options_(options), inputs_(SuppliedInputs(options.integration)) {}

std::vector<ringfence::Capability> IpcSensor::Capabilities() const {
  ringfence::Capability c;
  c.content_type = std::string(kContentType);
  c.schema_versions = {kSchemaVersion};
  c.inputs = inputs_.count();  // the size of the array the integration really fills
  c.max_items = kMaxRules;
  c.max_bundle_bytes = kMaxPayloadBytes;
  return {c};
}

std::string IpcSensor::Prepare(std::string_view payload, std::unique_ptr<CompiledRules>* out) const {
  RuleSet rules;
  if (std::string err = DecodeRules(payload, &rules); !err.empty()) return err;
  return CompiledRules::Compile(rules, options_.regex_engine, out);
}

ringfence::Outcome IpcSensor::Validate(std::string_view payload) {
  std::unique_ptr<CompiledRules> compiled;
  if (std::string err = Prepare(payload, &compiled); !err.empty()) {
    return ringfence::Outcome::Rejected(err);
  }
  return ringfence::Outcome::Ok();
}

ringfence::Outcome IpcSensor::Load(std::string_view payload) {
  std::unique_ptr<CompiledRules> compiled;
  if (std::string err = Prepare(payload, &compiled); !err.empty()) {
    return ringfence::Outcome::Rejected(err);
  }
  rules_ = std::move(compiled);
  std::vector<std::string> ignored;
  Process(StartupEvent(), &ignored);
  ReportHealth(ringfence::Health::kOk, std::to_string(rules_->size()) + " rules active (" +
                                           std::string(IntegrationName(options_.integration)) +
                                           " integration, " +
                                           std::string(RegexEngineName(options_.regex_engine)) + ")");
  return ringfence::Outcome::Ok();
}

ringfence::Outcome IpcSensor::Match(std::string_view event_json, std::vector<std::string>* matches) {
  Event event;
  if (std::string err = DecodeEvent(event_json, &event); !err.empty()) {
    return ringfence::Outcome::Rejected(err);
  }
  Process(event, matches);
  return ringfence::Outcome::Ok();
}

void IpcSensor::Process(const Event& event, std::vector<std::string>* matches) {
  if (!rules_) return;
  inputs_.Fill(event);
  rules_->Match(inputs_.data(), matches);
}

Event IpcSensor::StartupEvent() {
  Event e;
  auto set = [&e](std::string_view name, std::string value) {
    e.values[static_cast<size_t>(FieldPosition(name))] = std::move(value);
  };
  set("pipe_name", R"(\\.\pipe\ringfence_sensor_ctl)");
  set("image_path", R"(C:\Program Files\ringfence\sensor.exe)");
  set("parent_image", R"(C:\Windows\System32\services.exe)");
  set("integrity_level", "system");
  set("session_id", "0");
  set("is_remote", "false");
  set("logon_type", "0");
  set("pipe_mode", "message");
  return e;
}

}  // namespace sensor
