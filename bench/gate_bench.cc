// One gate tick at production scale: 100 strata × 5 metrics (silence, crash, error incidence,
// p99 exceedance as count metrics; CPU as a sign test), every test receiving events every tick
// (the worst case: a quiet stratum costs nothing). Target (docs/benchmarks.md, "Targets"): < 1 ms per tick.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "rollout/gate.h"

namespace rf::rollout {
namespace {

constexpr int kStrata = 100;

SequentialGate MakeBenchGate() {
  Result<SequentialGate> gate = SequentialGate::Create(
      {MetricSpec::Silence(), MetricSpec::Crash(), MetricSpec::ErrorIncidence(),
       MetricSpec::Count("p99_exceedance", 1.0, false), MetricSpec::SignTest("cpu", 0.52)},
      kStrata, GateOptions{});
  if (!gate.ok()) std::abort();
  return std::move(gate).value();
}

// Feeds one tick of events into every (metric, stratum) test. The counts vary with the tick and
// the stratum so that neither the e-values nor the branches settle into one pattern.
void FeedTick(SequentialGate& gate, int64_t tick) {
  for (int s = 0; s < kStrata; ++s) {
    const int64_t treated = 1'000 + 10 * s + tick % 97;
    const int64_t control = 100'000 + 1'000 * s;
    if (!gate.SetAtRisk(s, treated, control).ok()) std::abort();
    for (int m = 0; m < 4; ++m) {
      const int64_t x = (tick + s + m) % 3;
      const int64_t y = 1 + (tick * 7 + s + m) % 5;
      if (!gate.AddCountEvents(m, s, x, y).ok()) std::abort();
    }
    if (!gate.AddSignPairs(4, s, 3 + (tick + s) % 4, 3 + (tick + 2 * s) % 4, 1).ok()) std::abort();
  }
}

// Inputs + Tick + Decide: what a controller does every 10 s.
void BM_GateTick100x5(benchmark::State& state) {
  SequentialGate gate = MakeBenchGate();
  int64_t tick = 0;
  const HealthSignals health;
  for (auto _ : state) {
    FeedTick(gate, tick++);
    gate.Tick();
    Decision d = gate.Decide(health);
    benchmark::DoNotOptimize(d);
  }
  state.counters["tests"] = 5 * (kStrata + 1);
}
BENCHMARK(BM_GateTick100x5);

// Decide alone (e.g. called again after HealthSignals change between ticks).
void BM_GateDecide100x5(benchmark::State& state) {
  SequentialGate gate = MakeBenchGate();
  FeedTick(gate, 0);
  gate.Tick();
  const HealthSignals health;
  for (auto _ : state) {
    Decision d = gate.Decide(health);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_GateDecide100x5);

}  // namespace
}  // namespace rf::rollout

BENCHMARK_MAIN();
