// Fuzzes the backtracking-cost analysis in both dialects (ECMAScript and PCRE2) and both modes.
// It must terminate quickly and never crash on any pattern up to 512 bytes (the longest regex
// field of the shipped type); scripts/fuzz.sh runs this target with a per-input timeout so
// "terminates" is checked, not assumed. Every input is analysed in all four combinations, so the
// seeds (fuzz/corpus/regex_cost_fuzz, including the slow_* regressions) keep their meaning.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/regex_cost.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 512) return 0;
  const std::string_view pattern(reinterpret_cast<const char*>(data), size);
  for (int combo = 0; combo < 4; ++combo) {
    rf::RegexCostOptions o;
    o.dialect = (combo & 1) ? rf::RegexDialect::kPcre2 : rf::RegexDialect::kEcmaScript;
    o.mode = (combo & 2) ? rf::RegexMode::kMatch : rf::RegexMode::kSearch;
    rf::RegexCostReport r = rf::AnalyzeBacktrackingCost(pattern, o);
    RF_FUZZ_CHECK(r.cost == rf::RegexCost::kLinear || !r.reason.empty(),
                  "a non-linear verdict without a reason");
    RF_FUZZ_CHECK(r.cost == rf::RegexCost::kPolynomial ? r.degree >= 2 : r.degree == 0,
                  "a degree without a polynomial verdict, or a polynomial one without a degree");
    if (r.attack) {
      RF_FUZZ_CHECK(!r.attack->pump.empty(), "an attack with an empty pump");
      RF_FUZZ_CHECK(r.cost == rf::RegexCost::kPolynomial || r.cost == rf::RegexCost::kExponential,
                    "an attack on a pattern not found super-linear");
    }
  }
  return 0;
}
