// Several servers on one real PostgreSQL (started by the test: testing/pg_test_server.h): the
// controller lease and its fencing epoch, compare-and-set of release states between servers, and
// the change watcher that brings one server's changes to the others. Each "replica" is a PgStore
// and a ReleaseService on the same database, as two `ringfence server` processes would have.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "cluster/change_watcher.h"
#include "cluster/leader_lease.h"
#include "crypto/crypto.h"
#include "platform/sim_env.h"
#include "service/operator_api.h"
#include "service/release_service.h"
#include "service/testing/fixtures.h"
#include "store/pg_store.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::cluster {
namespace {

using rollout::Event;
using rollout::Phase;
using server::Principal;
using server::Role;
namespace fx = service::testing;

constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr int64_t kLease = 6'000'000;
constexpr int64_t kRenew = 2'000'000;

using rf::testing::WaitFor;

struct Replica {
  std::unique_ptr<store::PgStore> store;
  std::unique_ptr<service::ReleaseService> service;
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = rf::testing::FreshPgTestDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    uri_ = *uri;
    fleet_.Set(fx::TwoStrataFleet(21));
    a_ = Open();
    ASSERT_TRUE(a_.service);
    auto& s = *a_.service;
    ASSERT_TRUE(s.principals().Ensure("admin", {Role::kAdmin}, kAdminToken).ok());
    admin_ = *s.principals().Authenticate(kAdminToken);
    for (auto [name, roles] : {std::pair{"alice", std::vector{Role::kAuthor}},
                               std::pair{"bob", std::vector{Role::kReviewer}},
                               std::pair{"oscar", std::vector{Role::kOperator}}}) {
      auto t = s.principals().Create(
          admin_, name, roles,
          std::string(name) == "bob" ? crypto::EncodePublicKeyFile(bob_key_.public_key()) : "");
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      tokens_[name] = *t;
    }
    ASSERT_TRUE(s.content_types().Add(admin_, fx::TypeYaml()).ok());
    b_ = Open();
    ASSERT_TRUE(b_.service);
  }

  Replica Open() {
    Replica r;
    auto st = store::PgStore::Open(uri_);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    if (!st.ok()) return r;
    r.store = std::move(*st);
    auto svc = service::ReleaseService::Open(*r.store, fleet_, clock_, {});
    EXPECT_TRUE(svc.ok()) << svc.status().ToString();
    if (svc.ok()) r.service = std::move(*svc);
    return r;
  }

  Principal P(Replica& r, const std::string& name) {
    return *r.service->principals().Authenticate(tokens_[name]);
  }

  // A release of a fresh bundle, approved and started through replica `r`: Dispatching.
  std::string StartedRelease(Replica& r, int64_t version) {
    service::UploadResult up;
    Status st = r.service->bundles().Upload(P(r, "alice"),
                                            fx::BuildEnvelope(fx::BundleSource(version, false)), &up);
    EXPECT_TRUE(st.ok()) << st.ToString();
    auto v = r.service->releases().Create(P(r, "alice"), up.bundle.sha256, fx::PlanYaml());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    if (!v.ok()) return "";
    auto ap = r.service->reviews().Approve(P(r, "bob"), v->record.release_id,
                                           fx::SignApproval(*v, "bob", "reviewer", bob_key_));
    EXPECT_TRUE(ap.ok()) << ap.status().ToString();
    auto started = r.service->releases().Start(P(r, "oscar"), v->record.release_id);
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    return v->record.release_id;
  }

  // The release as the database holds it (a third connection: what any server would load).
  rollout::ReleaseState Stored(const std::string& id) {
    auto s = store::PgStore::Open(uri_);
    EXPECT_TRUE(s.ok());
    auto c = (*s)->Load();
    EXPECT_TRUE(c.ok());
    for (const auto& r : c->releases) {
      if (r.release_id == id) return r.state;
    }
    ADD_FAILURE() << "no release " << id;
    return {};
  }

  int64_t AuditSeq() { return a_.store->RecordedAuditHead()->seq; }

  std::string uri_;
  fx::FakeFleet fleet_;
  SimulatedClock clock_;
  crypto::SigningKey bob_key_ = fx::KeyFromByte(2);
  Principal admin_;
  std::map<std::string, std::string> tokens_;
  Replica a_, b_;
};

LeaseKeeperOptions Lease(const std::string& holder) {
  LeaseKeeperOptions o;
  o.lease_micros = kLease;
  o.renew_micros = kRenew;
  o.holder = holder;
  return o;
}

