#include "sim/sim_command.h"

#include <iostream>
#include <memory>

#include "sim/runner.h"
#include "sim/scenario.h"
#include "sim/sim_html.h"

namespace rf::sim {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUnusable = 2;

}  // namespace

int RunSimCommand(const SimFlags& flags, Filesystem& fs, std::ostream& out, std::ostream& err) {
  auto text = fs.ReadFile(flags.scenario, kMaxScenarioFileBytes);
  if (!text.ok()) {
    err << "ringfence sim: " << text.status().message() << "\n";
    return kExitUnusable;
  }
  auto scenario = ParseScenario(*text, flags.scenario);
  if (!scenario.ok()) {
    err << "ringfence sim: " << scenario.status().message() << "\n";
    return kExitUnusable;
  }
  auto files = LoadScenarioFiles(*scenario, fs);
  if (!files.ok()) {
    err << "ringfence sim: " << files.status().message() << "\n";
    return kExitUnusable;
  }
  RunOptions options;
  options.policies = flags.compare ? PolicyNames() : std::vector<std::string>{flags.policy};
  options.seed = flags.seed;
  options.runs = flags.runs;
  options.skip_layer1 = flags.skip_layer1;
  if (flags.harm_budget > 0) options.ringfence.gate.harm_budget = flags.harm_budget;
  auto run = RunScenario(*scenario, *files, options);
  if (!run.ok()) {
    err << "ringfence sim: " << run.status().message() << "\n";
    return kExitUnusable;
  }
  if (!flags.html.empty()) {
    auto page = FormatCompareHtml(*run);
    Status st = page.ok() ? fs.WriteFileAtomic(flags.html, *page, 0644) : page.status();
    if (!st.ok()) {
      err << "ringfence sim: " << st.message() << "\n";
      return kExitUnusable;
    }
    err << "ringfence sim: wrote " << flags.html << "\n";
  }
  if (flags.format == "json") {
    out << FormatJson(*run);
  } else if (flags.compare) {
    out << FormatCompareTable(*run);
  } else {
    out << FormatText(*run);
  }
  return kExitOk;
}

void RegisterSimCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<SimFlags>();
  CLI::App* cmd = app.add_subcommand(
      "sim", "simulate a release on a fleet: devices exposed and harmed, time to halt, per policy");
  cmd->add_option("scenario", flags->scenario, "scenario file (YAML, see docs/simulator.md)")
      ->required();
  cmd->add_option("--policy", flags->policy, "rollout policy to simulate")
      ->check(CLI::IsMember(PolicyNames()));
  cmd->add_option("--seed", flags->seed, "random seed (run i uses seed + i)");
  cmd->add_option("--runs", flags->runs, "number of seeded runs")->check(CLI::Range(1, 1000000));
  cmd->add_option("--format", flags->format, "output format")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_flag("--skip-layer1", flags->skip_layer1,
                "do not run layer 1 on the scenario's bundle: show what the rollout alone does");
  cmd->add_flag("--compare", flags->compare, "run every policy and print one table");
  cmd->add_option("--html", flags->html,
                  "also write one self-contained HTML page: the table and exposed/harmed over time "
                  "per policy, halt marked (docs/simulator.md)");
  cmd->add_option("--harm-budget", flags->harm_budget,
                  "diagnostics: harm budget B of the gate's PROMOTE bound (default: the gate's)")
      ->check(CLI::PositiveNumber);
  cmd->callback([flags, exit_code] {
    Env env = PosixEnv();
    *exit_code = RunSimCommand(*flags, *env.fs, std::cout, std::cerr);
  });
}

}  // namespace rf::sim
