// Precision and recall of the regex-cost analysis on the labelled public corpus
// (tests/regex_corpus/corpus.tsv; labels come from timing libstdc++'s std::regex_search on attack
// strings in bench/regex_corpus_bench, provenance in tests/regex_corpus/README.md). Consumers
// search with ECMAScript std::regex, so that is what is analysed here.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "core/regex_cost.h"
#include "core/regex_engines.h"
#include "testing/test_util.h"

namespace rf {
namespace {

TEST(RegexCorpusTest, PrecisionAndRecallOnThePublicCorpus) {
  std::istringstream in(testing::ReadFileOrDie(testing::SourcePath("tests/regex_corpus/corpus.tsv")));
  std::string line;
  int tp = 0, fp = 0, fn = 0, tn = 0;
  std::vector<std::string> wrong;
  std::vector<std::string> without_attack;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream cols(line);
    std::string label, pattern;
    std::getline(cols, label, '\t');
    std::getline(cols, pattern, '\t');
    ASSERT_TRUE(label == "vulnerable" || label == "safe") << line;
    const bool vulnerable = label == "vulnerable";
    RegexCostReport r = AnalyzeBacktrackingCost(pattern);
    const bool flagged = r.cost != RegexCost::kLinear;
    if (flagged && vulnerable) ++tp;
    else if (flagged) ++fp;
    else if (vulnerable) ++fn;
    else ++tn;
    if (flagged != vulnerable) wrong.push_back(label + ": " + pattern + " [" + r.reason + "]");
    // Every super-linear verdict carries a concrete attack (the kUnknown ones need not).
    if ((r.cost == RegexCost::kPolynomial || r.cost == RegexCost::kExponential) &&
        !r.attack.has_value()) {
      without_attack.push_back(pattern);
    }
  }
  EXPECT_TRUE(without_attack.empty()) << without_attack.size() << " verdicts without an attack, first: " << (without_attack.empty() ? "" : without_attack[0]);
  ASSERT_GE(tp + fn, 50) << "the corpus should hold at least 50 vulnerable patterns";
  ASSERT_GE(fp + tn, 50) << "the corpus should hold at least 50 safe patterns";
  const double precision = static_cast<double>(tp) / std::max(1, tp + fp);
  const double recall = static_cast<double>(tp) / std::max(1, tp + fn);
  std::string detail;
  for (const auto& w : wrong) detail += "  " + w + "\n";
  // Issue 12's target is 0.97 for both. The analysis reaches 0.987 / 1.000 on this corpus (TP 155,
  // FP 2, FN 0; was 0.944 / 0.993, and 0.910 / 0.873 before search semantics). The floors hold
  // what is reached, so that no change lowers it unnoticed.
  constexpr double kPrecisionFloor = 0.98, kRecallFloor = 1.0;
  EXPECT_GE(precision, kPrecisionFloor) << "TP " << tp << " FP " << fp << " FN " << fn << " TN " << tn << "\n" << detail;
  EXPECT_GE(recall, kRecallFloor) << "TP " << tp << " FP " << fp << " FN " << fn << " TN " << tn << "\n" << detail;
  RecordProperty("precision", std::to_string(precision));
  RecordProperty("recall", std::to_string(recall));
}

}  // namespace
}  // namespace rf