TEST_F(ClusterTest, OneServerLeadsAndAnotherTakesOverWhenItStopsRenewing) {
  LeaseKeeper a(*a_.store, clock_, Lease("a")), b(*b_.store, clock_, Lease("b"));
  ASSERT_TRUE(a.Attempt().ok());
  ASSERT_TRUE(b.Attempt().ok());
  const int64_t first = a.Epoch();
  EXPECT_GT(first, 0);
  EXPECT_EQ(b.Epoch(), 0);
  EXPECT_EQ(b.LastSeen().holder, "a");
  // The leader renews every renew interval: the epoch stays, the other keeps following.
  for (int i = 0; i < 5; ++i) {
    clock_.AdvanceMicros(kRenew);
    ASSERT_TRUE(a.Attempt().ok());
    ASSERT_TRUE(b.Attempt().ok());
    EXPECT_EQ(a.Epoch(), first);
    EXPECT_EQ(b.Epoch(), 0);
  }
  // The leader stops renewing (dead, or cut off). Until its lease runs out nobody takes over.
  const int64_t last_renewal = clock_.NowUnixMicros();
  int64_t took_over_at = 0;
  for (int64_t t = kRenew; t <= 3 * kLease && took_over_at == 0; t += kRenew) {
    clock_.SetUnixMicros(last_renewal + t);
    ASSERT_TRUE(b.Attempt().ok());
    if (b.Epoch() != 0) took_over_at = t;
  }
  ASSERT_NE(took_over_at, 0);
  EXPECT_GE(took_over_at, kLease);                 // never while the old lease runs
  EXPECT_LE(took_over_at, kLease + kRenew);        // at the first attempt after it ran out
  EXPECT_EQ(b.Epoch(), first + 1);
  EXPECT_EQ(a.Epoch(), 0);                         // its own clock says its lease is over
  ASSERT_TRUE(a.Attempt().ok());                   // and the database says so too
  EXPECT_EQ(a.Epoch(), 0);
  EXPECT_EQ(a.LastSeen().holder, "b");
}

TEST_F(ClusterTest, StoppingTheLeaderHandsTheLeaseOverAtOnce) {
  LeaseKeeper a(*a_.store, clock_, Lease("a")), b(*b_.store, clock_, Lease("b"));
  ASSERT_TRUE(a.Attempt().ok());
  const int64_t first = a.Epoch();
  ASSERT_GT(first, 0);
  a.Stop();
  EXPECT_EQ(a.Epoch(), 0);
  ASSERT_TRUE(b.Attempt().ok());  // no clock advance needed
  EXPECT_EQ(b.Epoch(), first + 1);
}

TEST_F(ClusterTest, TwoServersTakingAnExpiredLeaseAtOnceGetOneLeader) {
  std::vector<Replica> extra;  // declared first: the keepers (which use them) go first
  std::vector<std::unique_ptr<LeaseKeeper>> keepers;
  for (int i = 0; i < 4; ++i) {
    auto s = store::PgStore::Open(uri_);
    ASSERT_TRUE(s.ok());
    extra.push_back({std::move(*s), nullptr});
    keepers.push_back(std::make_unique<LeaseKeeper>(*extra.back().store, clock_,
                                                    Lease("k" + std::to_string(i))));
  }
  std::vector<std::thread> threads;
  for (auto& k : keepers) threads.emplace_back([&k] { EXPECT_TRUE(k->Attempt().ok()); });
  for (auto& t : threads) t.join();
  int leaders = 0;
  for (auto& k : keepers) leaders += k->Epoch() != 0;
  EXPECT_EQ(leaders, 1);
}

// The fencing epoch: a deposed leader's late controller write is refused by the store and changes
// nothing (on code without the epoch check it would commit and move the release).
TEST_F(ClusterTest, DeposedLeadersLateWriteIsRefusedAndChangesNothing) {
  const std::string id = StartedRelease(a_, 7);
  ASSERT_EQ(Stored(id).phase, Phase::kDispatching);
  ASSERT_TRUE(b_.service->Reload().ok());
  LeaseKeeper a(*a_.store, clock_, Lease("a")), b(*b_.store, clock_, Lease("b"));
  ASSERT_TRUE(a.Attempt().ok());
  const int64_t old_epoch = a.Epoch();
  ASSERT_GT(old_epoch, 0);
  // A stalls past its lease; B takes over.
  clock_.AdvanceMicros(kLease + 1);
  ASSERT_TRUE(b.Attempt().ok());
  ASSERT_GT(b.Epoch(), old_epoch);
  // A wakes up and applies what it decided with its old epoch: refused, nothing stored.
  const int64_t seq = AuditSeq();
  auto late = a_.service->directory().ApplyFencedEvent(id, Event::GateHalt("late decision"),
                                                       clock_.NowUnixMicros(), old_epoch);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kFailedPrecondition) << late.status().ToString();
  EXPECT_NE(late.status().message().find("fenced"), std::string::npos) << late.status().ToString();
  EXPECT_EQ(Stored(id).phase, Phase::kDispatching);
  EXPECT_EQ(AuditSeq(), seq);
  // A's own model did not move either.
  EXPECT_EQ(a_.service->releases().Get(id)->record.state.phase, Phase::kDispatching);
  // The new leader's write with its epoch commits.
  auto now = b_.service->directory().ApplyFencedEvent(id, Event::GateHalt("gate says no"),
                                                      clock_.NowUnixMicros(), b.Epoch());
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_NE(now->state.phase, Phase::kDispatching);
  EXPECT_EQ(Stored(id).phase, now->state.phase);
  EXPECT_EQ(AuditSeq(), seq + 1);
  EXPECT_TRUE(a_.store->VerifyAudit().ok());
}

