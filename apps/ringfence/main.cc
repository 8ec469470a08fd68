// The `ringfence` command: see `ringfence --help` and src/cli/.
#include "cli/cli.h"

int main(int argc, char** argv) { return rf::cli::Main(argc, argv); }
