// The release service's side of the controller (server::ReleaseDirectory): the releases the
// controller drives, the events it applies, what it dispatches (bundle envelopes, approvals,
// customer controls) and the change listener that wakes it. One concern of the release service
// (release_service.h); events commit through ServiceState like every operator mutation.
//
// Thread-safety: all methods may be called concurrently from any thread (ServiceState's contract).
// Callers may hold the controller's tick_mu_ but never its mu_ (Controller releases it around
// ApplyEvent; docs/server.md "Threads and locks").
#ifndef RINGFENCE_SERVICE_RELEASE_DIRECTORY_H_
#define RINGFENCE_SERVICE_RELEASE_DIRECTORY_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/interfaces.h"
#include "service/customer_controls.h"
#include "service/service_state.h"

namespace rf::service {

class ControllerDirectory final : public server::ReleaseDirectory {
 public:
  // `state` and `controls` must outlive this object.
  ControllerDirectory(ServiceState& state, const CustomerControls& controls)
      : state_(state), controls_(controls) {}

  std::vector<server::ReleaseRecord> ActiveReleases() const override;
  // The actor is the event's, or "controller" when it names none.
  Result<rollout::TransitionResult> ApplyEvent(std::string_view release_id,
                                               const rollout::Event& event,
                                               int64_t now_micros) override {
    return ApplyFencedEvent(release_id, event, now_micros, 0);
  }
  // The fencing epoch travels with the batch to the store (ServiceState::Writer::Fence).
  Result<rollout::TransitionResult> ApplyFencedEvent(std::string_view release_id,
                                                     const rollout::Event& event,
                                                     int64_t now_micros,
                                                     int64_t fencing_epoch) override;
  std::vector<server::CustomerControl> Controls() const override { return controls_.List(); }
  Result<std::string> BundleEnvelope(std::string_view sha256) const override {
    return state_.BundleEnvelope(sha256);
  }
  std::vector<std::string> Approvals(std::string_view sha256) const override;
  void SetChangeListener(std::function<void()> listener) override {
    state_.SetChangeListener(std::move(listener));
  }

 private:
  ServiceState& state_;
  const CustomerControls& controls_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_RELEASE_DIRECTORY_H_
