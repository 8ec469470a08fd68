#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <boost/json.hpp>

#include "rollout/plan.h"
#include "store/mem_store.h"
#include "store/pg_store.h"
#include "store/release_codec.h"
#include "store/sqlite_store.h"
#include "store/store_test_records.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::store {
namespace {

using test_records::Audit;
using test_records::Bundle;
using test_records::kPlan;
using test_records::Release;

enum class Kind { kMem, kSqlite, kPostgres };

// Every Store implementation must pass the same contract. The PostgreSQL case runs against a real
// server started by the test (testing/pg_test_server.h), a fresh database per test; it fails, not
// skips, where PostgreSQL is not installed.
class StoreContractTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    switch (GetParam()) {
      case Kind::kMem:
        store_ = std::make_unique<MemStore>();
        break;
      case Kind::kSqlite: {
        auto s = SqliteStore::Open(dir_.File("ringfence.db"));
        ASSERT_TRUE(s.ok()) << s.status().ToString();
        store_ = std::move(*s);
        break;
      }
      case Kind::kPostgres: {
        auto uri = rf::testing::FreshPgTestDatabase();
        ASSERT_TRUE(uri.ok()) << uri.status().ToString();
        auto s = PgStore::Open(*uri);
        ASSERT_TRUE(s.ok()) << s.status().ToString();
        store_ = std::move(*s);
        break;
      }
    }
  }
  rf::testing::TempDir dir_;
  StorePtr store_;
};

TEST_P(StoreContractTest, RoundTripsEveryRecordKind) {
  WriteBatch b;
  b.content_types.push_back({"ipc_rule", 3, "content_type: ipc_rule\n", "admin", 5});
  b.bundles.push_back(Bundle(std::string(64, 'a'), 7));
  admission::ReleaseRecord r = Release("r-1", std::string(64, 'a'));
  r.previous = std::make_pair(int64_t{6}, std::string(64, 'b'));
  b.releases.push_back(r);
  b.approvals.push_back({"r-1", "bob", admission::Role::kReviewer, "kid", "{\"env\":1}", 9});
  b.principals.push_back({"bob", {admission::Role::kReviewer, admission::Role::kOperator},
                          std::string(64, 'c'), "{\"pub\":1}", "admin", 3});
  b.policies.push_back({"291", 2, {admission::Role::kReviewer, admission::Role::kAdmin},
                        {"{\"k\":\"a\"}", "{\"k\":\"b\"}"}, 1});
  admission::CustomerControl c;
  c.channel = "291";
  c.attr = "tenant";
  c.value = "acme";
  c.pin_previous = true;
  c.delay_s = 3600;
  b.controls.push_back(c);
  b.audit.push_back(Audit("release.create", 11));
  std::vector<AuditEntry> appended;
  ASSERT_TRUE(store_->Apply(b, &appended).ok());
  ASSERT_EQ(appended.size(), 1u);
  EXPECT_EQ(appended[0].seq, 1);
  EXPECT_EQ(appended[0].prev_hash, kAuditGenesisHash);

  auto c2 = store_->Load();
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  EXPECT_EQ(c2->content_types, b.content_types);
  ASSERT_EQ(c2->bundles.size(), 1u);
  BundleRecord expect = b.bundles[0];
  expect.envelope.clear();
  EXPECT_EQ(c2->bundles[0], expect);
  ASSERT_EQ(c2->releases.size(), 1u);
  EXPECT_EQ(c2->releases[0].state, r.state);
  rollout::Plan plan = c2->releases[0].plan;
  plan.filename = r.plan.filename;  // re-parsed under "release r-1 plan"
  EXPECT_EQ(plan, r.plan);
  EXPECT_EQ(c2->releases[0].previous, r.previous);
  EXPECT_EQ(c2->approvals, b.approvals);
  EXPECT_EQ(c2->principals, b.principals);
  EXPECT_EQ(c2->policies, b.policies);
  ASSERT_EQ(c2->controls.size(), 1u);
  EXPECT_TRUE(c2->controls[0].pin_previous);
  EXPECT_EQ(c2->controls[0].delay_s, 3600);
  EXPECT_EQ(c2->audit_head.seq, 1);
  EXPECT_EQ(c2->audit_head.hash, appended[0].hash);
  auto env = store_->BundleEnvelope(std::string(64, 'a'));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(*env, b.bundles[0].envelope);
  EXPECT_EQ(store_->BundleEnvelope(std::string(64, 'f')).status().code(), StatusCode::kNotFound);

  // Upserts replace; deletes remove.
  WriteBatch d;
  d.deleted_controls.push_back({"291", "tenant", "acme"});
  r.state.phase = rollout::Phase::kReady;
  d.releases.push_back(r);
  ASSERT_TRUE(store_->Apply(d).ok());
  auto c3 = store_->Load();
  EXPECT_TRUE(c3->controls.empty());
  EXPECT_EQ(c3->releases[0].state.phase, rollout::Phase::kReady);
}

