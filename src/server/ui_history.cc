#include "server/ui_history.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>

#include "core/bundle.h"
#include "rollout/release.h"
#include "rollout/cohort.h"
#include "server/controller.h"
#include "server/fleet_inventory.h"

namespace rf::server {

namespace {

void AppendKey(std::string* out, std::string_view k) {
  AppendJsonString(out, k);
  *out += ':';
}

void AppendSample(std::string* out, const HistorySample& s) {
  const ReleaseProgress& p = s.progress;
  *out += "{\"t_us\":" + std::to_string(s.t_us);
  if (s.decision) *out += ",\"decision\":true";
  *out += ",\"phase\":";
  AppendJsonString(out, s.phase);
  *out += ",\"wave\":" + std::to_string(s.wave) + ",\"eligible\":" + std::to_string(p.eligible_devices) +
          ",\"exposed\":" + std::to_string(p.exposed_devices) +
          ",\"applied\":" + std::to_string(p.applied_devices) +
          ",\"harmed\":" + std::to_string(p.harmed_devices) + ",\"gate_state\":";
  AppendJsonString(out, p.gate_state);
  *out += ",\"max_e\":";
  AppendJsonNumber(out, p.max_e_value);
  *out += ",\"threshold\":";
  AppendJsonNumber(out, p.e_threshold);
  *out += ",\"metrics\":[";
  for (size_t i = 0; i < s.metrics.size(); ++i) {
    if (i) *out += ',';
    *out += "{\"metric\":";
    AppendJsonString(out, s.metrics[i].first);
    *out += ",\"e_value\":";
    AppendJsonNumber(out, s.metrics[i].second);
    *out += '}';
  }
  *out += "],\"waves\":[";
  for (size_t i = 0; i < p.waves.size(); ++i) {
    if (i) *out += ',';
    *out += "{\"name\":";
    AppendJsonString(out, p.waves[i].name);
    *out += ",\"target\":" + std::to_string(p.waves[i].target_devices) +
            ",\"exposed\":" + std::to_string(p.waves[i].exposed_devices) + "}";
  }
  *out += "]}";
}

bool SameProgress(const ReleaseProgress& a, const ReleaseProgress& b) {
  if (a.eligible_devices != b.eligible_devices || a.exposed_devices != b.exposed_devices ||
      a.applied_devices != b.applied_devices || a.harmed_devices != b.harmed_devices ||
      a.gate_state != b.gate_state || a.max_e_value != b.max_e_value ||
      a.e_threshold != b.e_threshold || a.gate_detail != b.gate_detail ||
      a.waves.size() != b.waves.size()) {
    return false;
  }
  for (size_t i = 0; i < a.waves.size(); ++i) {
    if (a.waves[i].name != b.waves[i].name || a.waves[i].target_devices != b.waves[i].target_devices ||
        a.waves[i].exposed_devices != b.waves[i].exposed_devices) {
      return false;
    }
  }
  return true;
}

// True if `a` and `b` draw the same (everything but the time).
bool SameContent(const HistorySample& a, const HistorySample& b) {
  return a.phase == b.phase && a.wave == b.wave && a.metrics == b.metrics &&
         SameProgress(a.progress, b.progress);
}

bool SameCoverage(const std::vector<StratumCoverage>& a, const std::vector<StratumCoverage>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].devices != b[i].devices || a[i].cutoff != b[i].cutoff) return false;
  }
  return true;
}

HttpResponse Error(const Status& st, std::string_view code) { return ErrorResponse(st, code); }

constexpr std::string_view kHistorySuffix = "/history";

}  // namespace

