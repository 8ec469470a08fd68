#include "store/store_copy.h"

#include <string>
#include <utility>
#include <vector>

#include "rollout/release.h"

namespace rf::store {
namespace {

constexpr size_t kAuditPage = 10'000;

// FailedPrecondition naming what the target already holds, or OK when it holds nothing.
Status CheckEmpty(const StoreContents& c) {
  std::string held;
  auto add = [&held](size_t n, const char* what) {
    if (n == 0) return;
    if (!held.empty()) held += ", ";
    held += std::to_string(n) + " " + what;
  };
  add(c.content_types.size(), "content types");
  add(c.bundles.size(), "bundles");
  add(c.releases.size(), "releases");
  add(c.approvals.size(), "approvals");
  add(c.principals.size(), "principals");
  add(c.policies.size(), "channel policies");
  add(c.controls.size(), "customer controls");
  add(static_cast<size_t>(c.audit_head.seq), "audit entries");
  if (held.empty()) return Status::Ok();
  return Status::FailedPrecondition("target store is not empty: it holds " + held +
                                    "; copy only into a new database");
}

// A release whose gate has started: its evidence would not move with the store.
Status CheckNoLiveRelease(const StoreContents& c) {
  for (const admission::ReleaseRecord& r : c.releases) {
    const rollout::Phase p = r.state.phase;
    if (p == rollout::Phase::kAwaitingApproval || p == rollout::Phase::kReady) continue;
    if (rollout::IsFinished(r.state)) continue;
    return Status::FailedPrecondition(
        "release " + r.release_id + " is " + std::string(rollout::PhaseName(p)) +
        ": its gate evidence stays with this server; let it complete, or halt or roll it back, "
        "before moving the store");
  }
  return Status::Ok();
}

Result<std::vector<AuditRecord>> ReadWholeAudit(Store& from, int64_t expected) {
  std::vector<AuditRecord> records;
  records.reserve(static_cast<size_t>(expected));
  int64_t after = 0;
  for (;;) {
    RF_ASSIGN_OR_RETURN(std::vector<AuditEntry> page, from.ReadAudit(after, kAuditPage));
    if (page.empty()) break;
    for (AuditEntry& e : page) {
      if (e.seq != after + 1) {
        return Status::DataLoss("source: audit entry " + std::to_string(after + 1) +
                                " missing (read " + std::to_string(e.seq) + ")");
      }
      after = e.seq;
      records.push_back(std::move(e.record));
    }
  }
  if (after != expected) {
    return Status::DataLoss("source: audit log changed while copying (verified " +
                            std::to_string(expected) + " entries, read " + std::to_string(after) +
                            ")");
  }
  return records;
}

}  // namespace

Result<StoreCopyStats> CopyStore(Store& from, Store& to) {
  auto verified = from.VerifyAudit();
  if (!verified.ok()) return verified.status().WithPrefix("source");
  auto source = from.Load();
  if (!source.ok()) return source.status().WithPrefix("source");
  auto target = to.Load();
  if (!target.ok()) return target.status().WithPrefix("target");
  RF_RETURN_IF_ERROR(CheckEmpty(*target));
  RF_RETURN_IF_ERROR(CheckNoLiveRelease(*source));

  StoreCopyStats stats;
  WriteBatch batch;
  batch.content_types = std::move(source->content_types);
  batch.bundles = std::move(source->bundles);
  for (BundleRecord& b : batch.bundles) {
    auto envelope = from.BundleEnvelope(b.sha256);
    if (!envelope.ok()) return envelope.status().WithPrefix("source: bundle " + b.sha256);
    b.envelope = std::move(*envelope);
    stats.bundle_bytes += static_cast<int64_t>(b.envelope.size());
  }
  batch.releases = std::move(source->releases);
  batch.approvals = std::move(source->approvals);
  batch.principals = std::move(source->principals);
  batch.policies = std::move(source->policies);
  batch.controls = std::move(source->controls);
  RF_ASSIGN_OR_RETURN(batch.audit, ReadWholeAudit(from, verified->entries));
  stats.content_types = static_cast<int64_t>(batch.content_types.size());
  stats.bundles = static_cast<int64_t>(batch.bundles.size());
  stats.releases = static_cast<int64_t>(batch.releases.size());
  stats.approvals = static_cast<int64_t>(batch.approvals.size());
  stats.principals = static_cast<int64_t>(batch.principals.size());
  stats.policies = static_cast<int64_t>(batch.policies.size());
  stats.controls = static_cast<int64_t>(batch.controls.size());
  stats.audit_entries = static_cast<int64_t>(batch.audit.size());
  if (batch.empty()) return stats;  // nothing to copy: the target stays empty

  if (Status st = to.Apply(batch); !st.ok()) return st.WithPrefix("target");
  auto copied = to.VerifyAudit();
  if (!copied.ok()) return copied.status().WithPrefix("target (copied)");
  if (copied->head != verified->head) {
    return Status::DataLoss("target (copied): audit head seq " + std::to_string(copied->head.seq) +
                            " hash " + copied->head.hash + " differs from the source's seq " +
                            std::to_string(verified->head.seq) + " hash " + verified->head.hash);
  }
  stats.audit_head = copied->head;
  return stats;
}

}  // namespace rf::store
