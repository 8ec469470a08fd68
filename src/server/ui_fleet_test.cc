#include "server/ui_fleet.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "platform/sim_env.h"
#include "server/fleet_inventory.h"
#include "server/ui_test_util.h"

namespace rf::server {
namespace {

namespace json = boost::json;

HttpRequest Get(std::string token = "rev") { return UiTestGet("/v1/fleet/summary", std::move(token)); }

class FleetSummaryTest : public ::testing::Test {
 protected:
  static constexpr int64_t kSecond = 1'000'000;

  void SetUp() override {
    for (const char* id : {"d-1", "d-2", "d-3", "d-4"}) {
      EnrollRequest e;
      e.device_id = id;
      e.attrs = {{"os", "windows"}};
      e.capabilities["ipc_rule"] = ConsumerCapability{{3}, 20, 0, 0};
      inventory_.Enroll(e, 0);  // d-4 is never seen again: stale
    }
    Report("d-1", 1290);
    Report("d-2", 1291);
    Report("d-3", 0);
  }

  // A check-in now reporting `version` current on channel 291 (0: nothing installed).
  void Report(const std::string& id, int64_t version) {
    CheckinRequest c;
    c.device_id = id;
    c.seq = ++seq_;
    if (version > 0) {
      ChannelReport ch;
      ch.channel = "291";
      ch.current = BundleRef{version, std::string(64, static_cast<char>('a' + version % 10))};
      c.channels.push_back(ch);
    }
    ASSERT_TRUE(inventory_.Checkin(c, clock_.NowUnixMicros()).ok());
  }

  SimulatedClock clock_{1000 * kSecond};
  MemFilesystem fs_;
  SeededRandom random_{1};
  FleetInventory inventory_{Env{&clock_, &fs_, &random_}, {}};
  int64_t seq_ = 0;
};

TEST_F(FleetSummaryTest, VersionsPerChannelAndHealth) {
  FleetSummaryOptions opt;
  opt.stale_after_micros = 180 * kSecond;
  FleetSummaryApi api(inventory_, clock_, UiTestAuth, opt);
  EXPECT_TRUE(FleetSummaryApi::Handles("/v1/fleet/summary"));
  EXPECT_FALSE(FleetSummaryApi::Handles("/v1/fleet"));
  HttpResponse r = api.Handle(Get());
  ASSERT_EQ(r.status, 200) << r.body;
  const json::object o = json::parse(r.body).as_object();
  EXPECT_EQ(o.at("devices").as_int64(), 4);
  EXPECT_EQ(o.at("seen_recently").as_int64(), 3);
  EXPECT_EQ(o.at("stale").as_int64(), 1);  // enrolled at 0, never seen since
  EXPECT_EQ(o.at("stale_after_s").as_int64(), 180);
  const json::array& channels = o.at("channels").as_array();
  ASSERT_EQ(channels.size(), 1u);
  EXPECT_EQ(channels[0].at("channel").as_string(), "291");
  const json::array& v = channels[0].at("versions").as_array();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].at("version").as_int64(), 1291);  // newest first
  EXPECT_EQ(v[0].at("devices").as_int64(), 1);
  EXPECT_EQ(v[1].at("version").as_int64(), 1290);
  EXPECT_EQ(v[1].at("sha256").as_string().size(), 64u);
  EXPECT_EQ(channels[0].at("without").as_int64(), 2);
}

TEST_F(FleetSummaryTest, QuarantinedVersionsPerChannelWithTheirMostCommonReason) {
  auto quarantine = [&](const std::string& id, std::vector<QuarantinedVersion> q) {
    CheckinRequest c;
    c.device_id = id;
    c.seq = ++seq_;
    c.quarantined = std::move(q);
    ASSERT_TRUE(inventory_.Checkin(c, clock_.NowUnixMicros()).ok());
  };
  const std::string a(64, 'a'), b(64, 'b'), c(64, 'c');
  quarantine("d-1", {{"291", 1291, a, "3 unclean starts"}});
  quarantine("d-2", {{"291", 1291, a, "<script>x</script>"}, {"300", 7, c, ""}});
  quarantine("d-3", {{"291", 1291, a, "3 unclean starts"}, {"291", 1292, b, "pre-flight"}});
  quarantine("d-1", {});  // reported once: still quarantined after a check-in without it
  FleetSummaryApi api(inventory_, clock_, UiTestAuth);
  const json::object o = json::parse(*api.Compute(clock_.NowUnixMicros())).as_object();
  const json::array& q = o.at("quarantined").as_array();
  ASSERT_EQ(q.size(), 3u) << o;
  // Channels in order, newest version first.
  EXPECT_EQ(q[0].at("channel").as_string(), "291");
  EXPECT_EQ(q[0].at("version").as_int64(), 1292);
  EXPECT_EQ(q[0].at("sha256").as_string(), b);
  EXPECT_EQ(q[0].at("devices").as_int64(), 1);
  EXPECT_EQ(q[0].at("reason").as_string(), "pre-flight");
  EXPECT_EQ(q[1].at("version").as_int64(), 1291);
  EXPECT_EQ(q[1].at("devices").as_int64(), 3);
  EXPECT_EQ(q[1].at("reason").as_string(), "3 unclean starts");
  EXPECT_EQ(q[1].at("reason_devices").as_int64(), 2);
  EXPECT_EQ(q[1].at("reasons").as_int64(), 2);
  EXPECT_EQ(q[2].at("channel").as_string(), "300");
  EXPECT_EQ(q[2].at("devices").as_int64(), 1);
  EXPECT_EQ(q[2].at("reason").as_string(), "");
  // Installed versions are unaffected (the quarantine check-ins reported nothing installed).
  EXPECT_EQ(o.at("devices").as_int64(), 4);
}

