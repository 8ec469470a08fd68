// `ringfence demo` on the command line: flags, SIGINT handling, output. docs/demo.md.
#ifndef RINGFENCE_DEMO_DEMO_COMMAND_H_
#define RINGFENCE_DEMO_DEMO_COMMAND_H_

#include <CLI/CLI.hpp>

namespace rf::demo {

void RegisterDemoCommand(CLI::App& app, int* exit_code);

}  // namespace rf::demo

#endif  // RINGFENCE_DEMO_DEMO_COMMAND_H_
