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
  size_t rows_with_zeros = 0;
  for (size_t p = text.find("\n4 "); p != std::string::npos; p = text.find("\n4 ", p + 1)) {
    const std::string row = text.substr(p + 1, text.find('\n', p + 1) - p - 1);
    if (row.find("FAILED") == std::string::npos && row.find(" 0 ") != std::string::npos) ++rows_with_zeros;
  }
  EXPECT_EQ(rows_with_zeros, 0u) << text;
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
