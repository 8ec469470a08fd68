// Internal to src/core: one entry point per backtracking engine, behind RunRegexAttack
// (regex_cost.h). Split by engine so each translation unit includes only its library.
#ifndef RINGFENCE_CORE_REGEX_ENGINES_H_
#define RINGFENCE_CORE_REGEX_ENGINES_H_

#include <chrono>
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

}  // namespace rf

#endif  // RINGFENCE_CORE_REGEX_ENGINES_H_
