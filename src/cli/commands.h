// Registration of the CLI's subcommands. Each Register* adds one subcommand to `app`; when it runs
// it stores its exit code in *exit_code.
#ifndef RINGFENCE_CLI_COMMANDS_H_
#define RINGFENCE_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace rf::cli {

void RegisterCheckCommand(CLI::App& app, int* exit_code);
void RegisterBundleCommand(CLI::App& app, int* exit_code);
void RegisterKeyCommand(CLI::App& app, int* exit_code);

}  // namespace rf::cli

#endif  // RINGFENCE_CLI_COMMANDS_H_
