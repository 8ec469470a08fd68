// Store::Apply throughput, SqliteStore against PgStore in the same run: each Apply is one batch of
// one release-state update and one audit entry (a controller transition), durable when it returns
// (SQLite: synchronous=FULL; PostgreSQL: synchronous_commit=on, fsync=on). PostgreSQL is a local
// server the benchmark starts itself (testing/pg_test_server.h: initdb in a temp dir, unix socket),
// so the numbers are the store's and the disk's, without a network.
//
//   apply/sqlite/threads:N     one SqliteStore shared by N threads (group commit)
//   apply/postgres/threads:N   one PgStore shared by N threads (one writer connection, group
//                              commit; counter batches_per_commit)
//   replicas/postgres/threads:N  N PgStores on one database, a thread each: N processes' worth of
//                              writers contending for the audit head (pg_store.h)
// Report items_per_second (batches/s) with `uptime` of the same run (docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "store/store_test_records.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::store {
namespace {

const std::string kSha(64, 'a');

Status AddBundle(Store& s) {
  WriteBatch b;
  b.bundles.push_back(test_records::Bundle(kSha, 1));
  return s.Apply(b);
}

Store* SharedSqlite() {
  static rf::testing::TempDir dir;
  static std::unique_ptr<Store> store = [] {
    auto s = SqliteStore::Open(dir.File("ringfence.db"));
    if (!s.ok() || !AddBundle(**s).ok()) return std::unique_ptr<Store>();
    return std::unique_ptr<Store>(std::move(*s));
  }();
  return store.get();
}

const std::string& SharedPgUri() {
  static const std::string uri = [] {
    auto u = rf::testing::FreshPgTestDatabase();
    if (!u.ok()) std::fprintf(stderr, "store_bench: %s\n", u.status().ToString().c_str());
    return u.ok() ? *u : std::string();
  }();
  return uri;
}

Store* SharedPg() {
  static std::unique_ptr<Store> store = []() -> std::unique_ptr<Store> {
    if (SharedPgUri().empty()) return nullptr;
    auto s = PgStore::Open(SharedPgUri());
    if (!s.ok() || !AddBundle(**s).ok()) return nullptr;
    return std::unique_ptr<Store>(std::move(*s));
  }();
  return store.get();
}

// The benchmark loop: thread t updates its own release and appends one audit entry per batch.
void ApplyLoop(benchmark::State& state, Store* s) {
  if (s == nullptr) {
    state.SkipWithError("store did not open");
    return;
  }
  admission::ReleaseRecord r =
      test_records::Release("r-" + std::to_string(state.thread_index()), kSha);
  int64_t n = 0;
  for (auto _ : state) {
    WriteBatch b;
    r.state.last_event_micros = ++n;
    b.releases.push_back(r);
    b.audit.push_back(test_records::Audit("release.tick", n));
    if (!s->Apply(b).ok()) {
      state.SkipWithError("Apply failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ApplySqlite(benchmark::State& state) { ApplyLoop(state, SharedSqlite()); }
void BM_ApplyPostgres(benchmark::State& state) {
  auto* pg = static_cast<PgStore*>(SharedPg());
  const int64_t commits = pg ? pg->commits() : 0, batches = pg ? pg->batches_committed() : 0;
  ApplyLoop(state, pg);
  // Group commit at work: batches per transaction during this run (thread 0's view).
  if (pg != nullptr && state.thread_index() == 0 && pg->commits() > commits) {
    state.counters["batches_per_commit"] =
        static_cast<double>(pg->batches_committed() - batches) / (pg->commits() - commits);
  }
}

// Each thread its own PgStore (its own connections), as separate server processes would have.
void BM_ReplicasPostgres(benchmark::State& state) {
  if (SharedPg() == nullptr) {
    state.SkipWithError("store did not open");
    return;
  }
  auto own = PgStore::Open(SharedPgUri());
  ApplyLoop(state, own.ok() ? own->get() : nullptr);
}

BENCHMARK(BM_ApplySqlite)->Name("apply/sqlite")->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_ApplyPostgres)->Name("apply/postgres")->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_ReplicasPostgres)->Name("replicas/postgres")->Threads(2)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace rf::store

BENCHMARK_MAIN();
