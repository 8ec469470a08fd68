// Worst-case cost analysis of regular expressions for backtracking matchers.
//
// A backtracking matcher (std::regex, PCRE, most JavaScript engines) takes exponential time on a
// pattern whose NFA is exponentially ambiguous (EDA: some state has two different paths back to
// itself on the same input word, e.g. (a+)+ or (\w+\s?)*), and polynomial time on one that is
// infinitely ambiguous (IDA: states p != q with loops p->p, q->q and a path p->q all on the same
// word, e.g. .*.*=.* — Cloudflare 2019). We build the Glushkov position automaton of the pattern
// keeping edge multiplicities (the number of distinct ways the pattern's structure yields an edge,
// which is what a backtracking matcher explores), then decide EDA with a pair-product automaton
// and IDA with a triple-product automaton (Weideman et al., "Analyzing Matching Time Behavior of
// Backtracking Regular Expression Matchers by Using Ambiguity of NFA", CIAA 2016).
//
// The pattern is analysed as written (match semantics). Syntax: ECMAScript as accepted by
// std::regex; lookarounds are treated as empty (they cannot add ambiguity to the main path);
// backreferences make the language non-regular and are refused. See docs/regex-cost.md.
#ifndef RINGFENCE_CORE_REGEX_COST_H_
#define RINGFENCE_CORE_REGEX_COST_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace rf {

enum class RegexCost {
  kLinear,       // unambiguous enough: backtracking runs in linear time
  kPolynomial,   // IDA: super-linear (quadratic or worse) on some inputs
  kExponential,  // EDA: exponential on some inputs
  kUnknown,      // not analysable (syntax not supported, or over the analysis budget)
};

struct RegexCostReport {
  RegexCost cost = RegexCost::kLinear;
  std::string reason;  // for a person: which construct, e.g. "nested quantifier: (a+)+"
};

struct RegexCostOptions {
  size_t max_pattern_bytes = 4096;   // longer patterns are not analysed (kUnknown)
  size_t max_positions = 2000;       // after expanding counted repetition {n,m}
  size_t max_product_states = 4'000'000;  // budget for the pair and triple product searches
  int max_nesting = 100;             // group nesting depth
};

// Analyses `pattern`. Syntax errors are reported as kUnknown with the reason.
RegexCostReport AnalyzeBacktrackingCost(std::string_view pattern,
                                        const RegexCostOptions& options = {});

// Compile checks for the two engines a content type may declare. OK, or InvalidArgument with the
// engine's own explanation.
Status CompileRe2(std::string_view pattern);
Status CompileEcmaScript(std::string_view pattern);

}  // namespace rf

#endif  // RINGFENCE_CORE_REGEX_COST_H_
