// Controller: drives every started release with the real clock and real check-ins.
//
// Once per tick (ControllerOptions::tick_micros, on its own thread, or Tick() in tests) it
//   1. reads ReleaseDirectory::ActiveReleases();
//   2. for a release that is dispatching for the first time in this process, builds its
//      rollout::Cohorts from the fleet inventory (eligible = the device's manifest has the content
//      type and supports the bundle's schema version), its rollout::ReleaseDriver (the gate and
//      every promotion rule, shared with the simulator: rollout/driver.h) and a slot (a bit in
//      every DeviceRecord that marks "offered");
//   3. sweeps the inventory: per release and stratum, treated (offered or running the release)
//      and control (eligible, not exposed) devices alive, silence events (a device not seen for
//      gate.silence_after, or owing a post-apply confirmation past its deadline: ConfirmationBook;
//      once per silence) in both arms, applied (running) and silent treated
//      devices, and the cohort's newest check-in (telemetry lag); adds the crash/error events that
//      check-ins recorded (RecordHealth). With several replicas a new silence is first a candidate
//      the others may answer (they see the device now): docs/deploy.md "Devices that move between
//      replicas";
//   4. publishes this server's counts (cumulative events, current device counts) to the
//      GateEvidenceStore (ControllerOptions::evidence); the elected controller reads every
//      replica's, sums them (docs/deploy.md "Gate evidence across replicas"; one server: its own)
//      and feeds the driver what the summed events grew by since its last tick;
//   5. steps the driver with those counts: it ticks the gate and applies GateHalt, GateHold,
//      hold clearing, Tick and promotion answers through ReleaseDirectory::ApplyEvent (which
//      persists and audits them; pages are logged);
//   6. publishes an immutable DispatchSnapshot (atomic shared_ptr swap): per channel, the releases
//      newest first with their phase, per-stratum paced cutoffs and signed release statements.
// One cohort definition per release (docs/deploy.md "One cohort definition per release"): each
// replica publishes, with its counts, a sketch of its share of the fleet per stratum (eligible and
// held-back devices, smallest ranks); every replica builds the release's cohorts and driver from
// the merge of the sketches of the replicas that built it first (MergeCohortSketches), so strata,
// canary floors, waves and expected exposure are the whole fleet's and alike on every replica.
// Until that merge is settled no replica offers the release and the leader does not step it.
// One server: its own sketch, at once.
// Check-ins (AgentApi) read the snapshot without locks. A state change made elsewhere (operator
// halt) bumps an epoch through ReleaseDirectory's change listener; the next check-in that sees a
// stale epoch republishes first (RefreshIfStale), so a halt reaches the very next check-in.
//
// Restarts (docs/server.md, "Restarts"): cohorts are rebuilt (deterministic from the inventory);
// the "offered" bits are gone (after a restart, treated = devices running the release); the gate's
// evidence and the driver's memory (n_H history, hold clocks) are restored from
// ControllerOptions::state_dir when it is set, so the e-processes continue where they were saved
// (at most save_every_micros of evidence is lost; skipping data keeps them valid). Without it, or
// if the saved file does not match (other strata, metrics, grids or thresholds; another format),
// the release gets fresh gates at E = 1 and an empty n_H history, and the log says why: each fresh
// start is one more look that may spend alpha again, and every wave waits a full bake after it
// before it can promote. With a shared evidence store (several servers) the gate state is kept
// there instead, written fenced by the leader, and a server that becomes the leader restores it
// before it first steps a release (failover continues the gates).
#ifndef RINGFENCE_SERVER_CONTROLLER_H_
#define RINGFENCE_SERVER_CONTROLLER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "crypto/crypto.h"
#include "platform/env.h"
#include "protocol/statements.h"
#include "rollout/cohort.h"
#include "rollout/driver.h"
#include "rollout/gate.h"
#include "rollout/release.h"
#include "server/fleet_inventory.h"
#include "server/gate_evidence.h"
#include "server/interfaces.h"

