// The elected controller (docs/deploy.md "Controller election"): keeps this process's claim on the
// controller lease in PostgreSQL (store::PgStore::AcquireLease) and answers, for the controller's
// ticks, the fencing epoch it holds.
//
//   LeaseKeeper lease(pg_store, clock, {.holder = "host-1:4711:..."});
//   lease.Start();                                    // renews (or tries) every renew_micros
//   controller_options.fencing_epoch = [&] { return lease.Epoch(); };
//   ...
//   lease.Stop();                                     // hands the lease over at once
//
// One server holds the lease at a time; it renews it every renew_micros, and each renewal runs it
// until lease_micros after the renewal was sent. A leader that dies (or is cut off from the
// database) stops renewing: its lease expires at most lease_micros after its last renewal, and
// another server takes it at its next attempt, with the epoch one higher. Failover therefore takes
// at most lease_micros + renew_micros (plus the database round trip).
//
// Times are the injected Clock's wall time, compared across servers: their clocks must agree to
// well within lease_micros (NTP). Safety does not depend on it: a server that still believes it
// leads after another took over (skew, a stalled process) writes with its old epoch, and the store
// refuses those writes (store.h WriteBatch::fencing_epoch). Epoch() stops answering the epoch
// once the lease's expiry passes by this process's clock, whether or not a renewal failed.
//
// Thread-safe.
#ifndef RINGFENCE_CLUSTER_LEADER_LEASE_H_
#define RINGFENCE_CLUSTER_LEADER_LEASE_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"
#include "platform/env.h"
#include "store/pg_store.h"

namespace rf::cluster {

struct LeaseKeeperOptions {
  // How long a lease runs after each renewal, in microseconds: a dead leader is replaced after at
  // most this plus renew_micros.
  int64_t lease_micros = 6'000'000;
  // How often the leader renews and the others try to take an expired lease, in microseconds.
  // REQUIRES: 0 < renew_micros < lease_micros (a leader renews several times per lease).
  int64_t renew_micros = 2'000'000;
  // This process in the lease row; unique per process (e.g. "host:pid:start-time"). Required.
  std::string holder;
};

class LeaseKeeper {
 public:
  // `store` and `clock` must outlive the keeper.
  LeaseKeeper(store::PgStore& store, Clock& clock, LeaseKeeperOptions options);
  ~LeaseKeeper();  // Stop()
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // InvalidArgument for options that break the REQUIRES above or an empty holder.
  static Status Validate(const LeaseKeeperOptions& options);

  // One attempt now: renews the lease this process holds, or takes it if it expired. The loop
  // calls it every renew_micros; tests call it directly. A failed attempt (database unreachable)
  // changes nothing: Epoch() keeps answering until the held lease expires.
  Status Attempt();
  // The fencing epoch this process holds now, or 0 if it does not lead (never granted, or the
  // granted lease expired by the clock).
  int64_t Epoch();
  // The lease as the last successful attempt saw it (holder and epoch of whoever leads).
  store::LeaseGrant LastSeen();

  // Starts the loop (an attempt at once, then every renew_micros).
  void Start();
  // Stops the loop and, if this process holds the lease, ends it in the database so another
  // server takes over at its next attempt. Idempotent.
  void Stop();

 private:
  store::PgStore& store_;
  Clock& clock_;
  const LeaseKeeperOptions options_;

  std::mutex mu_;
  int64_t epoch_ = 0;       // GUARDED_BY(mu_): held epoch (0: none)
  int64_t expires_us_ = 0;  // GUARDED_BY(mu_): when the held lease ends
  store::LeaseGrant seen_;  // GUARDED_BY(mu_)

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stopping_ = false;  // GUARDED_BY(loop_mu_)
  std::thread thread_;
};

}  // namespace rf::cluster

#endif  // RINGFENCE_CLUSTER_LEADER_LEASE_H_
