// An in-memory Store for tests: the same semantics as SqliteStore (atomic batches, upserts,
// chained audit, sticky failure) without durability. Thread-safe.
#ifndef RINGFENCE_STORE_MEM_STORE_H_
#define RINGFENCE_STORE_MEM_STORE_H_

#include <map>
#include <optional>
#include <mutex>
#include <tuple>

#include "store/store.h"

namespace rf::store {

class MemStore final : public Store {
 public:
  Status Apply(const WriteBatch& batch, std::vector<AuditEntry>* appended = nullptr) override;
  Result<StoreContents> Load() override;
  Result<std::string> BundleEnvelope(std::string_view sha256) override;
  Result<std::vector<AuditEntry>> ReadAudit(int64_t after_seq, size_t limit) override;
  Result<AuditHead> RecordedAuditHead() override;
  Result<AuditVerification> VerifyAudit() override;

  // Test hook: the next Apply fails with `status` (and, like a failed fsync, every later one).
  void FailNextApply(Status status);
  // Test hook: direct access to the stored audit log, to tamper with it.
  std::vector<AuditEntry>& MutableAuditForTest() { return audit_; }
  AuditHead& MutableHeadForTest() { return head_; }

 private:
  std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, ContentTypeRecord> content_types_;
  std::map<std::string, BundleRecord, std::less<>> bundles_;
  std::map<std::string, admission::ReleaseRecord> releases_;
  std::map<std::pair<std::string, std::string>, ApprovalRecord> approvals_;
  std::map<std::string, PrincipalRecord> principals_;
  std::map<std::string, ChannelPolicy> policies_;
  std::map<std::tuple<std::string, std::string, std::string>, admission::CustomerControl> controls_;
  std::vector<AuditEntry> audit_;
  AuditHead head_;
  std::optional<Status> fail_next_;
  Status sticky_;
};

}  // namespace rf::store

#endif  // RINGFENCE_STORE_MEM_STORE_H_
