#include "core/bundle.h"

#include <gtest/gtest.h>

#include <limits>

#include "testing/test_util.h"

namespace rf {
namespace {

ContentType DemoType() {
  auto t = ParseContentType(R"(content_type: demo
schema_version: 1
fields:
  - {name: pattern, type: regex, wildcard: "*"}
  - {name: level, type: enum, values: [low, high], wildcard: "*"}
  - {name: build, type: int, wildcard: "*"}
  - {name: remote, type: bool, wildcard: "*"}
  - {name: label, type: string}
)",
                            "demo.yaml");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

std::string Source(const std::string& items) {
  return "channel: \"7\"\ncontent_type: demo\nschema_version: 1\nversion: 3\nitems:\n" + items;
}

TEST(BundleTest, DecodesTypedValues) {
  ContentType t = DemoType();
  std::vector<Finding> findings;
  auto b = DecodeBundleSource(
      Source("  - {id: a, pattern: \"^x$\", level: high, build: 42, remote: false, label: \"q\\\"\"}\n"
             "  - {id: b, pattern: \"*\", level: \"*\", build: \"*\", remote: \"*\"}\n"),
      "b.yaml", t, &findings);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(findings.empty());
  ASSERT_EQ(b->items.size(), 2u);
  EXPECT_EQ(b->channel, "7");
  EXPECT_EQ(b->version, 3);
  const Item& a = b->items[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.line, 6u);
  EXPECT_EQ(a.values[0].kind, FieldValue::Kind::kString);
  EXPECT_EQ(a.values[0].s, "^x$");
  EXPECT_EQ(a.values[2].kind, FieldValue::Kind::kInt);
  EXPECT_EQ(a.values[2].i, 42);
  EXPECT_EQ(a.values[3].kind, FieldValue::Kind::kBool);
  EXPECT_FALSE(a.values[3].b);
  EXPECT_EQ(a.values[4].s, "q\"");
  const Item& w = b->items[1];
  for (int i = 0; i < 4; ++i) EXPECT_EQ(w.values[i].kind, FieldValue::Kind::kWildcard) << i;
  EXPECT_EQ(w.values[4].kind, FieldValue::Kind::kAbsent);
}

TEST(BundleTest, CanonicalPayloadIsSortedCompactAndRoundTrips) {
  ContentType t = DemoType();
  std::vector<Finding> findings;
  auto b = DecodeBundleSource(
      Source("  - {label: \"tab\\there\", remote: true, id: z1, build: -7, pattern: \"*\"}\n"), "b.yaml",
      t, &findings);
  ASSERT_TRUE(b.ok());
  std::string payload = EncodeCanonicalPayload(*b, t);
  EXPECT_EQ(payload,
            "{\"channel\":\"7\",\"content_type\":\"demo\",\"items\":[{\"build\":-7,\"id\":\"z1\","
            "\"label\":\"tab\\there\",\"pattern\":\"*\",\"remote\":true}],\"schema_version\":1,"
            "\"version\":3}");
  std::vector<Finding> f2;
  auto back = DecodeBundlePayload(payload, t, &f2);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(f2.empty());
  EXPECT_EQ(EncodeCanonicalPayload(*back, t), payload);
}

TEST(BundleTest, NonCanonicalPayloadIsRefused) {
  ContentType t = DemoType();
  std::vector<Finding> f;
  auto b = DecodeBundlePayload(
      "{\"content_type\":\"demo\",\"channel\":\"7\",\"items\":[],\"schema_version\":1,\"version\":3}",
      t, &f);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("canonical"), std::string::npos);
  auto spaced = DecodeBundlePayload(
      "{\"channel\": \"7\",\"content_type\":\"demo\",\"items\":[],\"schema_version\":1,\"version\":3}",
      t, &f);
  EXPECT_FALSE(spaced.ok());
}

TEST(BundleTest, ItemProblemsBecomeFindingsNotErrors) {
  ContentType t = DemoType();
  std::vector<Finding> findings;
  auto b = DecodeBundleSource(Source("  - {id: a, build: many, colour: red}\n"
                                     "  - {pattern: \"x\"}\n"
                                     "  - [1, 2]\n"
                                     "  - {id: \"bad id!\", remote: maybe}\n"
                                     "  - {id: c, build: \"12\"}\n"),
                              "b.yaml", t, &findings);
  ASSERT_TRUE(b.ok());
  std::vector<std::string> checks;
  for (const auto& f : findings) checks.push_back(f.check + "/" + f.item + "/" + f.field);
  EXPECT_EQ(checks, (std::vector<std::string>{
                        "field.type/a/build", "item.unknown_field/a/colour", "item.id/#2/",
                        "item.shape/#3/", "item.id/#4/", "field.type/#4/remote",
                        "field.type/c/build"}));
  EXPECT_NE(findings[0].message.find("expected an integer or '*', got 'many'"), std::string::npos)
      << findings[0].message;
  // A quoted "12" is a string in YAML, not an integer.
  EXPECT_NE(findings[6].message.find("got '12'"), std::string::npos);
}

// Item ids follow the one identifier rule (core/identifiers.h): "." and ".." are refused like any
// other bad id, in sources and in payloads (they used to pass: the id rule had its own copy).
TEST(BundleTest, DotItemIdsAreRefused) {
  ContentType t = DemoType();
  std::vector<Finding> findings;
  auto b = DecodeBundleSource(Source("  - {id: \".\"}\n  - {id: \"..\"}\n  - {id: \"...\"}\n"),
                              "b.yaml", t, &findings);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  std::vector<std::string> checks;
  for (const auto& f : findings) checks.push_back(f.check + "/" + f.item);
  EXPECT_EQ(checks, (std::vector<std::string>{"item.id/#1", "item.id/#2"}));
  ASSERT_FALSE(findings.empty());
  EXPECT_NE(findings[0].message.find("not '.' or '..'"), std::string::npos) << findings[0].message;
  findings.clear();
  auto p = DecodeBundlePayload(
      "{\"channel\":\"7\",\"content_type\":\"demo\",\"items\":[{\"id\":\"..\"}],"
      "\"schema_version\":1,\"version\":3}",
      t, &findings);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].check, "item.id");
}

