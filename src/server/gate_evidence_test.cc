#include "server/gate_evidence.h"

#include <gtest/gtest.h>

namespace rf::server {
namespace {

ReplicaCounts Sample() {
  ReplicaCounts c;
  c.replica = "a";
  c.seq = 3;
  c.updated_us = 1000;
  c.newest_seen_us = 900;
  StratumCounts s;  // (times are real unix micros in production: above the 10^15 count cap)
  s.key = "os=linux";
  s.treated_at_risk = 10;
  s.control_at_risk = 90;
  s.treated = 10;
  s.applied = 8;
  s.treated_silent = 1;
  s.treated_events = {1, 4, 0};
  s.control_events = {0, 2, 3};
  c.strata.push_back(s);
  return c;
}

TEST(GateCountsCodec, RoundTrips) {
  ReplicaCounts sample = Sample();
  sample.updated_us = 1'796'000'000'000'000;  // 2026: times are not capped like counts
  const std::string text = EncodeReplicaCounts(sample);
  auto c = DecodeReplicaCounts(text);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(EncodeReplicaCounts(*c), text);
  EXPECT_EQ(c->strata[0].control_events[2], 3);
}

TEST(GateCountsCodec, RefusesMalformedCountsNamingTheField) {
  const std::string good = EncodeReplicaCounts(Sample());
  auto refused = [](std::string text, std::string_view what) {
    auto c = DecodeReplicaCounts(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(what), std::string::npos) << c.status().ToString();
  };
  auto with = [&](std::string_view from, std::string_view to) {
    std::string t = good;
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return t.replace(at, from.size(), to);
  };
  refused("[]", "not a JSON object");
  refused(with("ringfence-gate-counts-1", "ringfence-gate-counts-9"), "format");
  refused(with("\"replica\":\"a\"", "\"replica\":\"\""), "replica");
  refused(with("\"treated\":10", "\"treated\":-1"), "stratum 'os=linux'.treated");
  refused(with("\"applied\":8", "\"applied\":1000000000000001"), "stratum 'os=linux'.applied");
  refused(with("\"treated_events\":[1,4,0]", "\"treated_events\":[1,4]"), "treated_events");
  refused(with("\"newest_seen_us\":900", "\"newest_seen_us\":-2"), "newest_seen_us");
  const std::string stratum = good.substr(good.find("{\"key\""), good.rfind('}') - 1 - good.find("{\"key\""));
  refused(with(stratum, stratum + "," + stratum), "appears twice");
}

TEST(GateCountsSum, FreshRowsGiveDevicesEveryRowGivesEvents) {
  ReplicaCounts a = Sample(), b = Sample();
  b.replica = "b";
  b.updated_us = 100;  // stale
  b.newest_seen_us = 5000;
  ReplicaCounts sum = SumReplicaCounts({a, b}, 500);
  ASSERT_EQ(sum.strata.size(), 1u);
  EXPECT_EQ(sum.strata[0].treated, 10);
  EXPECT_EQ(sum.strata[0].treated_events[1], 8);
  EXPECT_EQ(sum.newest_seen_us, 900);  // the stale row's check-ins do not count as fresh
  sum = SumReplicaCounts({a, b}, 0);
  EXPECT_EQ(sum.strata[0].treated, 20);
  EXPECT_EQ(sum.newest_seen_us, 5000);
}

TEST(LocalGateEvidence, KeepsTheNewestPublicationOfEachReplica) {
  LocalGateEvidence ev;
  ReplicaCounts c = Sample();
  ASSERT_TRUE(ev.Publish("r-1", c).ok());
  ReplicaCounts older = c;
  older.seq = 2;
  older.strata[0].treated = 99;
  ASSERT_TRUE(ev.Publish("r-1", older).ok());
  auto rows = ev.Counts("r-1");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].strata[0].treated, 10);
  EXPECT_FALSE(ev.shared());
  ASSERT_TRUE(ev.Forget("r-1").ok());
  EXPECT_TRUE(ev.Counts("r-1")->empty());
}

}  // namespace
}  // namespace rf::server
