#include "sim/what_if.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "testing/test_util.h"

namespace rf::sim {
namespace {

// The live fleet of the browser test: three strata, two of them on the legacy sensor.
Fleet LiveFleet(int64_t per_stratum) {
  Fleet f;
  const char* kAttrs[][2] = {{"windows", "7.11"}, {"windows", "7.15"}, {"linux", "7.16"}};
  for (const auto& a : kAttrs) {
    Stratum s;
    s.attrs = {{"os", a[0]}, {"agent_version", a[1]}};
    s.capabilities["ipc_rule"].schema_versions = {3};
    s.capabilities["ipc_rule"].inputs = 20;
    s.devices = per_stratum;
    f.strata.push_back(s);
  }
  return f;
}

WhatIfInput Input() {
  WhatIfInput in;
  in.release_id = "r-1";
  in.content_type = "ipc_rule";
  in.plan_yaml = testing::ReadFileOrDie(testing::SourcePath("samples/plans/emergency.yaml"));
  in.fleet = LiveFleet(100'000);
  in.poll_interval_micros = 60'000'000;
  return in;
}

TEST(WhatIf, BadContentIsStoppedByThePlanAndNotByAllAtOnce) {
  auto json = WhatIfJson(Input());
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  const boost::json::object o = boost::json::parse(*json).as_object();
  EXPECT_EQ(o.at("devices").as_int64(), 300'000);
  const auto& policies = o.at("policies").as_array();
  ASSERT_EQ(policies.size(), 2u);
  const auto& ringfence = policies[0].as_object();
  const auto& all = policies[1].as_object();
  EXPECT_EQ(ringfence.at("name").as_string(), "ringfence");
  EXPECT_FALSE(ringfence.at("halt_s").is_null()) << "the gate halts bad content";
  const int64_t harmed_ringfence = ringfence.at("harmed").as_array().back().as_int64();
  const int64_t harmed_all = all.at("harmed").as_array().back().as_int64();
  EXPECT_GT(harmed_all, 290'000);
  EXPECT_LT(harmed_ringfence * 100, harmed_all) << harmed_ringfence << " vs " << harmed_all;
}

TEST(WhatIf, AFleetPollingEverySecondIsSimulatedWithShorterTicks) {
  WhatIfInput in = Input();
  in.fleet = LiveFleet(5);
  in.poll_interval_micros = 1'000'000;
  auto json = WhatIfJson(in);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(boost::json::parse(*json).at("devices").as_int64(), 15);
}

TEST(WhatIf, RefusesUnusableInput) {
  WhatIfInput in = Input();
  in.p = 1.5;
  EXPECT_EQ(WhatIfJson(in).status().code(), StatusCode::kInvalidArgument);
  in = Input();
  in.content_type = "nobody_takes_this";
  EXPECT_EQ(WhatIfJson(in).status().code(), StatusCode::kFailedPrecondition);
  in = Input();
  in.fleet = Fleet{};
  EXPECT_EQ(WhatIfJson(in).status().code(), StatusCode::kFailedPrecondition);
  in = Input();
  in.plan_yaml = "plan: [";
  EXPECT_FALSE(WhatIfJson(in).ok());
}

}  // namespace
}  // namespace rf::sim
