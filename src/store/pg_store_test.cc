// PgStore on a real PostgreSQL started by the test (testing/pg_test_server.h): migrations, several
// writers ("replicas") on one database, refused batches, connection loss, lock waits, tampering.
// The Store contract itself runs in store_test.cc (StoreContractTest/Postgres).
#include "store/pg_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <set>
#include <thread>

#include "store/store_test_records.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::store {
namespace {

using test_records::Audit;
using test_records::Bundle;
using test_records::Release;

// A separate session on the database, as an operator (or another replica) would have.
class Session {
 public:
  explicit Session(const std::string& uri) : c_(PQconnectdb(uri.c_str())) {}
  ~Session() { PQfinish(c_); }
  bool ok() const { return PQstatus(c_) == CONNECTION_OK; }
  // Runs test-controlled SQL (constants of this file); the first value of the first row, if any.
  std::string Exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    std::string out;
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        << sql << ": " << PQresultErrorMessage(r);
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
    return out;
  }
  // Ends the backend `pid` (pg_terminate_backend), as a server restart or network cut would.
  void Terminate(int pid) {
    const std::string p = std::to_string(pid);
    const char* values[] = {p.c_str()};
    PGresult* r = PQexecParams(c_, "SELECT pg_terminate_backend($1::int)", 1, nullptr, values,
                               nullptr, nullptr, 0);
    EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
    EXPECT_STREQ(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
  }

 private:
  PGconn* c_;
};

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = rf::testing::FreshPgTestDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    uri_ = *uri;
  }
  std::unique_ptr<PgStore> OpenOrDie(const PgStoreOptions& o = {}) {
    auto s = PgStore::Open(uri_, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Makes `other` hold the change sequence (a transaction in flight elsewhere) and opens a store
  // whose writer waits for it however long: its first Apply blocks there, later ones queue.
  std::unique_ptr<PgStore> OpenBehind(Session& other) {
    PgStoreOptions o;
    o.lock_timeout_ms = 600'000;
    auto s = OpenOrDie(o);  // first: it creates the schema
    other.Exec("BEGIN");
    other.Exec("SELECT seq FROM change_seq WHERE id = 1 FOR UPDATE");
    return s;
  }
  // The pid of this database's backend waiting for a lock (empty while none waits).
  static constexpr char kWaitingPid[] =
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
      " AND wait_event_type = 'Lock'";
  static WriteBatch AuditOnly(const std::string& action, int64_t t) {
    WriteBatch b;
    b.audit.push_back(Audit(action, t));
    return b;
  }
  std::string uri_;
};

TEST_F(PgStoreTest, MigratesAnEmptyDatabaseAndReopensIdempotently) {
  {
    auto s = OpenOrDie();
    ASSERT_NE(s, nullptr);
    auto head = s->RecordedAuditHead();
    ASSERT_TRUE(head.ok()) << head.status().ToString();
    EXPECT_EQ(*head, AuditHead{});  // seeded by the migration: seq 0, the genesis hash
    WriteBatch b = AuditOnly("one", 1);
    b.bundles.push_back(Bundle(std::string(64, 'a'), 1));
    ASSERT_TRUE(s->Apply(b).ok());
  }
  Session admin(uri_);
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin.Exec("SELECT version FROM schema_version"),
            std::to_string(PgStore::SchemaVersion()));
  for (int i = 0; i < 2; ++i) {  // re-open: nothing migrated again, nothing lost
    auto s = OpenOrDie();
    ASSERT_NE(s, nullptr);
    auto c = s->Load();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->bundles.size(), 1u);
    std::vector<AuditEntry> appended;
    ASSERT_TRUE(s->Apply(AuditOnly("again", 2 + i), &appended).ok());
    EXPECT_EQ(appended[0].seq, 2 + i);
    EXPECT_TRUE(s->VerifyAudit().ok());
  }
  EXPECT_EQ(admin.Exec("SELECT count(*) FROM schema_version"), "1");
  EXPECT_EQ(admin.Exec("SELECT version FROM schema_version"),
            std::to_string(PgStore::SchemaVersion()));
}

