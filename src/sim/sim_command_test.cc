#include "sim/sim_command.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <string>

#include "platform/sim_env.h"
#include "sim/runner.h"
#include "testing/test_util.h"

namespace rf::sim {
namespace {

// The cloudflare scenario and its plan in an in-memory filesystem.
class SimCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs_.CreateDirs("s/plans", 0755).ok());
    ASSERT_TRUE(fs_.CreateDirs("s/content", 0755).ok());
    Put("s/waf.yaml", testing::SourcePath("samples/scenarios/cloudflare-2019-waf.yaml"));
    Put("s/cf291.yaml", testing::SourcePath("samples/scenarios/cf291.yaml"));
    Put("s/plans/emergency.yaml", testing::SourcePath("samples/plans/emergency.yaml"));
    Put("s/content/ipc_rule.type.yaml", testing::SourcePath("samples/content/ipc_rule.type.yaml"));
    Put("s/content/cf291.bundle.yaml", testing::SourcePath("samples/content/cf291.bundle.yaml"));
  }
  void Put(const std::string& path, const std::string& source) {
    ASSERT_TRUE(fs_.WriteFileAtomic(path, testing::ReadFileOrDie(source), 0644).ok());
  }
  int Run(const SimFlags& flags) {
    out_.str("");
    err_.str("");
    return RunSimCommand(flags, fs_, out_, err_);
  }
  MemFilesystem fs_;
  std::ostringstream out_, err_;
};

TEST_F(SimCommandTest, JsonHasTheRequiredFieldsOverallAndPerStratum) {
  SimFlags f;
  f.scenario = "s/waf.yaml";
  f.format = "json";
  ASSERT_EQ(Run(f), 0) << err_.str();
  boost::json::value v = boost::json::parse(out_.str());
  const boost::json::object& o = v.as_object();
  for (const char* key : {"devices_exposed", "devices_harmed", "halted", "time_to_halt_s",
                          "time_to_full_s", "strata", "layer1", "policy", "seed"}) {
    EXPECT_TRUE(o.contains(key)) << key;
  }
  EXPECT_TRUE(o.at("halted").as_bool());
  EXPECT_TRUE(o.at("time_to_full_s").is_null());
  EXPECT_GT(o.at("time_to_halt_s").as_double(), 0);
  EXPECT_EQ(o.at("layer1").at("state").as_string(), "not_applicable");
  const boost::json::array& strata = o.at("strata").as_array();
  ASSERT_EQ(strata.size(), 2u);
  for (const auto& s : strata) {
    for (const char* key : {"stratum", "devices_exposed", "devices_harmed", "halted",
                            "time_to_halt_s", "time_to_full_s"}) {
      EXPECT_TRUE(s.as_object().contains(key)) << key;
    }
  }
  EXPECT_EQ(strata[1].at("devices_exposed").as_int64(), 0);  // edge-dns is ineligible
}

TEST_F(SimCommandTest, CompareRunsEveryPolicyInOneTable) {
  SimFlags f;
  f.scenario = "s/waf.yaml";
  f.compare = true;
  ASSERT_EQ(Run(f), 0) << err_.str();
  for (const std::string& name : PolicyNames()) {
    EXPECT_NE(out_.str().find("\n" + name + " "), std::string::npos) << name << "\n" << out_.str();
  }
  f.format = "json";
  f.runs = 2;
  ASSERT_EQ(Run(f), 0) << err_.str();
  boost::json::value v = boost::json::parse(out_.str());
  EXPECT_EQ(v.at("policies").as_array().size(), PolicyNames().size());
  EXPECT_EQ(v.at("policies").as_array()[0].at("runs").as_array().size(), 2u);
  EXPECT_EQ(v.at("policies").as_array()[0].at("summary").at("halted_runs").as_int64(), 2);
}

TEST_F(SimCommandTest, LayerOneVerdictIsReportedAndCanBeSkipped) {
  SimFlags f;
  f.scenario = "s/cf291.yaml";
  ASSERT_EQ(Run(f), 0) << err_.str();
  EXPECT_NE(out_.str().find("layer 1: REJECTED"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("consumer.inputs"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("exposed 0, harmed 0"), std::string::npos) << out_.str();
  f.skip_layer1 = true;
  f.format = "json";
  ASSERT_EQ(Run(f), 0) << err_.str();
  boost::json::value v = boost::json::parse(out_.str());
  EXPECT_EQ(v.at("layer1").at("state").as_string(), "skipped");
  EXPECT_TRUE(v.at("halted").as_bool());
  EXPECT_GT(v.at("devices_harmed").as_int64(), 0);
}

TEST_F(SimCommandTest, UnusableInputExitsTwoNamingFileLineAndKey) {
  SimFlags f;
  f.scenario = "s/missing.yaml";
  EXPECT_EQ(Run(f), 2);
  EXPECT_NE(err_.str().find("s/missing.yaml"), std::string::npos);

  ASSERT_TRUE(fs_.WriteFileAtomic("s/bad.yaml", "scenario: bad\nfleet: {devices: 10}\n", 0644).ok());
  f.scenario = "s/bad.yaml";
  EXPECT_EQ(Run(f), 2);
  EXPECT_NE(err_.str().find("s/bad.yaml:2:"), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find("'poll_interval'"), std::string::npos) << err_.str();

  std::string text = testing::ReadFileOrDie(testing::SourcePath("samples/scenarios/fastly-2021.yaml"));
  ASSERT_TRUE(fs_.WriteFileAtomic("s/noplan.yaml", text, 0644).ok());
  f.scenario = "s/noplan.yaml";
  EXPECT_EQ(Run(f), 2);
  EXPECT_NE(err_.str().find("key 'plan'"), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find("s/plans/standard.yaml"), std::string::npos) << err_.str();
}

}  // namespace
}  // namespace rf::sim
