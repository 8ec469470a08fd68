#include "cluster/cluster_fleet.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>
#include <utility>

#include "server/checkin.h"

namespace rf::cluster {

RowAge AgeOf(int64_t updated_us, int64_t now_us, const ClusterFleetOptions& options) {
  // A row from the future (clock skew) is fresh.
  const int64_t age = now_us - updated_us;
  if (age <= options.fresh_micros) return RowAge::kFresh;
  if (age <= options.retention_micros) return RowAge::kRetained;
  return RowAge::kExpired;
}

namespace {

// The one counting rule of the merges (header comment): a device that moved from a dead replica
// is in both sums at most, so it is never counted twice.
struct FreshAndRetained {
  int64_t fresh = 0;     // this replica + fresh rows
  int64_t retained = 0;  // retained rows
  void Add(int64_t n, bool is_fresh) { (is_fresh ? fresh : retained) += n; }
  int64_t Count() const { return std::max(fresh, retained); }
};

}  // namespace

Fleet MergeFleets(const Fleet& local, const std::vector<PublishedFleet>& others, int64_t now_us,
                  const ClusterFleetOptions& options) {
  struct Merged {
    Stratum stratum;
    FreshAndRetained devices;
  };
  std::vector<Merged> merged;
  std::map<std::string, size_t> index;  // profile key -> merged
  auto add = [&](const Stratum& s, bool fresh) {
    const std::string key = server::EncodeProfileKey(
        rollout::Attributes(s.attrs.begin(), s.attrs.end()), s.capabilities);
    auto [it, inserted] = index.emplace(key, merged.size());
    if (inserted) {
      Merged m;
      m.stratum.attrs = s.attrs;
      m.stratum.capabilities = s.capabilities;
      merged.push_back(std::move(m));
    }
    merged[it->second].devices.Add(s.devices, fresh);
  };
  for (const Stratum& s : local.strata) add(s, true);
  for (const PublishedFleet& p : others) {
    const RowAge age = AgeOf(p.updated_us, now_us, options);
    if (age == RowAge::kExpired) continue;
    for (const Stratum& s : p.fleet.strata) add(s, age == RowAge::kFresh);
  }
  Fleet out;
  for (Merged& m : merged) {
    m.stratum.devices = m.devices.Count();
    if (m.stratum.devices > 0) out.strata.push_back(std::move(m.stratum));
  }
  return out;
}

server::FleetSummaryCounts MergeFleetSummaries(const server::FleetSummaryCounts& local,
                                               const std::vector<PublishedSummary>& others,
                                               int64_t now_us, const ClusterFleetOptions& options) {
  using VersionKey = std::pair<std::string, std::pair<int64_t, std::string>>;
  using QuarantineKey = std::tuple<std::string, int64_t, std::string>;
  struct Quarantine {
    FreshAndRetained devices;
    std::map<std::string, FreshAndRetained, std::less<>> reasons;
    int64_t distinct = 0;
  };
  FreshAndRetained devices;
  int64_t seen_recently = 0;
  std::map<VersionKey, FreshAndRetained> installed;
  std::map<QuarantineKey, Quarantine> quarantined;
  auto add = [&](const server::FleetSummaryCounts& c, bool fresh) {
    devices.Add(c.devices, fresh);
    if (fresh) seen_recently += c.seen_recently;
    for (const auto& [channel, versions] : c.installed) {
      for (const auto& [v, n] : versions) installed[{channel, v}].Add(n, fresh);
    }
    for (const auto& [key, q] : c.quarantined) {
      Quarantine& m = quarantined[key];
      m.devices.Add(q.devices, fresh);
      for (const auto& [reason, n] : q.reasons) m.reasons[reason].Add(n, fresh);
      m.distinct = std::max({m.distinct, q.distinct_reasons,
                             static_cast<int64_t>(q.reasons.size())});
    }
  };
  add(local, true);
  for (const PublishedSummary& p : others) {
    const RowAge age = AgeOf(p.updated_us, now_us, options);
    if (age != RowAge::kExpired) add(p.counts, age == RowAge::kFresh);
  }
  server::FleetSummaryCounts out;
  out.devices = devices.Count();
  out.seen_recently = std::min(seen_recently, out.devices);
  for (const auto& [key, n] : installed) {
    if (n.Count() > 0) out.installed[key.first][key.second] = n.Count();
  }
  for (const auto& [key, m] : quarantined) {
    if (m.devices.Count() == 0) continue;
    server::QuarantineCount& q = out.quarantined[key];
    q.devices = m.devices.Count();
    for (const auto& [reason, n] : m.reasons) {
      if (n.Count() > 0) q.reasons[reason] = n.Count();
    }
    q.distinct_reasons = std::max(m.distinct, static_cast<int64_t>(q.reasons.size()));
  }
  return out;
}

ClusterFleet::ClusterFleet(const server::FleetSource& local, store::PgStore* store, Clock& clock,
                           ClusterFleetOptions options)
    : local_(local), store_(store), clock_(clock), options_(std::move(options)) {}

ClusterFleet::~ClusterFleet() { Stop(); }

Status ClusterFleet::Validate(const ClusterFleetOptions& o, bool have_store) {
  if (have_store && o.replica.empty()) {
    return Status::InvalidArgument("layer 1 fleet: empty replica name");
  }
  if (o.publish_micros <= 0 || o.publish_micros > o.refresh_micros ||
      o.refresh_micros >= o.fresh_micros || o.fresh_micros > o.retention_micros) {
    return Status::InvalidArgument(
        "layer 1 fleet: need 0 < publish period <= refresh period < fresh window <= retention "
        "(got " +
        std::to_string(o.publish_micros / 1000) + " ms, " +
        std::to_string(o.refresh_micros / 1000) + " ms, " + std::to_string(o.fresh_micros / 1000) +
        " ms, " + std::to_string(o.retention_micros / 1000) + " ms)");
  }
  return Status::Ok();
}

Result<Fleet> ClusterFleet::WholeFleet() const {
  const Fleet local = local_.Inventory();
  std::vector<PublishedFleet> others;
  if (store_ != nullptr) {
    auto rows = store_->FleetProfiles();
    if (!rows.ok()) {
      return Status::Unavailable(
          "layer 1 cannot read the other replicas' fleet profiles, and does not judge content on "
          "this replica's devices alone: " +
          rows.status().message());
    }
    const int64_t now = clock_.NowUnixMicros();
    for (const store::FleetProfilesRow& row : *rows) {
      if (row.replica == options_.replica) continue;  // this replica: its live inventory
      if (AgeOf(row.updated_us, now, options_) == RowAge::kExpired) continue;
      auto fleet =
          ParseFleetJson(row.profiles, "fleet_profiles row of replica '" + row.replica + "'");
      if (!fleet.ok()) {
        return Status::DataLoss(
            "layer 1 cannot read the fleet profiles of replica '" + row.replica +
            "', and does not judge content on part of the fleet: " + fleet.status().message() +
            " (docs/deploy.md \"Layer 1 across replicas\")");
      }
      others.push_back({row.replica, row.updated_us, std::move(*fleet)});
    }
    return MergeFleets(local, others, now, options_);
  }
  return MergeFleets(local, others, 0, options_);
}

Result<server::FleetSummaryCounts> ClusterFleet::WholeSummary(
    server::FleetSummaryCounts local) const {
  if (store_ == nullptr) return local;
  auto rows = store_->FleetProfiles();
  if (!rows.ok()) {
    return Status::Unavailable("the fleet summary cannot read the other replicas' counts: " +
                               rows.status().message());
  }
  const int64_t now = clock_.NowUnixMicros();
  std::vector<PublishedSummary> others;
  for (const store::FleetProfilesRow& row : *rows) {
    if (row.replica == options_.replica || row.summary.empty()) continue;
    if (AgeOf(row.updated_us, now, options_) == RowAge::kExpired) continue;
    auto counts = server::DecodeFleetSummaryCounts(row.summary);
    if (!counts.ok()) {
      return Status::DataLoss("the fleet summary cannot read the counts of replica '" +
                              row.replica + "': " + counts.status().message());
    }
    others.push_back({row.replica, row.updated_us, std::move(*counts)});
  }
  return MergeFleetSummaries(local, others, now, options_);
}

Status ClusterFleet::PublishNow() {
  if (store_ == nullptr) return Status::Ok();
  std::string text = EncodeFleetJson(local_.Inventory());
  std::string summary =
      options_.summary ? server::EncodeFleetSummaryCounts(options_.summary()) : std::string();
  std::lock_guard l(publish_mu_);
  const int64_t now = clock_.NowUnixMicros();
  const bool due = seq_ == 0 || text != published_ || summary != published_summary_ ||
                   now - published_us_ >= options_.refresh_micros;
  if (due) {
    store::FleetProfilesRow row;
    row.replica = options_.replica;
    // Higher than the last, and than a previous process's of the same name (its clock's micros).
    row.seq = std::max(seq_ + 1, now);
    row.updated_us = now;
    row.profiles = text;
    row.summary = summary;
    seq_ = row.seq;
    RF_RETURN_IF_ERROR(store_->PutFleetProfiles(row).WithPrefix("publishing the fleet profiles"));
    published_ = std::move(text);
    published_summary_ = std::move(summary);
    published_us_ = now;
    return store_->ExpireFleetProfiles(now - options_.retention_micros)
        .WithPrefix("expiring old fleet profiles");
  }
  return Status::Ok();
}

void ClusterFleet::Start() {
  if (store_ == nullptr || thread_.joinable()) return;
  {
    std::lock_guard l(loop_mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock l(loop_mu_);
    while (!stopping_) {
      l.unlock();
      if (Status st = PublishNow(); !st.ok() && options_.on_error) options_.on_error(st);
      l.lock();
      loop_cv_.wait_for(l, std::chrono::microseconds(options_.publish_micros),
                        [this] { return stopping_; });
    }
  });
}

void ClusterFleet::Stop() {
  {
    std::lock_guard l(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace rf::cluster
