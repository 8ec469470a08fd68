#include "core/stage1.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace rf {
namespace {

constexpr char kType[] = R"(content_type: edge
schema_version: 4
fields:
  - {name: pattern, type: regex, wildcard: "*", max_length: 16}
  - {name: path, type: glob, wildcard: "*", max_length: 16}
  - {name: level, type: enum, wildcard: "*", values: [low, high]}
  - {name: build, type: int, wildcard: "*", min: -5, max: 5}
  - {name: remote, type: bool, wildcard: "*"}
  - {name: net, type: ipv4_prefix, wildcard: "*"}
  - {name: hash, type: sha256, wildcard: "*"}
  - {name: owner, type: string, required: true, max_length: 8}
  - {name: extra, type: string, wildcard: "*"}
limits: {max_items: 4, max_bundle_bytes: 4096, max_growth: 0.5, unique: [pattern, path]}
)";

ContentType Type(const std::string& text = kType) {
  auto t = ParseContentType(text, "edge.yaml");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

struct Checked {
  Bundle bundle;
  StageOneReport report;
  std::vector<std::string> Checks() const {
    std::vector<std::string> out;
    for (const auto& f : report.findings) out.push_back(f.check);
    return out;
  }
};

Checked Check(const ContentType& t, const std::string& items, const Fleet* fleet = nullptr,
              const Bundle* previous = nullptr, size_t previous_bytes = 0, int version = 10,
              int schema = 4) {
  std::string src = "channel: c\ncontent_type: " + t.name + "\nschema_version: " +
                    std::to_string(schema) + "\nversion: " + std::to_string(version) +
                    "\nitems:\n" + items;
  std::vector<Finding> findings;
  auto b = DecodeBundleSource(src, "b.yaml", t, &findings);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  Checked c{*b, {}};
  StageOneInput in;
  in.type = &t;
  in.bundle = &c.bundle;
  in.payload_bytes = EncodeCanonicalPayload(c.bundle, t).size();
  in.fleet = fleet;
  in.previous = previous;
  in.previous_payload_bytes = previous_bytes;
  c.report = RunStageOne(in, std::move(findings));
  return c;
}

// Every value at the very edge of what its field allows: must pass (no false rejections).
TEST(StageOneTest, ContentAtTheEdgesOfEveryTypePasses) {
  ContentType t = Type();
  Checked c = Check(t,
                    "  - {id: a, pattern: \"^[a-z]{1,8}$\", path: \"C:\\\\x\\\\[ab]*.exe\", "
                    "level: high, build: -5, remote: true, net: 0.0.0.0/0, "
                    "hash: \"" + std::string(64, 'f') + "\", owner: \"12345678\", extra: \"\"}\n"
                    "  - {id: b, pattern: \"0123456789abcdef\", path: \"*\", level: low, build: 5, "
                    "remote: false, net: 255.255.255.255/32, hash: \"" + std::string(64, '0') +
                    "\", owner: x}\n"
                    "  - {id: c, pattern: \"*\", path: \"/[]]x\", level: \"*\", build: \"*\", remote: \"*\","
                    " net: 10.128.0.0/9, hash: \"*\", owner: \"é\"}\n"
                    "  - {id: d, owner: \"*\"}\n");
  EXPECT_TRUE(c.report.accepted);
  EXPECT_TRUE(c.report.findings.empty()) << c.report.findings[0].check << ": "
                                         << c.report.findings[0].message;
}

TEST(StageOneTest, EachFieldConstraintIsChecked) {
  ContentType t = Type();
  struct Case {
    std::string item;
    std::string check;
    std::string message;
  } cases[] = {
      {"{id: a, owner: o, build: 6}", "field.range", "6 is outside [-5, 5]"},
      {"{id: a, owner: o, build: -6}", "field.range", "-6 is outside"},
      {"{id: a, owner: o, level: medium}", "field.enum", "'medium' is not one of: low, high"},
      {"{id: a, owner: o, pattern: \"01234567890123456\"}", "field.max_length",
       "17 bytes, over max_length 16"},
      {"{id: a, owner: o, pattern: \"(unclosed\"}", "regex.compile", "does not compile under RE2"},
      {"{id: a, owner: o, path: \"[abc\"}", "field.glob", "unterminated '['"},
      {"{id: a, owner: o, net: 10.0.0.1/8}", "field.ipv4_prefix", "host bits are set after /8"},
      {"{id: a, owner: o, net: 10.0.0.0/33}", "field.ipv4_prefix", "over 32"},
      {"{id: a, owner: o, net: 10.0.0/8}", "field.ipv4_prefix", "does not have 4 octets"},
      {"{id: a, owner: o, net: 10.0.0.256/32}", "field.ipv4_prefix", "octet 256 is over 255"},
      {"{id: a, owner: o, net: 010.0.0.0/8}", "field.ipv4_prefix", "not a dotted-quad"},
      {"{id: a, owner: o, net: 10.0.0.0}", "field.ipv4_prefix", "missing '/length'"},
      {"{id: a, owner: o, hash: \"" + std::string(64, 'F') + "\"}", "field.sha256", "64 lowercase hex"},
      {"{id: a, owner: o, hash: abc}", "field.sha256", "64 lowercase hex"},
      {"{id: a}", "field.required", "required field is missing"},
      {"{id: a, owner: \"\"}", "field.required", "required field is empty"},
      {"{id: a, owner: }", "field.required", "required field is empty"},
      {"{id: a, owner: \"123456789\"}", "field.max_length", "9 bytes, over max_length 8"},
      {"{id: a, owner: o, level: }", "field.empty", "omit the field or use the wildcard '*'"},
      {"{id: a, owner: o, remote: yes}", "field.type", "expected true or false or '*', got 'yes'"},
      {"{id: a, owner: o, unknown_thing: 1}", "item.unknown_field", "unknown field 'unknown_thing'"},
  };
  for (const auto& c : cases) {
    Checked r = Check(t, "  - " + c.item + "\n");
    EXPECT_FALSE(r.report.accepted) << c.item;
    ASSERT_EQ(r.report.findings.size(), 1u) << c.item << " -> " << ::testing::PrintToString(r.Checks());
    EXPECT_EQ(r.report.findings[0].check, c.check) << c.item;
    EXPECT_NE(r.report.findings[0].message.find(c.message), std::string::npos)
        << c.item << " -> " << r.report.findings[0].message;
    EXPECT_EQ(r.report.findings[0].item, "a");
  }
}

TEST(StageOneTest, DuplicateIdsAndUniqueKeys) {
  ContentType t = Type();
  Checked c = Check(t,
                    "  - {id: a, owner: o, pattern: x, path: y}\n"
                    "  - {id: a, owner: o, pattern: x, path: z}\n"
                    "  - {id: b, owner: o, pattern: x, path: y}\n");
  EXPECT_EQ(c.Checks(), (std::vector<std::string>{"item.duplicate_id", "limits.unique"}));
  EXPECT_NE(c.report.findings[1].message.find("'b' duplicates item 'a' on the unique key (pattern, path)"),
            std::string::npos);
  // Same values in different unique fields are not duplicates; wildcard differs from a literal.
  Checked ok = Check(t,
                     "  - {id: a, owner: o, pattern: x, path: y}\n"
                     "  - {id: b, owner: o, pattern: y, path: x}\n"
                     "  - {id: c, owner: o, pattern: \"*\", path: y}\n");
  EXPECT_TRUE(ok.report.accepted);
}

TEST(StageOneTest, LimitsOnItemsAndBytes) {
  ContentType t = Type();
  std::string five;
  for (int i = 0; i < 5; ++i) five += "  - {id: i" + std::to_string(i) + ", owner: o, pattern: p" + std::to_string(i) + "}\n";
  Checked c = Check(t, five);
  ASSERT_EQ(c.Checks(), (std::vector<std::string>{"limits.max_items"}));
  EXPECT_NE(c.report.findings[0].message.find("5 items, over the content type's max_items 4"),
            std::string::npos);

  ContentType small = Type(std::string(kType).replace(std::string(kType).find("max_bundle_bytes: 4096"),
                                                      22, "max_bundle_bytes: 150"));
  Checked big = Check(small, "  - {id: a, owner: o, extra: \"" + std::string(100, 'x') + "\"}\n");
  ASSERT_EQ(big.Checks(), (std::vector<std::string>{"limits.max_bundle_bytes"}));
}

TEST(StageOneTest, GrowthAndVersionAgainstPrevious) {
  ContentType t = Type();
  Checked prev = Check(t, "  - {id: a, owner: o, pattern: a}\n  - {id: b, owner: o, pattern: b}\n",
                       nullptr, nullptr, 0, 9);
  size_t prev_bytes = EncodeCanonicalPayload(prev.bundle, t).size();
  // +50% exactly is allowed (max_growth 0.5): 2 -> 3 items.
  Checked ok = Check(t, "  - {id: a, owner: o, pattern: a}\n  - {id: b, owner: o, pattern: b}\n"
                     "  - {id: c, owner: o, pattern: c}\n",
                     nullptr, &prev.bundle, prev_bytes * 2);
  EXPECT_TRUE(ok.report.accepted) << ::testing::PrintToString(ok.Checks());
  // Doubling (Cloudflare 2025's feature file) is refused: 2 -> 4 items.
  Checked grown = Check(t,
                        "  - {id: a, owner: o, pattern: a}\n  - {id: b, owner: o, pattern: b}\n"
                        "  - {id: c, owner: o, pattern: c}\n  - {id: d, owner: o, pattern: d}\n",
                        nullptr, &prev.bundle, prev_bytes * 2);
  ASSERT_EQ(grown.Checks(), (std::vector<std::string>{"limits.growth"}));
  EXPECT_NE(grown.report.findings[0].message.find("item count grew +100.0%"), std::string::npos)
      << grown.report.findings[0].message;
  // Byte growth alone also counts.
  Checked bytes = Check(t, "  - {id: a, owner: o, extra: \"" + std::string(300, 'y') + "\"}\n",
                        nullptr, &prev.bundle, prev_bytes);
  ASSERT_EQ(bytes.Checks(), (std::vector<std::string>{"limits.growth"}));
  EXPECT_NE(bytes.report.findings[0].message.find("bundle size grew"), std::string::npos);
  // Version must increase.
  Checked older = Check(t, "  - {id: a, owner: o}\n", nullptr, &prev.bundle, prev_bytes, 9);
  ASSERT_EQ(older.Checks(), (std::vector<std::string>{"previous.version"}));
}

TEST(StageOneTest, SchemaVersionMismatchWithType) {
  ContentType t = Type();
  Checked c = Check(t, "  - {id: a, owner: o}\n", nullptr, nullptr, 0, 10, 3);
  ASSERT_EQ(c.Checks(), (std::vector<std::string>{"bundle.schema_version"}));
}

TEST(StageOneTest, BacktrackingEngineRejectsSuperLinearPatterns) {
  std::string text = kType;
  text.replace(text.find("max_length: 16}"), 15, "max_length: 64}");
  text += "regex_engine: backtracking\n";
  ContentType t = Type(text);
  for (std::string p : {"(a+)+$", "(\\\\w+\\\\s?)*$", ".*(?:.*=.*)"}) {
    Checked c = Check(t, "  - {id: a, owner: o, pattern: \"" + p + "\"}\n");
    ASSERT_EQ(c.Checks(), (std::vector<std::string>{"regex.cost"})) << p;
    EXPECT_NE(c.report.findings[0].message.find("backtracking"), std::string::npos);
  }
  Checked fine = Check(t, "  - {id: a, owner: o, pattern: \"^msagent_[0-9a-f]{2}$\"}\n");
  EXPECT_TRUE(fine.report.accepted) << ::testing::PrintToString(fine.Checks());
  Checked bad = Check(t, "  - {id: a, owner: o, pattern: \"(ab\"}\n");
  ASSERT_EQ(bad.Checks(), (std::vector<std::string>{"regex.compile"}));
  // The same patterns are fine under RE2, which is linear-time.
  Checked re2 = Check(Type(), "  - {id: a, owner: o, pattern: \"(a+)+$\"}\n");
  EXPECT_TRUE(re2.report.accepted);
}

Fleet CF291Fleet(int inputs_711, int inputs_715) {
  Fleet f;
  auto add = [&](std::string os, std::string v, int64_t devices, std::optional<int> inputs) {
    Stratum s;
    s.attrs = {{"os", os}, {"agent_version", v}};
    s.devices = devices;
    if (inputs) s.capabilities["ipc_rule"] = ConsumerCapability{{3}, *inputs, 0, 0};
    f.strata.push_back(s);
  };
  add("windows", "7.11", 3'100'000, inputs_711);
  add("windows", "7.15", 5'400'000, inputs_715);
  add("windows", "7.16", 40'000, 21);
  add("linux", "7.15", 1'200'000, std::nullopt);
  return f;
}

ContentType Ipc() {
  auto t = ParseContentType(
      testing::ReadFileOrDie(testing::SourcePath("samples/content/ipc_rule.type.yaml")), "ipc");
  EXPECT_TRUE(t.ok());
  return *t;
}

Result<StageOneReport> CheckCf291(const Fleet& fleet) {
  return CheckBundleSource(
      Ipc(), testing::ReadFileOrDie(testing::SourcePath("samples/content/cf291.bundle.yaml")),
      "cf291.bundle.yaml", &fleet);
}

TEST(StageOneTest, ChannelFile291IsRejectedAgainstTheFleet) {
  auto r = CheckCf291(CF291Fleet(20, 20));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->accepted);
  ASSERT_EQ(r->findings.size(), 1u);
  const Finding& f = r->findings[0];
  EXPECT_EQ(f.check, "consumer.inputs");
  EXPECT_EQ(f.item, "ipc-0003");
  EXPECT_EQ(f.field, "peer_pipe_regex");
  EXPECT_EQ(f.position, 20);
  EXPECT_EQ(f.devices, 8'500'000);
  EXPECT_EQ(f.strata, (std::vector<std::string>{"agent_version=7.11 os=windows",
                                                "agent_version=7.15 os=windows"}));
  // Only the strata that are short are named: 7.15 with 21 inputs is fine.
  auto partial = CheckCf291(CF291Fleet(20, 21));
  ASSERT_TRUE(partial.ok());
  ASSERT_EQ(partial->findings.size(), 1u);
  EXPECT_EQ(partial->findings[0].devices, 3'100'000);
}

TEST(StageOneTest, ChannelFile291IsAcceptedWhenEveryConsumerSuppliesAllInputs) {
  auto r = CheckCf291(CF291Fleet(21, 21));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->accepted);
  EXPECT_TRUE(r->findings.empty());
}

