#include "core/content_type.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace rf {
namespace {

constexpr char kGood[] = R"(content_type: demo_rule
schema_version: 2
fields:
  - {name: pattern, type: regex, wildcard: "*", max_length: 64}
  - {name: path, type: glob, wildcard: "*"}
  - {name: level, type: enum, values: [low, high], required: true}
  - {name: build, type: int, min: 0, max: 10}
  - {name: remote, type: bool}
  - {name: net, type: ipv4_prefix}
  - {name: hash, type: sha256}
  - {name: label, type: string}
limits: {max_items: 10, max_bundle_bytes: 4096, max_growth: 0.5, unique: [pattern, path]}
regex_engine: backtracking
)";

TEST(ContentTypeTest, ParsesEveryFieldType) {
  auto t = ParseContentType(kGood, "demo.yaml");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->name, "demo_rule");
  EXPECT_EQ(t->schema_version, 2);
  ASSERT_EQ(t->fields.size(), 8u);
  EXPECT_EQ(t->fields[0].type, FieldType::kRegex);
  EXPECT_EQ(t->fields[0].wildcard, "*");
  EXPECT_EQ(t->fields[0].max_length, 64);
  EXPECT_TRUE(t->fields[2].required);
  EXPECT_EQ(t->fields[2].values, (std::vector<std::string>{"low", "high"}));
  EXPECT_EQ(t->fields[3].min, 0);
  EXPECT_EQ(t->fields[3].max, 10);
  EXPECT_EQ(t->limits.max_items, 10);
  EXPECT_EQ(t->limits.max_bundle_bytes, 4096);
  EXPECT_DOUBLE_EQ(*t->limits.max_growth, 0.5);
  EXPECT_EQ(t->unique_positions, (std::vector<int>{0, 1}));
  EXPECT_EQ(t->regex_engine, RegexEngine::kBacktracking);
  EXPECT_EQ(t->FieldPosition("net"), 5);
  EXPECT_EQ(t->FieldPosition("nope"), -1);
}

TEST(ContentTypeTest, ParsesShippedChannelFile291Type) {
  auto t = ParseContentType(
      testing::ReadFileOrDie(testing::SourcePath("samples/content/ipc_rule.type.yaml")),
      "ipc_rule.type.yaml");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->fields.size(), 21u);
  EXPECT_EQ(t->FieldPosition("peer_pipe_regex"), 20);
  EXPECT_EQ(t->regex_engine, RegexEngine::kRe2);
}

TEST(ContentTypeTest, RegexEngineAndMode) {
  const std::string head = "content_type: t\nschema_version: 1\nfields:\n"
                           "  - {name: a, type: regex}\n  - {name: b, type: regex, regex_mode: match}\n";
  auto t = ParseContentType(head + "regex_engine: pcre2\n", "t.yaml");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->regex_engine, RegexEngine::kPcre2);
  EXPECT_EQ(t->regex_mode, RegexMode::kSearch);  // the default: consumers search
  EXPECT_FALSE(t->fields[0].regex_mode.has_value());
  EXPECT_EQ(t->fields[1].regex_mode, RegexMode::kMatch);
  auto e = ParseContentType(head + "regex_engine: ecmascript\nregex_mode: match\n", "t.yaml");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->regex_engine, RegexEngine::kEcmaScript);
  EXPECT_EQ(e->regex_mode, RegexMode::kMatch);
  EXPECT_EQ(RegexEngineName(RegexEngine::kBacktracking), "ecmascript");  // the alias
}

struct BadCase {
  const char* name;
  std::string text;
  std::string expect;  // substring of the error, including file:line
};

class ContentTypeErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ContentTypeErrorTest, NamesFileLineAndKey) {
  auto t = ParseContentType(GetParam().text, "bad.yaml");
  ASSERT_FALSE(t.ok()) << GetParam().name;
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find(GetParam().expect), std::string::npos)
      << "got: " << t.status().message();
}

const std::string kHead = "content_type: t\nschema_version: 1\nfields:\n";

INSTANTIATE_TEST_SUITE_P(
    All, ContentTypeErrorTest,
    ::testing::Values(
        BadCase{"unknown_type", kHead + "  - {name: a, type: float}\n",
                "bad.yaml:4:21: key 'type': unknown field type 'float'"},
        BadCase{"duplicate_field", kHead + "  - {name: a, type: int}\n  - {name: a, type: bool}\n",
                "bad.yaml:5:12: key 'name': duplicate field name 'a'"},
        BadCase{"min_gt_max", kHead + "  - {name: a, type: int, min: 5, max: 1}\n",
                "key 'min': min 5 is greater than max 1"},
        BadCase{"negative_max_items",
                kHead + "  - {name: a, type: int}\nlimits: {max_items: -1}\n",
                "bad.yaml:5:21: key 'max_items': must not be negative"},
        BadCase{"negative_growth", kHead + "  - {name: a, type: int}\nlimits: {max_growth: -0.1}\n",
                "key 'max_growth': must not be negative"},
        BadCase{"unique_unknown_field",
                kHead + "  - {name: a, type: int}\nlimits: {unique: [b]}\n",
                "key 'unique': 'b' is not a field"},
        BadCase{"unknown_top_key", kHead + "  - {name: a, type: int}\nlimitz: {}\n",
                "bad.yaml:5:1: key 'limitz': unknown key in content type"},
        BadCase{"unknown_field_key", kHead + "  - {name: a, type: int, maxx: 3}\n",
                "key 'maxx': unknown key in field"},
        BadCase{"enum_without_values", kHead + "  - {name: a, type: enum}\n",
                "key 'values': enum field 'a' needs a list of values"},
        BadCase{"max_length_on_int", kHead + "  - {name: a, type: int, max_length: 3}\n",
                "max_length applies only to string"},
        BadCase{"bad_engine", kHead + "  - {name: a, type: int}\nregex_engine: pcre\n",
                "key 'regex_engine': unknown engine 'pcre'"},
        BadCase{"bad_mode", kHead + "  - {name: a, type: regex}\nregex_mode: find\n",
                "key 'regex_mode': unknown regex_mode 'find' (known: search, match)"},
        BadCase{"mode_on_int", kHead + "  - {name: a, type: int, regex_mode: match}\n",
                "regex_mode applies only to regex fields"},
        BadCase{"no_fields", "content_type: t\nschema_version: 1\n",
                "key 'fields': required key is missing"},
        BadCase{"bad_name", "content_type: T-1\nschema_version: 1\nfields: [{name: a, type: int}]\n",
                "key 'content_type': 'T-1' must match"},
        BadCase{"syntax", "content_type: t\nfields: [\n", "bad.yaml:3:1: YAML syntax error"},
        BadCase{"id_field", kHead + "  - {name: id, type: string}\n", "not be 'id'"},
        BadCase{"wildcard_is_enum_value",
                kHead + "  - {name: a, type: enum, values: [x, y], wildcard: x}\n",
                "wildcard 'x' is also one of the enum values"}),
    [](const ::testing::TestParamInfo<BadCase>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace rf
