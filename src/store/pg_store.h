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
// be known, so that Apply (every batch of its group, and those queued behind it) and every later
// one return Unavailable (sticky, as in store.h); the
// process must restart and reload. Reads (Load, ReadAudit, ...) acknowledge nothing: on a lost
// reader connection they reconnect once per call and otherwise return Unavailable.
//
// Text columns are PostgreSQL TEXT, which refuses NUL bytes and invalid UTF-8 (SQLite stores any
// bytes): such a batch fails with InvalidArgument. Bundle envelopes are BYTEA (any bytes).
//
// Thread-safe. Writes from one process go over one connection with group commit, as
// SqliteStore's: concurrent Apply() calls queue; one caller (the leader) commits every queued
// batch in one transaction, each inside its own SAVEPOINT (a batch that is refused, e.g. by a
// compare-and-set or a lock timeout, is rolled back alone and reported to its caller), then wakes
// the others: one WAL flush serves them all. A group takes the audit head (if any of its batches
// is audited) and the change sequence before any batch's rows, in the order below, and writes
// the head row and the notification once, after them; a batch alone needs no savepoint. Reads use a second connection and never wait for a
// write; the controller lease a third, and WaitForChange (LISTEN) a fourth, opened on first use.
//
// Several servers: every transaction (a batch, or a group of them) bumps the change sequence
// (change_seq) once and notifies it (NOTIFY ringfence_change, delivered at COMMIT), so the other servers reload (cluster/change_watcher.h).
// The batch's conditions (store.h: expected releases, fencing epoch) are checked inside its
// transaction under row locks, so they still hold when it commits.
#ifndef RINGFENCE_STORE_PG_STORE_H_
#define RINGFENCE_STORE_PG_STORE_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace rf::store {

// True for a connection URI libpq takes that names PostgreSQL: "postgresql://..." or
// "postgres://...".
bool IsPostgresUri(std::string_view spec);

// The controller lease as one AcquireLease call left it (docs/deploy.md "Controller election").
struct LeaseGrant {
  bool granted = false;    // the caller holds the lease now, until expires_us
  std::string holder;      // who holds it (the caller if granted)
  int64_t epoch = 0;       // the holder's fencing epoch
  int64_t expires_us = 0;  // unix micros, by the holder's clock
};

// A device credential as the device_credentials table holds it (docs/deploy.md "Device
// credentials"; the server's view of it: server/credential_store.h).
struct DeviceCredentialRow {
  std::string device_id;
  std::string public_key_hex;  // the Ed25519 public key, 64 lowercase hex digits
  int64_t epoch = 0;
  std::string state;  // "active", "revoked" or "reset"
  int64_t seq = 0;    // the credential sequence number of its last change
};
// Given the device's current row (nullopt: none), the row to store (device_id and seq are set by
// the store), nullopt for "no change", or an error (the transaction is rolled back).
using DeviceCredentialDecide = std::function<Result<std::optional<DeviceCredentialRow>>(
    const std::optional<DeviceCredentialRow>&)>;

// One replica's latest gate counts of a release (docs/deploy.md "Gate evidence across replicas";
// the counts' format is the server's: server/gate_evidence.h).
struct GateCountsRow {
  std::string replica;
  int64_t seq = 0;         // the replica's publication number; only a higher one replaces a row
  int64_t updated_us = 0;  // when the replica published it (its clock)
  std::string counts;      // the counts (JSON)
};

// The elected controller's saved gate evidence of a release (the text of the server's evidence
// file: server/controller.h).
struct GateEvidenceRow {
  int64_t epoch = 0;  // the fencing epoch of the leader that saved it
  int64_t saved_us = 0;
  std::string evidence;
};

// One replica's published fleet profiles, for layer 1 across replicas (docs/deploy.md "Layer 1
// across replicas"; the profiles' format is the fleet file's: core/fleet.h EncodeFleetJson).
struct FleetProfilesRow {
  std::string replica;     // the lease holder name of the publishing process
  int64_t seq = 0;         // the replica's publication number; only a higher one replaces a row
  int64_t updated_us = 0;  // when the replica published it (its clock)
  std::string profiles;    // {"strata":[...]} (JSON)
  // Its fleet summary counts (server/fleet_summary.h EncodeFleetSummaryCounts); "" from a replica
  // of a version before migration 6, or one that publishes none.
  std::string summary;
};