TEST(StageOneTest, ConsumerSchemaAndPreallocatedLimits) {
  Fleet f = CF291Fleet(21, 21);
  f.strata[0].capabilities["ipc_rule"].schema_versions = {2};
  f.strata[1].capabilities["ipc_rule"].max_items = 2;         // Cloudflare 2025: preallocated
  f.strata[2].capabilities["ipc_rule"].max_bundle_bytes = 1000;
  auto r = CheckCf291(f);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> checks;
  for (const auto& x : r->findings) checks.push_back(x.check + ":" + std::to_string(x.devices));
  EXPECT_EQ(checks, (std::vector<std::string>{"consumer.schema_version:3100000",
                                              "consumer.max_items:5400000",
                                              "consumer.max_bundle_bytes:40000"}));
}

// Issue 12: a limit finding states the limit, the actual value and which builds have which limit.
TEST(StageOneTest, ConsumerLimitFindingsStateEachLimit) {
  Fleet f = CF291Fleet(21, 21);
  f.strata[0].capabilities["ipc_rule"].max_items = 2;
  f.strata[1].capabilities["ipc_rule"].max_items = 1;
  auto r = CheckCf291(f);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->findings.size(), 1u);
  const std::string& m = r->findings[0].message;
  EXPECT_EQ(r->findings[0].devices, 8'500'000);
  EXPECT_NE(m.find("exceed the preallocated item limit of consumers on 8,500,000 devices"), std::string::npos) << m;
  EXPECT_NE(m.find("limit 1 items on agent_version=7.15 os=windows (5,400,000 devices)"), std::string::npos) << m;
  EXPECT_NE(m.find("limit 2 items on agent_version=7.11 os=windows (3,100,000 devices)"), std::string::npos) << m;
}

