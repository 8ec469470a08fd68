// `ringfence server`'s structured log on stderr (docs/server.md "Log"): one line per operator
// action, audited state change and refusal; the level is configurable.
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_harness.h"
#include "testing/test_util.h"

namespace rf {
namespace {

using e2e::HttpConnection;
using e2e::ServerOptions;
using e2e::ServerProcess;
using e2e::Trim;
using testing::ReadFileOrDie;
using testing::TempDir;

// The JSON lines of `text` (other lines, e.g. "ringfence server: stopped", skipped).
std::vector<boost::json::object> JsonLines(const std::string& text) {
  std::vector<boost::json::object> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line[0] != '{') continue;
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    EXPECT_FALSE(ec) << line;
    if (!ec && v.is_object()) out.push_back(v.as_object());
  }
  return out;
}

bool Has(const std::vector<boost::json::object>& lines, const std::string& level,
         const std::string& event, const std::string& key, const std::string& value) {
  for (const auto& o : lines) {
    if (o.at("level").as_string() == level && o.at("event").as_string() == event &&
        o.contains(key) && o.at(key).is_string() && o.at(key).as_string() == value) {
      return true;
    }
  }
  return false;
}

std::vector<boost::json::object> RunAndLog(const std::string& level, TempDir& dir) {
  ServerOptions o;
  o.stderr_path = dir.File("stderr.log");
  o.extra_args = {"--log-level", level};
  ServerProcess server(dir.File("data"), o);
  EXPECT_GT(server.port(), 0);
  const std::string admin = Trim(ReadFileOrDie(dir.File("data/admin.token")));
  HttpConnection conn(server.port());
  EXPECT_EQ(conn.Do("POST", "/v1/principals", admin, R"({"name":"bob","roles":["reviewer"]})")
                .status,
            201);
  EXPECT_EQ(conn.Do("GET", "/v1/principals", "not-a-token-0123456789").status, 401);
  EXPECT_EQ(conn.Do("GET", "/healthz", "").status, 200);
  EXPECT_EQ(server.Terminate(), 0);  // every line written before exit
  return JsonLines(ReadFileOrDie(dir.File("stderr.log")));
}

TEST(ServerLog, OperatorActionsStateChangesAndRefusalsAreLogged) {
  TempDir dir;
  auto lines = RunAndLog("info", dir);
  EXPECT_TRUE(Has(lines, "info", "audit", "action", "principal.create"));
  EXPECT_TRUE(Has(lines, "info", "audit", "action", "principal.bootstrap"));
  EXPECT_TRUE(Has(lines, "info", "http", "path", "/v1/principals"));
  EXPECT_TRUE(Has(lines, "warn", "http", "error", "unauthenticated"));
  EXPECT_FALSE(Has(lines, "debug", "http", "path", "/healthz"));  // below info
}

TEST(ServerLog, LevelIsConfigurable) {
  TempDir debug_dir, warn_dir;
  auto debug = RunAndLog("debug", debug_dir);
  EXPECT_TRUE(Has(debug, "debug", "http", "path", "/healthz"));
  auto warn = RunAndLog("warn", warn_dir);
  EXPECT_TRUE(Has(warn, "warn", "http", "error", "unauthenticated"));
  for (const auto& o : warn) EXPECT_NE(o.at("level").as_string(), "info") << boost::json::serialize(o);
  auto bad = testing::RunCommand({testing::RingfenceBinary(), "server", "--data",
                                  warn_dir.File("data2"), "--log-level", "loud"});
  EXPECT_EQ(bad.exit_code, 2);
}

}  // namespace
}  // namespace rf
