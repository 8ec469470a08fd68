// The production Store on embedded SQLite: WAL, synchronous=FULL, BEGIN IMMEDIATE, one writer
// connection with group commit, one reader connection (readers never wait for a commit's fsync).
//
//   RF_ASSIGN_OR_RETURN(auto store, SqliteStore::Open(data_dir + "/" + kDatabaseFileName, {}));
//
// Group commit: concurrent Apply() calls queue; one caller (the leader) commits every queued batch
// in a single transaction, each batch inside its own SAVEPOINT (a batch that violates a constraint
// is rolled back alone and reported to its caller), then wakes the others. One fsync serves them
// all. Thread-safe.
#ifndef RINGFENCE_STORE_SQLITE_STORE_H_
#define RINGFENCE_STORE_SQLITE_STORE_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "store/store.h"

struct sqlite3;

namespace rf::store {

// The database file inside `ringfence server --data DIR`.
inline constexpr char kDatabaseFileName[] = "ringfence.db";

struct SqliteStoreOptions {
  // How long a connection waits for a lock held by another process (another server on the same
  // file, or `ringfence audit verify --data`), in milliseconds.
  int busy_timeout_ms = 5000;
  // Open without creating or writing (offline `audit verify`): Apply() fails.
  bool read_only = false;
};

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed, unless read_only) the database at `path` and its schema.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                   const SqliteStoreOptions& options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status Apply(const WriteBatch& batch, std::vector<AuditEntry>* appended = nullptr) override;
  Result<StoreContents> Load() override;
  Result<std::string> BundleEnvelope(std::string_view sha256) override;
  Result<std::vector<AuditEntry>> ReadAudit(int64_t after_seq, size_t limit) override;
  Result<AuditHead> RecordedAuditHead() override;
  Result<AuditVerification> VerifyAudit() override;

  // Transactions committed so far and batches they carried (group commit effectiveness).
  int64_t commits() const;
  int64_t batches_committed() const;

 private:
  struct Pending;
  class Writer;
  class Reader;
  SqliteStore() = default;
  void CommitGroup(std::deque<Pending*>& group);

  std::unique_ptr<Writer> writer_;  // used only by the current leader
  std::unique_ptr<Reader> reader_;  // GUARDED_BY(read_mu_)
  std::mutex read_mu_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;  // GUARDED_BY(mu_)
  bool leader_active_ = false;  // GUARDED_BY(mu_)
  Status sticky_;               // GUARDED_BY(mu_): first commit failure; refuses all writes
  int64_t commits_ = 0, batches_ = 0;  // GUARDED_BY(mu_)
  bool read_only_ = false;
};

}  // namespace rf::store

#endif  // RINGFENCE_STORE_SQLITE_STORE_H_
