#include "service/release_directory.h"

#include <algorithm>
#include <tuple>

#include "service/releases.h"

namespace rf::service {

std::vector<server::ReleaseRecord> ControllerDirectory::ActiveReleases() const {
  auto m = state_.Read();
  std::vector<std::pair<int64_t, const server::ReleaseRecord*>> order;
  for (const auto& [id, r] : m->releases) {
    if (r.state.phase == rollout::Phase::kAwaitingApproval ||
        r.state.phase == rollout::Phase::kReady) {
      continue;
    }
    order.emplace_back(m->release_number.at(id), &r);
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second->channel, b.first) < std::tie(b.second->channel, a.first);
  });
  std::vector<server::ReleaseRecord> out;
  for (const auto& [n, r] : order) out.push_back(*r);
  return out;
}

Result<rollout::TransitionResult> ControllerDirectory::ApplyFencedEvent(
    std::string_view release_id, const rollout::Event& event, int64_t now_micros,
    int64_t fencing_epoch) {
  Result<rollout::TransitionResult> t = Status::Internal("unset");
  {
    auto w = state_.Write();
    w.Fence(fencing_epoch);
    t = CommitTransition(w, release_id, event, now_micros,
                         event.actor.empty() ? std::string("controller") : event.actor);
  }
  if (t.ok()) state_.NotifyChange();
  return t;
}

std::vector<std::string> ControllerDirectory::Approvals(std::string_view sha256) const {
  auto m = state_.Read();
  std::vector<std::string> out;
  for (const auto& [id, r] : m->releases) {
    if (r.bundle_sha256 != sha256) continue;
    if (auto it = m->approvals.find(id); it != m->approvals.end()) {
      for (const auto& a : it->second) out.push_back(a.envelope);
    }
  }
  return out;
}

}  // namespace rf::service
