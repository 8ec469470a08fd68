// The content interpreter: compiles decoded rules and evaluates them against an input array.
//
// Like the interpreter behind Channel File 291, it trusts the template: it evaluates every field
// position a rule uses, up to kTemplateFields - 1, and does not know how many inputs the
// integration code really supplied. Evaluation of a rule first fetches the operands of all of its
// concrete fields from the input array, then compares them in position order. So a rule with a
// concrete value at position 20 reads input[20] for every event it is evaluated on.
#ifndef RINGFENCE_EXAMPLES_SENSOR_INTERPRETER_H_
#define RINGFENCE_EXAMPLES_SENSOR_INTERPRETER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "examples/sensor/ecma_regex.h"
#include "examples/sensor/rules.h"

namespace sensor {

enum class RegexEngine {
  kRe2,          // linear time
  kBacktracking  // std::regex (ECMAScript): exponential on patterns like ^(a+)+$
};
std::string_view RegexEngineName(RegexEngine e);
bool ParseRegexEngine(std::string_view name, RegexEngine* e);

class CompiledRules {
 public:
  // Compiles every rule. Returns "" or the first rule field that does not compile (bad regex,
  // bad ipv4 prefix, an enum/int value out of the template's domain is NOT checked here: the
  // sensor only needs what it evaluates).
  static std::string Compile(const RuleSet& rules, RegexEngine engine,
                             std::unique_ptr<CompiledRules>* out);

  // Evaluates every rule against `inputs` and appends the ids of the matching ones.
  // REQUIRES (unchecked, as in the original): `inputs` holds a pointer for every position a rule
  // uses.
  void Match(const char* const* inputs, std::vector<std::string>* matches) const;

  size_t size() const { return rules_.size(); }

 private:
  struct Matcher {
    int position = 0;
    MatchKind kind = MatchKind::kString;
    std::string text;
    int64_t int_value = 0;
    bool bool_value = false;
    uint32_t net = 0, mask = 0;
    std::unique_ptr<re2::RE2> re2;
    std::unique_ptr<EcmaRegex> ecma;
  };
  struct CompiledRule {
    std::string id;
    std::vector<Matcher> matchers;
  };

  static bool Evaluate(const Matcher& m, const char* value);

  std::vector<CompiledRule> rules_;
};

// Glob with `*` (any run) and `?` (one byte), ASCII case-insensitive (Windows paths).
bool GlobMatch(std::string_view pattern, std::string_view text);
// "10.1.0.0/16" -> network and mask; false if malformed.
bool ParseIpv4Prefix(std::string_view s, uint32_t* net, uint32_t* mask);
bool ParseIpv4(std::string_view s, uint32_t* addr);

}  // namespace sensor

#endif  // RINGFENCE_EXAMPLES_SENSOR_INTERPRETER_H_
