// Layer 1 across replicas (docs/deploy.md "Layer 1 across replicas"): the server's FleetSource,
// whose WholeFleet() is the fleet layer 1 judges uploads and release starts against. On
// PostgreSQL each replica publishes its inventory's profiles (the Fleet its Inventory() returns:
// one stratum per distinct attributes + capability manifest, with device counts; small,
// independent of the fleet size) to the fleet_profiles table, and WholeFleet() merges its own live
// inventory with every other replica's published profiles. On SQLite (no store) it is the
// server's own inventory, through the same merge.
//
//   cluster::ClusterFleet fleet(inventory, pg_store_or_null, clock, {.replica = holder_name});
//   fleet.Start();                                          // publishes (PostgreSQL only)
//   ReleaseService::Open(store, fleet, clock, ...);         // layer 1 reads fleet.WholeFleet()
//   ...
//   fleet.Stop();                                           // the row stays (see below)
//
// Freshness (a safety check: a consumer version that may still run must count):
//   * a row published within fresh_micros is FRESH: its profiles and device counts count;
//   * a row older than that (its replica died, or was restarted under a new name) but published
//     within retention_micros is RETAINED: its profiles still count, so the consumer versions of a
//     dead replica's devices are checked until those devices check in elsewhere and beyond, for
//     the whole retention window;
//   * an older row is ignored, and deleted at the next publication of any replica.
// A profile's device count is max(sum over this replica and fresh rows, sum over retained rows):
// a device that moved from a dead replica is in both sums at most, so it is never counted twice
// (the count may be low while devices move, never high). Consumers are a union: a profile present
// on any replica, fresh or retained, is a stratum of the result.
//
// Failure: if the rows cannot be read, or a row within the retention window does not decode,
// WholeFleet() fails (Unavailable / DataLoss naming the replica) and the upload is refused: layer
// 1 never judges part of the fleet. A failed publication is reported to on_error and retried at
// the next period; the row keeps its previous profiles meanwhile (and turns retained, never lost).
//
// Publication: every publish_micros the loop encodes Inventory() (core/fleet.h EncodeFleetJson)
// and, if options.summary is set, the fleet summary counts (server/fleet_summary.h), and upserts
// this replica's row if either text changed, or unchanged every refresh_micros (the
// row's heartbeat). Each publication carries a number higher than the last (the publishing
// clock's micros, or the last + 1), and the store only replaces a row with a lower number, so a
// repeated or late publication changes nothing. A stopped replica keeps its row (its devices
// move to others; until they check in there their consumer versions must still count).
//
// Thread-safe.
#ifndef RINGFENCE_CLUSTER_CLUSTER_FLEET_H_
#define RINGFENCE_CLUSTER_CLUSTER_FLEET_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/fleet.h"
#include "core/status.h"
#include "platform/env.h"
#include "server/fleet_summary.h"
#include "server/interfaces.h"
#include "store/pg_store.h"

