// ReleaseHistory: what the dashboard draws over time (docs/dashboard.md "History"). Every
// `interval_micros` it samples each started release the controller drives: phase and wave,
// devices eligible / offered / applied / harmed, the gate's e-value per metric against its
// threshold, per-wave exposure; and keeps the last `max_samples` per release in memory (bounded:
// at most `max_releases` releases, the ones least recently sampled dropped first). Served
// read-only at GET /v1/releases/{id}/history (docs/api/openapi.yaml), with the share of each
// stratum the release is offered to now.
//
// Samples live in memory only: a restarted server starts the pictures afresh (the durable state,
// decisions and audit entries come from the store as always).
//
//   ReleaseHistory history(sources, clock, authenticate, {});
//   history.Start();                       // background sampler
//   if (ReleaseHistory::Handles(r.method, r.path)) return history.Handle(r);
//   history.Stop();
//
// Thread-safe.
#ifndef RINGFENCE_SERVER_UI_HISTORY_H_
#define RINGFENCE_SERVER_UI_HISTORY_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admission/records.h"
#include "core/status.h"
#include "platform/env.h"
#include "server/interfaces.h"
#include "server/ui_api.h"

namespace rf::server {

struct DecisionEvidence;
struct DispatchSnapshot;
class FleetInventory;
struct GateMetric;
struct StratumStatus;

// One stratum of a live release: who it is, how much of it the release is offered to, and the
// canary floor (docs/dashboard.md "History").
struct StratumCoverage {
  std::string key;      // rollout::StratumKey(plan.stratify, attrs), e.g. "os=windows"
  int64_t devices = 0;  // enrolled devices in the stratum
  double cutoff = 0;    // share of the stratum offered the release now (paced rank cutoff, 0..1)
  // From the controller (Controller::Strata); -1 when it has none for the stratum.
  int64_t eligible = -1;  // eligible devices in the release's cohorts, holdback excluded
  int64_t treated = -1;   // offered or running the release
  int64_t floor = 0;      // min_per_stratum in force (cumulative up to the current wave)
};

// Coverage of `release` per stratum from the controller's dispatch snapshot, the inventory's
// profiles and the controller's per-stratum counts (`strata`, in the same order; may be empty);
// devices eligible but in no stratum of the release's cohorts (a profile that appeared after the
// cohorts were built) come last with key "(no stratum)" and cutoff 0. Empty when the snapshot has
// no live cohorts for the release (finished, or not driven here).
std::vector<StratumCoverage> CoverageFromSnapshot(const DispatchSnapshot& snapshot,
                                                  const FleetInventory& inventory,
                                                  const ReleaseRecord& release,
                                                  const std::vector<StratumStatus>& strata);

struct HistorySample {
  int64_t t_us = 0;
  bool decision = false;  // the gate's evidence right after a decision (HistorySources::decisions)
  std::string phase;
  int wave = -1;
  ReleaseProgress progress;  // empty if the controller had none
  std::vector<std::pair<std::string, double>> metrics;  // (metric, e-value)
};

// Where samples come from; called on the sampler thread (`known` on request threads). Each must
// be thread-safe.
struct HistorySources {
  // Started releases (e.g. ReleaseDirectory::ActiveReleases).
  std::function<std::vector<ReleaseRecord>()> releases;
  std::function<std::optional<ReleaseProgress>(std::string_view)> progress;
  std::function<std::vector<GateMetric>()> gate_metrics;
  // Per-stratum coverage of a release now (may be empty).
  std::function<std::vector<StratumCoverage>(const ReleaseRecord&)> coverage;
  // True if the release exists (called on request threads for a release never sampled).
  std::function<bool(std::string_view)> known;
  // Optional: the controller's decisions with seq > `after` (Controller::DecisionsAfter); each
  // becomes a sample of its own, so a series ends at the e-value the decision was made on.
  std::function<std::vector<DecisionEvidence>(uint64_t after)> decisions;
  // Optional: called after a sampling step that stored something the page would draw differently
  // (a new release, or a sample that differs from the one before in more than its time; coverage).
  // The dashboard's long-poll (ChangeFeed::Notify). Called holding no lock of this object.
  std::function<void()> changed;
};

struct ReleaseHistoryOptions {
  int64_t interval_micros = 1'000'000;  // sampling period
  size_t max_samples = 7200;            // per release (2 h at 1 s)
  size_t max_releases = 32;             // releases kept
  size_t max_page = 7200;               // samples per GET
};

class ReleaseHistory {
 public:
  // Authenticates a bearer token (the operator API's principals). Called on request threads.
  using Authenticator = UiAuthenticator;

  // `clock` must outlive this object.
  ReleaseHistory(HistorySources sources, Clock& clock, Authenticator authenticate,
                 ReleaseHistoryOptions options = {});
  ~ReleaseHistory();  // Stop()
  ReleaseHistory(const ReleaseHistory&) = delete;
  ReleaseHistory& operator=(const ReleaseHistory&) = delete;

  // One sampling step at clock.NowUnixMicros() (the background loop calls this).
  void SampleNow();
  // Starts / stops the background sampler. Idempotent.
  void Start();
  void Stop();

  // True for GET /v1/releases/{id}/history (any method: a wrong one is answered 405 here).
  static bool Handles(std::string_view path);
  // Bearer token -> principal (401; agent tokens 403 forbidden_role); query `after_us` (samples
  // newer than it, default 0); 404 for a release never sampled and not known to the sources.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  struct Track {
    std::deque<HistorySample> samples;
    std::vector<StratumCoverage> coverage;
    int64_t last_sampled_us = 0;
    bool live = false;  // the newest sample's progress came from the controller
  };
  std::string Json(std::string_view id, const Track& t, int64_t after_us) const;

  const HistorySources sources_;
  Clock& clock_;
  const Authenticator authenticate_;
  const ReleaseHistoryOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, Track, std::less<>> tracks_;  // guarded by mu_
  uint64_t decisions_seen_ = 0;  // the newest decision seq stored (sampler thread only)

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;  // guarded by run_mu_
  std::thread thread_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_UI_HISTORY_H_
