#include "server/gate_evidence.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "rollout/cohort.h"

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

// Sketches travel exactly (rank * 2^53 as an integer); a publication without them (an older
// version) still decodes; a sketch that is not well formed is refused, naming the stratum.
TEST(GateCountsCodec, SketchesRoundTripExactly) {
  ReplicaCounts c = Sample();
  c.built_us = 1'796'000'000'000'000;
  rollout::StratumSketch k{.eligible = 7, .held_back = 1, .smallest = {}};
  for (const char* id : {"d-1", "d-2", "d-3"}) k.smallest.push_back(rollout::CohortRank("r-1", id));
  std::sort(k.smallest.begin(), k.smallest.end());
  c.strata[0].sketch = k;
  const std::string text = EncodeReplicaCounts(c);
  auto d = DecodeReplicaCounts(text);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_TRUE(d->strata[0].sketch.has_value());
  EXPECT_EQ(*d->strata[0].sketch, k);  // bit for bit
  EXPECT_EQ(d->built_us, c.built_us);
  const std::string bare = EncodeReplicaCounts(Sample());
  EXPECT_EQ(bare.find("sketch"), std::string::npos);
  std::string old = bare;
  old.erase(old.find(",\"built_us\":-1"), std::string(",\"built_us\":-1").size());
  d = DecodeReplicaCounts(old);
  ASSERT_TRUE(d.ok()) << d.status().ToString() << " " << old;
  EXPECT_EQ(d->built_us, -1);
  EXPECT_FALSE(d->strata[0].sketch.has_value());
  EXPECT_EQ(EncodeReplicaCounts(*d), bare);
  for (const char* bad :
       {R"({"eligible":5,"held_back":0,"ranks":[2,1]})", R"({"eligible":5,"held_back":0,"ranks":[1,1]})",
        R"({"eligible":5,"held_back":0,"ranks":[-1]})",
        R"({"eligible":5,"held_back":0,"ranks":[9007199254740992]})",
        R"({"eligible":5,"held_back":0,"ranks":[0.5]})", R"({"eligible":5,"held_back":0,"ranks":3})",
        R"({"eligible":2,"held_back":1,"ranks":[1,2]})", R"({"eligible":2,"held_back":3,"ranks":[]})",
        R"({"eligible":-1,"held_back":0,"ranks":[]})", R"({"held_back":0,"ranks":[]})", "[]"}) {
    std::string t = text;
    const size_t at = t.find("\"sketch\":");
    ASSERT_NE(at, std::string::npos);
    const size_t end = t.find('}', at) + 1;
    t.replace(at, end - at, std::string("\"sketch\":") + bad);
    auto r = DecodeReplicaCounts(t);
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_NE(r.status().message().find("stratum 'os=linux'.sketch"), std::string::npos)
        << r.status().ToString();
  }
}