TEST_F(PgStoreTest, ReplicasStartingTogetherMigrateOnce) {
  constexpr int kReplicas = 4;
  std::vector<Status> results(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] { results[i] = PgStore::Open(uri_).status(); });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : results) EXPECT_TRUE(st.ok()) << st.ToString();
  Session admin(uri_);
  EXPECT_EQ(admin.Exec("SELECT count(*) FROM audit_head"), "1");
}

TEST_F(PgStoreTest, NewerSchemaIsRefusedAndNotWritten) {
  ASSERT_NE(OpenOrDie(), nullptr);
  Session admin(uri_);
  admin.Exec("UPDATE schema_version SET version = 99");
  auto s = PgStore::Open(uri_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("schema version 99 is newer"), std::string::npos)
      << s.status().message();
  EXPECT_EQ(admin.Exec("SELECT version FROM schema_version"), "99");
}

// Two stores on one database stand for two server processes: every batch of both lands exactly
// once, in one chain without gaps or forks, and each writer was told the entry as stored.
TEST_F(PgStoreTest, ConcurrentReplicasKeepOneUnforkedChain) {
  auto a = OpenOrDie();
  auto b = OpenOrDie();
  ASSERT_TRUE(a && b);
  {
    WriteBatch setup;
    setup.bundles.push_back(Bundle(std::string(64, 'a'), 7));
    ASSERT_TRUE(a->Apply(setup).ok());
  }
  constexpr int kThreadsPerReplica = 2, kPerThread = 25;
  std::vector<std::vector<AuditEntry>> got(2 * kThreadsPerReplica);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerReplica; ++t) {
    threads.emplace_back([&, t] {
      PgStore* s = t % 2 ? b.get() : a.get();
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch w;  // one release-state update and its audit entry, as a controller tick
        admission::ReleaseRecord r = Release("r-" + std::to_string(t), std::string(64, 'a'));
        r.state.last_event_micros = i;
        w.releases.push_back(r);
        w.audit.push_back(Audit("t" + std::to_string(t) + "." + std::to_string(i), i));
        Status st = s->Apply(w, &got[t]);
        ASSERT_TRUE(st.ok()) << st.ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> seqs;
  std::vector<AuditEntry> all;
  for (const auto& v : got) all.insert(all.end(), v.begin(), v.end());
  for (const AuditEntry& e : all) EXPECT_TRUE(seqs.insert(e.seq).second) << "seq " << e.seq;
  constexpr int kTotal = 2 * kThreadsPerReplica * kPerThread;
  ASSERT_EQ(seqs.size(), size_t{kTotal});
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), kTotal);
  for (PgStore* s : {a.get(), b.get()}) {
    auto v = s->VerifyAudit();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->entries, kTotal);
  }
  auto stored = a->ReadAudit(0, kTotal + 1);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), size_t{kTotal});
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.seq < y.seq; });
  EXPECT_EQ(*stored, all);  // what each Apply reported is what was committed
  auto c = b->Load();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->releases.size(), size_t{2 * kThreadsPerReplica});
  for (const auto& r : c->releases) EXPECT_EQ(r.state.last_event_micros, kPerThread - 1);
}

TEST_F(PgStoreTest, RefusedBatchesChangeNothingAndTheStoreGoesOn) {
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Apply(AuditOnly("first", 1)).ok());
  // A release whose bundle does not exist: foreign key.
  WriteBatch fk = AuditOnly("release.create", 2);
  fk.releases.push_back(Release("r-1", std::string(64, 'f')));
  EXPECT_EQ(s->Apply(fk).code(), StatusCode::kFailedPrecondition);
  // Text PostgreSQL cannot store (invalid UTF-8), after rows that would have been fine.
  WriteBatch bad = AuditOnly("x", 3);
  bad.bundles.push_back(Bundle(std::string(64, 'a'), 1));
  bad.audit[0].details_json = "{\"k\":\"\xff\xfe\"}";
  Status st = s->Apply(bad);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  // Two principals with one token: unique key.
  WriteBatch dup = AuditOnly("principal.create", 4);
  dup.principals.push_back({"a", {admission::Role::kAdmin}, std::string(64, 'c'), "", "x", 1});
  dup.principals.push_back({"b", {admission::Role::kAdmin}, std::string(64, 'c'), "", "x", 1});
  EXPECT_EQ(s->Apply(dup).code(), StatusCode::kAlreadyExists);
  auto c = s->Load();
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->releases.empty());
  EXPECT_TRUE(c->bundles.empty());
  EXPECT_TRUE(c->principals.empty());
  EXPECT_EQ(c->audit_head.seq, 1);
  std::vector<AuditEntry> appended;
  ASSERT_TRUE(s->Apply(AuditOnly("after", 5), &appended).ok());
  EXPECT_EQ(appended[0].seq, 2);
  EXPECT_TRUE(s->VerifyAudit().ok());
}

