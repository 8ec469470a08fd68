#include "cluster/leader_lease.h"

#include <chrono>
#include <utility>

namespace rf::cluster {

LeaseKeeper::LeaseKeeper(store::PgStore& store, Clock& clock, LeaseKeeperOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

LeaseKeeper::~LeaseKeeper() { Stop(); }

Status LeaseKeeper::Validate(const LeaseKeeperOptions& o) {
  if (o.holder.empty()) return Status::InvalidArgument("controller lease: empty holder name");
  if (o.renew_micros <= 0 || o.renew_micros >= o.lease_micros) {
    return Status::InvalidArgument("controller lease: the renew interval (" +
                                   std::to_string(o.renew_micros / 1000) +
                                   " ms) must be positive and shorter than the lease (" +
                                   std::to_string(o.lease_micros / 1000) + " ms)");
  }
  return Status::Ok();
}

Status LeaseKeeper::Attempt() {
  int64_t held = 0;
  {
    std::lock_guard l(mu_);
    held = epoch_;
  }
  // The expiry is counted from before the request: the database may apply it any time after.
  const int64_t now = clock_.NowUnixMicros();
  auto g = store_.AcquireLease(options_.holder, held, now, options_.lease_micros);
  if (!g.ok()) return g.status().WithPrefix("controller lease");
  std::lock_guard l(mu_);
  seen_ = *g;
  if (g->granted) {
    epoch_ = g->epoch;
    expires_us_ = g->expires_us;
  } else {
    epoch_ = 0;
    expires_us_ = 0;
  }
  return Status::Ok();
}

int64_t LeaseKeeper::Epoch() {
  const int64_t now = clock_.NowUnixMicros();
  std::lock_guard l(mu_);
  return epoch_ != 0 && now < expires_us_ ? epoch_ : 0;
}

store::LeaseGrant LeaseKeeper::LastSeen() {
  std::lock_guard l(mu_);
  return seen_;
}

void LeaseKeeper::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard l(loop_mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock l(loop_mu_);
    while (!stopping_) {
      l.unlock();
      (void)Attempt();  // a failure keeps the held lease until it expires (Epoch)
      l.lock();
      loop_cv_.wait_for(l, std::chrono::microseconds(options_.renew_micros),
                        [this] { return stopping_; });
    }
  });
}

void LeaseKeeper::Stop() {
  {
    std::lock_guard l(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  int64_t held = 0;
  {
    std::lock_guard l(mu_);
    held = epoch_;
    epoch_ = 0;
    expires_us_ = 0;
  }
  if (held != 0) (void)store_.ReleaseLease(options_.holder, held);
}

}  // namespace rf::cluster
