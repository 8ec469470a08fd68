// Device credentials shared by two "servers" (two PgStores and two DeviceCredentials on one real
// PostgreSQL, as two `ringfence server` processes have them): an enrollment through one is
// accepted by the other, a revoke through either holds on both, and the database decides races.
#include "cluster/pg_credential_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "platform/env.h"
#include "server/device_credentials.h"
#include "store/pg_store.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::cluster {
namespace {

using server::CredentialState;
using server::DeviceCredentials;

constexpr int64_t kNow = 1'700'000'000;

crypto::PublicKey Key(uint8_t b) {
  crypto::PublicKey k;
  k.bytes.fill(b);
  return k;
}

using rf::testing::WaitFor;

// The history table as text: "state:actor" per change, in order (a plain libpq session).
std::string History(const std::string& uri, const std::string& device_id) {
  PGconn* c = PQconnectdb(uri.c_str());
  std::string out;
  const char* params[1] = {device_id.c_str()};
  PGresult* r = PQexecParams(c, "SELECT state || ':' || changed_by FROM device_credential_changes"
                                " WHERE device_id = $1 ORDER BY seq",
                             1, nullptr, params, nullptr, nullptr, 0);
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    for (int i = 0; i < PQntuples(r); ++i) out += std::string(PQgetvalue(r, i, 0)) + " ";
  } else {
    out = std::string("error: ") + PQerrorMessage(c);
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

// One server's side: its own connections to the database and its own in-memory view.
struct Server {
  std::unique_ptr<store::PgStore> store;
  std::unique_ptr<DeviceCredentials> creds;
  PgCredentialStore* pg = nullptr;
};

class SharedCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = rf::testing::FreshPgTestDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    uri_ = *uri;
    a_ = Open();
    b_ = Open();
    ASSERT_TRUE(a_.creds && b_.creds);
  }

  Server Open() {
    Server s;
    auto st = store::PgStore::Open(uri_);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    if (!st.ok()) return s;
    s.store = std::move(*st);
    server::DeviceCredentialsOptions o;
    o.secret_path = dir_.File("session.secret");  // the replicas share it (docs/deploy.md)
    o.journal_path = dir_.File("credentials.log");  // not used with a shared store
    auto pg = std::make_unique<PgCredentialStore>(*s.store);
    s.pg = pg.get();
    s.creds = std::make_unique<DeviceCredentials>(env_, o, std::move(pg));
    Status loaded = s.creds->Load();
    EXPECT_TRUE(loaded.ok()) << loaded.ToString();
    if (!loaded.ok()) s.creds.reset();
    return s;
  }

  std::string uri_;
  rf::testing::TempDir dir_;
  Env env_ = PosixEnv();
  Server a_, b_;
};

TEST_F(SharedCredentialsTest, EnrolledThroughOneServerAcceptedByTheOtherAndRevokeHoldsOnBoth) {
  auto reg = a_.creds->Register("d-1", Key(1), kNow);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(reg->epoch, 1u);
  const std::string token = a_.creds->IssueSession("d-1", reg->epoch, kNow);
  ASSERT_TRUE(a_.creds->VerifySession(token, kNow + 1).ok());
  // B has not looked yet: it does not know the device.
  EXPECT_FALSE(b_.creds->VerifySession(token, kNow + 1).ok());
  ASSERT_TRUE(b_.creds->Refresh(0).ok());
  auto on_b = b_.creds->VerifySession(token, kNow + 1);
  ASSERT_TRUE(on_b.ok()) << on_b.status().ToString();
  EXPECT_EQ(b_.creds->Get("d-1")->key.bytes, Key(1).bytes);
  EXPECT_EQ(b_.pg->seen(), a_.creds->Get("d-1")->version);
  EXPECT_FALSE(b_.creds->WouldAddCredential("d-1", Key(1)));  // no rate-limit token on B either

  // Revoked through B: B refuses at once, A after its next look; neither lets it enroll again.
  ASSERT_TRUE(b_.creds->Revoke("d-1", "oscar", kNow + 2).ok());
  EXPECT_FALSE(b_.creds->VerifySession(token, kNow + 3).ok());
  ASSERT_TRUE(a_.creds->Refresh(0).ok());
  auto refused = a_.creds->VerifySession(token, kNow + 3);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(refused.status().message().find("revoked"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(a_.creds->Register("d-1", Key(1), kNow + 3).status().code(),
            StatusCode::kPermissionDenied);

  // Reset through A: B lets a new key enroll (epoch 2), and A accepts that session.
  ASSERT_TRUE(a_.creds->Reset("d-1", "oscar", kNow + 4).ok());
  ASSERT_TRUE(b_.creds->Refresh(0).ok());
  auto again = b_.creds->Register("d-1", Key(9), kNow + 5);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->epoch, 2u);
  ASSERT_TRUE(a_.creds->Refresh(0).ok());
  EXPECT_TRUE(a_.creds->VerifySession(b_.creds->IssueSession("d-1", 2, kNow + 5), kNow + 6).ok());
  EXPECT_FALSE(a_.creds->VerifySession(token, kNow + 6).ok());  // the old key's session

  // A third server started now loads all of it from the database.
  Server c = Open();
  ASSERT_TRUE(c.creds);
  auto loaded = c.creds->Get("d-1");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->epoch, 2u);
  EXPECT_EQ(loaded->state, CredentialState::kActive);
  EXPECT_EQ(loaded->key.bytes, Key(9).bytes);
  // Who did what is kept, as the journal keeps it on SQLite.
  EXPECT_EQ(History(uri_, "d-1"),
            "active:enrollment revoked:oscar reset:oscar active:enrollment ");
  // Nothing of it went to the data directory's journal.
  EXPECT_FALSE(env_.fs->Exists(dir_.File("credentials.log")));
}

