// Gate evidence summed across replicas (docs/deploy.md "Gate evidence across replicas").
//
// Every server (replica) counts, for each live release, what the check-ins it answers and its
// inventory sweep show: per stratum, the devices alive in each arm, treated, applied and silent
// treated devices (current values), and the crash, error and silence events (cumulative since the
// release was built in this process). Once per controller tick it publishes these counts
// (ReplicaCounts) to a GateEvidenceStore; the elected controller reads every replica's latest
// counts, sums them (SumReplicaCounts) and feeds the totals to the one release driver. Counts are
// cumulative and a replica's row only moves forward (its seq), so a lost or repeated publication
// changes nothing: the next one carries everything.
//
// The same publication carries each replica's sketch of its share of the fleet (docs/deploy.md
// "One cohort definition per release"): per stratum, its eligible and held-back devices and its
// smallest non-holdback ranks, as of when it built the release's cohorts (`built_us`).
// MergeCohortSketches merges the rows of every replica that built within the settle window into
// the one sketch every replica builds the release's Cohorts from (rollout::BuildFromSketches), so
// the strata, the canary floors (exactly `floor` devices per stratum) and the waves are the whole
// fleet's and the same on every replica.
//
// Implementations:
//  * LocalGateEvidence (below): one server (SQLite). Keeps what this process publishes; the sum
//    is its own counts. Not shared: the controller keeps its gate state in its data directory.
//  * cluster::PgGateEvidence (src/cluster/pg_gate_evidence.h): the gate_counts and gate_evidence
//    tables of the shared PostgreSQL store. Shared: the leader's gate state is saved there
//    (fenced) so that a new leader continues it.
//
// Thread-safety: implementations are thread-safe.
#ifndef RINGFENCE_SERVER_GATE_EVIDENCE_H_
#define RINGFENCE_SERVER_GATE_EVIDENCE_H_

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "rollout/cohort.h"
#include "rollout/driver.h"

