#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#ifdef RF_HAVE_SIM
#include "sim/sim_command.h"
#endif
#ifdef RF_HAVE_SERVER
#include "cli/server_command.h"
#endif
#ifdef RF_HAVE_DEMO
#include "demo/demo_command.h"
#endif

namespace rf::cli {

// remote_command.cc: verbs against the server's operator API (--server, --token).
void RegisterRemoteCommands(CLI::App& app, int* exit_code);

int Main(int argc, char** argv) {
  CLI::App app{"ringfence: ship content to fleets so that a bad file harms as few devices as possible"};
  app.require_subcommand(1);
  int exit_code = kExitOk;
  app.add_subcommand("version", "print the version")->callback([] {
    std::cout << "ringfence 0.1.0\n";
  });
  RegisterCheckCommand(app, &exit_code);
  RegisterBundleCommand(app, &exit_code);
  RegisterKeyCommand(app, &exit_code);
  RegisterRemoteCommands(app, &exit_code);  // after RegisterBundleCommand: adds `bundle upload`
#ifdef RF_HAVE_SIM
  rf::sim::RegisterSimCommand(app, &exit_code);
#endif
#ifdef RF_HAVE_SERVER
  rf::server::RegisterServerCommand(app, &exit_code);
#endif
#ifdef RF_HAVE_DEMO
  rf::demo::RegisterDemoCommand(app, &exit_code);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUnusable;
  }
  return exit_code;
}

}  // namespace rf::cli