// Group commit: batches that arrive while a commit is in flight go together in the next
// transaction, each in its own savepoint: one refused batch is rolled back alone, the others
// commit, and the audit chain has no gap.
TEST_F(PgStoreTest, ConcurrentBatchesCommitTogetherAndARefusedOneAlone) {
  // Another session holds the change sequence: the first batch's transaction waits for it.
  Session other(uri_);
  auto s = OpenBehind(other);
  ASSERT_NE(s, nullptr);
  std::vector<std::thread> threads;
  Status first;
  threads.emplace_back([&] { first = s->Apply(AuditOnly("first", 1)); });
  ASSERT_TRUE(rf::testing::WaitFor([&] { return !other.Exec(kWaitingPid).empty(); }));
  constexpr int kMore = 5;  // the third is refused: a release of a bundle that does not exist
  Status st[kMore];
  std::vector<AuditEntry> appended[kMore];
  for (int i = 0; i < kMore; ++i) {
    threads.emplace_back([&, i] {
      WriteBatch b = AuditOnly("more." + std::to_string(i), 2 + i);
      if (i == 2) b.releases.push_back(Release("r-1", std::string(64, 'f')));
      st[i] = s->Apply(b, &appended[i]);
    });
  }
  ASSERT_TRUE(rf::testing::WaitFor([&] { return s->waiting() == kMore; }));
  other.Exec("COMMIT");
  for (auto& t : threads) t.join();
  EXPECT_TRUE(first.ok()) << first.ToString();
  for (int i = 0; i < kMore; ++i) {
    if (i == 2) {
      EXPECT_EQ(st[i].code(), StatusCode::kFailedPrecondition) << st[i].ToString();
      EXPECT_TRUE(appended[i].empty());
    } else {
      EXPECT_TRUE(st[i].ok()) << st[i].ToString();
      ASSERT_EQ(appended[i].size(), 1u);
    }
  }
  EXPECT_EQ(s->commits(), 2);  // the first alone, then the other five in one transaction
  EXPECT_EQ(s->batches_committed(), 5);
  auto v = s->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->entries, 5);  // gapless: 1..5
  std::set<int64_t> seqs;
  for (const auto& a : appended) {
    for (const AuditEntry& e : a) seqs.insert(e.seq);
  }
  EXPECT_EQ(seqs, (std::set<int64_t>{2, 3, 4, 5}));
  EXPECT_TRUE(s->Load()->releases.empty());
}

// The writer's connection is cut while batches wait behind the transaction in flight: that
// transaction's outcome is unknown, so the store fails stop, and the waiting batches are refused
// too (Unavailable), none written.
TEST_F(PgStoreTest, LostConnectionFailsTheWaitingBatchesToo) {
  Session other(uri_);
  auto s = OpenBehind(other);
  ASSERT_NE(s, nullptr);
  std::vector<std::thread> threads;
  constexpr int kBatches = 4;
  Status st[kBatches];
  threads.emplace_back([&] { st[0] = s->Apply(AuditOnly("first", 1)); });
  ASSERT_TRUE(rf::testing::WaitFor([&] { return !other.Exec(kWaitingPid).empty(); }));
  const int pid = std::stoi(other.Exec(kWaitingPid));
  for (int i = 1; i < kBatches; ++i) {
    threads.emplace_back([&, i] { st[i] = s->Apply(AuditOnly("more", 1 + i)); });
  }
  ASSERT_TRUE(rf::testing::WaitFor([&] { return s->waiting() == kBatches - 1; }));
  other.Terminate(pid);
  other.Exec("COMMIT");
  for (auto& t : threads) t.join();
  for (const Status& x : st) EXPECT_EQ(x.code(), StatusCode::kUnavailable) << x.ToString();
  EXPECT_EQ(s->Apply(AuditOnly("after", 9)).code(), StatusCode::kUnavailable);
  auto fresh = OpenOrDie();
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->Load()->audit_head.seq, 0);
}