struct PgStoreOptions {
  // How long a write waits for a row lock held by another transaction (another replica holding
  // the audit head through its commit, an operator's open session) before failing with Aborted,
  // in milliseconds. Also PostgreSQL's lock_timeout for the migration lock at Open.
  int lock_timeout_ms = 5000;
  // Test hook, empty in production: called inside Apply after the batch's statements and before
  // COMMIT, with the writer's backend pid (e.g. to terminate that backend).
  std::function<void(int backend_pid)> before_commit_for_test;
  // Reading only (`ringfence audit verify --store`): Open migrates nothing and creates nothing —
  // FailedPrecondition, naming both versions, unless the database holds this code's schema
  // version — and Apply refuses every batch with FailedPrecondition.
  bool read_only = false;
};

class PgStore final : public Store {
 public:
  // Connects twice (writer and reader) with the libpq connection string `conninfo` (URI or
  // key=value form), checks the server is durable (fsync=on), and brings the schema to this
  // code's version (schema_migrations.h) under a transaction-scoped advisory lock, so replicas
  // starting together migrate once (options.read_only: no migration, see there). Unavailable if
  // the server cannot be reached; FailedPrecondition if its schema is newer than this code or
  // fsync is off.
  static Result<std::unique_ptr<PgStore>> Open(const std::string& conninfo,
                                               const PgStoreOptions& options = {});
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  Status Apply(const WriteBatch& batch, std::vector<AuditEntry>* appended = nullptr) override;
  // Transactions committed so far and batches they carried (group commit effectiveness).
  int64_t commits() const;
  int64_t batches_committed() const;
  // Batches queued behind the transaction in flight (metrics, tests).
  int64_t waiting() const;
  Result<StoreContents> Load() override;
  Result<std::string> BundleEnvelope(std::string_view sha256) override;
  Result<std::vector<AuditEntry>> ReadAudit(int64_t after_seq, size_t limit) override;
  Result<AuditHead> RecordedAuditHead() override;
  Result<AuditVerification> VerifyAudit() override;

  // The schema version this code migrates to.
  static int64_t SchemaVersion();

  // ----- several servers on one database (docs/deploy.md "Several writers") -----

  // The controller lease. Renews it if `holder` holds it with `held_epoch` (the epoch stays), or
  // takes it if it expired (expires_us <= now_us: the epoch goes up by one), in one atomic
  // statement; either way it then runs until now_us + lease_us. Otherwise not granted, with the
  // current holder. `holder` must be unique per process. On its own connection: never waits for
  // this process's writes (except a fenced batch in flight, which holds the row shared).
  Result<LeaseGrant> AcquireLease(const std::string& holder, int64_t held_epoch, int64_t now_us,
                                  int64_t lease_us);
  // Ends the lease now if `holder` still holds it with `epoch` (a clean shutdown: another server
  // takes over at its next attempt instead of after the lease).
  Status ReleaseLease(const std::string& holder, int64_t epoch);

  // The change sequence: every committed batch of any process bumps it by one, and notifies.
  Result<int64_t> ChangeSeq();
  // True if every change number in (after, through] was committed by this store object (so the
  // model of this process already has them). Forgets the numbers <= after.
  bool OwnChanges(int64_t after, int64_t through);
  // Waits up to `timeout_ms` for a commit's notification (LISTEN on its own connection, opened at
  // the first call); true if one came. After (re)connecting it returns true at once: changes made
  // while nobody listened are unknown. Callers poll ChangeSeq as well (a lost notification
  // connection is only noticed on use).
  Result<bool> WaitForChange(int timeout_ms);

  // ----- device credentials shared by the servers (docs/deploy.md "Device credentials") -----

  // Every device credential, from one snapshot, passed to `row` (in pages: a fleet's millions of
  // rows are never in memory at once); *seq: the credential sequence that snapshot reflects.
  Status LoadDeviceCredentials(const std::function<void(const DeviceCredentialRow&)>& row,
                               int64_t* seq);
  // The rows changed after credential sequence `after_seq`, in commit order, at most `limit`.
  // Credential changes commit one at a time in sequence order (each holds the credential_seq row
  // through its COMMIT), so reading from the last number seen never misses one.
  Result<std::vector<DeviceCredentialRow>> DeviceCredentialsSince(int64_t after_seq, size_t limit);
  // One change of `device_id`'s credential in one transaction: takes the next credential sequence
  // number (locking the credential_seq row: changes are serialized cluster-wide), reads the row,
  // calls `decide`, writes its answer with `actor` and `now_s`, notifies ringfence_credentials,
  // commits (synchronous_commit=on). Returns the row after the change, or the current one when
  // `decide` changed nothing (nullopt: none). On its own connection, reconnected once if lost
  // (then the whole change runs again: callers' decisions are idempotent). Unavailable when the
  // database cannot be reached; Aborted after lock_timeout_ms waiting for the sequence row.
  Result<std::optional<DeviceCredentialRow>> ChangeDeviceCredential(
      std::string_view device_id, std::string_view actor, int64_t now_s,
      const DeviceCredentialDecide& decide);
  // As WaitForChange, for credential changes (its own LISTEN connection).
  Result<bool> WaitForCredentialChange(int timeout_ms);

