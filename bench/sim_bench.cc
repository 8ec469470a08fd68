// The fleet simulator at 10 million devices. Target (docs/benchmarks.md, "Targets"): 10,000,000
// devices through a full plan in under 10 s on 2 cores. Numbers: docs/simulator.md.
//
// Each iteration is one complete simulation run (seed = iteration), including what the ringfence
// policy does at release time: ranking all 10 M devices (SipHash-2-4 per device id) and building
// the cohorts. Single-threaded.
//
//   BM_Cf291Ringfence          cf291.yaml, layer 1 skipped: 8.54 M eligible, halted in the canary
//   BM_GoodReleaseFullPlan     good-release.yaml, standard plan, all 6 waves to Completed (10 M
//                              exposed, 8.5 simulated hours). The gate's PROMOTE bound is
//                              neutralised (harm budget 1e12): with the default bound the release
//                              stalls in wave 1 (docs/simulator.md, "Findings").
//   BM_GoodReleaseDefaultGate  the same with the default gate: stalls, simulated to the 8-day horizon
//   BM_Cf291AllAtOnce          cf291.yaml, everyone at once: 8.5 M devices fail
//   BM_Cf291PhasedRelease      cf291.yaml, 7-day phased release: 8 simulated days
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "platform/env.h"
#include "sim/runner.h"
#include "sim/scenario.h"

namespace rf::sim {
namespace {

struct Loaded {
  Scenario scenario;
  ScenarioFiles files;
  rollout::Plan plan;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "sim_bench: %s\n", what.c_str());
  std::exit(1);
}

const Loaded& Load(const std::string& name) {
  static std::map<std::string, Loaded>* cache = new std::map<std::string, Loaded>();
  auto it = cache->find(name);
  if (it != cache->end()) return it->second;
  Env env = PosixEnv();
  const std::string path = std::string(RF_SOURCE_DIR) + "/samples/scenarios/" + name + ".yaml";
  auto text = env.fs->ReadFile(path, kMaxScenarioFileBytes);
  if (!text.ok()) Die(text.status().ToString());
  auto s = ParseScenario(*text, path);
  if (!s.ok()) Die(s.status().ToString());
  auto files = LoadScenarioFiles(*s, *env.fs);
  if (!files.ok()) Die(files.status().ToString());
  auto plan = rollout::ParsePlan(files->plan_text, s->plan_path);
  if (!plan.ok()) Die(plan.status().ToString());
  return cache->emplace(name, Loaded{*std::move(s), *std::move(files), *std::move(plan)})
      .first->second;
}

void RunPolicy(benchmark::State& state, const std::string& scenario, const std::string& policy,
               double harm_budget) {
  const Loaded& l = Load(scenario);
  SimulationOptions options;
  options.silence_after_micros = l.plan.gate.silence_after_micros;
  RingfencePolicyOptions rf_options;
  if (harm_budget > 0) rf_options.gate.harm_budget = harm_budget;
  uint64_t seed = 1;
  int64_t exposed = 0, harmed = 0, simulated = 0;
  for (auto _ : state) {
    auto p = MakePolicy(policy, l.plan, rf_options);
    if (!p.ok()) Die(p.status().ToString());
    auto r = RunSimulation(l.scenario, **p, options, seed++);
    if (!r.ok()) Die(r.status().ToString());
    exposed = r->exposed;
    harmed = r->harmed;
    simulated = r->end_micros;
    benchmark::DoNotOptimize(r->harmed);
  }
  state.counters["devices"] = static_cast<double>(l.scenario.fleet.devices);
  state.counters["exposed"] = static_cast<double>(exposed);
  state.counters["harmed"] = static_cast<double>(harmed);
  state.counters["simulated_h"] = static_cast<double>(simulated) / 3600e6;
}

void BM_Cf291Ringfence(benchmark::State& state) { RunPolicy(state, "cf291", "ringfence", 0); }
void BM_GoodReleaseFullPlan(benchmark::State& state) {
  RunPolicy(state, "good-release", "ringfence", 1e12);
}
void BM_GoodReleaseDefaultGate(benchmark::State& state) {
  RunPolicy(state, "good-release", "ringfence", 0);
}
void BM_Cf291AllAtOnce(benchmark::State& state) { RunPolicy(state, "cf291", "all-at-once", 0); }
void BM_Cf291PhasedRelease(benchmark::State& state) {
  RunPolicy(state, "cf291", "phased-7day", 0);
}

BENCHMARK(BM_Cf291Ringfence)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_GoodReleaseFullPlan)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_GoodReleaseDefaultGate)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Cf291AllAtOnce)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_Cf291PhasedRelease)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace rf::sim

BENCHMARK_MAIN();
