#include "cluster/pg_gate_evidence.h"

#include <utility>

namespace rf::cluster {

Status PgGateEvidence::Publish(std::string_view release_id, const server::ReplicaCounts& counts) {
  store::GateCountsRow row;
  row.replica = counts.replica;
  row.seq = counts.seq;
  row.updated_us = counts.updated_us;
  row.counts = server::EncodeReplicaCounts(counts);
  return store_.PutGateCounts(release_id, row);
}

Result<std::vector<server::ReplicaCounts>> PgGateEvidence::Counts(std::string_view release_id,
                                                                  std::string* bad) {
  RF_ASSIGN_OR_RETURN(std::vector<store::GateCountsRow> rows, store_.GateCounts(release_id));
  std::vector<server::ReplicaCounts> out;
  for (const store::GateCountsRow& row : rows) {
    auto c = server::DecodeReplicaCounts(row.counts);
    if (!c.ok() || c->replica != row.replica) {
      if (bad != nullptr) {
        *bad = "gate_counts row of replica '" + row.replica + "': " +
               (c.ok() ? std::string("names another replica") : c.status().message());
      }
      continue;
    }
    // The row's columns are what the store ordered by; the text must agree with them.
    c->seq = row.seq;
    c->updated_us = row.updated_us;
    out.push_back(std::move(*c));
  }
  return out;
}

Status PgGateEvidence::SaveGate(std::string_view release_id, int64_t epoch, int64_t now_us,
                                const std::string& text) {
  return store_.PutGateEvidence(release_id, store::GateEvidenceRow{epoch, now_us, text});
}

Result<std::optional<std::string>> PgGateEvidence::LoadGate(std::string_view release_id) {
  RF_ASSIGN_OR_RETURN(std::optional<store::GateEvidenceRow> row, store_.GateEvidence(release_id));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(std::move(row->evidence));
}

Status PgGateEvidence::Forget(std::string_view release_id) {
  return store_.DeleteGateEvidence(release_id);
}

}  // namespace rf::cluster
