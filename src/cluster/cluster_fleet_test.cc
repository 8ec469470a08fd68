// Layer 1 across replicas (docs/deploy.md "Layer 1 across replicas"): the merge rule alone, then
// two replicas on one real PostgreSQL (testing/pg_test_server.h), each a PgStore, its own fleet
// (a FakeFleet standing in for the devices that check in there) and a ClusterFleet publishing it,
// with a ReleaseService on each as two `ringfence server` processes would have.
#include "cluster/cluster_fleet.h"

#include <gtest/gtest.h>

#include <atomic>

#include "platform/sim_env.h"
#include "service/release_service.h"
#include "service/testing/fixtures.h"
#include "store/pg_store.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::cluster {
namespace {

using server::Principal;
using server::Role;
namespace fx = service::testing;

constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr int64_t kMinute = 60'000'000;
constexpr int64_t kDay = 1440 * kMinute;

Stratum Sensor(const std::string& version, int64_t inputs, int64_t devices) {
  Stratum s;
  s.attrs = {{"os", "windows"}, {"agent_version", version}};
  s.capabilities["ipc_rule"] = ConsumerCapability{{3}, inputs, 0, 0};
  s.devices = devices;
  return s;
}

Fleet FleetOf(std::vector<Stratum> strata) {
  Fleet f;
  f.strata = std::move(strata);
  return f;
}

// label -> devices
std::map<std::string, int64_t> Counts(const Fleet& f) {
  std::map<std::string, int64_t> out;
  for (const Stratum& s : f.strata) out[s.Label()] = s.devices;
  return out;
}

const std::string kLegacy = "agent_version=7.11 os=windows";
const std::string kCurrent = "agent_version=7.16 os=windows";

TEST(MergeFleetsTest, UnionOfConsumersCountsFromFreshRowsAndRetainedProfiles) {
  ClusterFleetOptions o;  // fresh 5 min, retention 30 days
  const int64_t now = 100 * kDay;
  const Fleet local = FleetOf({Sensor("7.16", 21, 40)});
  // No other replica: this replica's inventory as it is (the single server).
  EXPECT_EQ(Counts(MergeFleets(local, {}, now, o)),
            (std::map<std::string, int64_t>{{kCurrent, 40}}));
  // A fresh replica with the legacy sensor and more of the current one: union, counts summed.
  std::vector<PublishedFleet> others = {
      {"a", now - kMinute, FleetOf({Sensor("7.11", 20, 3), Sensor("7.16", 21, 10)})}};
  Fleet m = MergeFleets(local, others, now, o);
  EXPECT_EQ(Counts(m), (std::map<std::string, int64_t>{{kCurrent, 50}, {kLegacy, 3}}));
  EXPECT_EQ(m.strata[0].Label(), kCurrent);  // this replica's strata first, in their order
  // A dead replica (retained row): its profiles still count, with its last counts...
  others[0].updated_us = now - kDay;
  EXPECT_EQ(Counts(MergeFleets(local, others, now, o)),
            (std::map<std::string, int64_t>{{kCurrent, 40}, {kLegacy, 3}}));
  // ...and when its devices check in here, max(fresh, retained): never counted twice.
  const Fleet moved = FleetOf({Sensor("7.16", 21, 50), Sensor("7.11", 20, 2)});
  EXPECT_EQ(Counts(MergeFleets(moved, others, now, o)),
            (std::map<std::string, int64_t>{{kCurrent, 50}, {kLegacy, 3}}));
  // Past the retention window the row is ignored.
  others[0].updated_us = now - 31 * kDay;
  EXPECT_EQ(Counts(MergeFleets(local, others, now, o)),
            (std::map<std::string, int64_t>{{kCurrent, 40}}));
  // A row from the future (clock skew) is fresh.
  others[0].updated_us = now + kMinute;
  EXPECT_EQ(Counts(MergeFleets(local, others, now, o)),
            (std::map<std::string, int64_t>{{kCurrent, 50}, {kLegacy, 3}}));
  // Same attributes, another manifest: another stratum.
  const Fleet other_manifest = FleetOf({Sensor("7.16", 20, 1)});
  EXPECT_EQ(MergeFleets(local, {{"c", now, other_manifest}}, now, o).strata.size(), 2u);
}

TEST(MergeFleetsTest, AgeBoundariesAndOptions) {
  ClusterFleetOptions o;
  EXPECT_EQ(AgeOf(0, o.fresh_micros, o), RowAge::kFresh);
  EXPECT_EQ(AgeOf(0, o.fresh_micros + 1, o), RowAge::kRetained);
  EXPECT_EQ(AgeOf(0, o.retention_micros, o), RowAge::kRetained);
  EXPECT_EQ(AgeOf(0, o.retention_micros + 1, o), RowAge::kExpired);
  EXPECT_TRUE(ClusterFleet::Validate(o, false).ok());
  EXPECT_FALSE(ClusterFleet::Validate(o, true).ok());  // no replica name
  o.replica = "r";
  EXPECT_TRUE(ClusterFleet::Validate(o, true).ok());
  o.fresh_micros = o.refresh_micros;  // a live replica's row could look dead between heartbeats
  EXPECT_EQ(ClusterFleet::Validate(o, true).code(), StatusCode::kInvalidArgument);
}

// The single server (no store): WholeFleet() is the inventory, through the same merge.
TEST(ClusterFleetTest, WithoutAStoreTheInventoryIsTheWholeFleet) {
  fx::FakeFleet local;
  local.Set(fx::TwoStrataFleet(20));
  SimulatedClock clock;
  ClusterFleet fleet(local, nullptr, clock, {});
  auto whole = fleet.WholeFleet();
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(EncodeFleetJson(*whole), EncodeFleetJson(local.Inventory()));
  EXPECT_TRUE(fleet.PublishNow().ok());
  fleet.Start();  // nothing to publish to
  fleet.Stop();
}

// Summary counts of `devices` devices, `recent` of them heard from recently; installed versions
// of channel 291 and the devices that quarantined v1291, per reason.
server::FleetSummaryCounts Summary(int64_t devices, int64_t recent,
                                   std::map<int64_t, int64_t> installed,
                                   std::map<std::string, int64_t, std::less<>> reasons) {
  server::FleetSummaryCounts c;
  c.devices = devices;
  c.seen_recently = recent;
  for (const auto& [v, n] : installed) c.installed["291"][{v, std::string(64, 'a')}] = n;
  if (!reasons.empty()) {
    server::QuarantineCount& q = c.quarantined[{"291", 1291, std::string(64, 'a')}];
    for (const auto& [r, n] : reasons) q.devices += n;
    q.distinct_reasons = static_cast<int64_t>(reasons.size());
    q.reasons = std::move(reasons);
  }
  return c;
}

// The fleet summary's merge (docs/deploy.md "The fleet summary across replicas"): live replicas'
// counts add up; a dead replica's count as far as the live ones' do not already hold them.
TEST(MergeFleetSummariesTest, LiveReplicasAddUpAndADeadOnesDevicesAreNotCountedTwice) {
  ClusterFleetOptions o;
  const int64_t now = 100 * kDay;
  const server::FleetSummaryCounts local =
      Summary(10, 9, {{1290, 6}, {1291, 3}}, {{"3 unclean starts", 2}});
  const PublishedSummary live{"b", now - kMinute,
                              Summary(5, 5, {{1291, 5}}, {{"pre-flight", 1}})};
  server::FleetSummaryCounts m = MergeFleetSummaries(local, {live}, now, o);
  EXPECT_EQ(m.devices, 15);
  EXPECT_EQ(m.seen_recently, 14);
  EXPECT_EQ((m.installed["291"][{1290, std::string(64, 'a')}]), 6);
  EXPECT_EQ((m.installed["291"][{1291, std::string(64, 'a')}]), 8);
  const server::QuarantineCount& q = m.quarantined[{"291", 1291, std::string(64, 'a')}];
  EXPECT_EQ(q.devices, 3);
  EXPECT_EQ(q.distinct_reasons, 2);
  EXPECT_EQ(q.reasons.at("3 unclean starts"), 2);
  EXPECT_EQ(q.reasons.at("pre-flight"), 1);

  // A dead replica (retained row) whose 8 devices moved here: they are in both, counted once;
  // none of them counts as recently seen by the dead one.
  const PublishedSummary dead{"c", now - 2 * kDay, Summary(8, 8, {{1290, 8}}, {})};
  m = MergeFleetSummaries(local, {dead}, now, o);
  EXPECT_EQ(m.devices, 10);
  EXPECT_EQ(m.seen_recently, 9);
  EXPECT_EQ((m.installed["291"][{1290, std::string(64, 'a')}]), 8);
  // Past the retention window: ignored.
  const PublishedSummary expired{"d", now - 31 * kDay, Summary(1000, 1000, {{1, 1000}}, {})};
  m = MergeFleetSummaries(local, {expired}, now, o);
  EXPECT_EQ(m.devices, 10);
  EXPECT_EQ(m.installed["291"].size(), 2u);
  // A row from the future (clock skew) is fresh; recent never exceeds devices.
  const PublishedSummary skewed{"e", now + kMinute, Summary(1, 1, {}, {})};
  m = MergeFleetSummaries(Summary(0, 0, {}, {}), {skewed}, now, o);
  EXPECT_EQ(m.devices, 1);
  EXPECT_EQ(m.seen_recently, 1);
}

// One replica: a store, the devices that check in on it, its layer-1 fleet and release service.
struct Replica {
  Replica(const std::string& uri, const std::string& name, Clock& clock)
      : store(*store::PgStore::Open(uri)),
        fleet(local, store.get(), clock, Options(name, &summary)) {
    auto s = service::ReleaseService::Open(*store, fleet, clock, {});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) service = std::move(*s);
  }
  // With `summary`: the fleet summary counts published are *summary's at the time.
  static ClusterFleetOptions Options(const std::string& name,
                                     const server::FleetSummaryCounts* summary = nullptr) {
    ClusterFleetOptions o;
    o.replica = name;
    if (summary != nullptr) o.summary = [summary] { return *summary; };
    return o;
  }
  std::unique_ptr<store::PgStore> store;
  fx::FakeFleet local;
  server::FleetSummaryCounts summary;  // the devices' summary counts on this replica
  ClusterFleet fleet;
  std::unique_ptr<service::ReleaseService> service;
};

class ClusterFleetPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = rf::testing::FreshPgTestDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    a_ = std::make_unique<Replica>(*uri, "host-a:1:1", clock_);
    b_ = std::make_unique<Replica>(*uri, "host-b:2:2", clock_);
    ASSERT_TRUE(a_->service && b_->service);
    auto& s = *a_->service;
    ASSERT_TRUE(s.principals().Ensure("admin", {Role::kAdmin}, kAdminToken).ok());
    admin_ = *s.principals().Authenticate(kAdminToken);
    auto t = s.principals().Create(admin_, "alice", {Role::kAuthor}, "");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    alice_token_ = *t;
    ASSERT_TRUE(s.content_types().Add(admin_, fx::TypeYaml()).ok());
    ASSERT_TRUE(b_->service->Reload().ok());  // what the change watcher does
    // The legacy sensor (20 inputs) checks in only on replica A; B has only 7.16 (21 inputs).
    a_->local.Set(FleetOf({Sensor("7.11", 20, 3'100'000), Sensor("7.16", 21, 1'000)}));
    b_->local.Set(FleetOf({Sensor("7.16", 21, 40'000)}));
  }
  Principal Alice(Replica& r) { return *r.service->principals().Authenticate(alice_token_); }
  Status UploadCf291(Replica& r, service::UploadResult* result, int64_t version = 1291) {
    return r.service->bundles().Upload(Alice(r), fx::BuildEnvelope(fx::BundleSource(version, true)),
                                       result);
  }

  SimulatedClock clock_{1'800'000'000'000'000};
  std::unique_ptr<Replica> a_, b_;
  Principal admin_;
  std::string alice_token_;
};

// Issue 13's regression: the same Channel-File-291-style upload was refused on the replica whose
// devices include the legacy sensor and accepted on the other; the load balancer picked which.
TEST_F(ClusterFleetPgTest, Cf291ThroughTheReplicaWithoutTheLegacySensorIsRefused) {
  ASSERT_TRUE(a_->fleet.PublishNow().ok());
  ASSERT_TRUE(b_->fleet.PublishNow().ok());
  service::UploadResult r;
  Status st = UploadCf291(*b_, &r);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("layer 1 rejected"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("peer_pipe_regex"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(kLegacy + " (3,100,000 devices)"), std::string::npos) << st.message();
  EXPECT_FALSE(r.accepted);
  EXPECT_TRUE(b_->service->bundles().List().empty());
  // The whole fleet's counts on both replicas: 7.16 summed over A and B.
  for (Replica* rep : {a_.get(), b_.get()}) {
    auto whole = rep->fleet.WholeFleet();
    ASSERT_TRUE(whole.ok()) << whole.status().ToString();
    EXPECT_EQ(Counts(*whole),
              (std::map<std::string, int64_t>{{kLegacy, 3'100'000}, {kCurrent, 41'000}}));
  }
  // Through A: the same verdict.
  EXPECT_EQ(UploadCf291(*a_, &r).code(), StatusCode::kInvalidArgument);
  // The same content without the 21st field is accepted through B.
  ASSERT_TRUE(b_->service->bundles()
                  .Upload(Alice(*b_), fx::BuildEnvelope(fx::BundleSource(1292, false)), &r)
                  .ok());
}

// A replica that died (or stopped): its row stops being refreshed, its devices move, and until
// they check in elsewhere the legacy consumer version must still count. It does for the whole
// retention window; then the row is ignored and deleted.
TEST_F(ClusterFleetPgTest, ADeadReplicasConsumersStillCountUntilTheRetentionWindow) {
  ASSERT_TRUE(a_->fleet.PublishNow().ok());
  a_->local.Set(Fleet());  // A is gone: it never publishes again
  const ClusterFleetOptions o = Replica::Options("x");
  clock_.AdvanceMicros(o.fresh_micros + kMinute);
  ASSERT_TRUE(b_->fleet.PublishNow().ok());
  service::UploadResult r;
  Status st = UploadCf291(*b_, &r);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find(kLegacy), std::string::npos) << st.message();
  // Some of A's legacy devices checked in on B: counted once (max of the two sides).
  b_->local.Set(FleetOf({Sensor("7.16", 21, 40'000), Sensor("7.11", 20, 2'000'000)}));
  auto whole = b_->fleet.WholeFleet();
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(Counts(*whole),
            (std::map<std::string, int64_t>{{kCurrent, 40'000}, {kLegacy, 3'100'000}}));
  b_->local.Set(FleetOf({Sensor("7.16", 21, 40'000)}));
  // Still refused on the last day of the retention window...
  clock_.SetUnixMicros(1'800'000'000'000'000 + o.retention_micros - kMinute);
  EXPECT_EQ(UploadCf291(*b_, &r).code(), StatusCode::kInvalidArgument);
  // ...and after it the row no longer counts (B's next publication deletes it).
  clock_.AdvanceMicros(2 * kMinute);
  ASSERT_TRUE(b_->fleet.PublishNow().ok());
  auto rows = b_->store->FleetProfiles();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].replica, "host-b:2:2");
  EXPECT_TRUE(UploadCf291(*b_, &r).ok());
}

// A row that does not decode, or a database that cannot be read: the upload is refused, never
// judged on part of the fleet, and nothing is stored.
TEST_F(ClusterFleetPgTest, UnreadableProfilesFailClosed) {
  ASSERT_TRUE(b_->fleet.PublishNow().ok());
  store::FleetProfilesRow bad{"host-c:3:3", 1, clock_.NowUnixMicros(), "{\"strata\":[{}]}", ""};
  ASSERT_TRUE(a_->store->PutFleetProfiles(bad).ok());
  // The good content is refused too: the fleet cannot be read whole.
  service::UploadResult r;
  Status st = b_->service->bundles().Upload(Alice(*b_),
                                            fx::BuildEnvelope(fx::BundleSource(1292, false)), &r);
  ASSERT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find("replica 'host-c:3:3'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'devices' is missing"), std::string::npos) << st.message();
  EXPECT_TRUE(b_->service->bundles().List().empty());
  // The replica republishes over it (a higher number): readable again.
  bad.seq = 2;
  bad.profiles = EncodeFleetJson(Fleet());
  ASSERT_TRUE(a_->store->PutFleetProfiles(bad).ok());
  ASSERT_TRUE(b_->fleet.WholeFleet().ok());

  // The database down: Unavailable (503), nothing judged.
  auto server = rf::testing::SharedPgTestServer();
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->Stop().ok()) << (*server)->Log();
  st = b_->service->bundles().Upload(Alice(*b_), fx::BuildEnvelope(fx::BundleSource(1292, false)),
                                     &r);
  const Status restarted = (*server)->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString() << (*server)->Log();
  ASSERT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("layer 1 cannot read the other replicas' fleet profiles"),
            std::string::npos)
      << st.message();
  EXPECT_TRUE(b_->service->bundles().List().empty());
  // Back up: the connection is made again and the upload goes through.
  EXPECT_TRUE(b_->fleet.WholeFleet().ok());
}

// A repeated or late publication changes nothing; an unchanged inventory is republished only at
// the refresh period; a change is published at the next step.
TEST_F(ClusterFleetPgTest, PublicationsAreIdempotent) {
  auto row_of = [&](const std::string& replica) {
    auto rows = b_->store->FleetProfiles();
    EXPECT_TRUE(rows.ok());
    for (const auto& row : *rows) {
      if (row.replica == replica) return row;
    }
    return store::FleetProfilesRow{};
  };
  store::FleetProfilesRow row{"r", 10, 1000, EncodeFleetJson(FleetOf({Sensor("7.11", 20, 5)})),
                              ""};
  ASSERT_TRUE(a_->store->PutFleetProfiles(row).ok());
  store::FleetProfilesRow late{"r", 9, 2000, EncodeFleetJson(Fleet()), ""};
  ASSERT_TRUE(a_->store->PutFleetProfiles(late).ok());
  late.seq = 10;  // repeated number
  ASSERT_TRUE(b_->store->PutFleetProfiles(late).ok());
  store::FleetProfilesRow kept = row_of("r");
  EXPECT_EQ(kept.seq, 10);
  EXPECT_EQ(kept.updated_us, 1000);
  EXPECT_EQ(kept.profiles, row.profiles);

  ASSERT_TRUE(a_->fleet.PublishNow().ok());
  const store::FleetProfilesRow first = row_of("host-a:1:1");
  EXPECT_EQ(first.updated_us, clock_.NowUnixMicros());
  clock_.AdvanceMicros(kMinute / 2);
  ASSERT_TRUE(a_->fleet.PublishNow().ok());  // unchanged, refresh not due: no write
  EXPECT_EQ(row_of("host-a:1:1").seq, first.seq);
  a_->local.Set(FleetOf({Sensor("7.11", 20, 7)}));
  ASSERT_TRUE(a_->fleet.PublishNow().ok());  // changed: published
  const store::FleetProfilesRow changed = row_of("host-a:1:1");
  EXPECT_GT(changed.seq, first.seq);
  EXPECT_EQ(changed.profiles, EncodeFleetJson(a_->local.Inventory()));
  clock_.AdvanceMicros(kMinute);
  ASSERT_TRUE(a_->fleet.PublishNow().ok());  // the heartbeat
  EXPECT_GT(row_of("host-a:1:1").seq, changed.seq);
  EXPECT_EQ(row_of("host-a:1:1").updated_us, clock_.NowUnixMicros());
}

// The loop publishes by itself; a replica that stops keeps its row.
TEST_F(ClusterFleetPgTest, TheLoopPublishesAndAStoppedReplicaKeepsItsRow) {
  a_->fleet.Start();
  ASSERT_TRUE(rf::testing::WaitFor([&] {
    auto rows = b_->store->FleetProfiles();
    return rows.ok() && rows->size() == 1 && (*rows)[0].replica == "host-a:1:1";
  }));
  a_->fleet.Stop();
  auto rows = b_->store->FleetProfiles();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].profiles, EncodeFleetJson(a_->local.Inventory()));
}

// The dashboard's fleet summary on either replica is the whole fleet's (before: each replica's
// own devices), from the counts each publishes beside its profiles.
TEST_F(ClusterFleetPgTest, EveryReplicaAnswersTheWholeFleetsSummary) {
  a_->summary = Summary(10, 9, {{1290, 6}, {1291, 3}}, {{"3 unclean starts", 2}});
  b_->summary = Summary(5, 5, {{1291, 5}}, {{"pre-flight", 1}});
  ASSERT_TRUE(a_->fleet.PublishNow().ok());
  ASSERT_TRUE(b_->fleet.PublishNow().ok());
  std::string answers[2];
  for (int i = 0; i < 2; ++i) {
    Replica& r = i == 0 ? *a_ : *b_;
    auto whole = r.fleet.WholeSummary(r.summary);
    ASSERT_TRUE(whole.ok()) << whole.status().ToString();
    EXPECT_EQ(whole->devices, 15);
    EXPECT_EQ(whole->seen_recently, 14);
    answers[i] = server::FleetSummaryJson(*whole, 180'000'000);
  }
  EXPECT_EQ(answers[0], answers[1]);
  EXPECT_NE(answers[0].find("\"without\":1}"), std::string::npos) << answers[0];
  EXPECT_NE(answers[0].find("\"devices\":3,\"reason\":\"3 unclean starts\",\"reason_devices\":2,"
                            "\"reasons\":2"),
            std::string::npos)
      << answers[0];

  // A changed count is published at the next step.
  b_->summary.seen_recently = 4;
  ASSERT_TRUE(b_->fleet.PublishNow().ok());
  EXPECT_EQ(a_->fleet.WholeSummary(a_->summary)->seen_recently, 13);

  // A row without counts (a replica of an older version) is left out; one whose counts do not
  // decode fails, naming the replica.
  store::FleetProfilesRow old{"host-c:3:3", 1, clock_.NowUnixMicros(), EncodeFleetJson(Fleet()),
                              ""};
  ASSERT_TRUE(a_->store->PutFleetProfiles(old).ok());
  EXPECT_EQ(a_->fleet.WholeSummary(a_->summary)->devices, 15);
  old.seq = 2;
  old.summary = "{\"format\":\"ringfence-fleet-summary-1\",\"devices\":-1}";
  ASSERT_TRUE(a_->store->PutFleetProfiles(old).ok());
  auto bad = a_->fleet.WholeSummary(a_->summary);
  ASSERT_EQ(bad.status().code(), StatusCode::kDataLoss) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("replica 'host-c:3:3'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("devices is not an integer"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace rf::cluster
