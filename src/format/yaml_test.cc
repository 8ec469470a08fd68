#include "format/yaml.h"

#include <gtest/gtest.h>

namespace rf::yaml {
namespace {

TEST(YamlTest, ParsesNestedStructureWithLines) {
  auto doc = Parse("a: 1\nb:\n  - {x: \"q\", y: true}\n  - z\n", "t.yaml");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  NodeRef root = doc->root();
  ASSERT_TRUE(root.IsMapping());
  EXPECT_EQ(root.Get("a").AsInt(), 1);
  NodeRef b = root.Get("b");
  ASSERT_TRUE(b.IsSequence());
  ASSERT_EQ(b.size(), 2u);
  NodeRef first = b.Items()[0];
  EXPECT_EQ(first.line(), 3u);
  EXPECT_EQ(first.Get("x").Text(), "q");
  EXPECT_FALSE(first.Get("x").IsPlain());
  EXPECT_EQ(first.Get("y").AsBool(), true);
  EXPECT_FALSE(first.Get("missing"));
  EXPECT_EQ(b.Items()[1].Text(), "z");
}

TEST(YamlTest, QuotedNumbersAreStrings) {
  auto doc = Parse("a: \"3\"\n", "t.yaml");
  ASSERT_TRUE(doc.ok());
  EXPECT_FALSE(doc->root().Get("a").AsInt().has_value());
}

TEST(YamlTest, SyntaxErrorNamesFileAndLine) {
  auto doc = Parse("a: 1\nb: [1, 2\n", "bad.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.status().message().find("bad.yaml:"), std::string::npos);
  EXPECT_NE(doc.status().message().find("syntax error"), std::string::npos);
}

TEST(YamlTest, RejectsDuplicateKeys) {
  auto doc = Parse("a: 1\nb: 2\na: 3\n", "d.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.status().message().find("d.yaml:3:1: duplicate key 'a'"), std::string::npos)
      << doc.status().message();
}

TEST(YamlTest, RejectsAliasesAndAnchors) {
  EXPECT_FALSE(Parse("a: &x 1\nb: *x\n", "a.yaml").ok());
}

TEST(YamlTest, RejectsMultipleDocuments) {
  EXPECT_FALSE(Parse("a: 1\n---\nb: 2\n", "m.yaml").ok());
}

TEST(YamlTest, RejectsDeepNesting) {
  std::string s(100, '[');
  s += std::string(100, ']');
  auto doc = Parse(s, "deep.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.status().message().find("nesting deeper"), std::string::npos);
}

TEST(YamlTest, ParseIntEdges) {
  EXPECT_EQ(ParseInt("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ParseInt("-9223372036854775808"), INT64_MIN);
  EXPECT_FALSE(ParseInt("9223372036854775808").has_value());
  EXPECT_EQ(ParseInt("0x1f"), 31);
  EXPECT_FALSE(ParseInt("1.5").has_value());
  EXPECT_FALSE(ParseInt("").has_value());
  EXPECT_FALSE(ParseInt("-").has_value());
}

TEST(YamlTest, Durations) {
  EXPECT_EQ(ParseDurationMicros("90s"), 90'000'000);
  EXPECT_EQ(ParseDurationMicros("10m"), 600'000'000);
  EXPECT_EQ(ParseDurationMicros("1h"), 3'600'000'000);
  EXPECT_EQ(ParseDurationMicros("500ms"), 500'000);
  EXPECT_EQ(ParseDurationMicros("2"), 2'000'000);
  EXPECT_FALSE(ParseDurationMicros("10 parsecs").has_value());
  EXPECT_FALSE(ParseDurationMicros("-5s").has_value());
}

TEST(YamlTest, CheckMappingNamesUnknownKey) {
  auto doc = Parse("plan: x\nwavez: []\n", "p.yaml");
  ASSERT_TRUE(doc.ok());
  Status st = CheckMapping(doc->root(), "plan", {"plan", "waves"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("p.yaml:2:1: key 'wavez': unknown key in plan"), std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace rf::yaml
