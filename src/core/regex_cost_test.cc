#include "core/regex_cost.h"

#include <gtest/gtest.h>

namespace rf {
namespace {

RegexCost Cost(const std::string& p) { return AnalyzeBacktrackingCost(p).cost; }

TEST(RegexCostTest, ExponentialPatterns) {
  for (const char* p : {"(a+)+", "(a+)+$", "(\\w+\\s?)*", "(a*)*b", "(a|a)*", "(\\w|\\d)+$",
                        "^(a+){2,}$", "(?:x*y?)*z", "(.*a){3,}", "(a|b|ab)*c"}) {
    RegexCostReport r = AnalyzeBacktrackingCost(p);
    EXPECT_EQ(r.cost, RegexCost::kExponential) << p << ": " << r.reason;
    EXPECT_FALSE(r.reason.empty());
  }
}

// Regression (found by regex_cost_fuzz): bounded repetition unrolls into an acyclic automaton,
// so the loop-based searches missed it, but std::regex took time doubling with n on a^n.
TEST(RegexCostTest, AmbiguousBoundedRepetitionIsExponential) {
  for (const char* p : {"^(?:a?){40}a{40}$", "(?:\\s*){10}x", "(?:a|a){20}b", "(?:(?:a?){3}){3}b",
                        "(?:x*y?){10}z"}) {
    RegexCostReport r = AnalyzeBacktrackingCost(p);
    EXPECT_EQ(r.cost, RegexCost::kExponential) << p << ": " << r.reason;
  }
  // Small counts, or bodies that match unambiguously, are fine.
  for (const char* p : {"^(?:a?){3}b$", "^(?:ab?){20}$", "^[0-9a-f]{64}$", "^(?:[a-z]+\\.){0,10}com$",
                        "\\d{1,3}(?:\\.\\d{1,3}){3}"}) {
    RegexCostReport r = AnalyzeBacktrackingCost(p);
    EXPECT_EQ(r.cost, RegexCost::kLinear) << p << ": " << r.reason;
  }
}

TEST(RegexCostTest, PolynomialPatterns) {
  for (const char* p : {".*(?:.*=.*)", ".*.*=.*", "\\d+\\d+x", "a*a*b", "^.*foo.*bar$", "\\s*\\S*\\s*x"}) {
    RegexCostReport r = AnalyzeBacktrackingCost(p);
    EXPECT_EQ(r.cost, RegexCost::kPolynomial) << p << ": " << r.reason;
  }
}

TEST(RegexCostTest, LinearPatternsAreNotFlagged) {
  for (const char* p :
       {"^msagent_[0-9a-f]{2}$", "^\\\\\\\\\\.\\\\pipe\\\\status_[0-9]+$", "abc", "^(?:ab)*c$",
        "^[a-z]+@[a-z]+\\.com$", "(a|b)*c", "\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}", "^$", "",
        "a?b?c?", "(?:foo|bar)+", "[^\"]*\"", "^\\\\\\\\[a-z0-9-]+\\\\pipe\\\\.*$", "x{0,50}y",
        "(?=a)b+", "(a|ab)*c", "a*b+c*", "^(?:[a-z]+-)*[a-z]+$"}) {
    RegexCostReport r = AnalyzeBacktrackingCost(p);
    EXPECT_EQ(r.cost, RegexCost::kLinear) << p << ": " << r.reason;
  }
}

TEST(RegexCostTest, UnanalysableInputIsUnknownNotLinear) {
  EXPECT_EQ(Cost("(a)\\1"), RegexCost::kUnknown);  // backreference
  EXPECT_EQ(Cost("(ab"), RegexCost::kUnknown);
  EXPECT_EQ(Cost("ab)"), RegexCost::kUnknown);
  EXPECT_EQ(Cost("*a"), RegexCost::kUnknown);
  EXPECT_EQ(Cost("[a-"), RegexCost::kUnknown);
  EXPECT_EQ(Cost("[z-a]"), RegexCost::kUnknown);
  EXPECT_EQ(Cost(std::string(5000, 'a')), RegexCost::kUnknown);
  EXPECT_EQ(Cost("a{1500}b{1500}"), RegexCost::kUnknown);  // over max_positions
  EXPECT_EQ(Cost(std::string(200, '(') + std::string(200, ')')), RegexCost::kUnknown);
}

// Regression: short patterns with quadratically many automaton edges made the reachability pass
// take seconds (found by regex_cost_fuzz). The analysis must stay bounded whatever the pattern.
TEST(RegexCostTest, AnalysisWorkIsBoundedOnPathologicalPatterns) {
  for (const char* p : {"(?:a?){1999}", "(?:[ab]?[bc]?){999}", "(?:(?:a?){900})*",
                        "(?:[ab]?[bc]?){999}(?:.*)(?:.*)", "(?:a?b?c?d?){400}x*y*"}) {
    RegexCostReport r = AnalyzeBacktrackingCost(p);
    // Any verdict is acceptable except a crash or a hang; linear is only claimed when proven.
    EXPECT_TRUE(r.cost == RegexCost::kLinear || r.cost == RegexCost::kUnknown ||
                r.cost == RegexCost::kPolynomial || r.cost == RegexCost::kExponential)
        << p;
  }
  EXPECT_EQ(Cost("(?:(?:a?){900})*"), RegexCost::kExponential);  // seen before unrolling
  EXPECT_EQ(Cost("(?:(?:a?){20})*"), RegexCost::kExponential);  // small enough to prove
}

TEST(RegexCostTest, CompileChecks) {
  EXPECT_TRUE(CompileRe2("^a+$").ok());
  Status bad = CompileRe2("(a");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("RE2"), std::string::npos);
  EXPECT_FALSE(CompileRe2("(a)\\1").ok());  // RE2 has no backreferences
  EXPECT_TRUE(CompileEcmaScript("(a)\\1").ok());
  EXPECT_FALSE(CompileEcmaScript("(a").ok());
}

}  // namespace
}  // namespace rf