// A server whose model is stale (it has not yet seen another server's halt) cannot overwrite the
// halt with a transition it derived from the old state: compare-and-set on the release's state.
TEST_F(ClusterTest, StaleServerCannotOverwriteAnotherServersHalt) {
  const std::string id = StartedRelease(a_, 7);
  ASSERT_TRUE(b_.service->Reload().ok());
  ASSERT_TRUE(a_.service->releases().Halt(P(a_, "oscar"), id, "bad content").ok());
  // B still believes the release is dispatching; its pause (and its controller's promotion)
  // would write a state derived from that.
  EXPECT_EQ(b_.service->releases().Get(id)->record.state.phase, Phase::kDispatching);
  auto pause = b_.service->releases().Pause(P(b_, "oscar"), id, "look at it");
  ASSERT_FALSE(pause.ok());
  EXPECT_EQ(pause.status().code(), StatusCode::kAborted) << pause.status().ToString();
  auto promote = b_.service->directory().ApplyEvent(id, Event::GatePromoteOk(),
                                                    clock_.NowUnixMicros() + 3600'000'000LL);
  EXPECT_FALSE(promote.ok());
  EXPECT_EQ(Stored(id).phase, Phase::kHalted);
  // Once B reloads it sees the halt, and acts on the real state.
  ASSERT_TRUE(b_.service->Reload().ok());
  EXPECT_EQ(b_.service->releases().Get(id)->record.state.phase, Phase::kHalted);
  EXPECT_TRUE(b_.store->VerifyAudit().ok());
}

// Release ids come from each server's model: two servers creating at once must not both write
// "r-N" (the second would replace the first's release).
TEST_F(ClusterTest, TwoServersCreatingTheSameReleaseIdDoNotOverwriteEachOther) {
  service::UploadResult up;
  ASSERT_TRUE(a_.service->bundles()
                  .Upload(P(a_, "alice"), fx::BuildEnvelope(fx::BundleSource(7, false)), &up)
                  .ok());
  ASSERT_TRUE(b_.service->Reload().ok());
  auto first = a_.service->releases().Create(P(a_, "alice"), up.bundle.sha256, fx::PlanYaml());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = b_.service->releases().Create(P(b_, "alice"), up.bundle.sha256, fx::PlanYaml());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAborted) << second.status().ToString();
  ASSERT_TRUE(b_.service->Reload().ok());
  auto retry = b_.service->releases().Create(P(b_, "alice"), up.bundle.sha256, fx::PlanYaml());
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_NE(retry->record.release_id, first->record.release_id);
}