TEST(StageOneTest, RegexModeAndPcre2Engine) {
  std::string text = kType;
  text.replace(text.find("max_length: 16}"), 15, "max_length: 64}");
  ContentType search = Type(text + "regex_engine: ecmascript\n");
  ContentType match = Type(text + "regex_engine: ecmascript\nregex_mode: match\n");
  // \s+$ is quadratic when searched (every start position), linear when matched.
  Checked s = Check(search, "  - {id: a, owner: o, pattern: \"\\\\s+$\"}\n");
  ASSERT_EQ(s.Checks(), (std::vector<std::string>{"regex.cost"}));
  EXPECT_NE(s.report.findings[0].message.find("degree 2"), std::string::npos);
  EXPECT_NE(s.report.findings[0].message.find("attack: prefix"), std::string::npos)
      << s.report.findings[0].message;
  EXPECT_TRUE(Check(match, "  - {id: a, owner: o, pattern: \"\\\\s+$\"}\n").report.accepted);
  // PCRE2 syntax is compiled by PCRE2, not refused as ECMAScript.
  ContentType pcre = Type(text + "regex_engine: pcre2\n");
  Checked ok = Check(pcre, "  - {id: a, owner: o, pattern: \"^(?i)union\\\\s+select\"}\n");
  EXPECT_TRUE(ok.report.accepted) << ::testing::PrintToString(ok.Checks());
  Checked ecma = Check(search, "  - {id: a, owner: o, pattern: \"^(?i)union\\\\s+select\"}\n");
  EXPECT_EQ(ecma.Checks(), (std::vector<std::string>{"regex.compile"}));
  Checked exp = Check(pcre, "  - {id: a, owner: o, pattern: \"^(a|a)+$\"}\n");
  ASSERT_EQ(exp.Checks(), (std::vector<std::string>{"regex.cost"}));
  EXPECT_NE(exp.report.findings[0].message.find("pcre2"), std::string::npos);
  EXPECT_TRUE(Check(pcre, "  - {id: a, owner: o, pattern: \"^(?>a|a)+$\"}\n").report.accepted);
}

