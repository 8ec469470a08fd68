// `ringfence sim`: run a simulation scenario and report what each rollout policy would do.
//
//   ringfence sim SCENARIO.yaml [--policy NAME] [--seed N] [--runs N] [--format text|json]
//                 [--skip-layer1] [--compare] [--harm-budget B]
//
// Exit codes: 0 the simulation ran (whatever it found, including a layer-1 rejection, which is
// reported as the release not shipping); 2 unusable input (scenario, plan, type or bundle file,
// flags).
#ifndef RINGFENCE_SIM_SIM_COMMAND_H_
#define RINGFENCE_SIM_SIM_COMMAND_H_

#include <cstdint>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "platform/env.h"

namespace rf::sim {

struct SimFlags {
  std::string scenario;
  std::string policy = "ringfence";
  uint64_t seed = 1;
  int runs = 1;
  std::string format = "text";
  bool skip_layer1 = false;
  bool compare = false;  // every policy, one table
  std::string html;      // also write the comparison as a self-contained HTML page here ("" = no)
  // Diagnostics: override the gate's harm budget B of the PROMOTE bound (0 = the gate default).
  double harm_budget = 0;
};

// Adds the `sim` subcommand to `app`; its callback stores its exit code in *exit_code.
void RegisterSimCommand(CLI::App& app, int* exit_code);

// The command itself, for tests: reads files through `fs`, writes the report to `out` and
// problems to `err`, returns the exit code.
int RunSimCommand(const SimFlags& flags, Filesystem& fs, std::ostream& out, std::ostream& err);

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_SIM_COMMAND_H_
