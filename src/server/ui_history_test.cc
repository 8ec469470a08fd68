#include "server/ui_history.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "platform/sim_env.h"
#include "server/controller.h"

namespace rf::server {
namespace {

namespace json = boost::json;

// Sources the test sets directly.
struct FakeWorld {
  std::vector<ReleaseRecord> releases;
  std::map<std::string, ReleaseProgress> progress;
  std::vector<GateMetric> metrics;

  HistorySources Sources() {
    HistorySources s;
    s.releases = [this] { return releases; };
    s.progress = [this](std::string_view id) -> std::optional<ReleaseProgress> {
      auto it = progress.find(std::string(id));
      if (it == progress.end()) return std::nullopt;
      return it->second;
    };
    s.gate_metrics = [this] { return metrics; };
    s.coverage = [](const ReleaseRecord&) {
      return std::vector<StratumCoverage>{{"os=<b>win</b>", 10, 0.25}};
    };
    s.known = [](std::string_view id) { return id == "r-known"; };
    return s;
  }
};

ReleaseRecord Started(std::string id, rollout::Phase phase, int wave) {
  ReleaseRecord r;
  r.release_id = std::move(id);
  r.channel = "291";
  r.started_s = 1;
  r.state.phase = phase;
  r.state.wave = wave;
  return r;
}

Result<Principal> Auth(std::string_view token) {
  if (token == "op") return Principal{"olivia", {Role::kOperator}};
  if (token == "agent") return Principal{"agent", {Role::kAgent}};
  return Status::Unauthenticated("unknown token");
}

HttpRequest Get(std::string path, std::string token = "op") {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.bearer_token = std::move(token);
  return r;
}

class ReleaseHistoryTest : public ::testing::Test {
 protected:
  FakeWorld world_;
  SimulatedClock clock_{1'000'000'000};
};

TEST_F(ReleaseHistoryTest, HandlesOnlyTheHistoryPath) {
  EXPECT_TRUE(ReleaseHistory::Handles("/v1/releases/r-1/history"));
  EXPECT_FALSE(ReleaseHistory::Handles("/v1/releases/r-1/progress"));
  EXPECT_FALSE(ReleaseHistory::Handles("/v1/releases//history"));
  EXPECT_FALSE(ReleaseHistory::Handles("/v1/releases/a/b/history"));
  EXPECT_FALSE(ReleaseHistory::Handles("/v1/releases/history"));
}

TEST_F(ReleaseHistoryTest, SamplesStartedReleasesAndServesThemAfterATime) {
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  ReleaseProgress p;
  p.eligible_devices = 100;
  p.exposed_devices = 3;
  p.applied_devices = 2;
  p.harmed_devices = 1;
  p.max_e_value = 4.5;
  p.e_threshold = 100;
  p.waves = {{"canary", 5, 3}};
  world_.progress["r-1"] = p;
  world_.metrics = {{"r-1", "crash", 4.5, 100}, {"other", "crash", 9, 100}};
  ReleaseHistory h(world_.Sources(), clock_, Auth);
  h.SampleNow();
  const int64_t first = clock_.NowUnixMicros();
  clock_.AdvanceMicros(1'000'000);
  world_.progress["r-1"].exposed_devices = 5;
  h.SampleNow();

  HttpResponse all = h.Handle(Get("/v1/releases/r-1/history"));
  ASSERT_EQ(all.status, 200) << all.body;
  json::object o = json::parse(all.body).as_object();
  const json::array& s = o.at("samples").as_array();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].at("exposed").as_int64(), 3);
  EXPECT_EQ(s[1].at("exposed").as_int64(), 5);
  EXPECT_EQ(s[0].at("harmed").as_int64(), 1);
  EXPECT_EQ(s[0].at("phase").as_string(), "Dispatching");
  ASSERT_EQ(s[0].at("metrics").as_array().size(), 1u);  // only this release's metrics
  EXPECT_EQ(s[0].at("metrics").as_array()[0].at("e_value").as_double(), 4.5);
  EXPECT_EQ(s[0].at("waves").as_array()[0].at("target").as_int64(), 5);
  EXPECT_EQ(o.at("strata").as_array()[0].at("key").as_string(), "os=<b>win</b>");

