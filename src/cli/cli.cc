#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>

namespace rf::cli {

int Main(int argc, char** argv) {
  CLI::App app{"ringfence: ship content to fleets without breaking them"};
  app.require_subcommand(1);
  app.add_subcommand("version", "print the version")->callback([] { std::cout << "ringfence 0.1.0\n"; });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return 0;
}

}  // namespace rf::cli
