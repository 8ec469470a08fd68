// Layer 1: static checks of a bundle against its content type, its predecessor and the fleet.
//
// RunStageOne is pure and deterministic: the same inputs give the same findings in the same order.
// It checks every field's type and constraints, required fields, unknown fields, item id
// uniqueness, the type's limits (max_items, max_bundle_bytes, unique keys, growth over the
// previous bundle, version order), regexes under the declared engine (and, for backtracking
// engines, their worst-case cost), and the consumer contract against every stratum of the fleet
// that consumes the type: schema version supported, no non-wildcard value at a position the
// consumer does not supply, item count and size within the consumer's own limits. See
// docs/stage1-checks.md for every check id.
//
//   std::vector<Finding> decode;
//   RF_ASSIGN_OR_RETURN(Bundle b, DecodeBundleSource(text, "b.yaml", type, &decode));
//   StageOneReport r = RunStageOne({.type = &type, .bundle = &b, .payload_bytes = n, .fleet = &f},
//                                  std::move(decode));
#ifndef RINGFENCE_CORE_STAGE1_H_
#define RINGFENCE_CORE_STAGE1_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"
#include "core/finding.h"
#include "core/fleet.h"
#include "core/regex_cost.h"

namespace rf {

struct StageOneInput {
  const ContentType* type = nullptr;  // required
  const Bundle* bundle = nullptr;     // required
  size_t payload_bytes = 0;           // size of the canonical payload
  const Bundle* previous = nullptr;   // optional: the channel's current bundle
  size_t previous_payload_bytes = 0;
  const Fleet* fleet = nullptr;       // optional: without it the consumer contract is not checked
};

struct StageOneOptions {
  // Findings of one check beyond this are summarised in one extra finding (keeps reports of a
  // 100,000-item disaster readable); the verdict is unaffected.
  size_t max_findings_per_check = 200;
  RegexCostOptions regex_cost;
  // Runs fn(0..n-1), possibly concurrently, and returns when all calls have returned. Stage 1
  // uses it to compile a bundle's distinct regexes on every core; the core itself starts no
  // threads. Unset: sequential.
  std::function<void(size_t n, const std::function<void(size_t)>& fn)> parallel_for;
};

struct StageOneReport {
  bool accepted = true;  // no error findings
  std::vector<Finding> findings;
  size_t errors = 0, warnings = 0;
  size_t items = 0;
  size_t payload_bytes = 0;
};

// Runs every check. `decode_findings` (from DecodeBundleSource/DecodeBundlePayload) are merged in
// first, so one report holds every problem.
StageOneReport RunStageOne(const StageOneInput& input, std::vector<Finding> decode_findings,
                           const StageOneOptions& options = {});

// Convenience for callers holding source text (the simulator, tests): decode + canonical size +
// RunStageOne. Errors only for unusable input.
Result<StageOneReport> CheckBundleSource(const ContentType& type, std::string_view source_text,
                                         std::string_view filename, const Fleet* fleet,
                                         const StageOneOptions& options = {});

// {"verdict":"accept"|"reject","findings":[{"check","severity","item","field","position",
// "message","devices","strata"}], "items":N, "payload_bytes":N}
std::string StageOneReportJson(const StageOneReport& report, std::string_view digest = {});

// prefix "..", pump ".." repeated, suffix ".." (C-style escapes for non-printable bytes).
std::string DescribeRegexAttack(const RegexAttack& attack);

// 8500000 -> "8,500,000".
std::string FormatCount(int64_t n);

}  // namespace rf

#endif  // RINGFENCE_CORE_STAGE1_H_