namespace rf {
namespace {

// The PCRE2 sample rule set: every @rx pattern of the OWASP Core Rule Set
// (tests/regex_corpus/crs_rules.tsv). Real WAF rules use PCRE syntax — (?i), possessive
// quantifiers, \x{..} — so under `regex_engine: pcre2` none may be called uncompilable.
TEST(RegexCorpusTest, CrsRulesCompileUnderPcre2AndAreAnalysedInItsDialect) {
  std::istringstream in(testing::ReadFileOrDie(testing::SourcePath("tests/regex_corpus/crs_rules.tsv")));
  std::string line;
  int rules = 0, analysed = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::string pattern = line.substr(0, line.find('\t'));
    ++rules;
    Status st = CompilePcre2(pattern);
    EXPECT_TRUE(st.ok()) << pattern << ": " << st.message() << "\n  " << line.substr(line.find('\t') + 1);
    RegexCostOptions o;
    o.dialect = RegexDialect::kPcre2;
    RegexCostReport r = AnalyzeBacktrackingCost(pattern, o);
    if (r.reason.rfind("cannot analyse", 0) != 0) ++analysed;
  }
  EXPECT_GE(rules, 100);
  // The analyser parses the PCRE2 dialect: only the few rules with backreferences or verbs, or
  // over max_pattern_bytes, are left unanalysed.
  EXPECT_GE(analysed, rules * 9 / 10) << analysed << " of " << rules;
}

// PCRE2's own unit of work for searching `pattern` in `input`, deterministic under any load: the
// smallest match limit (calls of PCRE2's internal match function) with which pcre2_match
// finishes. Past 2^28 calls (slow enough) the first power of two above 2^28 is returned.
uint64_t Pcre2MatchCalls(const std::string& pattern, const std::string& input) {
  auto clock = [] { return std::chrono::nanoseconds(0); };  // time is not what is measured here
  auto finishes = [&](uint64_t limit) {
    return RunRegexAttack(pattern, RegexDialect::kPcre2, RegexMode::kSearch, input, clock,
                          static_cast<uint32_t>(limit)).ok();
  };
  uint64_t lo = 1, hi = 1;
  while (!finishes(hi)) {
    lo = hi + 1;
    hi *= 2;
    if (hi > (1ull << 28)) return hi;
  }
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (finishes(mid)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

// Cloudflare's WAF rule of 2 July 2019 (published in its post-mortem): `.*(?:.*=.*)` made PCRE
// backtrack on every request. Under `regex_engine: pcre2` it is refused with an attack.
TEST(RegexCorpusTest, CloudflareWafRuleIsRefusedWithAnAttack) {
  const std::string rule =
      "(?:(?:\\\"|'|\\]|\\}|\\\\|\\d|(?:nan|infinity|true|false|null|undefined|symbol|math)|\\`|\\-|\\+)+"
      "[)]*;?((?:\\s|-|~|!|{}|\\|\\||\\+)*.*(?:.*=.*)))";
  ASSERT_TRUE(CompilePcre2(rule).ok()) << CompilePcre2(rule).message();
  RegexCostOptions o;
  o.dialect = RegexDialect::kPcre2;
  RegexCostReport r = AnalyzeBacktrackingCost(rule, o);
  EXPECT_EQ(r.cost, RegexCost::kPolynomial) << r.reason;
  EXPECT_GE(r.degree, 3) << r.reason;
  ASSERT_TRUE(r.attack.has_value());

  // The attack makes PCRE2's interpreter slow. Measured in its own unit of work, deterministic
  // under any load: the smallest match limit (calls of PCRE2's internal match function) with which
  // pcre2_match finishes. Doubling the pumped part must more than triple it (super-linear), and at
  // 80 pumps it must be far beyond what an input of that length (with the required "=") takes.
  auto steps = [&](const std::string& input) { return Pcre2MatchCalls(rule, input); };
  const uint64_t s20 = steps(r.attack->Build(20)), s40 = steps(r.attack->Build(40));
  const uint64_t s80 = steps(r.attack->Build(80));
  const uint64_t benign = steps(std::string(r.attack->Length(80), 'x') + "=");
  EXPECT_GE(s40, 3 * s20) << s20 << " " << s40;
  EXPECT_GE(s80, 3 * s40) << s40 << " " << s80;
  EXPECT_GE(s80, 100 * benign) << benign << " " << s80;
  RecordProperty("pcre2_match_calls_at_80_pumps", std::to_string(s80));
}

// PCRE2's start-up optimisations, confirmed in PCRE2's own unit of work over the whole search
// (Pcre2SearchSteps: items tried and bytes reached at every start PCRE2 tried; its match limit
// cannot show this, as pcre2_match counts it afresh per start). The analysis calls a searched .*[.,] linear
// under PCRE2 (tried only at the start and after newlines) and quadratic under libstdc++; on
// libstdc++'s attack PCRE2's work grows linearly, while the same language written [^\n]*[.,]
// (no optimisation) grows quadratically, as the analysis says of it. A multiline ^ followed by a
// loop over newlines reruns at every line start: quadratic, as analysed.
TEST(RegexCorpusTest, Pcre2StartOptimisationsMatchPcre2sWork) {
  auto steps = [](const std::string& pattern, const std::string& input) -> uint64_t {
    Result<uint64_t> r = Pcre2SearchSteps(pattern, input);
    EXPECT_TRUE(r.ok()) << pattern << ": " << r.status().ToString();
    return r.ok() ? std::max<uint64_t>(*r, 1) : 1;
  };
  auto growth = [&](const std::string& pattern, const RegexAttack& attack) {
    const uint64_t small = steps(pattern, attack.Build(500));
    const uint64_t large = steps(pattern, attack.Build(1000));
    return static_cast<double>(large) / static_cast<double>(small);
  };
  RegexCostOptions pcre2;
  pcre2.dialect = RegexDialect::kPcre2;
  ASSERT_EQ(AnalyzeBacktrackingCost(".*[.,]", pcre2).cost, RegexCost::kLinear);
  ASSERT_EQ(AnalyzeBacktrackingCost("(?s).*[.,]", pcre2).cost, RegexCost::kLinear);
  RegexCostReport ecmascript = AnalyzeBacktrackingCost(".*[.,]");
  ASSERT_EQ(ecmascript.cost, RegexCost::kPolynomial) << ecmascript.reason;
  ASSERT_TRUE(ecmascript.attack.has_value());
  const double dotstar = growth(".*[.,]", *ecmascript.attack);
  const double dotall = growth("(?s).*[.,]", *ecmascript.attack);
  EXPECT_LT(dotstar, 2.5) << "doubling the input should about double PCRE2's work";
  EXPECT_LT(dotall, 2.5);

  RegexCostReport cls = AnalyzeBacktrackingCost("[^\\n]*[.,]", pcre2);
  ASSERT_EQ(cls.cost, RegexCost::kPolynomial) << cls.reason;
  ASSERT_TRUE(cls.attack.has_value());
  const double quadratic = growth("[^\\n]*[.,]", *cls.attack);
  EXPECT_GE(quadratic, 3.5) << "doubling the input should about quadruple PCRE2's work";

  RegexCostReport lines = AnalyzeBacktrackingCost("(?m)^\\s+[.,]", pcre2);
  ASSERT_EQ(lines.cost, RegexCost::kPolynomial) << lines.reason;
  ASSERT_TRUE(lines.attack.has_value());
  EXPECT_GE(growth("(?m)^\\s+[.,]", *lines.attack), 3.5);
  // Auto-possessification (a+X runs as a++X) does not help a search: every start still runs the
  // loop to its end.
  RegexCostReport possessive = AnalyzeBacktrackingCost("a+X", pcre2);
  ASSERT_EQ(possessive.cost, RegexCost::kPolynomial) << possessive.reason;
  ASSERT_TRUE(possessive.attack.has_value());
  EXPECT_GE(growth("a+X", *possessive.attack), 3.5);
  RecordProperty("growth_dotstar", std::to_string(dotstar));
  RecordProperty("growth_class", std::to_string(quadratic));
}

}  // namespace
}  // namespace rf
