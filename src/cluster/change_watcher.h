// Brings changes that other servers commit to a shared PostgreSQL store into this server's model
// (docs/deploy.md "Several writers"): every batch bumps the store's change sequence and notifies
// it (store::PgStore); the watcher waits for a notification (LISTEN) or poll_micros, whichever
// comes first, reads the sequence, and if any change since the last look was committed by another
// process it calls `reload` (ServiceState::Reload: the whole model from one snapshot, then the
// change listener, which republishes the controller's dispatch snapshot: a halt made on any server
// stops dispatch here). Changes this process committed itself are skipped (PgStore::OwnChanges).
//
// Polling is the fallback when a notification is lost (the LISTEN connection broke and is being
// re-opened): a change is seen within poll_micros at worst, within a database round trip normally.
//
// Thread-safe: CheckOnce and the loop serialize on one mutex.
#ifndef RINGFENCE_CLUSTER_CHANGE_WATCHER_H_
#define RINGFENCE_CLUSTER_CHANGE_WATCHER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "core/status.h"
#include "server/interfaces.h"
#include "store/pg_store.h"

namespace rf::cluster {

struct ChangeWatcherOptions {
  // Longest wait between two looks at the change sequence, in microseconds (the fallback when a
  // notification is lost).
  int64_t poll_micros = 500'000;
  // Called with every error of the loop (a failed reload or read); empty: ignored. The loop goes
  // on: the next look retries.
  std::function<void(const Status&)> on_error;
};

class ChangeWatcher {
 public:
  // `store` must outlive the watcher; `reload` replaces the model with the store's contents.
  ChangeWatcher(store::PgStore& store, std::function<Status()> reload,
                ChangeWatcherOptions options = {});
  ~ChangeWatcher();  // Stop()
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // One look: reads the change sequence and reloads if another process committed since the last
  // look (the first look always reloads: changes before it are unknown). Sets *reloaded if given.
  Status CheckOnce(bool* reloaded = nullptr);
  // Reloads done so far (tests, metrics).
  int64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }

  void Start();
  void Stop();  // idempotent

 private:
  store::PgStore& store_;
  const std::function<Status()> reload_;
  const ChangeWatcherOptions options_;

  std::mutex check_mu_;
  int64_t seen_ = -1;  // GUARDED_BY(check_mu_): change sequence reflected in the model (-1: none)
  std::atomic<int64_t> reloads_{0};

  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Read-your-writes across servers (docs/deploy.md "Any replica takes any request"): returns a
// handler that first brings this server's model up to every change committed anywhere before the
// request arrived (watcher.CheckOnce: one read of the change sequence, a reload only if another
// server committed since the last look), then answers with `inner`. So a change acknowledged by
// one replica is seen by the next request, whichever replica a load balancer sends it to (an
// upload through one and the release of that bundle through another). If the look fails (the
// store is unreachable), `on_error` (may be empty) is called and `inner` answers from the model
// as it is: a read may then be stale, and a write fails at the store anyway. `watcher` must
// outlive the handler; it need not be started.
std::function<server::HttpResponse(const server::HttpRequest&)> CaughtUp(
    ChangeWatcher& watcher, std::function<server::HttpResponse(const server::HttpRequest&)> inner,
    std::function<void(const Status&)> on_error);

}  // namespace rf::cluster

#endif  // RINGFENCE_CLUSTER_CHANGE_WATCHER_H_
