#include "store/audit.h"

#include <boost/json.hpp>

#include "core/bundle.h"
#include "crypto/crypto.h"
#include "store/strict_json.h"

namespace rf::store {

const std::string kAuditGenesisHash(64, '0');

std::string CanonicalAuditEntry(int64_t seq, const AuditRecord& r) {
  std::string out = "{\"action\":";
  AppendJsonString(&out, r.action);
  out += ",\"actor\":";
  AppendJsonString(&out, r.actor);
  out += ",\"details\":";
  AppendJsonString(&out, r.details_json);
  out += ",\"seq\":" + std::to_string(seq) + ",\"subject\":";
  AppendJsonString(&out, r.subject);
  out += ",\"time_us\":" + std::to_string(r.time_us) + "}";
  return out;
}

std::string ChainAuditHash(std::string_view prev_hash_hex, int64_t seq, const AuditRecord& r) {
  auto prev = crypto::FromHex(prev_hash_hex);
  // A malformed prev hash cannot chain; hash its text instead so verification reports a mismatch
  // rather than crashing (it never matches a well-formed chain).
  std::string data = prev.ok() && prev->size() == 32 ? *prev : std::string(prev_hash_hex);
  data += CanonicalAuditEntry(seq, r);
  return crypto::Sha256Hex(data);
}

AuditEntry NextAuditEntry(const AuditHead& head, AuditRecord record) {
  AuditEntry e;
  e.seq = head.seq + 1;
  e.prev_hash = head.hash;
  e.hash = ChainAuditHash(head.hash, e.seq, record);
  e.record = std::move(record);
  return e;
}

Status AuditChainVerifier::Add(const AuditEntry& e) {
  const std::string where = "audit entry " + std::to_string(e.seq);
  if (e.seq != current_.seq + 1) {
    return Status::DataLoss(where + ": expected seq " + std::to_string(current_.seq + 1) +
                            " (entries deleted or reordered)");
  }
  if (e.prev_hash != current_.hash) {
    return Status::DataLoss(where + ": prev_hash does not match entry " +
                            std::to_string(current_.seq));
  }
  if (ChainAuditHash(e.prev_hash, e.seq, e.record) != e.hash) {
    return Status::DataLoss(where + ": hash mismatch (entry modified)");
  }
  current_.seq = e.seq;
  current_.hash = e.hash;
  ++entries_;
  return Status::Ok();
}

Result<AuditVerification> AuditChainVerifier::Finish(const AuditHead& recorded) const {
  if (current_.seq < recorded.seq) {
    return Status::DataLoss("audit log ends at seq " + std::to_string(current_.seq) +
                            " but the recorded head is seq " + std::to_string(recorded.seq) +
                            " (entries truncated)");
  }
  if (current_.seq > recorded.seq) {
    return Status::DataLoss("audit log continues to seq " + std::to_string(current_.seq) +
                            " past the recorded head seq " + std::to_string(recorded.seq));
  }
  if (current_.hash != recorded.hash) {
    return Status::DataLoss("audit head hash mismatch at seq " + std::to_string(current_.seq));
  }
  return AuditVerification{entries_, current_};
}

Result<AuditVerification> VerifyAuditChain(const std::vector<AuditEntry>& entries,
                                           const AuditHead& recorded_head) {
  AuditChainVerifier v;
  for (const AuditEntry& e : entries) RF_RETURN_IF_ERROR(v.Add(e));
  return v.Finish(recorded_head);
}

std::string AuditEntryJson(const AuditEntry& e) {
  std::string out = "{\"seq\":" + std::to_string(e.seq) +
                    ",\"time_us\":" + std::to_string(e.record.time_us) + ",\"actor\":";
  AppendJsonString(&out, e.record.actor);
  out += ",\"action\":";
  AppendJsonString(&out, e.record.action);
  out += ",\"subject\":";
  AppendJsonString(&out, e.record.subject);
  out += ",\"details\":";
  // details_json is produced by the service as a JSON object; embedded as is when it parses (a
  // tampered entry may not), else as a string so the listing stays valid JSON.
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(e.record.details_json, ec);
  if (!ec && v.is_object()) {
    out += e.record.details_json;
  } else {
    AppendJsonString(&out, e.record.details_json);
  }
  // The exact stored text the hash covers (docs/control-plane.md "Verifying from outside").
  out += ",\"details_json\":";
  AppendJsonString(&out, e.record.details_json);
  // Escaped like every other string: a tampered row may hold anything.
  out += ",\"prev_hash\":";
  AppendJsonString(&out, e.prev_hash);
  out += ",\"hash\":";
  AppendJsonString(&out, e.hash);
  out += '}';
  return out;
}

Result<AuditEntry> AuditEntryFromJson(const boost::json::object& o) {
  AuditEntry e;
  StrictObject r(o, "audit entry", StatusCode::kInvalidArgument);
  RF_RETURN_IF_ERROR(r.Int("seq", &e.seq));
  RF_RETURN_IF_ERROR(r.Int("time_us", &e.record.time_us));
  RF_RETURN_IF_ERROR(r.String("actor", &e.record.actor));
  RF_RETURN_IF_ERROR(r.String("action", &e.record.action));
  RF_RETURN_IF_ERROR(r.String("subject", &e.record.subject));
  RF_RETURN_IF_ERROR(r.String("details_json", &e.record.details_json));
  RF_RETURN_IF_ERROR(r.String("prev_hash", &e.prev_hash));
  RF_RETURN_IF_ERROR(r.String("hash", &e.hash));
  return e;
}

}  // namespace rf::store
