#include "server/ui_changes.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "platform/sim_env.h"
#include "server/ui_test_util.h"

namespace rf::server {
namespace {

namespace json = boost::json;

HttpRequest Get(std::optional<uint64_t> after, std::string token = "op") {
  HttpRequest r = UiTestGet("/v1/changes", std::move(token));
  if (after) r.query["after"] = std::to_string(*after);
  return r;
}

// What a Responder was called with (shared: the feed keeps a copy of the Responder).
struct Answers {
  std::vector<HttpResponse> got;
  ChangeFeed::Responder Responder() {
    return [this](HttpResponse r) { got.push_back(std::move(r)); };
  }
};

class ChangeFeedTest : public ::testing::Test {
 protected:
  SimulatedClock clock_{1'000'000'000};
};

TEST_F(ChangeFeedTest, HandlesOnlyItsPath) {
  EXPECT_TRUE(ChangeFeed::Handles("/v1/changes"));
  EXPECT_FALSE(ChangeFeed::Handles("/v1/changes/x"));
  EXPECT_FALSE(ChangeFeed::Handles("/v1/change"));
}

TEST_F(ChangeFeedTest, WithoutAfterAnswersTheSequenceAtOnce) {
  ChangeFeed feed(clock_, UiTestAuth);
  Answers a;
  feed.Handle(Get(std::nullopt), a.Responder());
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 200);
  const json::object o = json::parse(a.got[0].body).as_object();
  EXPECT_EQ(o.at("seq").to_number<uint64_t>(), feed.seq());
  EXPECT_FALSE(o.at("changed").as_bool());
  bool no_store = false;
  for (const auto& [k, v] : a.got[0].headers) no_store |= k == "Cache-Control" && v == "no-store";
  EXPECT_TRUE(no_store);
  EXPECT_EQ(feed.waiting(), 0u);
}

TEST_F(ChangeFeedTest, AChangeWakesAWaitingRequest) {
  ChangeFeed feed(clock_, UiTestAuth);
  const uint64_t seq = feed.seq();
  Answers a, b;
  feed.Handle(Get(seq), a.Responder());
  feed.Handle(Get(seq, "rev"), b.Responder());  // any non-agent principal may watch
  EXPECT_TRUE(a.got.empty());
  EXPECT_TRUE(b.got.empty());
  EXPECT_EQ(feed.waiting(), 2u);
  feed.Notify();
  ASSERT_EQ(a.got.size(), 1u);
  ASSERT_EQ(b.got.size(), 1u);
  const json::object o = json::parse(a.got[0].body).as_object();
  EXPECT_EQ(o.at("seq").to_number<uint64_t>(), seq + 1);
  EXPECT_TRUE(o.at("changed").as_bool());
  EXPECT_EQ(feed.waiting(), 0u);
}

TEST_F(ChangeFeedTest, AStaleSequenceIsAnsweredAtOnce) {
  ChangeFeed feed(clock_, UiTestAuth);
  const uint64_t seq = feed.seq();
  feed.Notify();
  Answers a, restarted;
  feed.Handle(Get(seq), a.Responder());  // a change the page has not seen yet
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_TRUE(json::parse(a.got[0].body).at("changed").as_bool());
  // A number from a previous server (larger than this one's): the page reloads.
  feed.Handle(Get(seq + 1000), restarted.Responder());
  ASSERT_EQ(restarted.got.size(), 1u);
  EXPECT_TRUE(json::parse(restarted.got[0].body).at("changed").as_bool());
}

TEST_F(ChangeFeedTest, AWaitEndsUnchangedAfterTheIdleTimeout) {
  ChangeFeedOptions opt;
  opt.max_wait_micros = 25'000'000;
  ChangeFeed feed(clock_, UiTestAuth, opt);
  Answers a;
  feed.Handle(Get(feed.seq()), a.Responder());
  clock_.AdvanceMicros(24'999'999);
  feed.ExpireNow();
  EXPECT_TRUE(a.got.empty());
  clock_.AdvanceMicros(1);
  feed.ExpireNow();
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 200);
  EXPECT_FALSE(json::parse(a.got[0].body).at("changed").as_bool());
  EXPECT_EQ(feed.waiting(), 0u);
}

TEST_F(ChangeFeedTest, AtMostMaxWaitersWait) {
  ChangeFeedOptions opt;
  opt.max_waiters = 2;
  ChangeFeed feed(clock_, UiTestAuth, opt);
  Answers a, b, c;
  feed.Handle(Get(feed.seq()), a.Responder());
  feed.Handle(Get(feed.seq()), b.Responder());
  feed.Handle(Get(feed.seq()), c.Responder());
  EXPECT_TRUE(a.got.empty());
  EXPECT_TRUE(b.got.empty());
  ASSERT_EQ(c.got.size(), 1u);
  EXPECT_EQ(c.got[0].status, 503);
  EXPECT_NE(c.got[0].body.find("too_many_waiters"), std::string::npos);
  bool retry_after = false;
  for (const auto& [k, v] : c.got[0].headers) retry_after |= k == "Retry-After";
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(feed.waiting(), 2u);
  feed.Notify();  // the slots free up
  Answers d;
  feed.Handle(Get(feed.seq()), d.Responder());
  EXPECT_TRUE(d.got.empty());
  EXPECT_EQ(feed.waiting(), 1u);
  feed.Close();  // answers d while it still exists
  EXPECT_EQ(d.got.size(), 1u);
}

TEST_F(ChangeFeedTest, RefusesBadTokensAgentsBadQueriesAndMethods) {
  ChangeFeed feed(clock_, UiTestAuth);
  auto once = [&](HttpRequest r) {
    Answers a;
    feed.Handle(std::move(r), a.Responder());
    EXPECT_EQ(a.got.size(), 1u);
    return a.got.empty() ? HttpResponse{} : a.got[0];
  };
  HttpResponse r = once(Get(feed.seq(), ""));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(once(Get(feed.seq(), "wrong")).status, 401);
  r = once(Get(feed.seq(), "agent"));
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("forbidden_role"), std::string::npos);
  HttpRequest post = Get(feed.seq());
  post.method = "POST";
  r = once(post);
  EXPECT_EQ(r.status, 405);
  HttpRequest bad = Get(std::nullopt);
  bad.query["after"] = "-1";
  EXPECT_EQ(once(bad).status, 400);
  bad.query["after"] = "";
  EXPECT_EQ(once(bad).status, 400);
  bad.query["after"] = "12x";
  EXPECT_EQ(once(bad).status, 400);
  HttpRequest unknown = Get(feed.seq());
  unknown.query["wait"] = "5";
  EXPECT_EQ(once(unknown).status, 400);
  EXPECT_EQ(feed.waiting(), 0u);  // nothing refused waits
}