TEST_P(StoreContractTest, FailedBatchChangesNothing) {
  WriteBatch a;
  a.bundles.push_back(Bundle(std::string(64, 'a'), 7));
  a.audit.push_back(Audit("bundle.upload", 1));
  ASSERT_TRUE(store_->Apply(a).ok());
  // Same channel and version under another digest violates a constraint: the whole batch,
  // including its audit entry and the release in it, is refused.
  WriteBatch b;
  b.releases.push_back(Release("r-1", std::string(64, 'a')));
  b.bundles.push_back(Bundle(std::string(64, 'b'), 7));
  b.audit.push_back(Audit("bundle.upload", 2));
  Status st = store_->Apply(b);
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.ToString();
  auto c = store_->Load();
  EXPECT_EQ(c->bundles.size(), 1u);
  EXPECT_TRUE(c->releases.empty());
  EXPECT_EQ(c->audit_head.seq, 1);
  // The store still works after a refused batch, and the chain continues at seq 2.
  WriteBatch ok;
  ok.audit.push_back(Audit("x", 3));
  std::vector<AuditEntry> appended;
  ASSERT_TRUE(store_->Apply(ok, &appended).ok());
  EXPECT_EQ(appended[0].seq, 2);
  EXPECT_TRUE(store_->VerifyAudit().ok());
}

TEST_P(StoreContractTest, AuditChainVerifiesAndPages) {
  for (int i = 0; i < 25; ++i) {
    WriteBatch b;
    b.audit.push_back(Audit("a" + std::to_string(i), i));
    ASSERT_TRUE(store_->Apply(b).ok());
  }
  auto v = store_->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->entries, 25);
  EXPECT_EQ(v->head.seq, 25);
  auto page = store_->ReadAudit(10, 5);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 5u);
  EXPECT_EQ((*page)[0].seq, 11);
  EXPECT_EQ((*page)[0].record.action, "a10");
}

