// The audit log as the release service serves it: pages of entries and the hash chain's check.
// One concern of the release service (release_service.h); reads the store directly (the audit
// log is not in the in-memory model), so it never waits for the service's locks.
//
// Thread-safety: as the store's ReadAudit / VerifyAudit (store::Store: thread-safe).
#ifndef RINGFENCE_SERVICE_AUDIT_LOG_H_
#define RINGFENCE_SERVICE_AUDIT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace rf::service {

class AuditLog {
 public:
  // `store` must outlive this object.
  explicit AuditLog(store::Store& store) : store_(store) {}

  // Up to `limit` entries with seq > after_seq, in order.
  Result<std::vector<store::AuditEntry>> Read(int64_t after_seq, size_t limit) const {
    return store_.ReadAudit(after_seq, limit);
  }
  Result<store::AuditVerification> Verify() const { return store_.VerifyAudit(); }

 private:
  store::Store& store_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_AUDIT_LOG_H_
