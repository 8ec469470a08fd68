// The backtracking regex engine (std::regex, ECMAScript) behind a small interface, so that
// <regex> is compiled in ecma_regex.cc alone (see the warning note there).
#ifndef RINGFENCE_EXAMPLES_SENSOR_ECMA_REGEX_H_
#define RINGFENCE_EXAMPLES_SENSOR_ECMA_REGEX_H_

#include <memory>
#include <string>
#include <string_view>

namespace sensor {

class EcmaRegex {
 public:
  // nullptr and *error set when `pattern` does not compile.
  static std::unique_ptr<EcmaRegex> Compile(const std::string& pattern, std::string* error);
  ~EcmaRegex();
  // std::regex_search: exponential time on patterns like ^(a+)+$, by design of this engine.
  bool Search(std::string_view text) const;

 private:
  struct Impl;
  explicit EcmaRegex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sensor

#endif  // RINGFENCE_EXAMPLES_SENSOR_ECMA_REGEX_H_