// A change committed through one server reaches the other through LISTEN/NOTIFY (or the poll):
// principals, releases, a halt. The halt reaches the other server's change listener, which is
// what republishes its controller's dispatch snapshot.
TEST_F(ClusterTest, ChangesThroughOneServerReachTheOther) {
  std::atomic<int> b_changes{0};
  b_.service->directory().SetChangeListener([&] { b_changes.fetch_add(1); });
  ChangeWatcherOptions o;
  o.poll_micros = 60'000'000;  // so the notification, not the poll, must bring the changes
  ChangeWatcher watcher(*b_.store, [this] { return b_.service->Reload(); }, o);
  bool reloaded = false;
  ASSERT_TRUE(watcher.CheckOnce(&reloaded).ok());
  EXPECT_TRUE(reloaded);  // the first look always reloads
  ASSERT_TRUE(watcher.CheckOnce(&reloaded).ok());
  EXPECT_FALSE(reloaded);  // nothing changed since
  watcher.Start();

  auto zed = a_.service->principals().Create(admin_, "zed", {Role::kOperator}, "");
  ASSERT_TRUE(zed.ok());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return b_.service->principals().Authenticate(*zed).ok(); }));
  const auto principal_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - t0).count();

  const std::string id = StartedRelease(a_, 7);
  ASSERT_TRUE(WaitFor([&] {
    auto r = b_.service->releases().Get(id);
    return r.ok() && r->record.state.phase == Phase::kDispatching;
  }));
  const int before = b_changes.load();
  ASSERT_TRUE(a_.service->releases().Halt(P(a_, "oscar"), id, "bad content").ok());
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& r : b_.service->directory().ActiveReleases()) {
      if (r.release_id == id && r.state.phase == Phase::kHalted) return true;
    }
    return false;
  }));
  const auto halt_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(b_changes.load(), before);
  // B's own changes do not make B reload.
  watcher.Stop();
  ASSERT_TRUE(watcher.CheckOnce().ok());
  const int64_t reloads = watcher.reloads();
  ASSERT_TRUE(b_.service->principals().Create(admin_, "yan", {Role::kOperator}, "").ok());
  bool reloaded_own = true;
  ASSERT_TRUE(watcher.CheckOnce(&reloaded_own).ok());
  EXPECT_FALSE(reloaded_own);
  EXPECT_EQ(watcher.reloads(), reloads);
  std::printf("change reached the other server after %lld ms (principal), %lld ms (halt)\n",
              static_cast<long long>(principal_ms), static_cast<long long>(halt_ms));
}

// Without notifications (the LISTEN side never waits long enough), the poll still brings changes.
TEST_F(ClusterTest, PollingBringsChangesWithoutNotifications) {
  ChangeWatcher watcher(*b_.store, [this] { return b_.service->Reload(); });
  ASSERT_TRUE(watcher.CheckOnce().ok());
  auto zed = a_.service->principals().Create(admin_, "zed", {Role::kOperator}, "");
  ASSERT_TRUE(zed.ok());
  EXPECT_FALSE(b_.service->principals().Authenticate(*zed).ok());
  bool reloaded = false;
  ASSERT_TRUE(watcher.CheckOnce(&reloaded).ok());
  EXPECT_TRUE(reloaded);
  EXPECT_TRUE(b_.service->principals().Authenticate(*zed).ok());
}

// Read-your-writes across servers (docs/deploy.md "Any replica takes any request"): what A
// acknowledged is seen by the next request through B's API, before any notification or poll
// brought it to B (B's watcher is never started here). This is the sequence a load balancer
// produces: an upload through one replica, the release of that bundle through another.
TEST_F(ClusterTest, TheNextRequestThroughAnotherServerSeesWhatOneAcknowledged) {
  ChangeWatcher watcher(*b_.store, [this] { return b_.service->Reload(); });
  ASSERT_TRUE(watcher.CheckOnce().ok());
  const service::OperatorApi api_b(*b_.service, fleet_, nullptr);
  int errors = 0;
  auto served = CaughtUp(
      watcher, [&api_b](const server::HttpRequest& r) { return api_b.Handle(r); },
      [&errors](const Status&) { ++errors; });

  service::UploadResult up;
  ASSERT_TRUE(a_.service->bundles()
                  .Upload(P(a_, "alice"), fx::BuildEnvelope(fx::BundleSource(9, false)), &up)
                  .ok());
  server::HttpRequest create;
  create.method = "POST";
  create.path = "/v1/releases";
  create.bearer_token = tokens_["alice"];
  create.body = boost::json::serialize(boost::json::object{
      {"bundle_sha256", up.bundle.sha256}, {"plan_yaml", fx::PlanYaml()}});
  // B's model does not have the bundle yet: without catching up, B would answer 404.
  const server::HttpResponse stale = api_b.Handle(create);
  EXPECT_EQ(stale.status, 404) << stale.body;
  const server::HttpResponse created = served(create);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(boost::json::parse(created.body).as_object().at("release_id").as_string());

  // A principal created through A authenticates through B at once, and B's API shows the release
  // B itself created (its own change: no reload).
  auto zed = a_.service->principals().Create(admin_, "zed", {Role::kOperator}, "");
  ASSERT_TRUE(zed.ok());
  server::HttpRequest get;
  get.method = "GET";
  get.path = "/v1/releases/" + id;
  get.bearer_token = *zed;
  const int64_t reloads = watcher.reloads();
  const server::HttpResponse got = served(get);
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(watcher.reloads(), reloads + 1);
  // Nothing new since: the next request reads the sequence and does not reload.
  EXPECT_EQ(served(get).status, 200);
  EXPECT_EQ(watcher.reloads(), reloads + 1);
  EXPECT_EQ(errors, 0);
}

}  // namespace
}  // namespace rf::cluster
