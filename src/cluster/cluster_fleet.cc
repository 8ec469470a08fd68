#include "cluster/cluster_fleet.h"

#include <algorithm>
#include <chrono>
#include <map>
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

Fleet MergeFleets(const Fleet& local, const std::vector<PublishedFleet>& others, int64_t now_us,
                  const ClusterFleetOptions& options) {
  struct Merged {
    Stratum stratum;
    int64_t fresh = 0;     // this replica + fresh rows
    int64_t retained = 0;  // retained rows
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
    (fresh ? merged[it->second].fresh : merged[it->second].retained) += s.devices;
  };
  for (const Stratum& s : local.strata) add(s, true);
  for (const PublishedFleet& p : others) {
    const RowAge age = AgeOf(p.updated_us, now_us, options);
    if (age == RowAge::kExpired) continue;
    for (const Stratum& s : p.fleet.strata) add(s, age == RowAge::kFresh);
  }
  Fleet out;
  for (Merged& m : merged) {
    // A device that moved from a dead replica is in both sums at most: never counted twice.
    m.stratum.devices = std::max(m.fresh, m.retained);
    if (m.stratum.devices > 0) out.strata.push_back(std::move(m.stratum));
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

Status ClusterFleet::PublishNow() {
  if (store_ == nullptr) return Status::Ok();
  std::string text = EncodeFleetJson(local_.Inventory());
  std::lock_guard l(publish_mu_);
  const int64_t now = clock_.NowUnixMicros();
  const bool due =
      seq_ == 0 || text != published_ || now - published_us_ >= options_.refresh_micros;
  if (due) {
    store::FleetProfilesRow row;
    row.replica = options_.replica;
    // Higher than the last, and than a previous process's of the same name (its clock's micros).
    row.seq = std::max(seq_ + 1, now);
    row.updated_us = now;
    row.profiles = text;
    seq_ = row.seq;
    RF_RETURN_IF_ERROR(store_->PutFleetProfiles(row).WithPrefix("publishing the fleet profiles"));
    published_ = std::move(text);
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
