#include "cluster/change_watcher.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace rf::cluster {

ChangeWatcher::ChangeWatcher(store::PgStore& store, std::function<Status()> reload,
                             ChangeWatcherOptions options)
    : store_(store), reload_(std::move(reload)), options_(std::move(options)) {}

ChangeWatcher::~ChangeWatcher() { Stop(); }

Status ChangeWatcher::CheckOnce(bool* reloaded) {
  if (reloaded) *reloaded = false;
  std::lock_guard l(check_mu_);
  RF_ASSIGN_OR_RETURN(int64_t seq, store_.ChangeSeq());
  if (seen_ >= 0 && (seq <= seen_ || store_.OwnChanges(seen_, seq))) {
    seen_ = std::max(seen_, seq);
    return Status::Ok();
  }
  // The reload reads a snapshot taken after `seq` was read: it holds every change up to `seq`.
  RF_RETURN_IF_ERROR(reload_());
  seen_ = seq;
  reloads_.fetch_add(1, std::memory_order_relaxed);
  if (reloaded) *reloaded = true;
  return Status::Ok();
}

void ChangeWatcher::Start() {
  if (thread_.joinable()) return;
  stopping_.store(false);
  thread_ = std::thread([this] {
    const int wait_ms = static_cast<int>(std::max<int64_t>(1, options_.poll_micros / 1000));
    // Short waits, so Stop is noticed quickly; a notification ends one at once.
    const int slice_ms = std::min(wait_ms, 100);
    while (!stopping_.load()) {
      Status st = CheckOnce();
      if (!st.ok() && options_.on_error) options_.on_error(st);
      for (int waited = 0; waited < wait_ms && !stopping_.load(); waited += slice_ms) {
        auto got = store_.WaitForChange(slice_ms);
        if (!got.ok()) {
          // The LISTEN connection is down (reopened at the next call): poll meanwhile.
          if (options_.on_error) options_.on_error(got.status());
          std::this_thread::sleep_for(std::chrono::milliseconds(slice_ms));
        } else if (*got) {
          break;
        }
      }
    }
  });
}

void ChangeWatcher::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::function<server::HttpResponse(const server::HttpRequest&)> CaughtUp(
    ChangeWatcher& watcher, std::function<server::HttpResponse(const server::HttpRequest&)> inner,
    std::function<void(const Status&)> on_error) {
  return [&watcher, inner = std::move(inner), on_error = std::move(on_error)](
             const server::HttpRequest& r) {
    if (Status st = watcher.CheckOnce(); !st.ok() && on_error) on_error(st);
    return inner(r);
  };
}

}  // namespace rf::cluster