namespace rf::server {

// One stratum of one replica's counts of a release.
struct StratumCounts {
  std::string key;  // rollout::StratumKey of the stratum (strata are matched by key)
  // Current values, as of the replica's last sweep.
  int64_t treated_at_risk = 0;
  int64_t control_at_risk = 0;
  int64_t treated = 0;
  int64_t applied = 0;
  int64_t treated_silent = 0;
  // Cumulative events by rollout::Signal since the release was built in that replica's process.
  std::array<int64_t, rollout::kSignalCount> treated_events{};
  std::array<int64_t, rollout::kSignalCount> control_events{};
  // This replica's sketch of the stratum when it built the release's cohorts
  // (rollout::CohortAssigner::Sketch); absent for a stratum it did not have then. Ranks are encoded
  // exactly (as rank * 2^53, an integer).
  std::optional<rollout::StratumSketch> sketch{};
};

// One replica's counts of one release.
struct ReplicaCounts {
  std::string replica;     // unique per server process (the lease holder name)
  int64_t seq = 0;         // publication number of that process, increasing (1, 2, ...)
  int64_t updated_us = 0;  // when it was published (the replica's clock)
  int64_t newest_seen_us = -1;  // newest check-in of the release's cohort there; -1: none
  // When that replica built the release's cohorts (its sketches are of its inventory then);
  // -1: no sketch (a publication of a version without them).
  int64_t built_us = -1;
  std::vector<StratumCounts> strata;
  // Devices that move between replicas (docs/deploy.md "Devices that move between replicas"):
  // devices this replica is about to count silent (its last check-in of each there), held until
  // the others have had a look; and the ids of other replicas' candidates it has seen since
  // (they moved here: not silent). At most kMaxSilenceIds of each.
  std::vector<std::pair<std::string, int64_t>> silence_candidates;
  std::vector<std::string> seen_elsewhere;
};
inline constexpr size_t kMaxSilenceIds = 10'000;

// JSON ("ringfence-gate-counts-1"); Decode refuses anything else with InvalidArgument naming the
// field (the store's text is not trusted to be well formed).
std::string EncodeReplicaCounts(const ReplicaCounts& c);
Result<ReplicaCounts> DecodeReplicaCounts(std::string_view text);

// The counts of all replicas, summed per stratum key: current values only from rows published at
// or after `fresh_after_us` (a replica that died stopped counting; its devices are counted where
// they moved), cumulative events from every row (a dead replica's evidence stays counted).
// `newest_seen_us`: the maximum over fresh rows. The result's replica, seq and updated_us are
// unset; its strata are in first-seen order.
ReplicaCounts SumReplicaCounts(const std::vector<ReplicaCounts>& rows, int64_t fresh_after_us);

// The one cohort definition of a release (docs/deploy.md "One cohort definition per release").
struct CohortSummary {
  // Whether the summary is final: every replica that built the release's cohorts within
  // `settle_micros` of the first one has had another `settle_micros` to publish. Until then no
  // replica offers the release to any device (a partial summary has too high a floor cutoff and
  // too small a fleet), and the elected controller does not step it.
  bool settled = false;
  int64_t first_built_us = -1;  // the earliest built_us of any row; -1: no row has a sketch
  int replicas = 0;             // rows merged
  // Per stratum key, the merge of the rows' sketches (rollout::MergeSketches); keys in first-seen
  // order over the merged rows sorted by (built_us, replica).
  rollout::CohortSketch sketch;
};
// Merges the sketches of every row built at or before first_built_us + settle_micros (stale rows
// included: a dead replica's devices stay counted, and when they check in elsewhere their ranks,
// the same values, count once). Settled once now_us >= first_built_us + 2 * settle_micros. The
// result depends only on the rows, not on their order, so replicas that read the same rows agree;
// rows built later (a replica started after the window) never move it, so a settled summary never
// changes. settle_micros = 0 (one server): its own row, settled at once.
CohortSummary MergeCohortSketches(const std::vector<ReplicaCounts>& rows, size_t capacity,
                                  double holdback_cutoff, int64_t settle_micros, int64_t now_us);

class GateEvidenceStore {
 public:
  virtual ~GateEvidenceStore() = default;
  // Publishes this replica's counts of `release_id` (idempotent; an older seq changes nothing).
  virtual Status Publish(std::string_view release_id, const ReplicaCounts& counts) = 0;
  // Every replica's latest counts of `release_id`. A row that does not decode is skipped and
  // named in *bad (if given).
  virtual Result<std::vector<ReplicaCounts>> Counts(std::string_view release_id,
                                                    std::string* bad = nullptr) = 0;
  // Whether other servers share it: the controller then saves and restores its gate state here
  // (SaveGate, LoadGate) instead of its data directory.
  virtual bool shared() const = 0;
  // The elected controller's gate state of `release_id`, fenced with `epoch` (FailedPrecondition
  // "fenced: ..." and nothing stored once another server holds a newer epoch).
  virtual Status SaveGate(std::string_view release_id, int64_t epoch, int64_t now_us,
                          const std::string& text) = 0;
  virtual Result<std::optional<std::string>> LoadGate(std::string_view release_id) = 0;
  // The release finished: its counts and saved gate state are dropped.
  virtual Status Forget(std::string_view release_id) = 0;
};

// One server: keeps its own publications in memory; SaveGate/LoadGate keep nothing (the
// controller's data directory does).
class LocalGateEvidence final : public GateEvidenceStore {
 public:
  Status Publish(std::string_view release_id, const ReplicaCounts& counts) override;
  Result<std::vector<ReplicaCounts>> Counts(std::string_view release_id,
                                            std::string* bad = nullptr) override;
  bool shared() const override { return false; }
  Status SaveGate(std::string_view, int64_t, int64_t, const std::string&) override {
    return Status::Ok();
  }
  Result<std::optional<std::string>> LoadGate(std::string_view) override {
    return std::optional<std::string>();
  }
  Status Forget(std::string_view release_id) override;

 private:
  std::mutex mu_;
  // release -> replica -> counts
  std::map<std::string, std::map<std::string, ReplicaCounts>, std::less<>> rows_;  // GUARDED_BY(mu_)
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_GATE_EVIDENCE_H_