// The lists of devices that move between replicas round-trip; absent ones stay absent; bad ones
// are refused, naming the list.
TEST(GateCountsCodec, SilenceListsRoundTripAndAreChecked) {
  ReplicaCounts c = Sample();
  c.silence_candidates = {{"dev-1", 1'796'000'000'000'000}, {"dev-2", 0}};
  c.seen_elsewhere = {"dev-9"};
  auto d = DecodeReplicaCounts(EncodeReplicaCounts(c));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->silence_candidates, c.silence_candidates);
  EXPECT_EQ(d->seen_elsewhere, c.seen_elsewhere);
  const std::string bare = EncodeReplicaCounts(Sample());
  EXPECT_EQ(bare.find("silence_candidates"), std::string::npos);
  EXPECT_EQ(bare.find("seen_elsewhere"), std::string::npos);
  const std::string long_id(257, 'x');
  for (const std::string& bad :
       {std::string(R"("silence_candidates":3)"), std::string(R"("silence_candidates":[["d"]])"),
        std::string(R"("silence_candidates":[["",5]])"), std::string(R"("silence_candidates":[["d",-1]])"),
        std::string(R"("silence_candidates":[[5,5]])"),
        std::string(R"("silence_candidates":[[")") + long_id + R"(",5]])",
        std::string(R"("seen_elsewhere":"d")"), std::string(R"("seen_elsewhere":[""])"),
        std::string(R"("seen_elsewhere":[7])")}) {
    std::string t = bare;
    t.insert(t.size() - 1, "," + bad);
    auto r = DecodeReplicaCounts(t);
    ASSERT_FALSE(r.ok()) << t;
    const std::string list = bad.substr(1, bad.find('"', 1) - 1);
    const std::string msg = r.status().message();
    EXPECT_TRUE(msg.find(list) != std::string::npos ||
                (list == "silence_candidates" && msg.find("a silence candidate") != std::string::npos))
        << r.status().ToString();
  }
}

ReplicaCounts SketchRow(const std::string& replica, int64_t built_us, std::vector<double> ranks,
                        int64_t eligible = -1) {
  ReplicaCounts c;
  c.replica = replica;
  c.built_us = built_us;
  c.updated_us = built_us;
  const int64_t n = eligible >= 0 ? eligible : static_cast<int64_t>(ranks.size());
  c.strata.push_back(StratumCounts{
      .key = "os=linux",
      .sketch = rollout::StratumSketch{.eligible = n, .held_back = 0, .smallest = std::move(ranks)}});
  return c;
}

// The window: rows built within settle of the first count (stale or not), later ones never; the
// summary is settled a second settle later; a device two replicas know counts once; the strata
// come in one order whatever the rows' order.
TEST(CohortSketchMerge, SettlesOnTheRowsBuiltWithinTheWindow) {
  std::vector<ReplicaCounts> rows = {
      SketchRow("a", 1000, {0.2, 0.5}), SketchRow("b", 1010, {0.2, 0.3}),
      SketchRow("late", 1011, {0.01, 0.02}), SketchRow("old-version", -1, {0.001})};
  rows[1].strata.push_back(StratumCounts{
      .key = "os=mac", .sketch = rollout::StratumSketch{.eligible = 1, .held_back = 0, .smallest = {0.7}}});
  CohortSummary f = MergeCohortSketches(rows, 2, 0.99, 10, 1019);
  EXPECT_FALSE(f.settled);
  EXPECT_EQ(f.first_built_us, 1000);
  f = MergeCohortSketches(rows, 2, 0.99, 10, 1020);
  EXPECT_TRUE(f.settled);
  EXPECT_EQ(f.replicas, 2);
  ASSERT_EQ(f.sketch.size(), 2u);
  EXPECT_EQ(f.sketch[0].key, "os=linux");
  EXPECT_EQ(f.sketch[0].sketch.smallest, (std::vector<double>{0.2, 0.3}));
  EXPECT_EQ(f.sketch[0].sketch.eligible, 3);  // 0.2, 0.3 and 0.5: the shared device once
  EXPECT_EQ(f.sketch[1].key, "os=mac");
  // The same rows in another order: the same summary.
  const std::vector<ReplicaCounts> reversed(rows.rbegin(), rows.rend());
  EXPECT_EQ(MergeCohortSketches(reversed, 2, 0.99, 10, 5000).sketch, f.sketch);
  // One server (settle 0): its own row, settled at once, its counts as they are.
  f = MergeCohortSketches({SketchRow("local", 7, {0.4}, 900)}, 1, 0.99, 0, 7);
  EXPECT_TRUE(f.settled);
  ASSERT_EQ(f.sketch.size(), 1u);
  EXPECT_EQ(f.sketch[0].sketch.smallest, (std::vector<double>{0.4}));
  EXPECT_EQ(f.sketch[0].sketch.eligible, 900);
  // No row with a sketch: nothing to settle on.
  EXPECT_FALSE(MergeCohortSketches({SketchRow("x", -1, {})}, 5, 0.99, 0, 7).settled);
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
