#include "server/event_log.h"

#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "platform/sim_env.h"

namespace rf::server {
namespace {

TEST(EventLog, OneJsonObjectPerLineWithTimeLevelAndFields) {
  std::ostringstream out;
  SimulatedClock clock(1'765'000'000'123'456);  // 2025-12-06T05:46:40.123456Z
  EventLog log(out, clock, LogLevel::kInfo);
  log.Write(LogLevel::kInfo, "audit", {{"actor", "alice"}, {"n", int64_t{-7}}});
  log.Write(LogLevel::kWarn, "http", {{"path", "/v1/x\"\n{\"level\":\"error\"}"}});
  std::istringstream lines(out.str());
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  boost::json::object a = boost::json::parse(line).as_object();
  EXPECT_EQ(a.at("ts").as_string(), "2025-12-06T05:46:40.123456Z");
  EXPECT_EQ(a.at("level").as_string(), "info");
  EXPECT_EQ(a.at("event").as_string(), "audit");
  EXPECT_EQ(a.at("actor").as_string(), "alice");
  EXPECT_EQ(a.at("n").as_int64(), -7);
  // A hostile path cannot forge a second line or field.
  ASSERT_TRUE(std::getline(lines, line));
  boost::json::object b = boost::json::parse(line).as_object();
  EXPECT_EQ(b.at("path").as_string(), "/v1/x\"\n{\"level\":\"error\"}");
  EXPECT_EQ(b.at("level").as_string(), "warn");
  EXPECT_FALSE(std::getline(lines, line));
}

TEST(EventLog, LinesBelowTheLevelAreDropped) {
  std::ostringstream out;
  SimulatedClock clock(0);
  EventLog log(out, clock, LogLevel::kWarn);
  EXPECT_FALSE(log.Enabled(LogLevel::kInfo));
  EXPECT_TRUE(log.Enabled(LogLevel::kError));
  log.Write(LogLevel::kDebug, "a", {});
  log.Write(LogLevel::kInfo, "b", {});
  log.Write(LogLevel::kWarn, "c", {});
  log.Write(LogLevel::kError, "d", {});
  EXPECT_EQ(out.str().find("\"event\":\"a\""), std::string::npos);
  EXPECT_EQ(out.str().find("\"event\":\"b\""), std::string::npos);
  EXPECT_NE(out.str().find("\"event\":\"c\""), std::string::npos);
  EXPECT_NE(out.str().find("\"event\":\"d\""), std::string::npos);
}

TEST(EventLog, ParsesLevelsAndRefusesOthers) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  auto bad = ParseLogLevel("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'verbose'"), std::string::npos);
}

}  // namespace
}  // namespace rf::server
