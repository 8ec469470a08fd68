#include "server/ui_history.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "platform/sim_env.h"
#include "server/controller.h"
#include "server/ui_test_util.h"

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
  ReleaseHistory h(world_.Sources(), clock_, UiTestAuth);
  h.SampleNow();
  const int64_t first = clock_.NowUnixMicros();
  clock_.AdvanceMicros(1'000'000);
  world_.progress["r-1"].exposed_devices = 5;
  h.SampleNow();

  HttpResponse all = h.Handle(UiTestGet("/v1/releases/r-1/history"));
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

  HttpRequest q = UiTestGet("/v1/releases/r-1/history");
  q.query["after_us"] = std::to_string(first);
  HttpResponse newer = h.Handle(q);
  ASSERT_EQ(newer.status, 200);
  EXPECT_EQ(json::parse(newer.body).at("samples").as_array().size(), 1u);
}

TEST_F(ReleaseHistoryTest, BoundedPerReleaseAndInReleases) {
  ReleaseHistoryOptions opt;
  opt.max_samples = 3;
  opt.max_releases = 2;
  ReleaseHistory h(world_.Sources(), clock_, UiTestAuth, opt);
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  for (int i = 0; i < 10; ++i) {
    h.SampleNow();
    clock_.AdvanceMicros(1'000'000);
  }
  EXPECT_EQ(json::parse(h.Handle(UiTestGet("/v1/releases/r-1/history")).body).at("samples").as_array().size(), 3u);
  world_.releases = {Started("r-2", rollout::Phase::kDispatching, 0), Started("r-3", rollout::Phase::kDispatching, 0)};
  h.SampleNow();
  // r-1 was sampled least recently: dropped (and unknown to the sources: 404).
  EXPECT_EQ(h.Handle(UiTestGet("/v1/releases/r-1/history")).status, 404);
  EXPECT_EQ(h.Handle(UiTestGet("/v1/releases/r-2/history")).status, 200);
}

TEST_F(ReleaseHistoryTest, AFinishedReleasesSeriesEndsAtItsFinalPhase) {
  ReleaseHistory h(world_.Sources(), clock_, UiTestAuth);
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 1)};
  h.SampleNow();
  world_.releases = {Started("r-1", rollout::Phase::kHalted, 1)};
  for (int i = 0; i < 5; ++i) {
    clock_.AdvanceMicros(1'000'000);
    h.SampleNow();
  }
  const json::array s = json::parse(h.Handle(UiTestGet("/v1/releases/r-1/history")).body).at("samples").as_array();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].at("phase").as_string(), "Halted");
}

TEST_F(ReleaseHistoryTest, WhenTheControllerStopsReportingTheLastCountsStand) {
  ReleaseHistory h(world_.Sources(), clock_, UiTestAuth);
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
  const json::array s = json::parse(h.Handle(UiTestGet("/v1/releases/r-1/history")).body).at("samples").as_array();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].at("phase").as_string(), "RolledBack");
  EXPECT_EQ(s[1].at("exposed").as_int64(), 6);
  EXPECT_EQ(s[1].at("harmed").as_int64(), 4);
  EXPECT_EQ(s[1].at("metrics").as_array().size(), 1u);
}

TEST_F(ReleaseHistoryTest, RefusesBadTokensAgentsBadQueriesAndMethods) {
  ReleaseHistory h(world_.Sources(), clock_, UiTestAuth);
  EXPECT_EQ(h.Handle(UiTestGet("/v1/releases/r-known/history", "nope")).status, 401);
  HttpResponse agent = h.Handle(UiTestGet("/v1/releases/r-known/history", "agent"));
  EXPECT_EQ(agent.status, 403);
  EXPECT_NE(agent.body.find("forbidden_role"), std::string::npos);
  HttpRequest bad = UiTestGet("/v1/releases/r-known/history");
  bad.query["after_us"] = "-1";
  EXPECT_EQ(h.Handle(bad).status, 400);
  bad.query.clear();
  bad.query["limit"] = "3";
  EXPECT_EQ(h.Handle(bad).status, 400);
  HttpRequest post = UiTestGet("/v1/releases/r-known/history");
  post.method = "POST";
  EXPECT_EQ(h.Handle(post).status, 405);
  // Known but never sampled: an empty series; unknown: 404.
  HttpResponse empty = h.Handle(UiTestGet("/v1/releases/r-known/history"));
  ASSERT_EQ(empty.status, 200);
  EXPECT_TRUE(json::parse(empty.body).at("samples").as_array().empty());
  EXPECT_EQ(h.Handle(UiTestGet("/v1/releases/r-unknown/history")).status, 404);
}

