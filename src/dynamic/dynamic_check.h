// Layer 2: run the real consumers on the content, in a sandbox, and measure them.
//
// Each consumer build is a program speaking the consumer process protocol (docs/sdk.md). For each
// one RunDynamicChecks runs, each in a fresh sandboxed process (src/platform/process.h, docs/process.md):
//   1. `manifest`, recorded in the report;
//   2. `replay` of the bundle exactly as shipped over every generated event (event_synth.h) plus
//      the replay corpus;
//   3. for bundles of up to per_item_limit items, `replay` of each item alone (a one-item payload)
//      over that item's generated events plus the corpus, so a crash names the item and CPU time
//      and peak RSS are measured per item; larger bundles are bisected instead when run 2 fails.
// A run fails on a signal (crash), the CPU budget (RLIMIT_CPU), the wall-time limit, or a
// non-zero exit (the consumer refused the content). The bundle is accepted when every run of
// every consumer passes. The checker itself never crashes or hangs on consumer behaviour: output
// is capped and parsed defensively, every run is bounded by the wall-time limit.
//
//   DynamicCheckInput in{.type = &type, .bundle = &bundle, .payload = payload,
//                        .consumers = {{"legacy", {"/opt/sensor", "--integration", "legacy"}}}};
//   Result<DynamicReport> r = RunDynamicChecks(in, {});
//   std::string json = DynamicReportJson(*r);        // canonical: the attested bytes
//   crypto::Envelope att = MakeDynamicAttestation(json, &key);
#ifndef RINGFENCE_DYNAMIC_DYNAMIC_CHECK_H_
#define RINGFENCE_DYNAMIC_DYNAMIC_CHECK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"
#include "core/status.h"
#include "crypto/dsse.h"
#include "platform/env.h"
#include "platform/process.h"

namespace rf::dynamic {

inline constexpr std::string_view kDynamicReportPayloadType =
    "application/vnd.ringfence.dynamic-report+json";

struct ConsumerSpec {
  std::string name;               // for people, e.g. "sensor 7.11"; defaults to the command
  std::vector<std::string> argv;  // program and its fixed flags; the protocol command follows
};

struct DynamicCheckOptions {
  // Per run. Defaults suit a small interpreter; raise address_space for big consumers, set it to 0
  // for ASan-instrumented consumers (ASan reserves terabytes of address space).
  ResourceLimits limits = {.cpu_seconds = 2,
                           .address_space_bytes = int64_t{1} << 30,
                           .open_files = 64,
                           .processes = 1,  // no fork; threads count too
                           .file_size_bytes = int64_t{16} << 20};
  int64_t wall_timeout_ms = 10'000;    // per run; must exceed cpu_seconds to tell the two apart
  size_t max_output_bytes = 1 << 20;   // per stream per run
  size_t per_item_limit = 1000;        // run items one by one up to this many items
  bool isolate_network = true;         // new network namespace where the kernel permits
  std::string work_dir;                // where payload/event files go; "" = a fresh temp dir
};

struct DynamicCheckInput {
  const ContentType* type = nullptr;  // required
  const Bundle* bundle = nullptr;     // required; decoded from `payload`
  std::string_view payload;           // canonical payload bytes, as shipped
  std::string_view corpus;            // replay corpus: JSON lines (docs/sdk.md); may be empty
  std::vector<ConsumerSpec> consumers;  // at least one
};

enum class RunOutcome { kPass, kCrash, kCpuLimit, kTimeout, kRefused, kError };
std::string_view RunOutcomeName(RunOutcome o);  // "pass", "crash", "cpu_limit", ...

struct RunRecord {
  std::string scope;  // "manifest", "bundle", an item id, or "items[a..b)" (bisection)
  RunOutcome outcome = RunOutcome::kPass;
  int exit_code = -1;
  std::string signal;  // "SIGSEGV", or ""
  int64_t cpu_ms = 0, max_rss_kb = 0, wall_ms = 0;
  int64_t events = 0;          // events handed to the consumer
  int64_t events_done = 0;     // result lines it printed before finishing or dying
  int matched_own_event = -1;  // item runs: 1/0 whether the item matched its match event
  std::string detail;          // last line of stderr, or why the run is an error
};

struct ConsumerReport {
  std::string name;
  std::vector<std::string> argv;
  std::string manifest;  // as printed (validated JSON object), or ""
  bool network_isolated = false;
  bool passed = true;
  std::vector<RunRecord> runs;
  std::vector<std::string> failing_items;  // item ids named by item or bisection runs
};

struct DynamicReport {
  bool accepted = true;
  std::string bundle_sha256, channel, content_type;
  int64_t version = 0;
  int64_t items = 0, generated_events = 0, corpus_events = 0;
  DynamicCheckOptions options;  // the limits used (work_dir is not reported)
  std::vector<ConsumerReport> consumers;
};

// Runs every consumer as described above. Errors only for unusable input (no consumers, missing
// type or bundle, a work directory that cannot be made, a consumer program that cannot be
// started); every behaviour of a started consumer is a finding in the report.
Result<DynamicReport> RunDynamicChecks(const DynamicCheckInput& input, const DynamicCheckOptions& options,
                                       Env env);

// Canonical JSON (keys sorted bytewise, no whitespace, integers only), docs/dynamic-checks.md.
std::string DynamicReportJson(const DynamicReport& report);
// A human-readable summary with one table row per run.
std::string DynamicReportText(const DynamicReport& report);
// A DSSE envelope of `report_json` with payloadType kDynamicReportPayloadType, signed by `key`
// when it is not null.
crypto::Envelope MakeDynamicAttestation(std::string report_json, const crypto::SigningKey* key);

// The consumer build a `--consumer` command line names: the line split by rf::SplitCommandLine
// (docs/process.md "Command lines", the same split as the agent's), named after the line.
// InvalidArgument when the line does not split or has no words.
Result<ConsumerSpec> ConsumerSpecFromCommandLine(std::string_view command_line);

}  // namespace rf::dynamic

#endif  // RINGFENCE_DYNAMIC_DYNAMIC_CHECK_H_
