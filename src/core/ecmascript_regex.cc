// CompileEcmaScript lives alone in this file because libstdc++ 12's <regex> trips a false
// -Wmaybe-uninitialized inside std::function when built with -fsanitize (GCC bug 105562 family);
// the warning is silenced for this translation unit only, which contains nothing else.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <regex>

#include "core/regex_cost.h"

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

}  // namespace rf
