// Internal to src/core: one entry point per backtracking engine, behind RunRegexAttack
// (regex_cost.h). Split by engine so each translation unit includes only its library.
#ifndef RINGFENCE_CORE_REGEX_ENGINES_H_
#define RINGFENCE_CORE_REGEX_ENGINES_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "core/regex_cost.h"
#include "core/status.h"

namespace rf {

// libstdc++'s executor recurses once per input byte or so; above this the default 8 MiB stack
// is at risk, so longer attack inputs are refused rather than run.
inline constexpr size_t kMaxEcmaScriptAttackBytes = 20'000;

Result<std::chrono::nanoseconds> RunEcmaScriptAttack(
    std::string_view pattern, RegexMode mode, std::string_view input,
    const std::function<std::chrono::nanoseconds()>& now);

// PCRE2's "last required code unit" of `pattern` compiled for `mode` (pcre2_pattern_info
// PCRE2_INFO_LASTCODEUNIT): a byte every match contains, which pcre2_match looks for before
// trying any start position, failing at once when the subject lacks it. -1 when it has none or
// the pattern does not compile.
int Pcre2RequiredByte(std::string_view pattern, RegexMode mode);

// Where pcre2_match tries `pattern` when searching (no PCRE2_ANCHORED), read from the compiled
// pattern (pcre2_pattern_info). PCRE2 skips start positions where no match can begin; two of
// those start-up optimisations change the worst case, not only a constant factor:
enum class SearchStarts : uint8_t {
  kAnywhere,    // every start position
  // PCRE2_INFO_FIRSTCODETYPE 2 ("startline"): only the start and after each newline (LF), as
  // for a pattern whose every branch begins with .* (no DOTALL) or a multiline ^.
  kLineStarts,
  // PCRE2_INFO_ALLOPTIONS has PCRE2_ANCHORED: only the start (^, \A, or (?s).* in every branch).
  kStartOnly,
};
// kAnywhere when the pattern does not compile or the newline convention is not LF.
SearchStarts Pcre2SearchStarts(std::string_view pattern);

// PCRE2's work for one search of `pattern` in `input` (default match limits), summed over every
// start position it tried: the pattern items its interpreter tried (an automatic callout before
// each, PCRE2_AUTO_CALLOUT) plus, per attempt, how far past its start the attempt read (a
// possessive or auto-possessified loop scans bytes between two callouts). Deterministic under
// any load, and unlike the match limit (which pcre2_match counts afresh at each start) it shows
// the cost of retrying the search from many starts. For tests and measurements.
Result<uint64_t> Pcre2SearchSteps(std::string_view pattern, std::string_view input);

}  // namespace rf

#endif  // RINGFENCE_CORE_REGEX_ENGINES_H_