TEST(StageOneTest, StrataWithoutDevicesOrConsumersAreIgnored) {
  Fleet f = CF291Fleet(20, 20);
  f.strata[0].devices = 0;
  f.strata[1].capabilities.clear();
  auto r = CheckCf291(f);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->accepted);
  Fleet none;
  auto w = CheckCf291(none);
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->accepted);
  ASSERT_EQ(w->findings.size(), 1u);
  EXPECT_EQ(w->findings[0].check, "consumer.none");
  EXPECT_EQ(w->findings[0].severity, Severity::kWarning);
}

TEST(StageOneTest, ManyFindingsOfOneKindAreSummarised) {
  auto t = ParseContentType("content_type: t\nschema_version: 1\nfields: [{name: n, type: int}]\n", "t");
  ASSERT_TRUE(t.ok());
  std::string items;
  for (int i = 0; i < 300; ++i) items += "  - {id: i" + std::to_string(i) + ", n: x}\n";
  std::vector<Finding> findings;
  auto b = DecodeBundleSource("channel: c\ncontent_type: t\nschema_version: 1\nversion: 1\nitems:\n" + items,
                              "b", *t, &findings);
  ASSERT_TRUE(b.ok());
  StageOneInput in;
  in.type = &*t;
  in.bundle = &*b;
  StageOneReport r = RunStageOne(in, std::move(findings));
  EXPECT_FALSE(r.accepted);
  ASSERT_EQ(r.findings.size(), 201u);
  EXPECT_EQ(r.findings.back().message, "... and 100 more errors of this kind");
}

