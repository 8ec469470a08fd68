// Our YAML DOM (rf::yaml::Parse, on libyaml's event parser) against yaml-cpp (YAML::Load) on the
// 100,000-item ipc_rule bundle source of stage1_bench.cc: the measurement behind the parser
// choice stated in src/format/yaml.h. Numbers and how to run: docs/benchmarks.md.
//
// Two measurements per parser: building the document, and building it plus visiting every scalar
// (what a decoder has to do at least), so a lazy representation cannot look better than it is.
// A third, libyaml's event stream with no document at all, is the floor for any libyaml-based DOM.
#include <benchmark/benchmark.h>
#include <yaml.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <random>
#include <string>
#include <string_view>

#include "ipc_rule_generator.h"
#include "format/yaml.h"

namespace rf {
namespace {

constexpr int kItems = 100'000;
constexpr uint64_t kSeed = 20240719;  // the seed of stage1_bench.cc

using bench::GenerateIpcRuleSource;

const std::string& Source() {
  static const std::string* source = new std::string(GenerateIpcRuleSource(kItems, kSeed));
  return *source;
}

// Bytes of scalar text under `n`, visiting every node.
size_t VisitRf(yaml::NodeRef n) {
  if (n.IsScalar()) return n.Text().size();
  size_t total = 0;
  if (n.IsSequence()) {
    n.ForEachItem([&](yaml::NodeRef c) { total += VisitRf(c); });
  } else {
    n.ForEachEntry([&](yaml::NodeRef k, yaml::NodeRef v) { total += k.Text().size() + VisitRf(v); });
  }
  return total;
}

size_t VisitYamlCpp(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return n.Scalar().size();
    case YAML::NodeType::Sequence: {
      size_t total = 0;
      for (const YAML::Node& c : n) total += VisitYamlCpp(c);
      return total;
    }
    case YAML::NodeType::Map: {
      size_t total = 0;
      for (const auto& kv : n) total += kv.first.Scalar().size() + VisitYamlCpp(kv.second);
      return total;
    }
    default:
      return 0;
  }
}

void Report(benchmark::State& state, size_t scalar_bytes) {
  state.SetItemsProcessed(state.iterations() * kItems);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * Source().size()));
  if (scalar_bytes) state.counters["scalar_bytes"] = static_cast<double>(scalar_bytes);
}

void BM_RfYamlParse(benchmark::State& state) {
  const std::string& text = Source();
  for (auto _ : state) {
    auto doc = yaml::Parse(text, "bench.yaml");
    if (!doc.ok()) {
      state.SkipWithError(doc.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(doc);
  }
  Report(state, 0);
}
BENCHMARK(BM_RfYamlParse)->Unit(benchmark::kMillisecond);

void BM_RfYamlParseAndVisit(benchmark::State& state) {
  const std::string& text = Source();
  size_t bytes = 0;
  for (auto _ : state) {
    auto doc = yaml::Parse(text, "bench.yaml");
    if (!doc.ok()) {
      state.SkipWithError(doc.status().ToString().c_str());
      break;
    }
    bytes = VisitRf(doc->root());
    benchmark::DoNotOptimize(bytes);
  }
  Report(state, bytes);
}
BENCHMARK(BM_RfYamlParseAndVisit)->Unit(benchmark::kMillisecond);

// The floor: libyaml's parser, every event pulled and dropped.
void BM_LibyamlEventsOnly(benchmark::State& state) {
  const std::string& text = Source();
  size_t events = 0;
  for (auto _ : state) {
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    events = 0;
    for (bool done = false; !done;) {
      yaml_event_t event;
      if (!yaml_parser_parse(&parser, &event)) {
        state.SkipWithError("libyaml parse error");
        break;
      }
      done = event.type == YAML_STREAM_END_EVENT;
      yaml_event_delete(&event);
      ++events;
    }
    yaml_parser_delete(&parser);
    benchmark::DoNotOptimize(events);
  }
  Report(state, 0);
  state.counters["events"] = static_cast<double>(events);
}
BENCHMARK(BM_LibyamlEventsOnly)->Unit(benchmark::kMillisecond);

// yaml-cpp throws on bad input; the generated source is valid, so any exception is a bench bug.
void BM_YamlCppLoad(benchmark::State& state) {
  const std::string& text = Source();
  for (auto _ : state) {
    YAML::Node doc = YAML::Load(text);
    benchmark::DoNotOptimize(doc);
  }
  Report(state, 0);
}
BENCHMARK(BM_YamlCppLoad)->Unit(benchmark::kMillisecond);

void BM_YamlCppLoadAndVisit(benchmark::State& state) {
  const std::string& text = Source();
  size_t bytes = 0;
  for (auto _ : state) {
    YAML::Node doc = YAML::Load(text);
    bytes = VisitYamlCpp(doc);
    benchmark::DoNotOptimize(bytes);
  }
  Report(state, bytes);
}
BENCHMARK(BM_YamlCppLoadAndVisit)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rf

BENCHMARK_MAIN();