namespace rf::cluster {

struct ClusterFleetOptions {
  // This process in the fleet_profiles table: the lease holder name (unique per process).
  // Required with a store.
  std::string replica;
  // How often the publisher looks for a change of the inventory's profiles, in microseconds.
  int64_t publish_micros = 5'000'000;
  // Unchanged profiles are published again this often (the row's heartbeat), in microseconds.
  int64_t refresh_micros = 60'000'000;
  // A row published within this is fresh: its device counts count. REQUIRES > refresh_micros.
  int64_t fresh_micros = 300'000'000;
  // A row published within this counts its profiles; older rows are ignored and deleted.
  // REQUIRES >= fresh_micros. Default 30 days.
  int64_t retention_micros = int64_t{30} * 86400 * 1'000'000;
  // A failed publication or expiry (retried at the next period). May be empty.
  std::function<void(const Status&)> on_error;
  // This replica's fleet summary counts (server::CountFleetSummary of its inventory), published
  // beside its profiles for the other replicas' dashboards (WholeSummary). Empty: none published.
  std::function<server::FleetSummaryCounts()> summary;
};

// A replica's published profiles, decoded.
struct PublishedFleet {
  std::string replica;
  int64_t updated_us = 0;
  Fleet fleet;
};

// How a row published at `updated_us` counts at `now_us` (the freshness rule above).
enum class RowAge { kFresh, kRetained, kExpired };
RowAge AgeOf(int64_t updated_us, int64_t now_us, const ClusterFleetOptions& options);

// The merge rule, the one definition (single server: `others` empty): `local`'s strata in their
// order, then the profiles only others have, in row order; counts as stated above; strata with no
// device dropped. Strata are matched by their profile key (server/checkin.h EncodeProfileKey).
Fleet MergeFleets(const Fleet& local, const std::vector<PublishedFleet>& others, int64_t now_us,
                  const ClusterFleetOptions& options);

// A replica's published summary counts, decoded.
struct PublishedSummary {
  std::string replica;
  int64_t updated_us = 0;
  server::FleetSummaryCounts counts;
};

// The fleet summary's merge (docs/deploy.md "The fleet summary across replicas"), by the same
// freshness rule as MergeFleets: every count (devices, each installed version, each quarantined
// version and each reason) is max(sum over `local` and fresh rows, sum over retained rows);
// seen_recently sums `local` and fresh rows only (a replica that stopped publishing has heard
// from none of its devices since), capped at devices; expired rows are ignored. A quarantined
// version's distinct_reasons is the larger of the reasons merged and any one row's count.
server::FleetSummaryCounts MergeFleetSummaries(const server::FleetSummaryCounts& local,
                                               const std::vector<PublishedSummary>& others,
                                               int64_t now_us, const ClusterFleetOptions& options);

class ClusterFleet final : public server::FleetSource {
 public:
  // `local`, `clock` and `store` (nullptr: SQLite, a single server) must outlive this object.
  ClusterFleet(const server::FleetSource& local, store::PgStore* store, Clock& clock,
               ClusterFleetOptions options);
  ~ClusterFleet() override;  // Stop()
  ClusterFleet(const ClusterFleet&) = delete;
  ClusterFleet& operator=(const ClusterFleet&) = delete;

  // InvalidArgument for options that break the REQUIRES above, or no replica name with a store.
  static Status Validate(const ClusterFleetOptions& options, bool have_store);

  // This process's name in fleet_profiles (options.replica).
  const std::string& replica() const { return options_.replica; }

  // This replica's inventory and device count (the dashboard, the controller: local views).
  Fleet Inventory() const override { return local_.Inventory(); }
  int64_t DeviceCount() const override { return local_.DeviceCount(); }
  // Layer 1's fleet: this replica's live inventory merged with every other replica's published
  // profiles (MergeFleets). Fails closed (see the header comment).
  Result<Fleet> WholeFleet() const override;
  // The dashboard's fleet summary of the whole fleet: `local` (this replica's counts, fresh)
  // merged with every other replica's published counts (MergeFleetSummaries). Unavailable if the
  // rows cannot be read, DataLoss naming the replica if a row within the retention window does
  // not decode; a row without counts (a replica of an older version) is left out. Without a
  // store: `local`.
  Result<server::FleetSummaryCounts> WholeSummary(server::FleetSummaryCounts local) const;

  // One publication step now (the loop's): publishes if the profiles changed or the refresh is
  // due, then deletes rows past the retention window. OK without a store.
  Status PublishNow();
  // Starts the publishing loop (a step at once, then every publish_micros); nothing without a
  // store. Stop() ends it; idempotent.
  void Start();
  void Stop();

 private:
  const server::FleetSource& local_;
  store::PgStore* const store_;
  Clock& clock_;
  const ClusterFleetOptions options_;

  std::mutex publish_mu_;     // one publication at a time
  std::string published_;     // GUARDED_BY(publish_mu_): the text of the last publication
  std::string published_summary_;  // GUARDED_BY(publish_mu_): and of its summary counts
  int64_t published_us_ = 0;  // GUARDED_BY(publish_mu_)
  int64_t seq_ = 0;           // GUARDED_BY(publish_mu_): the last publication number

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stopping_ = false;  // GUARDED_BY(loop_mu_)
  std::thread thread_;
};

}  // namespace rf::cluster

#endif  // RINGFENCE_CLUSTER_CLUSTER_FLEET_H_
