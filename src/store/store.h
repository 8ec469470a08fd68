// The durable store of the control plane: content types, bundles, releases, approvals, principals,
// channel policies, customer controls and the hash-chained audit log.
//
// All writes go through Store::Apply(WriteBatch): one batch is one atomic transaction, and when
// Apply returns OK the batch is durable (on SqliteStore: committed with synchronous=FULL, i.e.
// fsynced) and its audit entries are chained. A batch that fails changes nothing. Batches are
// upserts keyed by each record's primary key; preconditions (does the release exist, is the
// approver the author, ...) are the caller's business (the release service), which holds the
// authoritative in-memory model and serializes its writes.
//
//   store::WriteBatch b;
//   b.releases.push_back(record);
//   b.audit.push_back({.actor = "alice", .action = "release.create", .subject = "r-1",
//                      .details_json = "{}", .time_us = now});
//   RF_RETURN_IF_ERROR(store.Apply(b));   // durable and audited from here on
//
// Fail-stop: after a failed commit (I/O error, full disk) the implementations refuse every further
// write with Unavailable; the process must restart and reload (leveldb's sticky error). A write
// that could not even begin (the database locked by another process past the busy timeout) is
// Aborted and changes nothing; it may be retried.
//
// Implementations: SqliteStore (sqlite_store.h, production) and MemStore (mem_store.h, tests).
#ifndef RINGFENCE_STORE_STORE_H_
#define RINGFENCE_STORE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/records.h"
#include "core/status.h"
#include "rollout/release.h"
#include "store/audit.h"

namespace rf::store {

// The records (admission/records.h, shared with the pure admission and review functions).
using admission::ApprovalRecord;
using admission::BundleRecord;
using admission::ChannelPolicy;
using admission::ContentTypeRecord;
using admission::ControlKey;
using admission::PrincipalRecord;

// A condition on a release's stored state, checked inside the batch's transaction before anything
// is written: compare-and-set between servers sharing one database (docs/deploy.md "Several
// writers"). `state` is the state the writer's model held when it derived the change; nullopt:
// the release must not exist yet.
struct ReleaseExpectation {
  std::string release_id;
  std::optional<rollout::ReleaseState> state;
};

// One atomic, durable change. Every vector is applied as upserts in the order of the fields
// below, then `audit` is appended to the chain (seq, prev_hash and hash assigned by the store).
//
// Conditions, checked first; a batch that fails one stores nothing:
//  - expected_releases: every release named must be stored in exactly that state (or absent);
//    otherwise Aborted ("changed by another writer": reload and retry).
//  - fencing_epoch: nonzero marks a write of the elected controller holding that epoch of the
//    controller lease (PgStore::AcquireLease). It commits only if the lease's epoch is still that
//    one; otherwise FailedPrecondition ("fenced"). Stores without a lease (Mem, SQLite: one
//    process, which always drives) refuse any nonzero epoch the same way.
struct WriteBatch {
  std::vector<ContentTypeRecord> content_types;
  std::vector<BundleRecord> bundles;  // envelope must be set
  std::vector<admission::ReleaseRecord> releases;
  std::vector<ApprovalRecord> approvals;
  std::vector<PrincipalRecord> principals;
  std::vector<ChannelPolicy> policies;
  std::vector<admission::CustomerControl> controls;
  std::vector<ControlKey> deleted_controls;
  std::vector<AuditRecord> audit;
  std::vector<ReleaseExpectation> expected_releases;  // conditions only: not a change
  int64_t fencing_epoch = 0;                          // 0: not a fenced controller write
  // True when the batch changes nothing (conditions alone are not a change).
  bool empty() const {
    return content_types.empty() && bundles.empty() && releases.empty() && approvals.empty() &&
           principals.empty() && policies.empty() && controls.empty() &&
           deleted_controls.empty() && audit.empty();
  }
};

// Everything but bundle envelopes and the audit log, as loaded at start-up.
struct StoreContents {
  std::vector<ContentTypeRecord> content_types;
  std::vector<BundleRecord> bundles;  // envelope empty
  std::vector<admission::ReleaseRecord> releases;  // plan parsed, state decoded
  std::vector<ApprovalRecord> approvals;
  std::vector<PrincipalRecord> principals;
  std::vector<ChannelPolicy> policies;
  std::vector<admission::CustomerControl> controls;
  AuditHead audit_head;
};

// Thread-safe: any number of threads may call any method concurrently.
class Store {
 public:
  virtual ~Store() = default;
  // Applies `batch` atomically and durably. On OK, *appended (if not null) receives the audit
  // entries as chained. On error nothing of the batch is stored.
  [[nodiscard]] virtual Status Apply(const WriteBatch& batch,
                                     std::vector<AuditEntry>* appended = nullptr) = 0;
  // Reads every record (DataLoss if a stored record does not decode).
  [[nodiscard]] virtual Result<StoreContents> Load() = 0;
  // The bundle's envelope text, or NotFound.
  [[nodiscard]] virtual Result<std::string> BundleEnvelope(std::string_view sha256) = 0;
  // Audit entries with seq > after_seq, in seq order, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<AuditEntry>> ReadAudit(int64_t after_seq,
                                                                  size_t limit) = 0;
  // The head recorded beside the log (seq and hash of the last entry appended).
  [[nodiscard]] virtual Result<AuditHead> RecordedAuditHead() = 0;
  // Reads the whole log (in one consistent snapshot, page by page) and checks it against the
  // recorded head with AuditChainVerifier: DataLoss naming the first problem.
  [[nodiscard]] virtual Result<AuditVerification> VerifyAudit() = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace rf::store

#endif  // RINGFENCE_STORE_STORE_H_