  HttpRequest q = Get("/v1/releases/r-1/history");
  q.query["after_us"] = std::to_string(first);
  HttpResponse newer = h.Handle(q);
  ASSERT_EQ(newer.status, 200);
  EXPECT_EQ(json::parse(newer.body).at("samples").as_array().size(), 1u);
}

TEST_F(ReleaseHistoryTest, BoundedPerReleaseAndInReleases) {
  ReleaseHistoryOptions opt;
  opt.max_samples = 3;
  opt.max_releases = 2;
  ReleaseHistory h(world_.Sources(), clock_, Auth, opt);
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  for (int i = 0; i < 10; ++i) {
    h.SampleNow();
    clock_.AdvanceMicros(1'000'000);
  }
  EXPECT_EQ(json::parse(h.Handle(Get("/v1/releases/r-1/history")).body).at("samples").as_array().size(), 3u);
  world_.releases = {Started("r-2", rollout::Phase::kDispatching, 0), Started("r-3", rollout::Phase::kDispatching, 0)};
  h.SampleNow();
  // r-1 was sampled least recently: dropped (and unknown to the sources: 404).
  EXPECT_EQ(h.Handle(Get("/v1/releases/r-1/history")).status, 404);
  EXPECT_EQ(h.Handle(Get("/v1/releases/r-2/history")).status, 200);
}

TEST_F(ReleaseHistoryTest, AFinishedReleasesSeriesEndsAtItsFinalPhase) {
  ReleaseHistory h(world_.Sources(), clock_, Auth);
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 1)};
  h.SampleNow();
  world_.releases = {Started("r-1", rollout::Phase::kHalted, 1)};
  for (int i = 0; i < 5; ++i) {
    clock_.AdvanceMicros(1'000'000);
    h.SampleNow();
  }
  const json::array s = json::parse(h.Handle(Get("/v1/releases/r-1/history")).body).at("samples").as_array();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].at("phase").as_string(), "Halted");
}

TEST_F(ReleaseHistoryTest, WhenTheControllerStopsReportingTheLastCountsStand) {
  ReleaseHistory h(world_.Sources(), clock_, Auth);
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  ReleaseProgress p;
  p.exposed_devices = 6;
  p.harmed_devices = 4;
  world_.progress["r-1"] = p;
  world_.metrics = {{"r-1", "crash", 700, 600}};
  h.SampleNow();
  world_.progress.clear();
  world_.metrics.clear();
  world_.releases = {Started("r-1", rollout::Phase::kRolledBack, 0)};
  clock_.AdvanceMicros(1'000'000);
  h.SampleNow();
  const json::array s = json::parse(h.Handle(Get("/v1/releases/r-1/history")).body).at("samples").as_array();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].at("phase").as_string(), "RolledBack");
  EXPECT_EQ(s[1].at("exposed").as_int64(), 6);
  EXPECT_EQ(s[1].at("harmed").as_int64(), 4);
  EXPECT_EQ(s[1].at("metrics").as_array().size(), 1u);
}

TEST_F(ReleaseHistoryTest, RefusesBadTokensAgentsBadQueriesAndMethods) {
  ReleaseHistory h(world_.Sources(), clock_, Auth);
  EXPECT_EQ(h.Handle(Get("/v1/releases/r-known/history", "nope")).status, 401);
  HttpResponse agent = h.Handle(Get("/v1/releases/r-known/history", "agent"));
  EXPECT_EQ(agent.status, 403);
  EXPECT_NE(agent.body.find("forbidden_role"), std::string::npos);
  HttpRequest bad = Get("/v1/releases/r-known/history");
  bad.query["after_us"] = "-1";
  EXPECT_EQ(h.Handle(bad).status, 400);
  bad.query.clear();
  bad.query["limit"] = "3";
  EXPECT_EQ(h.Handle(bad).status, 400);
  HttpRequest post = Get("/v1/releases/r-known/history");
  post.method = "POST";
  EXPECT_EQ(h.Handle(post).status, 405);
  // Known but never sampled: an empty series; unknown: 404.
  HttpResponse empty = h.Handle(Get("/v1/releases/r-known/history"));
  ASSERT_EQ(empty.status, 200);
  EXPECT_TRUE(json::parse(empty.body).at("samples").as_array().empty());
  EXPECT_EQ(h.Handle(Get("/v1/releases/r-unknown/history")).status, 404);
}

TEST_F(ReleaseHistoryTest, StartAndStopRunTheSamplerAndAreIdempotent) {
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  ReleaseHistoryOptions opt;
  opt.interval_micros = 1000;
  ReleaseHistory h(world_.Sources(), clock_, Auth, opt);
  h.Start();
  h.Start();
  // The first sample is taken at once when the loop starts; wait for it generously.
  for (int i = 0; i < 5000; ++i) {
    if (h.Handle(Get("/v1/releases/r-1/history")).status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  h.Stop();
  h.Stop();
  EXPECT_EQ(h.Handle(Get("/v1/releases/r-1/history")).status, 200);
}

}  // namespace
}  // namespace rf::server