TEST_F(ReleaseHistoryTest, StartAndStopRunTheSamplerAndAreIdempotent) {
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  ReleaseHistoryOptions opt;
  opt.interval_micros = 1000;
  ReleaseHistory h(world_.Sources(), clock_, UiTestAuth, opt);
  h.Start();
  h.Start();
  // The first sample is taken at once when the loop starts; wait for it generously.
  for (int i = 0; i < 5000; ++i) {
    if (h.Handle(UiTestGet("/v1/releases/r-1/history")).status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  h.Stop();
  h.Stop();
  EXPECT_EQ(h.Handle(UiTestGet("/v1/releases/r-1/history")).status, 200);
}

// The long-poll hook: called after a step that stored something new to draw, not after one that
// only repeated the previous sample.
TEST_F(ReleaseHistoryTest, ChangedIsCalledOnlyWhenASampleDiffers) {
  int changed = 0;
  HistorySources sources = world_.Sources();
  sources.changed = [&changed] { ++changed; };
  ReleaseHistory h(std::move(sources), clock_, UiTestAuth);
  h.SampleNow();
  EXPECT_EQ(changed, 0);  // nothing started
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  ReleaseProgress p;
  p.exposed_devices = 3;
  world_.progress["r-1"] = p;
  clock_.AdvanceMicros(1'000'000);
  h.SampleNow();
  EXPECT_EQ(changed, 1);  // a new release
  clock_.AdvanceMicros(1'000'000);
  h.SampleNow();
  EXPECT_EQ(changed, 1);  // the same counts a second later
  world_.progress["r-1"].exposed_devices = 4;
  clock_.AdvanceMicros(1'000'000);
  h.SampleNow();
  EXPECT_EQ(changed, 2);
  world_.metrics = {{"r-1", "crash", 2.5, 100}};
  clock_.AdvanceMicros(1'000'000);
  h.SampleNow();
  EXPECT_EQ(changed, 3);
  world_.releases = {Started("r-1", rollout::Phase::kPaused, 0)};
  clock_.AdvanceMicros(1'000'000);
  h.SampleNow();
  EXPECT_EQ(changed, 4);
}

// A decision becomes a sample of its own with the evidence it stood on, and the series of a
// halted release ends there, not at the last once-a-second sample before it.
TEST_F(ReleaseHistoryTest, ASeriesEndsAtTheDecisionsEvidence) {
  std::vector<DecisionEvidence> decisions;
  HistorySources sources = world_.Sources();
  uint64_t asked_after = 99;
  sources.decisions = [&](uint64_t after) {
    asked_after = after;
    std::vector<DecisionEvidence> out;
    for (const DecisionEvidence& d : decisions) {
      if (d.seq > after) out.push_back(d);
    }
    return out;
  };
  ReleaseHistory h(std::move(sources), clock_, UiTestAuth);
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  ReleaseProgress p;
  p.exposed_devices = 6;
  p.max_e_value = 80;
  p.e_threshold = 600;
  world_.progress["r-1"] = p;
  world_.metrics = {{"r-1", "crash", 80, 600}};
  h.SampleNow();
  EXPECT_EQ(asked_after, 0u);
  // The gate halts half a second later at E = 700; the controller then stops reporting.
  DecisionEvidence d;
  d.seq = 1;
  d.release_id = "r-1";
  d.t_us = clock_.NowUnixMicros() + 500'000;
  d.phase = "Halted";
  d.wave = 0;
  d.progress = p;
  d.progress.max_e_value = 700;
  d.progress.harmed_devices = 5;
  d.metrics = {{"r-1", "crash", 700, 600}};
  decisions.push_back(d);
  world_.progress.clear();
  world_.metrics.clear();
  world_.releases = {Started("r-1", rollout::Phase::kHalted, 0)};
  for (int i = 0; i < 3; ++i) {
    clock_.AdvanceMicros(1'000'000);
    h.SampleNow();
  }
  EXPECT_EQ(asked_after, 1u);  // each decision is taken once
  const json::array s = json::parse(h.Handle(UiTestGet("/v1/releases/r-1/history")).body).at("samples").as_array();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_FALSE(s[0].as_object().contains("decision"));
  EXPECT_TRUE(s[1].at("decision").as_bool());
  EXPECT_EQ(s[1].at("t_us").as_int64(), d.t_us);
  EXPECT_EQ(s[1].at("phase").as_string(), "Halted");
  EXPECT_EQ(s[1].at("max_e").to_number<double>(), 700);
  EXPECT_EQ(s[1].at("metrics").as_array()[0].at("e_value").to_number<double>(), 700);
  EXPECT_EQ(s[1].at("harmed").as_int64(), 5);
}

// A decision recorded with a time at or before a sample already served still comes after it (a
// page that asked for after_us = that sample's time must get it).
TEST_F(ReleaseHistoryTest, ADecisionIsNeverOlderThanTheLastSample) {
  std::vector<DecisionEvidence> decisions;
  HistorySources sources = world_.Sources();
  sources.decisions = [&](uint64_t) { return decisions; };
  ReleaseHistory h(std::move(sources), clock_, UiTestAuth);
  world_.releases = {Started("r-1", rollout::Phase::kBaking, 0)};
  h.SampleNow();
  const int64_t first = clock_.NowUnixMicros();
  DecisionEvidence d;
  d.seq = 1;
  d.release_id = "r-1";
  d.t_us = first - 300'000;  // the tick began before the sample, its commit landed after
  d.phase = "Dispatching";
  d.wave = 1;
  decisions.push_back(d);
  clock_.AdvanceMicros(1'000'000);
  h.SampleNow();
  HttpRequest q = UiTestGet("/v1/releases/r-1/history");
  q.query["after_us"] = std::to_string(first);
  const json::array s = json::parse(h.Handle(q).body).at("samples").as_array();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_TRUE(s[0].at("decision").as_bool());
  EXPECT_EQ(s[0].at("t_us").as_int64(), first + 1);
  EXPECT_GT(s[1].at("t_us").as_int64(), s[0].at("t_us").as_int64());
}

TEST_F(ReleaseHistoryTest, StrataSayWhetherTheFloorIsMetAndCanBe) {
  HistorySources sources = world_.Sources();
  sources.coverage = [](const ReleaseRecord&) {
    std::vector<StratumCoverage> c(4);
    c[0] = {"os=windows", 100, 0.1, 90, 5, 5};  // floor 5 met
    c[1] = {"os=linux", 100, 0.05, 90, 3, 5};   // not yet
    c[2] = {"os=mac", 2, 1, 2, 2, 5};           // every device, still under the floor
    c[3] = {"(no stratum)", 4, 0};              // no counts from the controller
    return c;
  };
  ReleaseHistory h(std::move(sources), clock_, UiTestAuth);
  world_.releases = {Started("r-1", rollout::Phase::kDispatching, 0)};
  h.SampleNow();
  const json::array st = json::parse(h.Handle(UiTestGet("/v1/releases/r-1/history")).body).at("strata").as_array();
  ASSERT_EQ(st.size(), 4u);
  EXPECT_TRUE(st[0].at("floor_met").as_bool());
  EXPECT_TRUE(st[0].at("floor_coverable").as_bool());
  EXPECT_EQ(st[0].at("floor").as_int64(), 5);
  EXPECT_EQ(st[0].at("treated").as_int64(), 5);
  EXPECT_FALSE(st[1].at("floor_met").as_bool());
  EXPECT_TRUE(st[1].at("floor_coverable").as_bool());
  EXPECT_TRUE(st[2].at("floor_met").as_bool());  // as far as it can be: all of its devices
  EXPECT_FALSE(st[2].at("floor_coverable").as_bool());
  EXPECT_FALSE(st[3].as_object().contains("floor_met"));
}

}  // namespace
}  // namespace rf::server
