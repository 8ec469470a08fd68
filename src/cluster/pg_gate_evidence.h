// Gate evidence summed across replicas on the shared PostgreSQL store (docs/deploy.md "Gate
// evidence across replicas"): the server::GateEvidenceStore of a server started with
// --store postgresql://...
//
//   cluster::PgGateEvidence evidence(pg_store);
//   controller_options.evidence = &evidence;   // publish, sum, and the leader's saved gate state
//
// Counts: one row per (release, replica) in gate_counts, replaced only by a higher seq. Gate
// state: one row per release in gate_evidence, written fenced by the elected controller.
// Thread-safe (PgStore's evidence connection serializes the calls).
#ifndef RINGFENCE_CLUSTER_PG_GATE_EVIDENCE_H_
#define RINGFENCE_CLUSTER_PG_GATE_EVIDENCE_H_

#include "server/gate_evidence.h"
#include "store/pg_store.h"

namespace rf::cluster {

class PgGateEvidence final : public server::GateEvidenceStore {
 public:
  // `store` must outlive this object.
  explicit PgGateEvidence(store::PgStore& store) : store_(store) {}

  Status Publish(std::string_view release_id, const server::ReplicaCounts& counts) override;
  Result<std::vector<server::ReplicaCounts>> Counts(std::string_view release_id,
                                                    std::string* bad = nullptr) override;
  bool shared() const override { return true; }
  Status SaveGate(std::string_view release_id, int64_t epoch, int64_t now_us,
                  const std::string& text) override;
  Result<std::optional<std::string>> LoadGate(std::string_view release_id) override;
  Status Forget(std::string_view release_id) override;

 private:
  store::PgStore& store_;
};

}  // namespace rf::cluster

#endif  // RINGFENCE_CLUSTER_PG_GATE_EVIDENCE_H_
