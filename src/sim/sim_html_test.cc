#include "sim/sim_html.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <string>

#include "platform/sim_env.h"
#include "sim/sim_command.h"
#include "testing/test_util.h"
#include "ui/ui_assets.h"

namespace rf::sim {
namespace {

class SimHtmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs_.CreateDirs("s/plans", 0755).ok());
    Put("s/waf.yaml", testing::SourcePath("samples/scenarios/cloudflare-2019-waf.yaml"));
    Put("s/plans/emergency.yaml", testing::SourcePath("samples/plans/emergency.yaml"));
  }
  void Put(const std::string& path, const std::string& source) {
    ASSERT_TRUE(fs_.WriteFileAtomic(path, testing::ReadFileOrDie(source), 0644).ok());
  }
  MemFilesystem fs_;
};

TEST(EscapeForRawTextElement, BreaksEveryClosingTagAndKeepsTheRest) {
  EXPECT_EQ(EscapeForRawTextElement("a</script>b</style><p>"), "a<\\/script>b<\\/style><p>");
  EXPECT_EQ(EscapeForRawTextElement("x < y"), "x < y");
  // In JSON the escaped text decodes to the original string.
  const std::string json = EscapeForRawTextElement(R"J({"k":"</script><script>alert(1)"})J");
  EXPECT_EQ(boost::json::parse(json).at("k").as_string(), "</script><script>alert(1)");
}

TEST_F(SimHtmlTest, CompareWritesOnePageWithEveryPolicysTimelineAndTheHalt) {
  SimFlags f;
  f.scenario = "s/waf.yaml";
  f.compare = true;
  f.html = "out.html";
  std::ostringstream out, err;
  const int rc = RunSimCommand(f, fs_, out, err);
  if (!ui::AssetsBuilt()) {
    EXPECT_EQ(rc, 2);
    EXPECT_NE(err.str().find("built without the dashboard's assets"), std::string::npos) << err.str();
    GTEST_SKIP() << "built without node/npm: the page cannot be made (the refusal was checked)";
  }
  ASSERT_EQ(rc, 0) << err.str();
  auto page = fs_.ReadFile("out.html", 16 << 20);
  ASSERT_TRUE(page.ok());
  // Self-contained: no external script, stylesheet or URL to fetch.
  EXPECT_EQ(page->find("src="), std::string::npos);
  EXPECT_EQ(page->find("href="), std::string::npos);
  EXPECT_EQ(page->find("http://"), std::string::npos);
  EXPECT_EQ(page->find("https://"), std::string::npos);
  // The data element parses and holds every policy's timeline.
  const std::string open = "<script type=\"application/json\" id=\"sim-data\">";
  const size_t a = page->find(open);
  ASSERT_NE(a, std::string::npos);
  const size_t b = page->find("</script>", a);
  boost::json::object d = boost::json::parse(page->substr(a + open.size(), b - a - open.size())).as_object();
  EXPECT_EQ(d.at("policies").as_array().size(), PolicyNames().size());
  EXPECT_EQ(d.at("rows").as_array().size(), PolicyNames().size());
  bool some_halt = false;
  for (const auto& pv : d.at("policies").as_array()) {
    const auto& p = pv.as_object();
    const auto& t = p.at("t_s").as_array();
    ASSERT_GE(t.size(), 2u) << p.at("name");
    EXPECT_EQ(t.size(), p.at("exposed").as_array().size());
    EXPECT_EQ(t.size(), p.at("harmed").as_array().size());
    // Non-decreasing time and totals.
    for (size_t i = 1; i < t.size(); ++i) {
      EXPECT_LE(t[i - 1].to_number<double>(), t[i].to_number<double>());
      EXPECT_LE(p.at("harmed").as_array()[i - 1].as_int64(), p.at("harmed").as_array()[i].as_int64());
    }
    if (!p.at("halt_s").is_null()) some_halt = true;
  }
  EXPECT_TRUE(some_halt) << "the WAF scenario halts under ringfence";
}

TEST_F(SimHtmlTest, TimelineEndsAtTheRunsTotals) {
  SimFlags f;
  f.scenario = "s/waf.yaml";
  f.format = "json";
  std::ostringstream out, err;
  ASSERT_EQ(RunSimCommand(f, fs_, out, err), 0) << err.str();
  const boost::json::object o = boost::json::parse(out.str()).as_object();
  // The same run through the runner: the timeline's last point is the summary's totals.
  auto text = fs_.ReadFile("s/waf.yaml", 1 << 20);
  ASSERT_TRUE(text.ok());
  auto sc = ParseScenario(*text, "s/waf.yaml");
  ASSERT_TRUE(sc.ok());
  auto files = LoadScenarioFiles(*sc, fs_);
  ASSERT_TRUE(files.ok());
  auto run = RunScenario(*sc, *files, RunOptions{});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const SimResult& r = run->policies.front().runs.front();
  ASSERT_FALSE(r.timeline.empty());
  EXPECT_EQ(r.timeline.front().micros, 0);
  EXPECT_EQ(r.timeline.back().exposed, o.at("devices_exposed").as_int64());
  EXPECT_EQ(r.timeline.back().harmed, o.at("devices_harmed").as_int64());
  EXPECT_EQ(r.timeline.back().micros, r.end_micros);
}

}  // namespace
}  // namespace rf::sim
