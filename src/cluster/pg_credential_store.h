// Device credentials in the shared PostgreSQL store (docs/deploy.md "Device credentials"): the
// server::CredentialStore of a server started with --store postgresql://...
//
//   auto creds = std::make_unique<PgCredentialStore>(pg_store);
//   server::DeviceCredentials credentials(env, options, std::move(creds));
//   credentials.Load();                          // every credential, and the sequence reached
//   credentials.StartFollower(500'000, on_error); // the other servers' changes, as they commit
//
// Each change is one transaction (store::PgStore::ChangeDeviceCredential): the device's row is
// decided on under the cluster-wide credential sequence lock, so two servers enrolling one id with
// two keys cannot both win, and a revoke is never lost to a concurrent enrollment. Follow reads
// the rows changed after the last sequence number it saw, in commit order, after a notification
// (LISTEN ringfence_credentials) or the follower's poll interval, whichever comes first.
//
// Thread-safe (Follow is called from one thread at a time: the follower).
#ifndef RINGFENCE_CLUSTER_PG_CREDENTIAL_STORE_H_
#define RINGFENCE_CLUSTER_PG_CREDENTIAL_STORE_H_

#include <atomic>
#include <cstdint>

#include "server/credential_store.h"
#include "store/pg_store.h"

namespace rf::cluster {

class PgCredentialStore final : public server::CredentialStore {
 public:
  // `store` must outlive this object.
  explicit PgCredentialStore(store::PgStore& store) : store_(store) {}

  Status Load(const Sink& sink) override;
  Result<std::optional<server::CredentialInfo>> Change(
      std::string_view device_id, const std::optional<server::CredentialInfo>& cached,
      std::string_view actor, int64_t now_s, const Decide& decide) override;
  bool shared() const override { return true; }
  Status Follow(int wait_ms, const Sink& sink) override;

  // The last credential sequence number brought into the caller's view.
  int64_t seen() const { return seen_.load(); }

 private:
  store::PgStore& store_;
  std::atomic<int64_t> seen_{0};
};

}  // namespace rf::cluster

#endif  // RINGFENCE_CLUSTER_PG_CREDENTIAL_STORE_H_
