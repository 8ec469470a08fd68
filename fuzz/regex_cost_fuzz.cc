// Fuzzes the backtracking-cost analysis. It must terminate quickly and never crash on any pattern
// up to 512 bytes (the longest regex field of the shipped type); scripts/fuzz.sh runs this target
// with a per-input timeout so "terminates" is checked, not assumed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/regex_cost.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 512) return 0;
  const std::string_view pattern(reinterpret_cast<const char*>(data), size);
  rf::RegexCostReport r = rf::AnalyzeBacktrackingCost(pattern);
  RF_FUZZ_CHECK(r.cost == rf::RegexCost::kLinear || !r.reason.empty(),
                "a non-linear verdict without a reason");
  return 0;
}
