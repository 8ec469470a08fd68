// Alone in this file because libstdc++ 12's <regex> trips a false -Wmaybe-uninitialized inside
// std::function when built with -fsanitize (as in src/core/ecmascript_regex.cc); the warning is
// silenced for this translation unit only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "examples/sensor/ecma_regex.h"

#include <regex>

namespace sensor {

struct EcmaRegex::Impl {
  std::regex re;
};

EcmaRegex::EcmaRegex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EcmaRegex::~EcmaRegex() = default;

std::unique_ptr<EcmaRegex> EcmaRegex::Compile(const std::string& pattern, std::string* error) {
  try {
    auto impl = std::make_unique<Impl>();
    impl->re = std::regex(pattern, std::regex::ECMAScript);
    return std::unique_ptr<EcmaRegex>(new EcmaRegex(std::move(impl)));
  } catch (const std::regex_error& e) {
    *error = e.what();
    return nullptr;
  }
}

bool EcmaRegex::Search(std::string_view text) const {
  return std::regex_search(text.begin(), text.end(), impl_->re);
}

}  // namespace sensor