TEST(StageOneTest, JsonReportShape) {
  auto r = CheckCf291(CF291Fleet(20, 20));
  ASSERT_TRUE(r.ok());
  std::string json = StageOneReportJson(*r, "abc");
  EXPECT_EQ(json.rfind("{\"verdict\":\"reject\",\"bundle_sha256\":\"abc\"", 0), 0u) << json;
  for (const char* key : {"\"check\":\"consumer.inputs\"", "\"severity\":\"error\"",
                          "\"item\":\"ipc-0003\"", "\"field\":\"peer_pipe_regex\"",
                          "\"position\":20", "\"devices\":8500000", "\"message\":"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key;
  }
}

TEST(StageOneTest, FormatCount) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(8500000), "8,500,000");
  EXPECT_EQ(FormatCount(-1234), "-1,234");
}

}  // namespace
}  // namespace rf

namespace rf {
namespace {

// The regex precompile may run concurrently and in any order; findings must not depend on it.
TEST(StageOneTest, ParallelRegexCompilationGivesIdenticalFindings) {
  ContentType t = Type();
  std::string items;
  for (int i = 0; i < 300; ++i) {
    items += "  - {id: i" + std::to_string(i) + ", owner: o, pattern: \"" +
             (i % 7 == 0 ? std::string("(bad") : "p" + std::to_string(i % 50)) + "\", path: x" +
             std::to_string(i) + "}\n";
  }
  std::vector<Finding> decode;
  auto b = DecodeBundleSource("channel: c\ncontent_type: edge\nschema_version: 4\nversion: 1\nitems:\n" +
                                  items, "b", t, &decode);
  ASSERT_TRUE(b.ok());
  StageOneInput in;
  in.type = &t;
  in.bundle = &*b;
  in.payload_bytes = 100;
  StageOneOptions seq;
  seq.max_findings_per_check = 1000;
  StageOneOptions reversed = seq;
  reversed.parallel_for = [](size_t n, const std::function<void(size_t)>& fn) {
    for (size_t i = n; i-- > 0;) fn(i);
  };
  StageOneReport a = RunStageOne(in, decode, seq);
  StageOneReport r = RunStageOne(in, decode, reversed);
  ASSERT_EQ(a.findings.size(), r.findings.size());
  EXPECT_EQ(a.errors, 43u + 1u);  // 43 bad regexes + max_items
  for (size_t i = 0; i < a.findings.size(); ++i) {
    EXPECT_EQ(a.findings[i].check, r.findings[i].check);
    EXPECT_EQ(a.findings[i].item, r.findings[i].item);
    EXPECT_EQ(a.findings[i].message, r.findings[i].message);
  }
}

}  // namespace
}  // namespace rf
