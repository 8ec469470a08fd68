#include "demo/demo_command.h"

#include <signal.h>

#include <atomic>
#include <iostream>
#include <memory>

#include "demo/demo.h"
#include "demo/process_group.h"
#include "platform/env.h"

namespace rf::demo {
namespace {

std::atomic<bool> g_interrupted{false};

// SIGINT/SIGTERM: every child process group dies at once (kill is async-signal-safe); the runs see
// the flag, reap, remove their temp dirs and the command exits 130.
void OnSignal(int) {
  g_interrupted.store(true);
  KillAllProcessGroups();
}

struct Flags {
  DemoOptions options;
  std::vector<std::string> layers;
  std::string format = "text";
};

int Execute(Flags& f) {
  for (const auto& spec : f.layers) {
    auto runs = ParseLayerSpec(spec);
    if (!runs.ok()) {
      std::cerr << "ringfence demo: " << runs.status().message() << "\n";
      return 2;
    }
    f.options.runs.insert(f.options.runs.end(), runs->begin(), runs->end());
  }
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int = {}, old_term = {};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  f.options.interrupted = &g_interrupted;
  Env env = PosixEnv();
  const int64_t t0 = env.clock->MonotonicMicros();
  auto results = RunDemo(f.options, env, std::cerr);
  const double wall_s = static_cast<double>(env.clock->MonotonicMicros() - t0) / 1e6;
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (g_interrupted.load()) {
    std::cerr << "ringfence demo: interrupted; every process it started is gone\n";
    return 130;
  }
  if (!results.ok()) {
    std::cerr << "ringfence demo: " << results.status().message() << "\n";
    return 2;
  }
  if (f.format == "json") {
    std::cout << DemoJson(*results, wall_s);
  } else {
    std::cout << DemoText(*results, wall_s);
  }
  for (const auto& r : *results) {
    if (!r.error.empty()) return 1;
  }
  return 0;
}

}  // namespace

void RegisterDemoCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Channel File 291 against a real server and hundreds of real agents, layer by layer");
  cmd->add_option("--agents", f->options.agents,
                  "devices (agent processes) per run (default: sized to the machine's cores)")
      ->check(CLI::Range(6, 2000));
  cmd->add_option("--layers", f->layers,
                  "one run per use: all, none, each (every layer alone), 5g (layer 5's guard "
                  "without its pre-flight) or layers like 4 or 1,4,5 (default: all, each, none)");
  cmd->add_option("--format", f->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--parallel", f->options.parallel, "runs at once (default: one per core)")
      ->check(CLI::Range(1, 16));
  cmd->add_option("--work-dir", f->options.work_dir, "where the temp dirs go (default: $TMPDIR)");
  cmd->add_flag("--keep", f->options.keep, "keep the temp dirs (logs, state dirs, databases)");
  cmd->add_option("--agent-bin", f->options.agent_bin, "ringfence-agent binary");
  cmd->add_option("--sensor-bin", f->options.sensor_bin, "ringfence-sensor binary");
  cmd->add_option("--samples", f->options.samples_dir, "directory with cf291.bundle.yaml and ipc_rule.type.yaml");
  cmd->add_option("--reboot-delay-ms", f->options.reboot_delay_ms, "how long a crashed host takes to reboot")
      ->capture_default_str();
  cmd->add_option("--run-timeout", f->options.run_timeout_s, "seconds a run may watch the release")
      ->capture_default_str();
  cmd->callback([f, exit_code] { *exit_code = Execute(*f); });
}

}  // namespace rf::demo
