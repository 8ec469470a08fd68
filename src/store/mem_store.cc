#include "store/mem_store.h"

#include "store/batch_conditions.h"

namespace rf::store {

void MemStore::FailNextApply(Status status) {
  std::lock_guard<std::mutex> l(mu_);
  fail_next_ = std::move(status);
}

Status MemStore::Apply(const WriteBatch& b, std::vector<AuditEntry>* appended) {
  std::lock_guard<std::mutex> l(mu_);
  if (!sticky_.ok()) return sticky_;
  if (fail_next_) {
    sticky_ = Status::Unavailable("store failed, restart required: " + fail_next_->message());
    fail_next_.reset();
    return sticky_;
  }
  // The batch's conditions and the constraints SqliteStore enforces, before changing anything
  // (atomicity).
  RF_RETURN_IF_ERROR(CheckFencingEpoch(b.fencing_epoch, 0));
  for (const auto& e : b.expected_releases) {
    auto it = releases_.find(e.release_id);
    RF_RETURN_IF_ERROR(CheckReleaseExpectation(
        e, it == releases_.end() ? std::nullopt : std::make_optional(it->second.state)));
  }
  for (const auto& x : b.bundles) {
    for (const auto& [sha, other] : bundles_) {
      if (sha != x.sha256 && other.channel == x.channel && other.version == x.version) {
        return Status::AlreadyExists("channel " + x.channel + " already has version " +
                                     std::to_string(x.version));
      }
    }
  }
  for (const auto& p : b.principals) {
    for (const auto& [name, other] : principals_) {
      if (name != p.name && other.token_sha256 == p.token_sha256) {
        return Status::AlreadyExists("token already in use");
      }
    }
  }
  for (const auto& r : b.releases) {
    bool have = bundles_.count(r.bundle_sha256) > 0;
    for (const auto& x : b.bundles) have = have || x.sha256 == r.bundle_sha256;
    if (!have) return Status::FailedPrecondition("release references an unknown bundle");
  }
  for (const auto& t : b.content_types) content_types_[{t.name, t.schema_version}] = t;
  for (const auto& x : b.bundles) bundles_[x.sha256] = x;
  for (const auto& r : b.releases) releases_[r.release_id] = r;
  for (const auto& a : b.approvals) approvals_[{a.release_id, a.reviewer}] = a;
  for (const auto& p : b.principals) principals_[p.name] = p;
  for (const auto& p : b.policies) policies_[p.channel] = p;
  for (const auto& c : b.controls) controls_[{c.channel, c.attr, c.value}] = c;
  for (const auto& k : b.deleted_controls) controls_.erase({k.channel, k.attr, k.value});
  for (const auto& rec : b.audit) {
    AuditEntry e = NextAuditEntry(head_, rec);
    head_ = {e.seq, e.hash};
    audit_.push_back(e);
    if (appended) appended->push_back(std::move(e));
  }
  return Status::Ok();
}

Result<StoreContents> MemStore::Load() {
  std::lock_guard<std::mutex> l(mu_);
  StoreContents c;
  for (const auto& [k, v] : content_types_) c.content_types.push_back(v);
  for (const auto& [k, v] : bundles_) {
    c.bundles.push_back(v);
    c.bundles.back().envelope.clear();
  }
  for (const auto& [k, v] : releases_) c.releases.push_back(v);
  for (const auto& [k, v] : approvals_) c.approvals.push_back(v);
  for (const auto& [k, v] : principals_) c.principals.push_back(v);
  for (const auto& [k, v] : policies_) c.policies.push_back(v);
  for (const auto& [k, v] : controls_) c.controls.push_back(v);
  c.audit_head = head_;
  return c;
}

Result<std::string> MemStore::BundleEnvelope(std::string_view sha256) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = bundles_.find(sha256);
  if (it == bundles_.end()) return Status::NotFound("unknown bundle " + std::string(sha256));
  return it->second.envelope;
}

Result<std::vector<AuditEntry>> MemStore::ReadAudit(int64_t after_seq, size_t limit) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<AuditEntry> out;
  for (const AuditEntry& e : audit_) {
    if (out.size() >= limit) break;
    if (e.seq > after_seq) out.push_back(e);
  }
  return out;
}

Result<AuditHead> MemStore::RecordedAuditHead() {
  std::lock_guard<std::mutex> l(mu_);
  return head_;
}

Result<AuditVerification> MemStore::VerifyAudit() {
  std::lock_guard<std::mutex> l(mu_);
  return VerifyAuditChain(audit_, head_);
}

}  // namespace rf::store