// A batch's release conditions (store.h ReleaseExpectation): checked before anything is written,
// against the state as stored (and as loaded back: the comparison survives the codec).
TEST_P(StoreContractTest, ReleaseExpectationsRefuseAChangedOrExistingRelease) {
  const std::string sha(64, 'a');
  WriteBatch create;
  create.bundles.push_back(Bundle(sha, 7));
  admission::ReleaseRecord r = Release("r-1", sha);
  create.releases.push_back(r);
  create.expected_releases.push_back({"r-1", std::nullopt});  // must be new
  ASSERT_TRUE(store_->Apply(create).ok());
  // Creating it again (another writer's stale "r-1") is refused and stores nothing.
  WriteBatch again;
  again.releases.push_back(r);
  again.expected_releases.push_back({"r-1", std::nullopt});
  again.audit.push_back(Audit("release.create", 2));
  Status st = store_->Apply(again);
  EXPECT_EQ(st.code(), StatusCode::kAborted) << st.ToString();
  EXPECT_EQ(store_->RecordedAuditHead()->seq, 0);
  // A change derived from a state that is no longer stored is refused.
  auto loaded = store_->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->releases.size(), 1u);
  const rollout::ReleaseState as_loaded = loaded->releases[0].state;
  rollout::ReleaseState other = as_loaded;
  other.wave = 1;
  other.reason = "someone else's idea";
  admission::ReleaseRecord halted = r;
  halted.state.phase = rollout::Phase::kHalted;
  WriteBatch stale;
  stale.releases.push_back(halted);
  stale.expected_releases.push_back({"r-1", other});
  stale.audit.push_back(Audit("release.halt", 3));
  st = store_->Apply(stale);
  EXPECT_EQ(st.code(), StatusCode::kAborted) << st.ToString();
  EXPECT_NE(st.message().find("r-1"), std::string::npos) << st.ToString();
  EXPECT_EQ(store_->Load()->releases[0].state.phase, r.state.phase);
  EXPECT_EQ(store_->RecordedAuditHead()->seq, 0);
  // Derived from the state as loaded: accepted.
  WriteBatch fresh;
  fresh.releases.push_back(halted);
  fresh.expected_releases.push_back({"r-1", as_loaded});
  fresh.audit.push_back(Audit("release.halt", 4));
  ASSERT_TRUE(store_->Apply(fresh).ok());
  EXPECT_EQ(store_->Load()->releases[0].state.phase, rollout::Phase::kHalted);
  EXPECT_EQ(store_->RecordedAuditHead()->seq, 1);
  // An expectation that the release exists, for one that does not.
  WriteBatch ghost;
  ghost.bundles.push_back(Bundle(std::string(64, 'b'), 8));
  ghost.expected_releases.push_back({"r-9", as_loaded});
  EXPECT_EQ(store_->Apply(ghost).code(), StatusCode::kAborted);
  EXPECT_EQ(store_->Load()->bundles.size(), 1u);
}

// No controller holds a lease in a fresh store (and Mem and SQLite have none): a fenced write is
// refused and changes nothing.
TEST_P(StoreContractTest, FencedWriteWithoutTheLeaseIsRefused) {
  WriteBatch b;
  b.bundles.push_back(Bundle(std::string(64, 'a'), 7));
  b.audit.push_back(Audit("bundle.upload", 1));
  b.fencing_epoch = 1;
  Status st = store_->Apply(b);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("fenced"), std::string::npos) << st.ToString();
  EXPECT_TRUE(store_->Load()->bundles.empty());
  EXPECT_EQ(store_->RecordedAuditHead()->seq, 0);
  b.fencing_epoch = 0;
  EXPECT_TRUE(store_->Apply(b).ok());
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest,
                         ::testing::Values(Kind::kMem, Kind::kSqlite, Kind::kPostgres),
                         [](const auto& p) {
                           switch (p.param) {
                             case Kind::kMem: return "Mem";
                             case Kind::kSqlite: return "Sqlite";
                             case Kind::kPostgres: return "Postgres";
                           }
                           return "?";
                         });

// ----- audit tamper detection, on the real SQLite file -----

class AuditTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("ringfence.db");
    auto s = SqliteStore::Open(path_);
    ASSERT_TRUE(s.ok());
    for (int i = 1; i <= 10; ++i) {
      WriteBatch b;
      b.audit.push_back(Audit("action" + std::to_string(i), i));
      ASSERT_TRUE((*s)->Apply(b).ok());
    }
  }
  // Runs SQL directly on the file, as an attacker with file access would.
  void Tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  Status Verify() {
    SqliteStoreOptions o;
    o.read_only = true;
    auto s = SqliteStore::Open(path_, o);
    if (!s.ok()) return s.status();
    return (*s)->VerifyAudit().status();
  }
  rf::testing::TempDir dir_;
  std::string path_;
};

