// CopyStore: moves a control plane from one store into a new, empty one: the upgrade from one
// server on SQLite to several on PostgreSQL (`ringfence server copy-store`, docs/deploy.md
// "Moving from SQLite to PostgreSQL").
//
//   auto from = SqliteStore::Open(dir + "/ringfence.db");   // the server stopped, its lock held
//   auto to = PgStore::Open("postgresql://ringfence@db/ringfence");  // schema migrated, empty
//   Result<StoreCopyStats> copied = CopyStore(**from, **to);
//
// Everything StoreContents holds, every bundle's envelope and the whole audit log are written to
// `to` in ONE WriteBatch: one transaction, so an interrupted copy leaves the target as it was.
// The audit records are appended in their order with their own actor, action, subject, details
// and time, so the target computes the same chain: its head (seq and hash) equals the source's,
// which CopyStore checks by verifying the target's chain after the commit. Memory: every envelope
// and audit record at once (the source's size).
//
// Refused before anything is written:
//   - the source's audit chain does not verify (DataLoss "source: audit ...");
//   - the target holds anything (FailedPrecondition "target store is not empty: ..."), so a
//     second run, or a run against a live cluster's database, changes nothing;
//   - a release of the source has started and not finished (dispatching, baking or paused:
//     FailedPrecondition naming it). Its gate's evidence lives beside the SQLite store (the
//     controller's files in the data directory) and would not move; finish, halt or roll it
//     back first. Releases awaiting approval or ready are copied.
#ifndef RINGFENCE_STORE_STORE_COPY_H_
#define RINGFENCE_STORE_STORE_COPY_H_

#include <cstdint>

#include "core/status.h"
#include "store/store.h"

namespace rf::store {

struct StoreCopyStats {
  int64_t content_types = 0;
  int64_t bundles = 0;
  int64_t bundle_bytes = 0;  // envelope bytes
  int64_t releases = 0;
  int64_t approvals = 0;
  int64_t principals = 0;
  int64_t policies = 0;
  int64_t controls = 0;
  int64_t audit_entries = 0;
  AuditHead audit_head;  // of the target after the copy (equal to the source's)
};

[[nodiscard]] Result<StoreCopyStats> CopyStore(Store& from, Store& to);

}  // namespace rf::store

#endif  // RINGFENCE_STORE_STORE_COPY_H_