TEST_F(PgStoreTest, EnvelopesAreStoredAsBytes) {
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  WriteBatch b;
  b.bundles.push_back(Bundle(std::string(64, 'a'), 1));
  b.bundles[0].envelope = std::string("\0\xff{\"x\":1}\n", 11);
  ASSERT_TRUE(s->Apply(b).ok());
  auto env = s->BundleEnvelope(std::string(64, 'a'));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(*env, b.bundles[0].envelope);
}

// The writer's connection is cut while idle: writes stop (sticky Unavailable, store.h) even
// though the server is back at once; reads reconnect; a restarted process carries on.
TEST_F(PgStoreTest, LostConnectionIsStickyUnavailable) {
  int writer_pid = 0;
  PgStoreOptions o;
  o.before_commit_for_test = [&](int pid) { writer_pid = pid; };
  auto s = OpenOrDie(o);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Apply(AuditOnly("kept", 1)).ok());
  ASSERT_NE(writer_pid, 0);
  Session admin(uri_);
  admin.Terminate(writer_pid);
  EXPECT_EQ(s->Apply(AuditOnly("lost", 2)).code(), StatusCode::kUnavailable);
  Status again = s->Apply(AuditOnly("lost", 3));
  EXPECT_EQ(again.code(), StatusCode::kUnavailable);
  EXPECT_NE(again.message().find("restart required"), std::string::npos) << again.message();
  auto c = s->Load();  // reads are not sticky
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->audit_head.seq, 1);
  auto fresh = OpenOrDie();  // "the process restarts and reloads"
  ASSERT_NE(fresh, nullptr);
  std::vector<AuditEntry> appended;
  ASSERT_TRUE(fresh->Apply(AuditOnly("next", 4), &appended).ok());
  EXPECT_EQ(appended[0].seq, 2);
  EXPECT_TRUE(fresh->VerifyAudit().ok());
}

// Cut between the batch's statements and COMMIT: the caller cannot know the outcome, so the
// store stops (Unavailable, sticky); the database holds nothing of the batch.
TEST_F(PgStoreTest, LostBeforeCommitStopsAndStoresNothing) {
  std::string uri = uri_;
  PgStoreOptions o;
  o.before_commit_for_test = [uri](int pid) { Session(uri).Terminate(pid); };
  auto s = OpenOrDie(o);
  ASSERT_NE(s, nullptr);
  WriteBatch b = AuditOnly("bundle.upload", 1);
  b.bundles.push_back(Bundle(std::string(64, 'a'), 1));
  std::vector<AuditEntry> appended;
  EXPECT_EQ(s->Apply(b, &appended).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(appended.empty());
  EXPECT_EQ(s->Apply(AuditOnly("x", 2)).code(), StatusCode::kUnavailable);
  auto fresh = OpenOrDie();
  ASSERT_NE(fresh, nullptr);
  auto c = fresh->Load();
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->bundles.empty());
  EXPECT_EQ(c->audit_head.seq, 0);
  EXPECT_TRUE(fresh->VerifyAudit().ok());
}