TEST_F(AuditTamperTest, IntactLogVerifies) { EXPECT_TRUE(Verify().ok()) << Verify().ToString(); }

TEST_F(AuditTamperTest, ModifiedDetailsDetected) {
  Tamper("UPDATE audit SET details = '{\"k\":\"w\"}' WHERE seq = 4");
  Status st = Verify();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("audit entry 4: hash mismatch"), std::string::npos) << st.message();
}

TEST_F(AuditTamperTest, ModifiedActorWithRecomputedHashDetectedByNextEntry) {
  // The attacker recomputes entry 4's hash; entry 5's prev_hash no longer matches.
  AuditRecord r = Audit("action4", 4);
  r.actor = "mallory";
  SqliteStoreOptions o;
  o.read_only = true;
  auto s = SqliteStore::Open(path_, o);
  auto e = (*s)->ReadAudit(3, 1);
  const std::string h = ChainAuditHash((*e)[0].prev_hash, 4, r);
  s->reset();
  Tamper("UPDATE audit SET actor = 'mallory', hash = '" + h + "' WHERE seq = 4");
  Status st = Verify();
  EXPECT_NE(st.message().find("audit entry 5: prev_hash does not match entry 4"), std::string::npos)
      << st.message();
}

TEST_F(AuditTamperTest, DeletionDetected) {
  Tamper("DELETE FROM audit WHERE seq = 6");
  EXPECT_NE(Verify().message().find("audit entry 7: expected seq 6"), std::string::npos)
      << Verify().message();
}

TEST_F(AuditTamperTest, ReorderingDetected) {
  // Swap the contents of entries 2 and 3 (seq numbers stay in place).
  Tamper("UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3;"
         " UPDATE audit SET seq = 3 WHERE seq = -2");
  Status st = Verify();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("audit entry 2"), std::string::npos) << st.message();
}

TEST_F(AuditTamperTest, TruncationAfterRecordedHeadDetected) {
  Tamper("DELETE FROM audit WHERE seq > 7");
  EXPECT_NE(Verify().message().find("audit log ends at seq 7 but the recorded head is seq 10"),
            std::string::npos)
      << Verify().message();
}

TEST_F(AuditTamperTest, RewrittenHeadDetected) {
  Tamper("UPDATE audit_head SET hash = '" + std::string(64, 'e') + "'");
  EXPECT_NE(Verify().message().find("audit head hash mismatch at seq 10"), std::string::npos);
}

TEST(AuditChain, MemStoreTamperDetected) {
  MemStore s;
  for (int i = 0; i < 3; ++i) {
    WriteBatch b;
    b.audit.push_back(Audit("a", i));
    ASSERT_TRUE(s.Apply(b).ok());
  }
  ASSERT_TRUE(s.VerifyAudit().ok());
  s.MutableAuditForTest()[1].record.subject = "r-2";
  EXPECT_EQ(s.VerifyAudit().status().code(), StatusCode::kDataLoss);
}