TEST_F(ChangeFeedTest, CloseAnswersEveryWaitAndRefusesNewOnes) {
  ChangeFeed feed(clock_, UiTestAuth);
  Answers a, b;
  feed.Handle(Get(feed.seq()), a.Responder());
  feed.Close();
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 503);
  EXPECT_NE(a.got[0].body.find("shutting_down"), std::string::npos);
  feed.Handle(Get(feed.seq()), b.Responder());
  ASSERT_EQ(b.got.size(), 1u);
  EXPECT_EQ(b.got[0].status, 503);
  feed.Close();  // idempotent
  EXPECT_EQ(a.got.size(), 1u);
}

// The timer thread answers an expired wait by itself (a wait of 0 has expired when it begins).
TEST_F(ChangeFeedTest, TheTimerThreadAnswersExpiredWaits) {
  ChangeFeedOptions opt;
  opt.max_wait_micros = 0;
  opt.timer_period_micros = 10'000;
  ChangeFeed feed(clock_, UiTestAuth, opt);
  auto answered = std::make_shared<std::promise<HttpResponse>>();
  feed.Handle(Get(feed.seq()), [answered](HttpResponse r) { answered->set_value(std::move(r)); });
  feed.Start();
  feed.Start();  // idempotent
  std::future<HttpResponse> f = answered->get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(120)), std::future_status::ready);
  EXPECT_FALSE(json::parse(f.get().body).at("changed").as_bool());
  feed.Close();
}

}  // namespace
}  // namespace rf::server