namespace rf::server {

using protocol::kReleasePayloadType;  // protocol/statements.h

// Crash and error events reported by check-ins since the last tick, per stratum and arm.
class HealthCounters {
 public:
  explicit HealthCounters(int strata);
  enum Metric { kCrash = 0, kError = 1 };
  void Add(int stratum, bool treated, Metric m, int64_t n = 1) {
    cells_[Index(stratum, treated, m)].fetch_add(n, std::memory_order_relaxed);
  }
  int64_t Drain(int stratum, bool treated, Metric m) {
    return cells_[Index(stratum, treated, m)].exchange(0, std::memory_order_relaxed);
  }

 private:
  size_t Index(int s, bool t, Metric m) const { return (static_cast<size_t>(s) * 2 + t) * 2 + m; }
  std::unique_ptr<std::atomic<int64_t>[]> cells_;
};

// Post-apply confirmations a release is owed (rollout/confirmation.h; docs/gate.md, "Post-apply
// confirmation"): a check-in that reports applying the release opens a debt with the confirmation
// deadline; the device's next accepted check-in pays it. While a debt is open the device is silent
// exactly when the deadline has passed (rollout::IsSilent), until it checks in again.
// Thread-safe: check-ins (any thread) record, the controller's sweep reads.
class ConfirmationBook {
 public:
  // `device_id` reported applying the release: it owes a confirmation by `deadline_micros`.
  void Owe(const std::string& device_id, int64_t deadline_micros);
  // `device_id` checked in without an apply report of the release: a debt is paid.
  void Seen(std::string_view device_id);
  // Every open debt: device id -> deadline (rollout::IsSilent's confirm_deadline).
  std::unordered_map<std::string, int64_t> Debts() const;
  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> deadline_;  // GUARDED_BY(mu_)
  std::atomic<size_t> size_{0};                        // deadline_.size(), read without mu_
};

inline constexpr int32_t kIneligible = -1;
inline constexpr int32_t kNoStratum = -2;  // eligible, in no stratum of the cohorts (new profile)

// One release as check-ins see it.
struct ReleaseDispatch {
  std::string release_id;
  std::string channel;
  int64_t version = 0;
  std::string sha256;
  rollout::Phase phase = rollout::Phase::kAwaitingApproval;
  int wave = -1;
  int wave_count = 0;
  int64_t started_micros = 0;
  std::string reason;  // halt/rollback reason
  int slot = -1;       // offered bit, -1 if none
  rollout::RankHasher hasher{""};
  std::vector<int32_t> profile_stratum;  // by profile id: stratum, kIneligible or kNoStratum
  std::vector<double> cutoff;            // per stratum: rank cutoff now (paced)
  std::string statement;                 // signed release statement (install or revert), or ""
  std::shared_ptr<HealthCounters> health;  // null unless the gate is live
  // Null unless the gate is live and the plan has confirmations (gate.confirm_after > 0).
  std::shared_ptr<ConfirmationBook> confirmations;
  // The plan's gate settings: confirm_after for the answer to an apply report, lkg_after for
  // install directives (docs/protocol.md).
  rollout::GateSettings gate;