  // ----- gate evidence summed across replicas (docs/deploy.md "Gate evidence across replicas") --

  // Stores `row` as `release_id`'s row of `row.replica` unless that row already has a seq >= row.seq
  // (so a repeated or late publication changes nothing). One autocommit statement on the evidence
  // connection (opened on first use, reconnected once if lost).
  Status PutGateCounts(std::string_view release_id, const GateCountsRow& row);
  // Every replica's row of `release_id`, ordered by replica.
  Result<std::vector<GateCountsRow>> GateCounts(std::string_view release_id);
  // Saves the controller's gate evidence of `release_id`, fenced: in one transaction that holds the
  // lease row shared and checks it still has `row.epoch` (else FailedPrecondition "fenced: ...",
  // nothing stored).
  Status PutGateEvidence(std::string_view release_id, const GateEvidenceRow& row);
  // The saved evidence of `release_id`, nullopt if none.
  Result<std::optional<GateEvidenceRow>> GateEvidence(std::string_view release_id);
  // Removes the release's counts and evidence (it finished).
  Status DeleteGateEvidence(std::string_view release_id);

  // ----- fleet profiles of every replica, for layer 1 (docs/deploy.md "Layer 1 across replicas") --

  // Stores `row` as the row of `row.replica` unless that row already has a seq >= row.seq (a
  // repeated or late publication changes nothing). On the evidence connection, as PutGateCounts.
  Status PutFleetProfiles(const FleetProfilesRow& row);
  // Every replica's row, ordered by replica.
  Result<std::vector<FleetProfilesRow>> FleetProfiles();
  // Removes the rows published before `before_us` (past the retention window).
  Status ExpireFleetProfiles(int64_t before_us);

  class Conn;  // one libpq connection (pg_store.cc)

 private:
  struct Pending;
  PgStore() = default;
  // The leader's transaction for `group` on the writer connection: sets each batch's status and
  // *written (batches committed). Returns the sticky failure (Unavailable) when the outcome is
  // unknown, OK otherwise (also when the group was refused whole and rolled back).
  Status CommitGroup(const std::vector<Pending*>& group, int64_t* written);
  // Runs `read(Conn&)` on the reader under read_mu_; if it fails because the connection was
  // lost (libpq notices only on use), reconnects and runs it once more (reads are idempotent).
  template <typename F>
  auto Read(F&& read);
  // Use() on the evidence connection, opened on first use.
  template <typename F>
  auto UseEvidence(F&& use);
  template <typename F>
  auto Use(std::mutex& mu, std::unique_ptr<Conn>& conn, F&& use);
  // LISTENs on `channel` on `conn` (opened or reopened as needed) and waits for a notification.
  Result<bool> WaitOn(std::mutex& mu, std::unique_ptr<Conn>& conn, const char* channel,
                      int timeout_ms);

  PgStoreOptions options_;
  mutable std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::deque<Pending*> queue_;    // GUARDED_BY(write_mu_): batches waiting for a leader
  bool leader_active_ = false;    // GUARDED_BY(write_mu_)
  std::unique_ptr<Conn> writer_;  // used by the current leader only
  Status sticky_;                 // GUARDED_BY(write_mu_): first lost writer; refuses all writes
  int64_t commits_ = 0, batches_ = 0;  // GUARDED_BY(write_mu_)
  std::mutex read_mu_;
  std::unique_ptr<Conn> reader_;  // GUARDED_BY(read_mu_)
  std::string conninfo_;
  std::mutex lease_mu_;
  std::unique_ptr<Conn> lease_;   // GUARDED_BY(lease_mu_)
  std::mutex listen_mu_;
  std::unique_ptr<Conn> listen_;  // GUARDED_BY(listen_mu_); null until WaitForChange
  std::mutex cred_mu_;
  std::unique_ptr<Conn> cred_;         // GUARDED_BY(cred_mu_); null until the first change
  std::mutex cred_listen_mu_;
  std::unique_ptr<Conn> cred_listen_;  // GUARDED_BY(cred_listen_mu_); null until first wait
  std::mutex evidence_mu_;
  std::unique_ptr<Conn> evidence_;  // GUARDED_BY(evidence_mu_); null until first use
  std::mutex own_mu_;
  std::set<int64_t> own_seqs_;    // GUARDED_BY(own_mu_): change numbers this store committed
};

}  // namespace rf::store

#endif  // RINGFENCE_STORE_PG_STORE_H_
