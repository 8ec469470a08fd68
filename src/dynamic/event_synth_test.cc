#include "dynamic/event_synth.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include "testing/test_util.h"

namespace rf::dynamic {
namespace {

bool Re2Matches(const std::string& pattern, const std::string& text) {
  return RE2::PartialMatch(text, RE2(pattern));
}

TEST(SampleForRegexTest, GeneratesMatchingStrings) {
  for (const char* p : {R"(^\\\\\.\\pipe\\status_[0-9]+$)", R"(^\\\\[a-z0-9-]+\\pipe\\.*$)",
                        "^msagent_[0-9a-f]{2}$", "^(foo|bar)baz?$", "(?:ab)+c{2,3}",
                        R"(^\d{3}-\w+\s[^a-z]$)", "x[-a]y", "^[^\\\\]+$", "a.b*c?$",
                        R"(^(?P<n>x)\x41$)"}) {
    RegexSample s = SampleForRegex(p);
    EXPECT_TRUE(s.generated) << p;
    EXPECT_TRUE(Re2Matches(p, s.text)) << p << " -> " << s.text;
  }
  EXPECT_EQ(SampleForRegex(R"(^\\\\\.\\pipe\\status_[0-9]+$)").text, R"(\\.\pipe\status_0)");
}

TEST(SampleForRegexTest, StressPumpsRepetitionAndFailsTheMatch) {
  RegexSample s = SampleForRegex("^(a+)+$", /*stress=*/true);
  EXPECT_TRUE(s.generated);
  EXPECT_EQ(s.text, std::string(kStressRepetitions, 'a') + "!");
  EXPECT_FALSE(Re2Matches("^(a+)+$", s.text));
  EXPECT_EQ(SampleForRegex("^(\\w+\\s?)*$", true).text, std::string(kStressRepetitions, 'a') + "!");
  EXPECT_EQ(SampleForRegex("^ab{2}$", true).text, "abb!");
}

TEST(SampleForRegexTest, FallsBackToThePatternText) {
  for (const char* p : {"(a)\\1", "(?=x)y", "(?i)abc", "(", "a)", "[a", "*a", "[[:alpha:]]",
                        "a{2000}"}) {
    RegexSample s = SampleForRegex(p);
    EXPECT_FALSE(s.generated) << p;
    EXPECT_EQ(s.text, p);
  }
  std::string deep(500, '(');
  EXPECT_FALSE(SampleForRegex(deep + "a" + std::string(500, ')')).generated);
}

TEST(SynthesizeEventsTest, ExercisesEveryConcreteField) {
  auto type = ParseContentType(rf::testing::ReadFileOrDie(rf::testing::SourcePath(
                                   "samples/content/ipc_rule.type.yaml")),
                               "type");
  ASSERT_TRUE(type.ok());
  std::vector<Finding> findings;
  auto b = DecodeBundleSource(
      "channel: \"1\"\ncontent_type: ipc_rule\nschema_version: 3\nversion: 1\nitems:\n"
      "  - {id: x, pipe_name: \"^p[0-9]+$\", image_path: \"C:\\\\a\\\\*.exe\", is_remote: true,\n"
      "     logon_type: 3, src_prefix: 10.1.0.0/16, signer: \"*\", peer_pipe_regex: \"^q$\"}\n",
      "b", *type, &findings);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE(findings.empty());
  std::vector<SynthesizedEvent> e = SynthesizeEvents(*type, b->items[0]);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].purpose, "match");
  EXPECT_EQ(e[0].json,
            "{\"pipe_name\":\"p0\",\"image_path\":\"C:\\\\a\\\\.exe\",\"is_remote\":true,"
            "\"logon_type\":3,\"src_prefix\":\"10.1.0.0\",\"peer_pipe_regex\":\"q\"}");
  EXPECT_EQ(e[1].purpose, "stress:pipe_name");
  EXPECT_NE(e[1].json.find("\"pipe_name\":\"p" + std::string(kStressRepetitions, '0') + "!\""),
            std::string::npos);
  EXPECT_EQ(e[2].purpose, "stress:peer_pipe_regex");
}

}  // namespace
}  // namespace rf::dynamic