std::vector<StratumCoverage> CoverageFromSnapshot(const DispatchSnapshot& snapshot,
                                                  const FleetInventory& inventory,
                                                  const ReleaseRecord& release,
                                                  const std::vector<StratumStatus>& strata) {
  std::vector<StratumCoverage> out;
  auto ch = snapshot.channels.find(release.channel);
  if (ch == snapshot.channels.end()) return out;
  const ReleaseDispatch* d = nullptr;
  for (const ReleaseDispatch& x : ch->second) {
    if (x.release_id == release.release_id) d = &x;
  }
  // No cutoffs: the release has no live cohorts here (finished, or not driven by this process).
  if (d == nullptr || d->cutoff.empty()) return out;
  out.resize(d->cutoff.size());
  for (size_t s = 0; s < d->cutoff.size(); ++s) out[s].cutoff = d->cutoff[s];
  StratumCoverage unplaced{"(no stratum)", 0, 0};
  const uint32_t n = std::min<uint32_t>(inventory.profile_count(),
                                        static_cast<uint32_t>(d->profile_stratum.size()));
  for (uint32_t p = 0; p < n; ++p) {
    const int32_t s = d->StratumOf(p);
    const DeviceProfile& prof = inventory.profile(p);
    const int64_t devices = prof.devices.load(std::memory_order_relaxed);
    if (s == kNoStratum) {
      unplaced.devices += devices;
    } else if (s >= 0 && static_cast<size_t>(s) < out.size()) {
      if (out[s].key.empty()) out[s].key = rollout::StratumKey(release.plan.stratify, prof.attrs);
      out[s].devices += devices;
    }
  }
  for (size_t s = 0; s < out.size(); ++s) {
    if (s < strata.size()) {
      out[s].key = strata[s].key;
      out[s].eligible = strata[s].eligible - strata[s].held_back;
      out[s].treated = strata[s].treated;
      out[s].floor = strata[s].floor;
    }
    if (out[s].key.empty()) out[s].key = "stratum " + std::to_string(s);
  }
  if (unplaced.devices > 0) out.push_back(unplaced);
  return out;
}

ReleaseHistory::ReleaseHistory(HistorySources sources, Clock& clock, Authenticator authenticate,
                               ReleaseHistoryOptions options)
    : sources_(std::move(sources)), clock_(clock), authenticate_(std::move(authenticate)),
      options_(options) {}

ReleaseHistory::~ReleaseHistory() { Stop(); }

void ReleaseHistory::SampleNow() {
  const int64_t now = clock_.NowUnixMicros();
  std::vector<ReleaseRecord> releases = sources_.releases();
  const std::vector<GateMetric> metrics = sources_.gate_metrics();
  std::vector<DecisionEvidence> decisions;
  if (sources_.decisions) decisions = sources_.decisions(decisions_seen_);
  std::vector<std::pair<std::string, Track>> fresh;  // computed without holding mu_
  for (const ReleaseRecord& r : releases) {
    if (r.started_s == 0) continue;
    auto progress = sources_.progress(r.release_id);
    Track t;
    HistorySample s;
    s.t_us = now;
    s.phase = std::string(rollout::PhaseName(r.state.phase));
    s.wave = r.state.wave;
    t.live = progress.has_value();
    if (progress) s.progress = std::move(*progress);
    for (const GateMetric& m : metrics) {
      if (m.release_id == r.release_id) s.metrics.emplace_back(m.metric, m.e_value);
    }
    t.samples.push_back(std::move(s));
    t.coverage = sources_.coverage(r);
    fresh.emplace_back(r.release_id, std::move(t));
  }
  bool changed = false;
  std::unique_lock<std::mutex> l(mu_);
  // Decisions first (they happened before `now`), each its own sample, never skipped: the series
  // then ends at the evidence the decision stood on, not at a sample up to a period older.
  for (DecisionEvidence& d : decisions) {
    decisions_seen_ = std::max(decisions_seen_, d.seq);
    Track& track = tracks_[d.release_id];
    HistorySample s;
    s.t_us = track.samples.empty() ? d.t_us : std::max(d.t_us, track.samples.back().t_us + 1);
    s.decision = true;
    s.phase = std::move(d.phase);
    s.wave = d.wave;
    s.progress = std::move(d.progress);
    for (const GateMetric& m : d.metrics) s.metrics.emplace_back(m.metric, m.e_value);
    track.samples.push_back(std::move(s));
    while (track.samples.size() > options_.max_samples) track.samples.pop_front();
    track.last_sampled_us = now;
    changed = true;
  }
  for (auto& [id, t] : fresh) {
    Track& track = tracks_[id];
    // A finished release stays listed by the directory: its series ends at the first sample in
    // its final phase (the halt is the last point), and it ages out of the bounded set.
    const HistorySample& s = t.samples.front();
    if (!track.samples.empty() && track.samples.back().phase == s.phase &&
        (s.phase == "Halted" || s.phase == "RolledBack" || s.phase == "Completed")) {
      continue;
    }
    HistorySample sample = std::move(t.samples.front());
    if (!track.samples.empty()) sample.t_us = std::max(sample.t_us, track.samples.back().t_us + 1);
    // The controller stops reporting a release once it has finished: its last counts stand.
    if (!t.live && !track.samples.empty()) {
      sample.progress = track.samples.back().progress;
      sample.metrics = track.samples.back().metrics;
    }
    changed = changed || track.samples.empty() || !SameContent(track.samples.back(), sample) ||
              !SameCoverage(track.coverage, t.coverage);
    track.samples.push_back(std::move(sample));
    while (track.samples.size() > options_.max_samples) track.samples.pop_front();
    track.coverage = std::move(t.coverage);
    track.last_sampled_us = now;
  }
  while (tracks_.size() > options_.max_releases) {
    auto oldest = std::min_element(tracks_.begin(), tracks_.end(), [](const auto& a, const auto& b) {
      return a.second.last_sampled_us < b.second.last_sampled_us;
    });
    tracks_.erase(oldest);
  }
  l.unlock();
  if (changed && sources_.changed) sources_.changed();
}

