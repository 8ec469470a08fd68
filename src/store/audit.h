// The hash-chained audit log: every state change, approval and operator action, in order, such
// that modifying, deleting, reordering or truncating entries is detectable.
//
// Entry n (seq n >= 1) stores hash_n = SHA-256(raw(hash_{n-1}) || canonical(entry_n)), with
// hash_0 = 32 zero bytes; hashes are lowercase hex. canonical(entry) is the canonical JSON object
//   {"action":A,"actor":A,"details":D,"seq":N,"subject":S,"time_us":T}
// where D is the entry's details JSON *text* as a JSON string (so the hash covers exact bytes).
// The store also records the head (seq, hash of the last entry) in a separate table in the same
// transaction; VerifyAuditChain compares the log with that head so a truncated tail is caught.
// Details: docs/control-plane.md "Audit log".
#ifndef RINGFENCE_STORE_AUDIT_H_
#define RINGFENCE_STORE_AUDIT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/status.h"

namespace rf::store {

// 64 '0' characters: the prev_hash of entry 1.
extern const std::string kAuditGenesisHash;

// What a writer supplies; the store assigns the rest.
struct AuditRecord {
  std::string actor;         // principal name, "gate", "controller" or "system"
  std::string action;        // e.g. "release.create", "release.approve", "release.halt"
  std::string subject;       // e.g. "r-7", "channel 291", "principal bob"
  std::string details_json;  // a JSON object text ("{}" if nothing)
  int64_t time_us = 0;       // wall time of the change
  friend bool operator==(const AuditRecord&, const AuditRecord&) = default;
};

struct AuditEntry {
  int64_t seq = 0;
  AuditRecord record;
  std::string prev_hash;
  std::string hash;
  friend bool operator==(const AuditEntry&, const AuditEntry&) = default;
};

struct AuditHead {
  int64_t seq = 0;
  std::string hash = kAuditGenesisHash;
  friend bool operator==(const AuditHead&, const AuditHead&) = default;
};

// The canonical bytes hashed for an entry (see above).
std::string CanonicalAuditEntry(int64_t seq, const AuditRecord& record);
// Hex SHA-256(raw(prev_hash_hex) || canonical). REQUIRES: prev_hash_hex is 64 hex digits.
std::string ChainAuditHash(std::string_view prev_hash_hex, int64_t seq, const AuditRecord& record);
// The entry that follows `head`.
AuditEntry NextAuditEntry(const AuditHead& head, AuditRecord record);

struct AuditVerification {
  int64_t entries = 0;
  AuditHead head;  // the last entry's seq and hash (as recomputed)
};

// Checks entries incrementally (the log may be large): Add() each entry in stored order, then
// Finish() against the recorded head. Errors are DataLoss naming the first bad seq:
//   modified entry   -> "audit entry N: hash mismatch"
//   deleted/reorder  -> "audit entry N: expected seq M" or "prev_hash does not match entry M"
//   truncated tail   -> "audit log ends at seq N but the recorded head is seq M"
//   head mismatch    -> "audit head hash mismatch at seq N"
class AuditChainVerifier {
 public:
  Status Add(const AuditEntry& e);
  Result<AuditVerification> Finish(const AuditHead& recorded_head) const;

 private:
  AuditHead current_;
  int64_t entries_ = 0;
};

Result<AuditVerification> VerifyAuditChain(const std::vector<AuditEntry>& entries,
                                           const AuditHead& recorded_head);

// {"seq":N,"time_us":T,"actor":..,"action":..,"subject":..,"details":<object>,"details_json":..,
//  "prev_hash":..,"hash":..}: `details` embedded as JSON for people and tools; `details_json` the
// exact stored text as a JSON string, which is what the hash covers, so that anyone holding the
// entries can recompute the chain (AuditEntryFromJson).
std::string AuditEntryJson(const AuditEntry& e);
// The entry an AuditEntryJson object describes (its `details` is not read: `details_json` is the
// stored text; keys added later are ignored). InvalidArgument naming the key if one is missing or
// of the wrong type.
Result<AuditEntry> AuditEntryFromJson(const boost::json::object& o);

}  // namespace rf::store

#endif  // RINGFENCE_STORE_AUDIT_H_
