#include "server/fleet_summary.h"

#include <gtest/gtest.h>

#include <string>


namespace rf::server {
namespace {

constexpr int64_t kSecond = 1'000'000;
const std::string kShaA(64, 'a'), kShaB(64, 'b');

// Three devices: two on v1291 of channel 291, one recently seen; two quarantined v1290.
FleetSummaryCounts Counted() {
  FleetSummaryCounts c;
  c.devices = 3;
  c.seen_recently = 1;
  c.installed["291"][{1291, kShaB}] = 2;
  QuarantineCount& q = c.quarantined[{"291", 1290, kShaA}];
  q.devices = 2;
  q.reasons = {{"3 unclean starts", 1}, {"pre-flight \"x\"", 1}};
  q.distinct_reasons = 2;
  return c;
}

TEST(FleetSummaryCountsTest, ThePagesJson) {
  EXPECT_EQ(FleetSummaryJson(Counted(), 180 * kSecond),
            "{\"devices\":3,\"stale_after_s\":180,\"seen_recently\":1,\"stale\":2,\"channels\":["
            "{\"channel\":\"291\",\"versions\":[{\"version\":1291,\"sha256\":\"" + kShaB +
                "\",\"devices\":2}],\"without\":1}],\"quarantined\":[{\"channel\":\"291\","
                "\"version\":1290,\"sha256\":\"" + kShaA +
                "\",\"devices\":2,\"reason\":\"3 unclean starts\",\"reason_devices\":1,"
                "\"reasons\":2}]}");
}

TEST(FleetSummaryCountsTest, PublicationRoundTrips) {
  const FleetSummaryCounts c = Counted();
  const std::string text = EncodeFleetSummaryCounts(c);
  auto back = DecodeFleetSummaryCounts(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << text;
  EXPECT_EQ(EncodeFleetSummaryCounts(*back), text);
  EXPECT_EQ(FleetSummaryJson(*back, 60 * kSecond), FleetSummaryJson(c, 60 * kSecond));
  EXPECT_EQ(DecodeFleetSummaryCounts(EncodeFleetSummaryCounts({}))->devices, 0);
}

// A publication keeps the 32 most common reasons of a version and how many there were.
TEST(FleetSummaryCountsTest, PublicationKeepsTheMostCommonReasons) {
  FleetSummaryCounts c;
  QuarantineCount& q = c.quarantined[{"291", 1290, kShaA}];
  for (int i = 0; i < 40; ++i) {
    const int64_t n = i == 39 ? 100 : 1;
    q.reasons["reason " + std::to_string(i)] = n;
    q.devices += n;
  }
  q.distinct_reasons = 40;
  c.devices = q.devices;
  auto back = DecodeFleetSummaryCounts(EncodeFleetSummaryCounts(c));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const QuarantineCount& b = back->quarantined.at({"291", 1290, kShaA});
  EXPECT_EQ(b.reasons.size(), kMaxPublishedReasons);
  EXPECT_EQ(b.reasons.at("reason 39"), 100);
  EXPECT_EQ(b.distinct_reasons, 40);
  EXPECT_EQ(b.devices, 139);
  EXPECT_NE(FleetSummaryJson(*back, kSecond).find("\"reason\":\"reason 39\",\"reason_devices\":100,"
                                                  "\"reasons\":40"),
            std::string::npos);
}

TEST(FleetSummaryCountsTest, MalformedPublicationsAreRefusedNamingTheProblem) {
  const std::string head = "{\"format\":\"ringfence-fleet-summary-1\",";
  const std::string v = "\"channel\":\"291\",\"version\":7,\"sha256\":\"s\"";
  const std::pair<std::string, std::string> cases[] = {
      {"[]", "not a JSON object"},
      {"{\"devices\":1}", "format is not"},
      {head + "\"devices\":-1}", "devices is not an integer in [0, 1099511627776]"},
      {head + "\"devices\":1,\"seen_recently\":2,\"installed\":[],\"quarantined\":[]}",
       "seen_recently is more than devices"},
      {head + "\"devices\":1,\"seen_recently\":1,\"quarantined\":[]}", "installed is not an array"},
      {head + "\"devices\":3,\"seen_recently\":1,\"installed\":[{" + v + ",\"devices\":2},{" + v +
           ",\"devices\":1}],\"quarantined\":[]}",
       "installed 291 v7: appears twice"},
      {head + "\"devices\":3,\"seen_recently\":1,\"installed\":[{" + v +
           ",\"devices\":2},{\"channel\":\"291\",\"version\":8,\"sha256\":\"s\",\"devices\":2}],"
           "\"quarantined\":[]}",
       "installed 291 v8: the channel counts more devices than the fleet's"},
      {head + "\"devices\":3,\"seen_recently\":1,\"installed\":[],\"quarantined\":[{" + v +
           ",\"devices\":2,\"distinct_reasons\":2,\"reasons\":[{\"reason\":\"a\",\"devices\":2},"
           "{\"reason\":\"b\",\"devices\":1}]}]}",
       "quarantined 291 v7: its reasons count more devices than it has"},
      {head + "\"devices\":3,\"seen_recently\":1,\"installed\":[],\"quarantined\":[{" + v +
           ",\"devices\":2,\"distinct_reasons\":0,\"reasons\":[{\"reason\":\"a\",\"devices\":1}]}]}",
       "distinct_reasons is less than the reasons listed"},
      {head + "\"devices\":3,\"seen_recently\":1,\"installed\":[],\"quarantined\":[{" + v +
           ",\"devices\":9,\"distinct_reasons\":0,\"reasons\":[]}]}",
       "quarantined 291 v7: more devices than the fleet's"},
      {head + "\"devices\":3,\"seen_recently\":1,\"installed\":[{\"channel\":\"" +
           std::string(5000, 'c') + "\",\"version\":1,\"sha256\":\"s\",\"devices\":1}],"
           "\"quarantined\":[]}",
       "channel is not a string of at most 4096 bytes"},
      {std::string((8 << 20) + 1, ' '), "more than 8388608"},
  };
  for (const auto& [text, why] : cases) {
    auto r = DecodeFleetSummaryCounts(text);
    ASSERT_FALSE(r.ok()) << text.substr(0, 200);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(why), std::string::npos)
        << r.status().message() << "\n  expected: " << why;
  }
}

}  // namespace
}  // namespace rf::server