// An outside verifier holds only the served JSON. The hash covers the stored details *text*, whose
// key order and spacing a re-serialisation of the parsed `details` object does not reproduce;
// `details_json` carries those exact bytes, and the chain recomputes from the served entries.
TEST(AuditChain, RecomputableFromTheServedJson) {
  MemStore s;
  WriteBatch b;
  b.audit.push_back({"alice", "release.create", "r-1", "{ \"z\": 1, \"a\": \"\\u00e9\\n\" }", 7});
  b.audit.push_back({"gate", "release.tick", "r-1", "{}", 8});
  ASSERT_TRUE(s.Apply(b).ok());
  auto entries = s.ReadAudit(0, 10);
  ASSERT_TRUE(entries.ok());
  AuditChainVerifier v;
  for (const AuditEntry& stored : *entries) {
    const boost::json::object o = boost::json::parse(AuditEntryJson(stored)).as_object();
    auto e = AuditEntryFromJson(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(*e, stored);
    ASSERT_TRUE(v.Add(*e).ok());
    // What a verifier would get by re-serialising `details`: different bytes, a different hash.
    if (stored.seq == 1) {
      AuditRecord guessed = e->record;
      guessed.details_json = boost::json::serialize(o.at("details"));
      EXPECT_NE(ChainAuditHash(e->prev_hash, e->seq, guessed), e->hash);
    }
  }
  auto head = s.RecordedAuditHead();
  ASSERT_TRUE(head.ok());
  EXPECT_TRUE(v.Finish(*head).ok());
  // A served entry without the exact text is refused by name.
  boost::json::object o = boost::json::parse(AuditEntryJson((*entries)[0])).as_object();
  o.erase("details_json");
  EXPECT_NE(AuditEntryFromJson(o).status().message().find("details_json"), std::string::npos);
}

// Regression: prev_hash and hash were pasted into the listing unescaped, so a tampered row holding
// a quote made GET /v1/audit invalid JSON instead of an entry that fails verification.
TEST(AuditChain, TamperedHashesStillListAsJson) {
  AuditEntry e;
  e.seq = 1;
  e.record = {"a", "b", "c", "{}", 1};
  e.prev_hash = "\"},\"x\":{\"";
  e.hash = "\\";
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(AuditEntryJson(e), ec);
  ASSERT_FALSE(ec) << AuditEntryJson(e);
  auto back = AuditEntryFromJson(v.as_object());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, e);
  AuditChainVerifier verifier;
  EXPECT_EQ(verifier.Add(*back).code(), StatusCode::kDataLoss);
}

// ----- the release state codec -----

TEST(ReleaseCodec, RoundTripsEveryField) {
  auto plan = rollout::ParsePlan(kPlan, "plan");
  ASSERT_TRUE(plan.ok());
  rollout::ReleaseState s = rollout::NewRelease(*plan, "r-9", 5);
  s.phase = rollout::Phase::kPaused;
  s.resume_phase = rollout::Phase::kBaking;
  s.on_failure = rollout::FailureAction::kPause;
  s.wave = 1;
  s.operator_paused = true;
  s.gate_hold = true;
  s.promotion_requested = true;
  s.dispatch_elapsed_micros = 123;
  s.segment_started_micros = 456;
  s.bake_started_micros = 789;
  s.last_event_micros = 1011;
  s.reason = "p99 \"latency\" \n";
  auto d = DecodeReleaseState(EncodeReleaseState(s));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, s);
}

TEST(ReleaseCodec, StrictDecoding) {
  auto plan = rollout::ParsePlan(kPlan, "plan");
  const std::string good = EncodeReleaseState(rollout::NewRelease(*plan, "r-1", 5));
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return DecodeReleaseState(s).status();
  };
  EXPECT_NE(with("\"format\":1", "\"format\":2").message().find("format 2 is not supported"),
            std::string::npos);
  EXPECT_NE(with("\"wave\":-1", "\"wave\":\"x\"").message().find("key 'wave'"), std::string::npos);
  EXPECT_NE(with("\"reason\":\"\"", "\"reason\":\"\",\"extra\":1").message().find("unknown key 'extra'"),
            std::string::npos);
  EXPECT_NE(with("AwaitingApproval", "Flying").message().find("unknown release phase"),
            std::string::npos);
  EXPECT_EQ(DecodeReleaseState("[]").status().code(), StatusCode::kDataLoss);
}

// ----- SQLite specifics -----

TEST(SqliteStore, ReopenKeepsChainAndSchema) {
  rf::testing::TempDir dir;
  {
    auto s = SqliteStore::Open(dir.File("db"));
    WriteBatch b;
    b.audit.push_back(Audit("one", 1));
    ASSERT_TRUE((*s)->Apply(b).ok());
  }
  auto s = SqliteStore::Open(dir.File("db"));
  ASSERT_TRUE(s.ok());
  WriteBatch b;
  b.audit.push_back(Audit("two", 2));
  std::vector<AuditEntry> appended;
  ASSERT_TRUE((*s)->Apply(b, &appended).ok());
  EXPECT_EQ(appended[0].seq, 2);
  EXPECT_TRUE((*s)->VerifyAudit().ok());
}

