// The libstdc++ std::regex entry points live alone in this file because libstdc++ 12's <regex>
// trips a false -Wmaybe-uninitialized inside std::function when built with -fsanitize (GCC bug
// 105562 family); the warning is silenced for this translation unit only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <regex>

#include "core/regex_cost.h"
#include "core/regex_engines.h"

namespace rf {

Status CompileEcmaScript(std::string_view pattern) {
  // std::regex reports errors by exception; it is caught here and never crosses this function.
  try {
    std::regex re(pattern.begin(), pattern.end(), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Status::InvalidArgument(std::string("does not compile as an ECMAScript regex: ") +
                                   e.what());
  }
  return Status::Ok();
}

Result<std::chrono::nanoseconds> RunEcmaScriptAttack(
    std::string_view pattern, RegexMode mode, std::string_view input,
    const std::function<std::chrono::nanoseconds()>& now) {
  if (input.size() > kMaxEcmaScriptAttackBytes) {
    return Status::InvalidArgument("attack input of " + std::to_string(input.size()) +
                                   " bytes is over the " + std::to_string(kMaxEcmaScriptAttackBytes) +
                                   "-byte cap (libstdc++'s matcher recurses per byte)");
  }
  try {
    std::regex re(pattern.begin(), pattern.end(), std::regex::ECMAScript);
    const auto start = now();
    if (mode == RegexMode::kSearch) {
      (void)std::regex_search(input.begin(), input.end(), re);
    } else {
      (void)std::regex_match(input.begin(), input.end(), re);
    }
    return now() - start;
  } catch (const std::regex_error& e) {
    // error_complexity / error_stack: libstdc++ gave up, which is itself proof of the cost.
    return Status::ResourceExhausted(std::string("std::regex gave up: ") + e.what());
  }
}

}  // namespace rf
