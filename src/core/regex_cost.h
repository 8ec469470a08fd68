// Worst-case cost analysis of regular expressions for backtracking matchers. Specification:
// docs/stage1-checks.md ("regex.cost").
//
// A backtracking matcher (std::regex, PCRE2, most JavaScript engines) takes exponential time on a
// pattern whose NFA is exponentially ambiguous (EDA: some state has two different paths back to
// itself on the same input word, e.g. (a+)+ or (\w+\s?)*), and polynomial time on one that is
// infinitely ambiguous (IDA: states p != q with loops p->p, q->q and a path p->q all on the same
// word, e.g. .*.*=.* — Cloudflare 2019). We build the Glushkov position automaton of the pattern
// keeping edge multiplicities (the number of distinct ways the pattern's structure yields an edge,
// which is what a backtracking matcher explores), then decide EDA with a pair-product automaton
// and IDA with a triple-product automaton (Weideman et al., "Analyzing Matching Time Behavior of
// Backtracking Regular Expression Matchers by Using Ambiguity of NFA", CIAA 2016).
//
// Two refinements make the verdict match what the consumer's engine does:
//  - Search semantics (RegexMode::kSearch, the default): consumers that search (std::regex_search,
//    pcre2_match without an anchor) retry the match from every start position. This is modelled
//    as an implicit any-character loop before the pattern, entered only where no '^' anchors it,
//    so `\s+$` or `a+X` are quadratic. PCRE2 tries a pattern starting with .* only at the start
//    and after newlines ((?s).*: only at the start); the pcre2 dialect models that, so a searched
//    `.*[.,]` is linear there.
//  - Failure reachability: an ambiguity only costs time if, after the pumped input, some suffix
//    makes every path fail. Every witness is turned into a concrete attack (prefix, pump^k,
//    suffix) and kept only if an NFA simulation of the attempt finds no match on it (under search
//    semantics a match is found as soon as a path reaches a position after which the rest of the
//    pattern is empty without assertions). This prunes (a|.)*, (\r\n|\r|\n)+ and ((ab)+)*.
//
// \b and \B are exact: positions are split into their word and non-word bytes and edges kept
// only where the boundary condition can hold. Lookaheads are side branches of the automaton;
// whether an attack really fails is decided on the concrete string by an exact matcher that
// evaluates every assertion, nested lookaheads included. Backreferences are analysed as an atomic
// copy of their group (an over-approximation of the matcher's paths). Atomic groups and
// possessive quantifiers (PCRE2) never backtrack into their body, so ambiguity inside one is
// ignored. Specification and limits: docs/stage1-checks.md.
#ifndef RINGFENCE_CORE_REGEX_COST_H_
#define RINGFENCE_CORE_REGEX_COST_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
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

// The syntax the pattern is written in (what the consumer compiles it with).
enum class RegexDialect : uint8_t {
  kEcmaScript,  // libstdc++ std::regex, ECMAScript grammar, char (bytes); \uXXXX is its low byte
  kPcre2,       // PCRE2 8-bit, no UTF: inline flags, atomic groups, possessive quantifiers
};

// How the consumer applies the pattern.
enum class RegexMode : uint8_t {
  kSearch,  // anywhere in the input (std::regex_search, pcre2_match): every start position
  kMatch,   // the whole input (std::regex_match, PCRE2_ANCHORED|PCRE2_ENDANCHORED)
};

std::string_view RegexDialectName(RegexDialect d);
std::string_view RegexModeName(RegexMode m);

// A concrete input that makes a backtracking matcher slow: prefix + pump repeated + suffix.
struct RegexAttack {
  std::string prefix, pump, suffix;
  // prefix + pump * repeats + suffix.
  std::string Build(size_t repeats) const;
  // The input's length for `repeats`.
  size_t Length(size_t repeats) const { return prefix.size() + pump.size() * repeats + suffix.size(); }
};

struct RegexCostReport {
  RegexCost cost = RegexCost::kLinear;
  std::string reason;  // for a person: which construct, e.g. "nested quantifier: (a+)+"
  // kPolynomial: the estimated degree of the running time (2 = quadratic); longest chain of
  // overlapping loops found. 0 otherwise.
  int degree = 0;
  // kPolynomial/kExponential: an input that makes the match slow, validated by simulating the
  // automaton (not by running the engine; RunRegexAttack does that). Unset when none was built.
  std::optional<RegexAttack> attack;
};

struct RegexCostOptions {
  size_t max_pattern_bytes = 4096;   // longer patterns are not analysed (kUnknown)
  size_t max_positions = 2000;       // after expanding counted repetition {n,m}
  // Budgets that bound the analysis' time whatever the pattern (over either: kUnknown). A product
  // state (a pair or triple of positions in a hash table) costs ~0.1 us, a step (one edge
  // followed, one node evaluated by the exact matcher) a few ns: at the defaults no pattern
  // takes more than a few hundred ms (docs/stage1-checks.md "Bounds").
  size_t max_product_states = 250'000;  // pair and triple product searches, all together
  size_t max_steps = 8'000'000;           // edges followed and matcher evaluations, all together
  int max_nesting = 100;             // group nesting depth
  RegexDialect dialect = RegexDialect::kEcmaScript;  // syntax of the pattern
  RegexMode mode = RegexMode::kSearch;  // how consumers apply it; search is the safe assumption
};

// Analyses `pattern`. Syntax errors are reported as kUnknown with the reason.
RegexCostReport AnalyzeBacktrackingCost(std::string_view pattern,
                                        const RegexCostOptions& options = {});

// Compile checks for the engines a content type may declare. OK, or InvalidArgument with the
// engine's own explanation.
Status CompileRe2(std::string_view pattern);
Status CompileEcmaScript(std::string_view pattern);
Status CompilePcre2(std::string_view pattern);

// Runs the consumer's engine (`dialect`, `mode`) once on `input` and returns the wall time it
// took, read from `now` (callers inject their clock; the core reads none). PCRE2 runs its
// interpreter (no JIT) with `pcre2_match_limit` steps at most; hitting the limit is reported as
// ResourceExhausted with the time spent. Inputs are capped at 64 KiB: libstdc++'s matcher
// recurses per character and would overflow the stack on longer ones.
Result<std::chrono::nanoseconds> RunRegexAttack(
    std::string_view pattern, RegexDialect dialect, RegexMode mode, std::string_view input,
    const std::function<std::chrono::nanoseconds()>& now, uint32_t pcre2_match_limit = 100'000'000);

}  // namespace rf

#endif  // RINGFENCE_CORE_REGEX_COST_H_