TEST(SqliteStore, ReadOnlyRefusesWritesAndNonDatabases) {
  rf::testing::TempDir dir;
  rf::testing::WriteFileOrDie(dir.File("junk"), std::string(8192, 'x'));
  SqliteStoreOptions o;
  o.read_only = true;
  EXPECT_FALSE(SqliteStore::Open(dir.File("junk"), o).ok());
  { ASSERT_TRUE(SqliteStore::Open(dir.File("db")).ok()); }
  auto s = SqliteStore::Open(dir.File("db"), o);
  ASSERT_TRUE(s.ok());
  WriteBatch b;
  b.audit.push_back(Audit("x", 1));
  EXPECT_EQ((*s)->Apply(b).code(), StatusCode::kFailedPrecondition);
}

// Concurrent writers share commits (group commit) and every batch lands exactly once, in a chain.
TEST(SqliteStore, GroupCommitUnderConcurrency) {
  rf::testing::TempDir dir;
  auto s = SqliteStore::Open(dir.File("db"));
  ASSERT_TRUE(s.ok());
  constexpr int kThreads = 4, kPerThread = 40;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch b;
        b.audit.push_back(Audit("t" + std::to_string(t), i));
        std::vector<AuditEntry> appended;
        Status st = (*s)->Apply(b, &appended);
        EXPECT_TRUE(st.ok()) << st.ToString();
        if (st.ok()) seqs[t].push_back(appended[0].seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<int64_t> all;
  for (const auto& v : seqs) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), size_t{kThreads * kPerThread});
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<int64_t>(i + 1));
  auto v = (*s)->VerifyAudit();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->entries, kThreads * kPerThread);
  EXPECT_EQ((*s)->batches_committed(), kThreads * kPerThread);
  std::printf("group commit: %d batches in %lld transactions\n", kThreads * kPerThread,
              static_cast<long long>((*s)->commits()));
}

// Not a timing assertion: records the fsync'd commit latency of this machine for the docs.
TEST(SqliteStore, ReportsCommitLatency) {
  rf::testing::TempDir dir;
  auto s = SqliteStore::Open(dir.File("db"));
  ASSERT_TRUE(s.ok());
  std::vector<double> ms;
  for (int i = 0; i < 50; ++i) {
    WriteBatch b;
    b.releases.clear();
    b.audit.push_back(Audit("latency", i));
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE((*s)->Apply(b).ok());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("fsync'd commit latency over 50 commits: p50 %.2f ms, p90 %.2f ms, max %.2f ms\n",
              ms[25], ms[45], ms[49]);
}

TEST(SqliteStore, LockedByAnotherProcessIsAbortedNotSticky) {
  rf::testing::TempDir dir;
  SqliteStoreOptions o;
  o.busy_timeout_ms = 50;
  auto s = SqliteStore::Open(dir.File("db"), o);
  ASSERT_TRUE(s.ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  WriteBatch b;
  b.audit.push_back(Audit("x", 1));
  EXPECT_EQ((*s)->Apply(b).code(), StatusCode::kAborted);
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  std::vector<AuditEntry> appended;
  ASSERT_TRUE((*s)->Apply(b, &appended).ok());
  EXPECT_EQ(appended[0].seq, 1);
  EXPECT_TRUE((*s)->VerifyAudit().ok());
}

TEST(MemStore, FailureIsSticky) {
  MemStore s;
  s.FailNextApply(Status::Internal("disk gone"));
  WriteBatch b;
  b.audit.push_back(Audit("x", 1));
  EXPECT_EQ(s.Apply(b).code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.Apply(b).code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.Load()->audit_head.seq, 0);
}

}  // namespace
}  // namespace rf::store