  int32_t StratumOf(uint32_t profile) const {
    return profile < profile_stratum.size() ? profile_stratum[profile] : kIneligible;
  }
};

struct DispatchSnapshot {
  uint64_t epoch = 0;
  int64_t issued_micros = 0;
  std::map<std::string, std::vector<ReleaseDispatch>, std::less<>> channels;  // newest first
  std::vector<CustomerControl> controls;
};

struct ControllerOptions {
  int64_t tick_micros = 1'000'000;                    // control loop period
  int64_t statement_validity_micros = 24 * 3600'000'000LL;  // expires_s - issued_s
  int64_t statement_resign_micros = 3600'000'000LL;   // re-sign statements this often
  // The release driver's options (gate options, n_min, maximum hold, SRM check), the same as
  // the simulator's (docs/gate.md, "The release driver"); alpha comes from each plan.
  rollout::DriverOptions driver;
  int max_live_releases = 16;                         // DeviceRecord has 16 offered bits
  // Where each live release's gate evidence (e-processes, n_H history, hold clocks: DriverMemory)
  // is kept, so a restarted server continues it instead of starting fresh gates (a fresh gate
  // is an extra look that spends alpha again, and waits a full bake before it can promote).
  // Written every `save_every_micros` (temp, fsync, rename, fsync dir); a crash loses at most
  // that much evidence. Null `fs` or an empty dir: not kept.
  Filesystem* fs = nullptr;
  std::string state_dir;
  int64_t save_every_micros = 10'000'000;
  // Controller election (several servers on one PostgreSQL: docs/deploy.md "Controller
  // election"). Empty: this server is the only controller (SQLite): it always drives, unfenced.
  // Otherwise called once per tick: the fencing epoch this process holds as the elected
  // controller, or 0 when it does not lead. A follower builds cohorts and publishes dispatch
  // snapshots (its check-ins are answered as anywhere) but drives nothing: no gate steps, no
  // transitions. The leader's transitions carry its epoch to the store, which refuses them once
  // another server holds a newer one (a deposed leader's late write changes nothing).
  std::function<int64_t()> fencing_epoch;
  // Gate evidence summed across replicas (docs/deploy.md "Gate evidence across replicas"): every
  // tick this server publishes its counts of each live release there, and the elected controller
  // drives each release with the sum of every replica's latest counts. Null: the controller's own
  // LocalGateEvidence (one server: the sum is its own counts). A shared store also keeps the
  // leader's gate state (instead of state_dir), so that a new leader continues it.
  // Must outlive the controller.
  GateEvidenceStore* evidence = nullptr;
  // This server's name in `evidence`: unique per process (the lease holder name). Empty: "local".
  std::string replica;
  // A replica's current counts (devices alive, treated, applied, silent) are summed only if it
  // published them within this long; its cumulative events always are (a dead replica's
  // evidence stays counted, its devices are counted where they moved).
  int64_t evidence_fresh_micros = 10'000'000;
  // One cohort definition across replicas (docs/deploy.md "One cohort definition per release"):
  // a release's cohorts are built from the sketches of every replica that built it within this
  // long of the first (gate_evidence.h MergeCohortSketches); nothing is offered, and the leader
  // does not step the release, until twice this long after the first build, so that every such
  // replica's sketch is in. Used only with a shared evidence store; one server has no other
  // replica to wait for (0).
  int64_t floor_settle_micros = 10'000'000;
};

// A gate's state for /metrics.
struct GateMetric {
  std::string release_id;
  std::string metric;
  double e_value = 1;
  double threshold = 0;
};

// One stratum of a release this process drives (Controller::Strata, for the dashboard): its
// devices, how many were handed the release, and the canary floor in force.
struct StratumStatus {
  std::string key;         // rollout::StratumKey of the stratum
  int64_t eligible = 0;    // eligible devices in the cohorts
  int64_t held_back = 0;   // of those, in the holdback (never in a plan wave)
  int64_t treated = 0;     // offered or running the release, as of the last sweep
  int64_t floor = 0;       // min_per_stratum in force (cumulative up to the current wave; 0: none)
};

// The gate's evidence right after a decision of the driver (a promotion, a hold, a halt: any
// transition it applied), so the dashboard's series ends at the decision's own e-value
// (Controller::DecisionsAfter).
struct DecisionEvidence {
  uint64_t seq = 0;           // 1, 2, ... in the order decided (this process)
  std::string release_id;
  int64_t t_us = 0;           // the tick's time
  std::string phase;          // the phase after the decision
  int wave = -1;              // the wave after the decision
  ReleaseProgress progress;   // Progress() at the decision
  std::vector<GateMetric> metrics;  // the release's e-value per metric at the decision
};

class Controller final : public ProgressSource {
 public:
  // All references must outlive the controller.
  Controller(ReleaseDirectory& releases, FleetInventory& inventory, Clock& clock,
             crypto::SigningKey release_key, ControllerOptions options = {});
  ~Controller() override;
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // One control step at clock->NowUnixMicros(). Errors of one release are logged and do not
  // stop the others; the returned status is the first of them.
  Status Tick();
  // Starts/stops the background loop (Tick every tick_micros, at once after a change).
  void Start();
  void Stop();