TEST(BundleTest, UnusableInputIsAnError) {
  ContentType t = DemoType();
  std::vector<Finding> f;
  struct Case {
    std::string text, expect;
  } cases[] = {
      {"channel: 1\ncontent_type: other\nschema_version: 1\nversion: 1\nitems: []\n",
       "bundle is of content type 'other' but the type file describes 'demo'"},
      {"channel: 1\ncontent_type: demo\nschema_version: 1\nitems: []\n",
       "key 'version': required key is missing"},
      {"channel: 1\ncontent_type: demo\nschema_version: 1\nversion: 0\nitems: []\n",
       "b.yaml:4:10: key 'version': must be at least 1"},
      {"channel: 1\ncontent_type: demo\nschema_version: 1\nversion: 1\nitems: {}\n",
       "key 'items': must be a list"},
      {"channel: 1\ncontent_type: demo\nschema_version: 1\nversion: 1\nitems: []\nextra: 1\n",
       "b.yaml:6:1: key 'extra': unknown key in bundle"},
      {"items: [\n", "b.yaml:2:1: YAML syntax error"},
      {"", "file is empty"},
  };
  for (const auto& c : cases) {
    auto b = DecodeBundleSource(c.text, "b.yaml", t, &f);
    ASSERT_FALSE(b.ok()) << c.text;
    EXPECT_NE(b.status().message().find(c.expect), std::string::npos) << b.status().message();
  }
}

TEST(BundleTest, JsonStringEscapes) {
  std::string out;
  AppendJsonString(&out, std::string("a\"b\\c\n\x01\x7f\xc3\xa9", 10));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\x7f\xc3\xa9\"");
}

TEST(BundleTest, JsonNumbersRoundTripAndNonFiniteIsNull) {
  std::string out;
  for (double v : {0.0, -2.5, 1e-300, 0.1, 123456789.0}) {
    out.clear();
    AppendJsonNumber(&out, v);
    EXPECT_EQ(std::stod(out), v) << out;
  }
  out.clear();
  AppendJsonNumber(&out, 0.1);
  EXPECT_EQ(out, "0.1");  // the shortest form
  for (double v : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    out.clear();
    AppendJsonNumber(&out, v);
    EXPECT_EQ(out, "null");
  }
}

TEST(BundleTest, ShippedChannelFile291BundleDecodes) {
  auto t = ParseContentType(
      testing::ReadFileOrDie(testing::SourcePath("samples/content/ipc_rule.type.yaml")), "t");
  ASSERT_TRUE(t.ok());
  std::vector<Finding> f;
  auto b = DecodeBundleSource(
      testing::ReadFileOrDie(testing::SourcePath("samples/content/cf291.bundle.yaml")), "b", *t, &f);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(f.empty());
  ASSERT_EQ(b->items.size(), 3u);
  EXPECT_EQ(b->items[2].id, "ipc-0003");
  EXPECT_TRUE(b->items[2].values[20].IsConcrete());
  EXPECT_FALSE(b->items[1].values[20].IsConcrete());
  EXPECT_EQ(b->items[2].values[15].i, 3);       // logon_type
  EXPECT_TRUE(b->items[2].values[10].b);        // is_remote
  EXPECT_EQ(b->items[0].values[0].s, "^\\\\\\\\\\.\\\\pipe\\\\msagent_[0-9a-f]{2}$");
}

}  // namespace
}  // namespace rf
