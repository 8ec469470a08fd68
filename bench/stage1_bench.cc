// Layer 1 on a 100,000-item bundle: the issue's target is "a 100,000-item bundle fully checked in
// under 1 s" (docs/benchmarks.md, "Targets"). Numbers and how to run: docs/benchmarks.md.
//
// The bundle is generated from the shipped ipc_rule type (samples/content/ipc_rule.type.yaml):
// every item has a distinct pipe_name regex, a few glob/enum/int/bool/prefix values and
// wildcards elsewhere; about 3% of items set peer_pipe_regex (position 20), which the shipped
// fleet's 7.11/7.15 consumers do not supply, so the check rejects the bundle exactly as it should
// have rejected Channel File 291, along with max_items and max_bundle_bytes. Every item is still
// fully checked: the per-check finding cap only limits what is reported.
//
// Each benchmark iteration processes all 100,000 items, so "Time" is seconds per 100k and
// items_per_second is the throughput.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"
#include "core/fleet.h"
#include "core/regex_cost.h"
#include "core/stage1.h"
#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "ipc_rule_generator.h"
#include "platform/parallel.h"

namespace rf {
namespace {

constexpr int kItems = 100'000;
constexpr uint64_t kSeed = 20240719;  // fixed: every run checks the same bundle

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "stage1_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string ReadSourceFile(const std::string& relative) {
  const std::string path = std::string(RF_SOURCE_DIR) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

using bench::GenerateIpcRuleSource;

struct Corpus {
  ContentType type;              // the shipped ipc_rule type (regex_engine: re2)
  ContentType backtracking;      // the same type with regex_engine: backtracking (ecmascript)
  ContentType pcre2;             // the same type with regex_engine: pcre2
  Fleet fleet;                   // samples/content/fleet.json
  std::string source;            // bundle source YAML, all 21 fields written out
  std::string compact_source;    // the same items with wildcard fields left out, as authors write
                                 // them (a consumer treats absent and wildcard alike)
  std::string payload;           // its canonical JSON payload
  std::string envelope;          // the payload in a signed DSSE envelope (a built bundle)
  Bundle bundle;                 // decoded
  std::vector<std::string> patterns;  // every distinct regex of the bundle
};

const Corpus& GetCorpus() {
  static const Corpus* corpus = [] {
    auto* c = new Corpus;
    const std::string type_text = ReadSourceFile("samples/content/ipc_rule.type.yaml");
    auto type = ParseContentType(type_text, "ipc_rule.type.yaml");
    if (!type.ok()) Die(type.status().ToString());
    c->type = std::move(*type);
    std::string bt_text = type_text;
    const std::string re2_line = "regex_engine: re2";
    const size_t at = bt_text.find(re2_line);
    if (at == std::string::npos) Die("the shipped type no longer says 'regex_engine: re2'");
    bt_text.replace(at, re2_line.size(), "regex_engine: backtracking");
    auto bt = ParseContentType(bt_text, "ipc_rule_backtracking.type.yaml");
    if (!bt.ok()) Die(bt.status().ToString());
    c->backtracking = std::move(*bt);
    bt_text.replace(bt_text.find("regex_engine: backtracking"), 26, "regex_engine: pcre2");
    auto pc = ParseContentType(bt_text, "ipc_rule_pcre2.type.yaml");
    if (!pc.ok()) Die(pc.status().ToString());
    c->pcre2 = std::move(*pc);
    auto fleet = ParseFleetJson(ReadSourceFile("samples/content/fleet.json"), "fleet.json");
    if (!fleet.ok()) Die(fleet.status().ToString());
    c->fleet = std::move(*fleet);

    c->source = GenerateIpcRuleSource(kItems, kSeed);
    c->compact_source.reserve(c->source.size() / 2);
    for (size_t i = 0; i < c->source.size();) {
      size_t next = c->source.find(": \"*\"", i);
      if (next == std::string::npos) {
        c->compact_source.append(c->source, i, std::string::npos);
        break;
      }
      size_t key = c->source.rfind(", ", next);  // ", name: \"*\"" -> ""
      c->compact_source.append(c->source, i, key - i);
      i = next + 5;
    }
    std::vector<Finding> findings;
    auto b = DecodeBundleSource(c->source, "bench.yaml", c->type, &findings);
    if (!b.ok()) Die(b.status().ToString());
    if (!findings.empty()) Die("generated bundle has decode findings: " + findings[0].message);
    c->bundle = std::move(*b);
    c->payload = EncodeCanonicalPayload(c->bundle, c->type);
    crypto::Envelope env;
    env.payload_type = std::string(crypto::kBundlePayloadType);
    env.payload = c->payload;
    crypto::SignEnvelope(&env, crypto::SigningKey::Generate());
    c->envelope = crypto::SerializeEnvelope(env);
    for (const Item& item : c->bundle.items) {
      for (size_t pos = 0; pos < c->type.fields.size(); ++pos) {
        if (c->type.fields[pos].type == FieldType::kRegex &&
            item.values[pos].kind == FieldValue::Kind::kString) {
          c->patterns.push_back(item.values[pos].s);
        }
      }
    }
    return c;
  }();
  return *corpus;
}

// parallel: compile regexes on every core via ParallelFor, as `ringfence check` does.
StageOneReport Check(const ContentType& type, const Bundle& bundle, size_t payload_bytes,
                     std::vector<Finding> decode_findings, bool parallel = false) {
  const Corpus& c = GetCorpus();
  StageOneInput in;
  in.type = &type;
  in.bundle = &bundle;
  in.payload_bytes = payload_bytes;
  in.fleet = &c.fleet;
  StageOneOptions options;
  if (parallel) {
    options.parallel_for = [](size_t n, const std::function<void(size_t)>& fn) { ParallelFor(n, fn); };
  }
  return RunStageOne(in, std::move(decode_findings), options);
}

void Report(benchmark::State& state, size_t bytes, const StageOneReport* r) {
  state.SetItemsProcessed(state.iterations() * kItems);
  if (bytes) {
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
    state.counters["input_bytes"] = static_cast<double>(bytes);
  }
  if (r) {
    state.counters["errors"] = static_cast<double>(r->errors);
    state.counters["accepted"] = r->accepted ? 1 : 0;
  }
}

// --- components --------------------------------------------------------------------------------

void BM_DecodeSource(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  for (auto _ : state) {
    std::vector<Finding> findings;
    auto b = DecodeBundleSource(c.source, "bench.yaml", c.type, &findings);
    if (!b.ok()) {
      state.SkipWithError(b.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(b);
  }
  Report(state, c.source.size(), nullptr);
}
BENCHMARK(BM_DecodeSource)->Unit(benchmark::kMillisecond);

// Includes the canonical re-encode DecodeBundlePayload does to refuse non-canonical payloads.
void BM_DecodePayload(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  for (auto _ : state) {
    std::vector<Finding> findings;
    auto b = DecodeBundlePayload(c.payload, c.type, &findings);
    if (!b.ok()) {
      state.SkipWithError(b.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(b);
  }
  Report(state, c.payload.size(), nullptr);
}
BENCHMARK(BM_DecodePayload)->Unit(benchmark::kMillisecond);

void BM_EncodeCanonicalPayload(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  for (auto _ : state) {
    std::string p = EncodeCanonicalPayload(c.bundle, c.type);
    benchmark::DoNotOptimize(p);
  }
  Report(state, c.payload.size(), nullptr);
}
BENCHMARK(BM_EncodeCanonicalPayload)->Unit(benchmark::kMillisecond);

// Every check, with the shipped fleet (consumer contract included), on an already decoded bundle.
void BM_RunStageOne(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  StageOneReport r;
  for (auto _ : state) {
    r = Check(c.type, c.bundle, c.payload.size(), {});
    benchmark::DoNotOptimize(r);
  }
  Report(state, 0, &r);
}
BENCHMARK(BM_RunStageOne)->Unit(benchmark::kMillisecond);

// The part of RunStageOne that compiles every distinct regex under RE2 (~103,000 patterns).
void BM_CompileRe2(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  for (auto _ : state) {
    size_t ok = 0;
    for (const std::string& p : c.patterns) ok += CompileRe2(p).ok();
    benchmark::DoNotOptimize(ok);
  }
  Report(state, 0, nullptr);
}
BENCHMARK(BM_CompileRe2)->Unit(benchmark::kMillisecond);

// The bundle identity the CLI prints; not part of stage 1 proper.
void BM_Sha256Payload(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  for (auto _ : state) {
    std::string d = crypto::Sha256Hex(c.payload);
    benchmark::DoNotOptimize(d);
  }
  Report(state, c.payload.size(), nullptr);
}
BENCHMARK(BM_Sha256Payload)->Unit(benchmark::kMillisecond);

// --- the full check, end to end (in memory: no file reads, no report printing) ----------------

// Source form, as CheckBundleSource: decode + canonical encode (for the size limit) + stage 1.
// `source` selects the text: every field spelled out, or wildcard fields omitted as authors write
// them (13.5 MB instead of 47 MB). Arg: 0 = one thread; 1 = regexes and value checks on every
// core (wall time is what matters).
void CheckSourceEndToEnd(benchmark::State& state, std::string Corpus::*source) {
  const Corpus& c = GetCorpus();
  const std::string& text = c.*source;
  StageOneReport r;
  for (auto _ : state) {
    std::vector<Finding> findings;
    auto b = DecodeBundleSource(text, "bench.yaml", c.type, &findings);
    if (!b.ok()) {
      state.SkipWithError(b.status().ToString().c_str());
      break;
    }
    const std::string payload = EncodeCanonicalPayload(*b, c.type);
    r = Check(c.type, *b, payload.size(), std::move(findings), state.range(0) != 0);
    benchmark::DoNotOptimize(r);
  }
  Report(state, text.size(), &r);
}
void BM_CheckSource_EndToEnd(benchmark::State& state) { CheckSourceEndToEnd(state, &Corpus::source); }
void BM_CheckCompactSource_EndToEnd(benchmark::State& state) {
  CheckSourceEndToEnd(state, &Corpus::compact_source);
}
BENCHMARK(BM_CheckSource_EndToEnd)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CheckCompactSource_EndToEnd)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// Payload form: decode (whose canonical check is the canonical encode) + stage 1.
void BM_CheckPayload_EndToEnd(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  StageOneReport r;
  for (auto _ : state) {
    std::vector<Finding> findings;
    auto b = DecodeBundlePayload(c.payload, c.type, &findings);
    if (!b.ok()) {
      state.SkipWithError(b.status().ToString().c_str());
      break;
    }
    r = Check(c.type, *b, c.payload.size(), std::move(findings), state.range(0) != 0);
    benchmark::DoNotOptimize(r);
  }
  Report(state, c.payload.size(), &r);
}
// Arg: 0 = one thread; 1 = regexes compiled on every core (wall time is what matters).
BENCHMARK(BM_CheckPayload_EndToEnd)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// What `ringfence check built.json` does in memory: envelope (base64) + payload decode + stage 1
// + the SHA-256 identity.
void BM_CheckEnvelope_EndToEnd(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  StageOneReport r;
  for (auto _ : state) {
    auto env = crypto::ParseEnvelope(c.envelope);
    if (!env.ok()) {
      state.SkipWithError(env.status().ToString().c_str());
      break;
    }
    std::vector<Finding> findings;
    auto b = DecodeBundlePayload(env->payload, c.type, &findings);
    if (!b.ok()) {
      state.SkipWithError(b.status().ToString().c_str());
      break;
    }
    r = Check(c.type, *b, env->payload.size(), std::move(findings), state.range(0) != 0);
    std::string digest = crypto::Sha256Hex(env->payload);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(digest);
  }
  Report(state, c.envelope.size(), &r);
}
// Arg: 0 = one thread; 1 = regexes compiled on every core (wall time is what matters).
BENCHMARK(BM_CheckEnvelope_EndToEnd)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// --- regex_engine: backtracking: every distinct pattern gets the worst-case cost analysis ------

// AnalyzeBacktrackingCost alone, over every regex value of the bundle (~103,000 patterns).
void BM_AnalyzeBacktrackingCost(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  size_t linear = 0;
  for (auto _ : state) {
    linear = 0;
    for (const std::string& p : c.patterns) {
      linear += AnalyzeBacktrackingCost(p).cost == RegexCost::kLinear;
    }
    benchmark::DoNotOptimize(linear);
  }
  Report(state, 0, nullptr);
  state.counters["patterns"] = static_cast<double>(c.patterns.size());
  state.counters["linear"] = static_cast<double>(linear);
}
BENCHMARK(BM_AnalyzeBacktrackingCost)->Unit(benchmark::kMillisecond);

// The ECMAScript (std::regex) compile check stage 1 also runs on every linear pattern.
void BM_CompileEcmaScript(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  for (auto _ : state) {
    size_t ok = 0;
    for (const std::string& p : c.patterns) ok += CompileEcmaScript(p).ok();
    benchmark::DoNotOptimize(ok);
  }
  Report(state, 0, nullptr);
}
BENCHMARK(BM_CompileEcmaScript)->Unit(benchmark::kMillisecond);

// Stage 1 under the backtracking engine: cost analysis plus the ECMAScript compile check.
// Arg: 0 = one thread; 1 = regexes analysed and compiled on every core (StageOneOptions::
// parallel_for, as `ringfence check` does; wall time is what matters).
void BM_RunStageOne_Backtracking(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  StageOneReport r;
  for (auto _ : state) {
    r = Check(c.backtracking, c.bundle, c.payload.size(), {}, state.range(0) != 0);
    benchmark::DoNotOptimize(r);
  }
  Report(state, 0, &r);
}
BENCHMARK(BM_RunStageOne_Backtracking)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// Stage 1 under regex_engine: pcre2: PCRE2 compile check plus the analysis in the PCRE2 dialect.
// Arg: 0 = one thread; 1 = regexes analysed on every core.
void BM_RunStageOne_Pcre2(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  StageOneReport r;
  StageOneOptions o;
  if (state.range(0)) {
    o.parallel_for = [](size_t n, const std::function<void(size_t)>& fn) { ParallelFor(n, fn); };
  }
  for (auto _ : state) {
    r = RunStageOne({&c.pcre2, &c.bundle, c.payload.size(), nullptr, 0, nullptr}, {}, o);
    benchmark::DoNotOptimize(r);
  }
  Report(state, 0, &r);
}
BENCHMARK(BM_RunStageOne_Pcre2)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_CheckSource_EndToEnd_Backtracking(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  StageOneReport r;
  for (auto _ : state) {
    std::vector<Finding> findings;
    auto b = DecodeBundleSource(c.source, "bench.yaml", c.backtracking, &findings);
    if (!b.ok()) {
      state.SkipWithError(b.status().ToString().c_str());
      break;
    }
    const std::string payload = EncodeCanonicalPayload(*b, c.backtracking);
    r = Check(c.backtracking, *b, payload.size(), std::move(findings));
    benchmark::DoNotOptimize(r);
  }
  Report(state, c.source.size(), &r);
}
BENCHMARK(BM_CheckSource_EndToEnd_Backtracking)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rf

BENCHMARK_MAIN();
