// The `ringfence` command line. Each subcommand lives in its own file (check_command.cc, ...).
// Exit codes: 0 success/accepted, 1 rejected (findings printed), 2 unusable input or usage error.
#ifndef RINGFENCE_CLI_CLI_H_
#define RINGFENCE_CLI_CLI_H_

namespace rf::cli {

int Main(int argc, char** argv);

}  // namespace rf::cli

#endif  // RINGFENCE_CLI_CLI_H_