  // The current snapshot (never null after construction). Lock-free.
  std::shared_ptr<const DispatchSnapshot> snapshot() const { return snapshot_.load(); }
  // Republishes if a release changed since the snapshot was made (see the file comment).
  void RefreshIfStale();

  std::vector<GateMetric> GateMetrics() const;
  // ProgressSource: exposure and gate state of a release this process drives. Waves before the
  // current one report their target as exposed once dispatched; `harmed_devices` counts treated
  // events (silence, crash, error) the gate has seen.
  std::optional<ReleaseProgress> Progress(std::string_view release_id) const override;
  // Per stratum of a release this process drives (empty otherwise), in the cohorts' order (the
  // DispatchSnapshot's stratum indices).
  std::vector<StratumStatus> Strata(std::string_view release_id) const;
  // The driver's decisions with seq > `after`, oldest first (the last kMaxDecisions are kept).
  std::vector<DecisionEvidence> DecisionsAfter(uint64_t after) const;
  static constexpr size_t kMaxDecisions = 256;

 private:
  struct LiveRelease;
  Status Build(const ReleaseRecord& r, int64_t now);
  // Progress and per-metric e-values of `L`; under mu_.
  ReleaseProgress ProgressLocked(const LiveRelease& L) const;
  std::vector<GateMetric> MetricsLocked(const LiveRelease& L) const;
  // Gate evidence persistence (ControllerOptions::state_dir); see docs/server.md.
  std::string EvidencePath(const std::string& release_id) const;
  struct EvidenceWrite {
    std::string release_id;
    std::string path;  // the file (data directory); empty with a shared evidence store
    std::string text;  // empty: remove the file (forget the release's shared evidence)
    int64_t epoch = 0;  // shared store: the fencing epoch of the save
    int64_t now = 0;
  };
  // The file text for `live` now (marks it saved); under mu_.
  std::string EncodeEvidence(LiveRelease& live, int64_t now) const;
  // The file I/O, outside mu_; failures are logged (retried at the next save).
  void WriteEvidence(const std::vector<EvidenceWrite>& writes);
  Status TickLocked(std::vector<EvidenceWrite>* writes);
  void RestoreEvidence(LiveRelease& live, int64_t now);
  // Restores `live` from `text` (EncodeEvidence); `where` names the source for the log.
  void RestoreEvidenceText(LiveRelease& live, const std::string& text, const std::string& where,
                           int64_t now);
  // This replica's counts of `L` for the tick (adds the tick's events to its cumulative ones).
  ReplicaCounts CountTick(LiveRelease& L, int64_t now);
  // Once the merged sketches of `rows` (every replica's latest, this one's as counted now) are
  // settled, installs the cohorts built from them (cohorts_settled); until then nothing changes.
  // An error (sketches that do not fit the plan) leaves the release unsettled.
  Status SettleCohorts(LiveRelease& L, const std::vector<ReplicaCounts>& rows, int64_t now);
  // Makes `cohorts` L's: a new driver (not yet stepped), health counters and per-stratum state,
  // carrying what check-ins recorded and this replica's cumulative events over by stratum key.
  Status InstallCohorts(LiveRelease& L, rollout::Cohorts cohorts);
  // Reads the other replicas' fresh silence candidates (answered by the next sweep) and their
  // answers to this replica's: a candidate seen elsewhere moved away (docs/deploy.md "Devices that
  // move between replicas").
  void NoteOtherReplicas(LiveRelease& L, const std::vector<ReplicaCounts>& rows, int64_t now);
  // Ranks per stratum in a replica's sketch with several replicas (at least every floor): the
  // k-minimum-values estimate of a stratum's size is then within about 1/sqrt(62) = 13%.
  static constexpr size_t kSketchRanks = 64;
  // Devices that move between replicas (docs/deploy.md "Devices that move between replicas"): a
  // device that falls silent here counts as a silence only once every other fresh replica has
  // published this many times since it was first published as a candidate without having seen it
  // since its last check-in here. Three: the third publication answers a read made after ours.
  static constexpr int64_t kSilenceRounds = 3;
  // The driver's tick from the summed counts; advances L's consumed events.
  rollout::DriverTick TickFromSum(LiveRelease& L, const ReplicaCounts& sum, int64_t now);
  class DirectoryPort;
  void SweepInventory(int64_t now);
  // `mu` holds mu_; the driver's commits release it meanwhile (DirectoryPort).
  // `epoch`: the fencing epoch the tick's transitions carry; `leads`: false on a follower, which
  // sweeps and drains its counters but steps no driver.
  Status StepGates(std::vector<ReleaseRecord>& releases, int64_t now, bool leads, int64_t epoch,
                   std::unique_lock<std::mutex>* mu);
  void Publish(const std::vector<ReleaseRecord>& releases, uint64_t epoch, int64_t now);
  Result<int64_t> SchemaVersionOf(const std::string& sha256);
  std::string Statement(const ReleaseRecord& r, std::string_view action, int64_t now);

