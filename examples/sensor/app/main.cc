// ringfence-sensor: the example ipc_rule consumer as a process speaking the consumer process
// protocol (docs/sdk.md): manifest | validate FILE | load FILE | replay FILE EVENTS.
//
//   ringfence-sensor [--integration legacy|correct] [--regex-engine re2|backtracking] COMMAND ...
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "examples/sensor/ipc_sensor.h"

#ifndef RF_SENSOR_DEFAULT_INTEGRATION
#define RF_SENSOR_DEFAULT_INTEGRATION "correct"
#endif

// Under AddressSanitizer, let the legacy integration's out-of-bounds read kill the process with
// SIGSEGV, as it does in every other build, instead of ASan's report-and-exit(1).
extern "C" const char* __asan_default_options() { return "handle_segv=0:handle_sigbus=0"; }

int main(int argc, char** argv) {
  sensor::SensorOptions options;
  (void)sensor::ParseIntegration(RF_SENSOR_DEFAULT_INTEGRATION, &options.integration);
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view flag, std::string_view* out) {
      if (a == flag && i + 1 < argc) {
        *out = argv[++i];
        return true;
      }
      if (a.size() > flag.size() && a.substr(0, flag.size()) == flag && a[flag.size()] == '=') {
        *out = a.substr(flag.size() + 1);
        return true;
      }
      return false;
    };
    std::string_view v;
    if (value("--integration", &v)) {
      if (!sensor::ParseIntegration(v, &options.integration)) {
        std::fprintf(stderr, "ringfence-sensor: --integration must be legacy or correct\n");
        return 2;
      }
    } else if (value("--regex-engine", &v)) {
      if (!sensor::ParseRegexEngine(v, &options.regex_engine)) {
        std::fprintf(stderr, "ringfence-sensor: --regex-engine must be re2 or backtracking\n");
        return 2;
      }
    } else {
      rest.push_back(argv[i]);
    }
  }
  sensor::IpcSensor sensor(options);
  ringfence::ConsumerHandle handle;
  if (ringfence::Outcome o = ringfence::ConsumerHandle::Bind(sensor, &handle); !o.ok()) {
    std::fprintf(stderr, "ringfence-sensor: %s\n", o.message().c_str());
    return 2;
  }
  rest.push_back(nullptr);
  return handle.Main(static_cast<int>(rest.size()) - 1, rest.data());
}
