#include "core/fleet.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace rf {
namespace {

TEST(FleetTest, ParsesShippedFleet) {
  auto f = ParseFleetJson(testing::ReadFileOrDie(testing::SourcePath("samples/content/fleet.json")),
                          "fleet.json");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->strata.size(), 6u);
  const Stratum& s = f->strata[0];
  EXPECT_EQ(s.devices, 3'100'000);
  EXPECT_EQ(s.Label(), "agent_version=7.11 os=windows");
  ASSERT_EQ(s.capabilities.count("ipc_rule"), 1u);
  EXPECT_EQ(s.capabilities.at("ipc_rule").inputs, 20);
  EXPECT_TRUE(s.capabilities.at("ipc_rule").SupportsSchema(3));
  EXPECT_FALSE(s.capabilities.at("ipc_rule").SupportsSchema(2));
  EXPECT_TRUE(f->strata[3].capabilities.empty());
}

TEST(FleetTest, EncodeFleetJsonRoundTrips) {
  Fleet f;
  Stratum a;
  a.attrs = {{"os", "win\"dows"}, {"agent_version", "7.11"}};
  a.capabilities["ipc_rule"] = ConsumerCapability{{2, 3}, 20, 100, 4096};
  a.capabilities["dns"] = ConsumerCapability{{1}, 4, 0, 0};
  a.devices = 3'100'000;
  Stratum b;  // no attributes, consumes nothing
  b.devices = 7;
  f.strata = {a, b};
  const std::string text = EncodeFleetJson(f);
  auto back = ParseFleetJson(text, "published");
  ASSERT_TRUE(back.ok()) << back.status().ToString() << " " << text;
  EXPECT_EQ(EncodeFleetJson(*back), text);
  ASSERT_EQ(back->strata.size(), 2u);
  EXPECT_EQ(back->strata[0].attrs, a.attrs);
  EXPECT_EQ(back->strata[0].devices, 3'100'000);
  const ConsumerCapability& c = back->strata[0].capabilities.at("ipc_rule");
  EXPECT_EQ(c.schema_versions, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(c.inputs, 20);
  EXPECT_EQ(c.max_items, 100);
  EXPECT_EQ(c.max_bundle_bytes, 4096);
  EXPECT_EQ(back->strata[0].capabilities.at("dns").max_items, 0);
  EXPECT_EQ(back->strata[1].devices, 7);
  EXPECT_EQ(EncodeFleetJson(Fleet()), "{\"strata\":[]}");
}

TEST(FleetTest, ErrorsNameStratumAndKey) {
  struct Case {
    const char* json;
    const char* expect;
  } cases[] = {
      {"[]", "must be a JSON object"},
      {"{\"strata\": [{\"attrs\": {}}]}", "strata[0]: 'devices' is missing"},
      {"{\"strata\": [{\"devices\": -5}]}", "strata[0].devices: expected a non-negative integer"},
      {"{\"strata\": [{\"devices\": 1, \"capabilities\": {\"t\": {\"inputs\": 3}}}]}",
       "strata[0].capabilities.t: schema_versions is missing"},
      {"{\"strata\": [{\"devices\": 1, \"capabilities\": {\"t\": {\"schema_versions\": [1]}}}]}",
       "strata[0].capabilities.t: inputs is missing"},
      {"{\"strata\": [{\"devices\": 1, \"colour\": 3}]}", "strata[0]: unknown key 'colour'"},
      {"{\"strata\": [{\"devices\": 1, \"attrs\": {\"os\": 7}}]}", "strata[0].attrs.os: must be a string"},
      {"{\"strata\": [", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto f = ParseFleetJson(c.json, "f.json");
    ASSERT_FALSE(f.ok()) << c.json;
    EXPECT_NE(f.status().message().find(c.expect), std::string::npos) << f.status().message();
    EXPECT_EQ(f.status().message().rfind("f.json", 0), 0u) << f.status().message();
  }
}

}  // namespace
}  // namespace rf
