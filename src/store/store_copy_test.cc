// CopyStore (store_copy.h): a SQLite store's every record, envelope and audit entry lands in an
// empty target (Mem, SQLite, a real PostgreSQL) with the same chain head; refusals write nothing.
#include "store/store_copy.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "rollout/release.h"
#include "store/mem_store.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "store/store_test_records.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::store {
namespace {

using test_records::Audit;
using test_records::Bundle;
using test_records::Release;

enum class Target { kMem, kSqlite, kPostgres };

class StoreCopyTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    auto s = SqliteStore::Open(dir_.File("source.db"));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    source_ = std::move(*s);
    switch (GetParam()) {
      case Target::kMem:
        target_ = std::make_unique<MemStore>();
        break;
      case Target::kSqlite: {
        auto t = SqliteStore::Open(dir_.File("target.db"));
        ASSERT_TRUE(t.ok()) << t.status().ToString();
        target_ = std::move(*t);
        break;
      }
      case Target::kPostgres: {
        auto uri = rf::testing::FreshPgTestDatabase();
        ASSERT_TRUE(uri.ok()) << uri.status().ToString();
        auto t = PgStore::Open(*uri);
        ASSERT_TRUE(t.ok()) << t.status().ToString();
        target_ = std::move(*t);
        break;
      }
    }
  }

  // A small control plane written as the release service would: several batches, each audited.
  void Populate() {
    WriteBatch a;
    a.content_types.push_back({"ipc_rule", 3, "content_type: ipc_rule\n", "admin", 5});
    a.principals.push_back({"bob", {admission::Role::kReviewer}, std::string(64, 'c'),
                            "{\"pub\":1}", "admin", 3});
    a.policies.push_back({"291", 1, {admission::Role::kReviewer}, {}, 0});
    admission::CustomerControl c;
    c.channel = "291";
    c.attr = "tenant";
    c.value = "acme";
    c.delay_s = 60;
    a.controls.push_back(c);
    a.audit.push_back(Audit("principal.create", 1));
    a.audit.push_back(Audit("policy.set", 2));
    ASSERT_TRUE(source_->Apply(a).ok());
    for (int v = 1; v <= 3; ++v) {
      WriteBatch b;
      b.bundles.push_back(Bundle(std::string(64, static_cast<char>('a' + v)), v));
      b.audit.push_back(Audit("bundle.upload", 10 + v));
      ASSERT_TRUE(source_->Apply(b).ok());
    }
    WriteBatch r;
    admission::ReleaseRecord done = Release("r-1", std::string(64, 'b'));
    done.state.phase = rollout::Phase::kCompleted;
    r.releases.push_back(done);
    r.releases.push_back(Release("r-2", std::string(64, 'c')));  // awaiting approval
    r.approvals.push_back({"r-1", "bob", admission::Role::kReviewer, "kid", "{\"env\":1}", 9});
    r.audit.push_back(Audit("release.create", 20));
    r.audit.push_back(Audit("release.complete", 21));
    ASSERT_TRUE(source_->Apply(r).ok());
  }

  void ExpectTargetEmpty() {
    auto c = target_->Load();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(c->principals.empty());
    EXPECT_TRUE(c->releases.empty());
    EXPECT_TRUE(c->bundles.empty());
    EXPECT_EQ(c->audit_head.seq, 0);
  }

  rf::testing::TempDir dir_;
  std::unique_ptr<SqliteStore> source_;
  StorePtr target_;
};