// Another session holds the audit head (a hung replica mid-transaction): the write waits up to
// lock_timeout_ms, then fails Aborted, changes nothing, and the store keeps working.
TEST_F(PgStoreTest, HeldAuditHeadIsAbortedNotSticky) {
  PgStoreOptions o;
  o.lock_timeout_ms = 200;
  auto s = OpenOrDie(o);
  ASSERT_NE(s, nullptr);
  Session other(uri_);
  other.Exec("BEGIN");
  other.Exec("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE");
  WriteBatch b = AuditOnly("x", 1);
  b.bundles.push_back(Bundle(std::string(64, 'a'), 1));
  Status st = s->Apply(b);
  EXPECT_EQ(st.code(), StatusCode::kAborted) << st.ToString();
  other.Exec("COMMIT");
  EXPECT_TRUE(s->Load()->bundles.empty());
  std::vector<AuditEntry> appended;
  ASSERT_TRUE(s->Apply(b, &appended).ok());
  EXPECT_EQ(appended[0].seq, 1);
}

TEST_F(PgStoreTest, ServerRestartStopsWritesAndReadsReconnect) {
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Apply(AuditOnly("before", 1)).ok());
  auto server = rf::testing::SharedPgTestServer();
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->Restart().ok()) << (*server)->Log();
  EXPECT_EQ(s->Apply(AuditOnly("after", 2)).code(), StatusCode::kUnavailable);
  auto head = s->RecordedAuditHead();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->seq, 1);
  EXPECT_EQ(s->Apply(AuditOnly("after", 3)).code(), StatusCode::kUnavailable);
}

TEST_F(PgStoreTest, UnreachableServerIsUnavailable) {
  rf::testing::TempDir empty;  // no server listens in this directory
  auto s = PgStore::Open("postgresql:///x?host=" + empty.path() + "&connect_timeout=5");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status().ToString();
}

TEST_F(PgStoreTest, TamperedLogFailsVerification) {
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(s->Apply(AuditOnly("a" + std::to_string(i), i)).ok());
  ASSERT_TRUE(s->VerifyAudit().ok());
  Session admin(uri_);
  admin.Exec("UPDATE audit SET details = '{\"k\":\"w\"}' WHERE seq = 3");
  auto v = s->VerifyAudit();
  EXPECT_EQ(v.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(v.status().message().find("audit entry 3: hash mismatch"), std::string::npos)
      << v.status().message();
  admin.Exec("DELETE FROM audit WHERE seq > 3");
  EXPECT_NE(s->VerifyAudit().status().message().find("audit entry 3"), std::string::npos);
}

// `ringfence audit verify --store`: a read-only open verifies the chain, writes nothing, and
// migrates nothing: a database of another schema version, or an empty one, is refused as it is.
TEST_F(PgStoreTest, ReadOnlyOpenVerifiesAndChangesNothing) {
  PgStoreOptions ro;
  ro.read_only = true;
  {  // an empty database: refused, no table made
    auto s = PgStore::Open(uri_, ro);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.status().message().find("not a ringfence database"), std::string::npos)
        << s.status().message();
    Session admin(uri_);
    EXPECT_EQ(admin.Exec("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
  }
  {
    auto w = OpenOrDie();
    ASSERT_NE(w, nullptr);
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(w->Apply(AuditOnly("a" + std::to_string(i), i)).ok());
  }
  auto s = PgStore::Open(uri_, ro);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto v = (*s)->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->entries, 3);
  Status refused = (*s)->Apply(AuditOnly("x", 9));
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.ToString();
  Session admin(uri_);
  EXPECT_EQ(admin.Exec("SELECT count(*) FROM audit"), "3");
  const std::string older = std::to_string(PgStore::SchemaVersion() - 1);
  admin.Exec("UPDATE schema_version SET version = " + older);
  auto old = PgStore::Open(uri_, ro);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("schema version " + older + " is not"), std::string::npos)
      << old.status().message();
  EXPECT_EQ(admin.Exec("SELECT version FROM schema_version"), older);  // not migrated
}

TEST(PgStoreUri, RecognisesPostgresUris) {
  EXPECT_TRUE(IsPostgresUri("postgresql://u@h/db"));
  EXPECT_TRUE(IsPostgresUri("postgres://h/db"));
  EXPECT_FALSE(IsPostgresUri("/var/lib/ringfence"));
  EXPECT_FALSE(IsPostgresUri("sqlite://x"));
}

}  // namespace
}  // namespace rf::store