  ReleaseDirectory& releases_;
  FleetInventory& inventory_;
  LocalGateEvidence own_evidence_;     // used when options_.evidence is null
  GateEvidenceStore* evidence_;        // options_.evidence or &own_evidence_
  std::string replica_;                // options_.replica or "local"
  int64_t publish_seq_ = 0;            // GUARDED_BY(tick_mu_): last publication number
  Clock& clock_;
  crypto::SigningKey key_;
  ControllerOptions options_;

  // Lock order (docs/server.md "Threads and locks"), outermost first:
  //   tick_mu_ -> mu_ -> the directory's read lock (ActiveReleases, Controls)
  //   tick_mu_ -> the directory's write lock and store commit (ApplyEvent) -> loop_mu_
  // mu_ is never held across ApplyEvent: a tick decides under mu_ and releases it for each commit
  // (DirectoryPort), so RefreshIfStale (on the check-in path) waits for no SQLite commit and no
  // operator mutation.
  std::mutex tick_mu_;     // serializes ticks (held across their commits)
  mutable std::mutex mu_;  // serializes Publish; guards everything below
  std::map<std::string, std::unique_ptr<LiveRelease>> live_;
  uint16_t slots_in_use_ = 0;
  uint16_t slots_to_clear_ = 0;
  std::map<std::string, int64_t> schema_versions_;  // by bundle sha256
  struct CachedStatement {
    std::string action;
    int64_t issued_micros = 0;
    std::string text;
  };
  std::map<std::string, CachedStatement> statements_;  // by release id
  std::deque<DecisionEvidence> decisions_;  // the last kMaxDecisions
  uint64_t decision_seq_ = 0;
  std::atomic<std::shared_ptr<const DispatchSnapshot>> snapshot_;
  std::atomic<uint64_t> change_epoch_{0};
  int64_t led_epoch_ = -1;  // GUARDED_BY(tick_mu_): the epoch of the last tick (logs changes)

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stopping_ = false;
  bool wake_ = false;
  std::thread thread_;
  std::atomic<std::thread::id> loop_thread_{};  // the loop's thread once started
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_CONTROLLER_H_