// What a replica publishes of its sweep decodes to the same page (docs/deploy.md "The fleet
// summary across replicas").
TEST_F(FleetSummaryTest, ThePublicationOfASweepGivesTheSamePage) {
  CheckinRequest c;
  c.device_id = "d-2";
  c.seq = ++seq_;
  c.quarantined = {{"291", 1290, std::string(64, 'a'), "pre-flight \"x\""}};
  ASSERT_TRUE(inventory_.Checkin(c, clock_.NowUnixMicros()).ok());
  const FleetSummaryCounts counts =
      CountFleetSummary(inventory_, clock_.NowUnixMicros(), 180 * kSecond);
  auto back = DecodeFleetSummaryCounts(EncodeFleetSummaryCounts(counts));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(FleetSummaryJson(*back, 180 * kSecond), FleetSummaryJson(counts, 180 * kSecond));
  EXPECT_EQ(back->devices, 4);
  EXPECT_EQ(back->seen_recently, 3);
  EXPECT_EQ(back->quarantined.size(), 1u);
}

TEST_F(FleetSummaryTest, NoQuarantinesIsAnEmptyList) {
  FleetSummaryApi api(inventory_, clock_, UiTestAuth);
  const json::object o = json::parse(*api.Compute(clock_.NowUnixMicros())).as_object();
  EXPECT_TRUE(o.at("quarantined").as_array().empty());
}

TEST_F(FleetSummaryTest, OneSweepServesEveryRequestForAWhile) {
  FleetSummaryOptions opt;
  opt.min_interval_micros = 2 * kSecond;
  FleetSummaryApi api(inventory_, clock_, UiTestAuth, opt);
  const std::string before = api.Handle(Get()).body;
  Report("d-3", 1291);
  clock_.AdvanceMicros(2 * kSecond - 1);
  EXPECT_EQ(api.Handle(Get()).body, before);  // cached
  clock_.AdvanceMicros(1);
  const std::string after = api.Handle(Get()).body;
  EXPECT_NE(after, before);
  EXPECT_EQ(json::parse(after).at("channels").as_array()[0].at("without").as_int64(), 1);
}

TEST_F(FleetSummaryTest, RefusesBadTokensAgentsQueriesAndMethods) {
  FleetSummaryApi api(inventory_, clock_, UiTestAuth);
  EXPECT_EQ(api.Handle(Get("")).status, 401);
  HttpResponse agent = api.Handle(Get("agent"));
  EXPECT_EQ(agent.status, 403);
  EXPECT_NE(agent.body.find("forbidden_role"), std::string::npos);
  HttpRequest post = Get();
  post.method = "POST";
  EXPECT_EQ(api.Handle(post).status, 405);
  HttpRequest q = Get();
  q.query["channel"] = "291";
  EXPECT_EQ(api.Handle(q).status, 400);
}

// With several servers `whole` merges the other replicas' counts (docs/deploy.md "The fleet
// summary across replicas"); scope=replica is this server's inventory alone; a failed merge is
// answered as such, never as this replica's part of the fleet.
TEST_F(FleetSummaryTest, WholeFleetByDefaultThisReplicaOnRequest) {
  Status fail = Status::Ok();
  FleetSummaryOptions opt;
  opt.whole = [&fail](FleetSummaryCounts local) -> Result<FleetSummaryCounts> {
    if (!fail.ok()) return fail;
    local.devices += 10;  // another replica's ten devices, nothing installed
    local.seen_recently += 10;
    return local;
  };
  FleetSummaryApi api(inventory_, clock_, UiTestAuth, opt);
  HttpResponse whole = api.Handle(Get());
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(json::parse(whole.body).at("devices").as_int64(), 14);
  EXPECT_EQ(json::parse(whole.body).at("channels").as_array()[0].at("without").as_int64(), 12);
  HttpRequest mine = Get();
  mine.query["scope"] = "replica";
  HttpResponse local = api.Handle(mine);
  ASSERT_EQ(local.status, 200) << local.body;
  EXPECT_EQ(json::parse(local.body).at("devices").as_int64(), 4);
  mine.query["scope"] = "cluster";
  HttpResponse bad = api.Handle(mine);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("scope must be 'fleet' or 'replica'"), std::string::npos) << bad.body;

  fail = Status::Unavailable("the fleet summary cannot read the other replicas' counts: down");
  clock_.AdvanceMicros(opt.min_interval_micros);
  HttpResponse down = api.Handle(Get());
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.body.find("fleet_unavailable"), std::string::npos) << down.body;
  HttpRequest fleet = Get();
  fleet.query["scope"] = "fleet";
  EXPECT_EQ(api.Handle(fleet).status, 503);
  mine.query["scope"] = "replica";
  EXPECT_EQ(api.Handle(mine).status, 200);
}

}  // namespace
}  // namespace rf::server
