// A Store on PostgreSQL (libpq), for several ringfence servers sharing one database
// (docs/deploy.md). Same contract as store.h; what differs from SqliteStore is stated here.
//
//   RF_ASSIGN_OR_RETURN(auto store, PgStore::Open("postgresql://rf@db.example/ringfence", {}));
//
// Durability: acknowledged = committed. Every session sets synchronous_commit=on, and Open
// refuses a server running with fsync=off, so an Apply that returned OK survives a crash of the
// database server (and, with a synchronous standby configured, of its machine).
//
// The audit chain never forks, even with several processes (replicas) writing at once: a batch
// with audit entries first locks the single audit_head row (SELECT ... FOR UPDATE) inside its
// transaction, reads the head there, chains its entries onto it and updates the row before
// COMMIT. A second writer blocks on that row lock until the first commits or rolls back, then
// (READ COMMITTED re-reads a locked row after the wait) sees the new head. So entries are chained
// in commit order by one writer at a time, cluster-wide; the head lock is taken before any other
// row so it can never be part of a lock cycle. The cost: audited batches commit one at a time
// across the cluster (each holds the head across its commit's WAL flush).
//
// Errors: a constraint violation (AlreadyExists for a unique key, FailedPrecondition otherwise),
// bad text (InvalidArgument, e.g. invalid UTF-8) or a lock wait past lock_timeout_ms / deadlock
// (Aborted, retryable) rolls the transaction back: nothing of the batch is stored and the store
// keeps working. Losing the writer connection (server restart, network, pg_terminate_backend) at
// any point of an Apply, or while idle, is fail-stop: the outcome of an interrupted COMMIT cannot
// be known, so that Apply and every later one return Unavailable (sticky, as in store.h); the
// process must restart and reload. Reads (Load, ReadAudit, ...) acknowledge nothing: on a lost
// reader connection they reconnect once per call and otherwise return Unavailable.
//
// Text columns are PostgreSQL TEXT, which refuses NUL bytes and invalid UTF-8 (SQLite stores any
// bytes): such a batch fails with InvalidArgument. Bundle envelopes are BYTEA (any bytes).
//
// Thread-safe. Writes from one process are serialized on one connection (no group commit yet);
// reads use a second connection and never wait for a write.
#ifndef RINGFENCE_STORE_PG_STORE_H_
#define RINGFENCE_STORE_PG_STORE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "store/store.h"

namespace rf::store {

// True for a connection URI libpq takes that names PostgreSQL: "postgresql://..." or
// "postgres://...".
bool IsPostgresUri(std::string_view spec);

struct PgStoreOptions {
  // How long a write waits for a row lock held by another transaction (another replica holding
  // the audit head through its commit, an operator's open session) before failing with Aborted,
  // in milliseconds. Also PostgreSQL's lock_timeout for the migration lock at Open.
  int lock_timeout_ms = 5000;
  // Test hook, empty in production: called inside Apply after the batch's statements and before
  // COMMIT, with the writer's backend pid (e.g. to terminate that backend).
  std::function<void(int backend_pid)> before_commit_for_test;
};

class PgStore final : public Store {
 public:
  // Connects twice (writer and reader) with the libpq connection string `conninfo` (URI or
  // key=value form), checks the server is durable (fsync=on), and brings the schema to this
  // code's version (schema_migrations.h) under a transaction-scoped advisory lock, so replicas
  // starting together migrate once. Unavailable if the server cannot be reached;
  // FailedPrecondition if its schema is newer than this code or fsync is off.
  static Result<std::unique_ptr<PgStore>> Open(const std::string& conninfo,
                                               const PgStoreOptions& options = {});
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  Status Apply(const WriteBatch& batch, std::vector<AuditEntry>* appended = nullptr) override;
  Result<StoreContents> Load() override;
  Result<std::string> BundleEnvelope(std::string_view sha256) override;
  Result<std::vector<AuditEntry>> ReadAudit(int64_t after_seq, size_t limit) override;
  Result<AuditHead> RecordedAuditHead() override;
  Result<AuditVerification> VerifyAudit() override;

  // The schema version this code migrates to.
  static int64_t SchemaVersion();

  class Conn;  // one libpq connection (pg_store.cc)

 private:
  PgStore() = default;
  Status ApplyLocked(const WriteBatch& batch, std::vector<AuditEntry>* appended);
  // Runs `read(Conn&)` on the reader under read_mu_; if it fails because the connection was
  // lost (libpq notices only on use), reconnects and runs it once more (reads are idempotent).
  template <typename F>
  auto Read(F&& read);

  PgStoreOptions options_;
  std::mutex write_mu_;
  std::unique_ptr<Conn> writer_;  // GUARDED_BY(write_mu_)
  Status sticky_;                 // GUARDED_BY(write_mu_): first lost writer; refuses all writes
  std::mutex read_mu_;
  std::unique_ptr<Conn> reader_;  // GUARDED_BY(read_mu_)
};

}  // namespace rf::store

#endif  // RINGFENCE_STORE_PG_STORE_H_
