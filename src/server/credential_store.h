// CredentialStore: where device credentials are kept durably. DeviceCredentials
// (device_credentials.h) keeps every credential in memory and decides; a CredentialStore makes
// its decisions durable and, when several servers share it, brings the others' changes in.
//
// Two implementations:
//  * CredentialJournal (credential_journal.h): an append-only file in the data directory, one
//    writer (the server that holds the directory's lock). The SQLite/data-directory default.
//  * cluster::PgCredentialStore (src/cluster/pg_credential_store.h): the device_credentials
//    table of a shared PostgreSQL store, so a device enrolled through one server is accepted by
//    all and a revoke through any holds on all (docs/deploy.md "Device credentials").
//
// A change is decided inside the store's own atomic step (Change): the journal decides on the
// caller's in-memory view (it is the only writer), PostgreSQL on the row it reads under a lock, so
// two servers enrolling one id with two keys at once cannot both win.
#ifndef RINGFENCE_SERVER_CREDENTIAL_STORE_H_
#define RINGFENCE_SERVER_CREDENTIAL_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "core/status.h"
#include "crypto/crypto.h"

namespace rf::server {

enum class CredentialState : uint8_t { kActive, kRevoked, kReset };
std::string_view CredentialStateName(CredentialState s);

struct CredentialInfo {
  crypto::PublicKey key;
  uint32_t epoch = 0;  // 1 for the first key, +1 for every new key after a reset
  CredentialState state = CredentialState::kActive;
  // The store's change number of this state (PostgreSQL: the credential sequence; the journal:
  // 0). A cached credential is replaced only by one with a number at least as high, so a late
  // answer never undoes a newer change that another server made.
  int64_t version = 0;
};

class CredentialStore {
 public:
  // Called with each credential a load or a follow brings in.
  using Sink = std::function<void(std::string_view device_id, const CredentialInfo&)>;
  // Given the device's current credential (nullopt: none), the credential to store, nullopt for
  // "no change" (nothing is written), or an error (nothing is written; returned by Change).
  using Decide =
      std::function<Result<std::optional<CredentialInfo>>(const std::optional<CredentialInfo>&)>;

  virtual ~CredentialStore() = default;

  // Every stored credential, once, before anything else. DataLoss names corrupt state.
  virtual Status Load(const Sink& sink) = 0;
  // One atomic, durable change of `device_id`: reads its current credential (the journal takes
  // `cached`, the caller's view, as current: REQUIRES the caller serializes its Change calls;
  // PostgreSQL reads its own row under a lock and ignores `cached`), calls `decide`, stores the
  // answer with `actor` and `now_s` recorded. Returns the device's credential after the change
  // (with its version), or the current one if `decide` changed nothing (nullopt: none).
  // Unavailable if the outcome cannot be known (the caller may retry: every decision of
  // DeviceCredentials is idempotent).
  virtual Result<std::optional<CredentialInfo>> Change(std::string_view device_id,
                                                       const std::optional<CredentialInfo>& cached,
                                                       std::string_view actor, int64_t now_s,
                                                       const Decide& decide) = 0;
  // True if other processes change the same credentials (then the caller runs Follow).
  virtual bool shared() const = 0;
  // Waits up to `wait_ms` for a change by another process (a notification), then passes every
  // change committed since the last Load/Follow to `sink`, in commit order. A store that is not
  // shared returns at once.
  virtual Status Follow(int wait_ms, const Sink& sink) = 0;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_CREDENTIAL_STORE_H_