TEST_P(StoreCopyTest, CopiesEveryRecordEnvelopeAndTheSameAuditChain) {
  Populate();
  auto stats = CopyStore(*source_, *target_);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->bundles, 3);
  EXPECT_EQ(stats->releases, 2);
  EXPECT_EQ(stats->audit_entries, 7);

  auto from = source_->Load();
  auto to = target_->Load();
  ASSERT_TRUE(from.ok() && to.ok());
  EXPECT_EQ(to->content_types, from->content_types);
  EXPECT_EQ(to->bundles, from->bundles);
  EXPECT_EQ(to->approvals, from->approvals);
  EXPECT_EQ(to->principals, from->principals);
  EXPECT_EQ(to->policies, from->policies);
  ASSERT_EQ(to->controls.size(), 1u);
  EXPECT_EQ(to->controls[0].delay_s, 60);
  ASSERT_EQ(to->releases.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(to->releases[i].release_id, from->releases[i].release_id);
    EXPECT_EQ(to->releases[i].state, from->releases[i].state);
    EXPECT_EQ(to->releases[i].plan_yaml, from->releases[i].plan_yaml);
  }
  for (const BundleRecord& b : from->bundles) {
    EXPECT_EQ(*target_->BundleEnvelope(b.sha256), *source_->BundleEnvelope(b.sha256));
  }
  // The same entries with the same hashes, and the target's own head says so.
  EXPECT_EQ(*target_->ReadAudit(0, 100), *source_->ReadAudit(0, 100));
  EXPECT_EQ(to->audit_head, from->audit_head);
  EXPECT_EQ(stats->audit_head, from->audit_head);
  auto verified = target_->VerifyAudit();
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->entries, 7);
  // The chain continues on the target.
  WriteBatch next;
  next.audit.push_back(Audit("release.create", 30));
  std::vector<AuditEntry> appended;
  ASSERT_TRUE(target_->Apply(next, &appended).ok());
  EXPECT_EQ(appended[0].seq, 8);
  EXPECT_EQ(appended[0].prev_hash, from->audit_head.hash);
}

TEST_P(StoreCopyTest, ATargetThatHoldsAnythingIsRefusedUntouched) {
  Populate();
  WriteBatch one;
  one.audit.push_back(Audit("system.start", 1));
  ASSERT_TRUE(target_->Apply(one).ok());
  auto stats = CopyStore(*source_, *target_);
  ASSERT_EQ(stats.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stats.status().message().find("target store is not empty: it holds 1 audit entries"),
            std::string::npos)
      << stats.status().ToString();
  auto c = target_->Load();
  EXPECT_TRUE(c->releases.empty());
  EXPECT_EQ(c->audit_head.seq, 1);
}

TEST_P(StoreCopyTest, AStartedReleaseIsRefusedAndNothingIsWritten) {
  Populate();
  for (rollout::Phase p : {rollout::Phase::kDispatching, rollout::Phase::kBaking,
                           rollout::Phase::kPaused}) {
    WriteBatch live;
    admission::ReleaseRecord r = Release("r-2", std::string(64, 'c'));
    r.state.phase = p;
    live.releases.push_back(r);
    ASSERT_TRUE(source_->Apply(live).ok());
    auto stats = CopyStore(*source_, *target_);
    ASSERT_EQ(stats.status().code(), StatusCode::kFailedPrecondition) << rollout::PhaseName(p);
    EXPECT_NE(stats.status().message().find("release r-2 is " +
                                            std::string(rollout::PhaseName(p))),
              std::string::npos)
        << stats.status().ToString();
    ExpectTargetEmpty();
  }
  // Halted (and rolled back) releases are finished: copied.
  WriteBatch halted;
  admission::ReleaseRecord r = Release("r-2", std::string(64, 'c'));
  r.state.phase = rollout::Phase::kHalted;
  halted.releases.push_back(r);
  ASSERT_TRUE(source_->Apply(halted).ok());
  EXPECT_TRUE(CopyStore(*source_, *target_).ok());
}

TEST_P(StoreCopyTest, ASourceWhoseChainDoesNotVerifyIsRefused) {
  Populate();
  source_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("source.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE audit SET actor = 'mallory' WHERE seq = 3", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto s = SqliteStore::Open(dir_.File("source.db"));
  ASSERT_TRUE(s.ok());
  source_ = std::move(*s);
  auto stats = CopyStore(*source_, *target_);
  ASSERT_EQ(stats.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(stats.status().message().find("source: audit entry 3"), std::string::npos)
      << stats.status().ToString();
  ExpectTargetEmpty();
}

TEST_P(StoreCopyTest, AnEmptySourceLeavesTheTargetEmpty) {
  auto stats = CopyStore(*source_, *target_);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->audit_entries, 0);
  ExpectTargetEmpty();
}

INSTANTIATE_TEST_SUITE_P(Targets, StoreCopyTest,
                         ::testing::Values(Target::kMem, Target::kSqlite, Target::kPostgres),
                         [](const ::testing::TestParamInfo<Target>& p) {
                           switch (p.param) {
                             case Target::kMem: return std::string("Mem");
                             case Target::kSqlite: return std::string("Sqlite");
                             case Target::kPostgres: return std::string("Postgres");
                           }
                           return std::string();
                         });

}  // namespace
}  // namespace rf::store