// The database decides, not the servers' views: both servers see "unknown device" and enroll it
// with two different keys at the same moment; exactly one key wins, the other is refused.
TEST_F(SharedCredentialsTest, TwoServersEnrollingOneIdWithTwoKeysAtOnceOneWins) {
  for (int round = 0; round < 20; ++round) {
    const std::string id = "race-" + std::to_string(round);
    std::atomic<int> go{0};
    Result<server::CredentialInfo> ra = Status::Unavailable("not run"),
                                   rb = Status::Unavailable("not run");
    std::thread ta([&] {
      go.fetch_add(1);
      while (go.load() < 2) {
      }
      ra = a_.creds->Register(id, Key(1), kNow);
    });
    std::thread tb([&] {
      go.fetch_add(1);
      while (go.load() < 2) {
      }
      rb = b_.creds->Register(id, Key(2), kNow);
    });
    ta.join();
    tb.join();
    ASSERT_NE(ra.ok(), rb.ok()) << id << ": " << ra.status().ToString() << " / "
                                << rb.status().ToString();
    const auto& lost = ra.ok() ? rb : ra;
    EXPECT_EQ(lost.status().code(), StatusCode::kAlreadyExists) << lost.status().ToString();
    // Both views end with the winner's key.
    ASSERT_TRUE(a_.creds->Refresh(0).ok());
    ASSERT_TRUE(b_.creds->Refresh(0).ok());
    const auto winner = ra.ok() ? Key(1) : Key(2);
    EXPECT_EQ(a_.creds->Get(id)->key.bytes, winner.bytes);
    EXPECT_EQ(b_.creds->Get(id)->key.bytes, winner.bytes);
  }
}

// With the follower running, a revoke through one server reaches the other without anyone
// calling Refresh (notification, or the poll when a notification is lost).
TEST_F(SharedCredentialsTest, FollowerBringsARevokeToTheOtherServer) {
  auto reg = a_.creds->Register("d-7", Key(7), kNow);
  ASSERT_TRUE(reg.ok());
  const std::string token = a_.creds->IssueSession("d-7", reg->epoch, kNow);
  std::atomic<int> errors{0};
  b_.creds->StartFollower(500'000, [&](const Status&) { errors.fetch_add(1); });
  ASSERT_TRUE(WaitFor([&] { return b_.creds->VerifySession(token, kNow + 1).ok(); }));
  ASSERT_TRUE(a_.creds->Revoke("d-7", "oscar", kNow + 2).ok());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return !b_.creds->VerifySession(token, kNow + 3).ok(); }));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0).count();
  b_.creds->StopFollower();
  EXPECT_EQ(errors.load(), 0);
  std::printf("a revoke through one server refused by the other after %lld ms\n",
              static_cast<long long>(ms));
}

}  // namespace
}  // namespace rf::cluster