void ReleaseHistory::Start() {
  std::lock_guard<std::mutex> l(run_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lk(run_mu_);
    while (!stop_) {
      lk.unlock();
      SampleNow();
      lk.lock();
      run_cv_.wait_for(lk, std::chrono::microseconds(options_.interval_micros), [this] { return stop_; });
    }
  });
}

void ReleaseHistory::Stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> l(run_mu_);
    stop_ = true;
    t = std::move(thread_);
  }
  run_cv_.notify_all();
  if (t.joinable()) t.join();
}

bool ReleaseHistory::Handles(std::string_view path) {
  return ReleaseSubresourceId(path, kHistorySuffix).has_value();
}

HttpResponse ReleaseHistory::Handle(const HttpRequest& req) const {
  if (auto refused = RefuseUnlessOperatorGet(authenticate_, req)) return std::move(*refused);
  int64_t after_us = 0;
  for (const auto& [k, v] : req.query) {
    if (k != "after_us") return Error(Status::InvalidArgument("unknown query parameter '" + k + "'"), "invalid_request");
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), after_us);
    if (ec != std::errc() || p != v.data() + v.size() || after_us < 0) {
      return Error(Status::InvalidArgument("query parameter 'after_us': expected a non-negative integer"),
                   "invalid_request");
    }
  }
  const std::optional<std::string_view> matched = ReleaseSubresourceId(req.path, kHistorySuffix);
  if (!matched) return Error(Status::NotFound("no such path " + req.path), "not_found");
  const std::string_view id = *matched;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = tracks_.find(id);
    if (it != tracks_.end()) return JsonResponse(200, Json(id, it->second, after_us));
  }
  // Known but never sampled (not started yet, or finished before this server started): empty.
  if (sources_.known(id)) return JsonResponse(200, Json(id, Track{}, after_us));
  return Error(Status::NotFound("unknown release " + std::string(id)), "not_found");
}

std::string ReleaseHistory::Json(std::string_view id, const Track& t, int64_t after_us) const {
  std::string out = "{";
  AppendKey(&out, "release_id");
  AppendJsonString(&out, id);
  out += ",\"interval_us\":" + std::to_string(options_.interval_micros) + ",\"samples\":[";
  size_t n = 0;
  for (const HistorySample& s : t.samples) {
    if (s.t_us <= after_us) continue;
    if (n == options_.max_page) break;
    if (n++) out += ',';
    AppendSample(&out, s);
  }
  out += "],\"strata\":[";
  for (size_t i = 0; i < t.coverage.size(); ++i) {
    if (i) out += ',';
    out += "{\"key\":";
    AppendJsonString(&out, t.coverage[i].key);
    const StratumCoverage& c = t.coverage[i];
    out += ",\"devices\":" + std::to_string(c.devices) + ",\"cutoff\":";
    AppendJsonNumber(&out, c.cutoff);
    if (c.eligible >= 0) {
      // The floor a canary can reach here is min(floor, eligible): a stratum with fewer
      // eligible devices than the floor cannot meet it (docs/dashboard.md "History").
      const int64_t reach = std::min(c.floor, c.eligible);
      out += ",\"eligible\":" + std::to_string(c.eligible) + ",\"treated\":" +
             std::to_string(c.treated) + ",\"floor\":" + std::to_string(c.floor) +
             ",\"floor_met\":" + (c.treated >= reach ? "true" : "false") +
             ",\"floor_coverable\":" + (c.eligible >= c.floor ? "true" : "false");
    }
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace rf::server
