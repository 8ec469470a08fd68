#include <gtest/gtest.h>

#include "demo/demo.h"

namespace rf::demo {
namespace {

// A run that could not complete is shown as FAILED with its reason, never as a row of zeros that
// reads as "contained" (issue 11).
TEST(DemoTextTest, AFailedRunIsMarkedFailedWithItsReason) {
  RunResult ok;
  ok.layers = {{4}, false};
  ok.devices = 120;
  ok.affected = 84;
  ok.exposed = 9;
  ok.harmed = 4;
  ok.halted = true;
  ok.time_to_halt_s = 7.5;
  ok.stopped_by = "layer 4 halted it";
  RunResult failed;
  failed.layers = {{4}, false};
  failed.devices = 120;
  failed.error = "the good bundle's release ended RolledBack";
  const std::string text = DemoText({ok, failed}, 100);
  EXPECT_NE(text.find("FAILED: the good bundle's release ended RolledBack"), std::string::npos) << text;
  EXPECT_NE(text.find("FAILED (the good bundle's release ended RolledBack)"), std::string::npos) << text;
  // The completed run keeps its figures; the failed one has no figures at all.
  EXPECT_NE(text.find("7.5 s"), std::string::npos) << text;
  const size_t failed_row = text.find("FAILED: ");
  ASSERT_NE(failed_row, std::string::npos) << text;
  const size_t row_start = text.rfind('\n', failed_row) + 1;
  const std::string row = text.substr(row_start, text.find('\n', failed_row) - row_start);
  EXPECT_EQ(row.find(" 0 "), std::string::npos) << row;  // no figures on the failed run's row
  EXPECT_EQ(row.find(" no "), std::string::npos) << row;
  const std::string json = DemoJson({failed}, 100);
  EXPECT_NE(json.find("\"error\": \"the good bundle's release ended RolledBack\""), std::string::npos)
      << json;
}

TEST(DemoTextTest, SizesItselfToTheMachine) {
  DemoOptions two;
  SizeToMachine(&two, 2);
  EXPECT_EQ(two.parallel, 2);
  EXPECT_EQ(two.agents, 100);  // 200 agents on 2 cores (800 before: load 77-112)
  DemoOptions one;
  SizeToMachine(&one, 1);
  EXPECT_EQ(one.parallel, 1);
  EXPECT_EQ(one.agents, 100);
  DemoOptions big;
  SizeToMachine(&big, 64);
  EXPECT_EQ(big.parallel, 16);
  EXPECT_EQ(big.agents, 100);
  DemoOptions given;
  given.agents = 120;
  given.parallel = 4;
  SizeToMachine(&given, 2);  // what the operator asked for is kept
  EXPECT_EQ(given.parallel, 4);
  EXPECT_EQ(given.agents, 120);
}

}  // namespace
}  // namespace rf::demo
