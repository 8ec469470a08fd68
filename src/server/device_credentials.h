// DeviceCredentials: one Ed25519 public key per enrolled device, and the short-lived session
// tokens that authenticate its check-ins (docs/protocol.md "Device credentials"; threat model:
// docs/threat-model.md).
//
//   DeviceCredentials creds(env, {.journal_path = DATA + "/credentials.log",
//                                 .secret_path = DATA + "/session.secret"});
//   RF_RETURN_IF_ERROR(creds.Load());
//   auto reg = creds.Register(id, key, now_s);            // after checking the enrollment proof
//   std::string token = creds.IssueSession(id, reg->epoch, now_s);
//   auto claims = creds.VerifySession(bearer, now_s);      // every check-in
//
// State per device: its public key, an epoch (incremented whenever a new key is registered) and a
// state: active, revoked (an operator revoked it: no session, no check-in, no re-enrollment) or
// reset (an operator allowed the next enrollment to register any key). A session token is
// "rfs1~DEVICE~EPOCH~EXPIRES_S~MAC" where MAC = HMAC-SHA-256(server secret, "rfs1~DEVICE~EPOCH~
// EXPIRES_S") in hex; it is valid while unexpired, its MAC verifies (constant time), and the
// device is active with that epoch (so revoke and reset take effect at once).
//
// Durability and sharing: the credentials live in a CredentialStore (credential_store.h); this
// class keeps all of them in memory and decides. Every change (a new key, revoke, reset) is made
// durable by the store before the call returns (the journal: fdatasync'ed append; PostgreSQL: a
// committed transaction); an idempotent re-registration of the same key writes nothing. With a
// shared store (several servers on PostgreSQL) the follower (StartFollower) brings in what the
// other servers change, within a notification round trip or the poll interval, so a device
// enrolled through one server is accepted by every other and a revoke through any holds on all
// (docs/deploy.md "Device credentials"). The server secret (32 bytes from libsodium, hex, 0600)
// is created on first Load() and is never in the store: replicas share it by copying it.
//
// Memory: one hash-map entry per device (~130 B with the id). Thread-safe: kShards shards, each
// with its own mutex; changes go to the store one at a time (mutate_mu_).
#ifndef RINGFENCE_SERVER_DEVICE_CREDENTIALS_H_
#define RINGFENCE_SERVER_DEVICE_CREDENTIALS_H_

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "crypto/crypto.h"
#include "crypto/device_auth.h"
#include "platform/env.h"
#include "server/credential_store.h"

namespace rf::server {

using crypto::EnrollProofMessage;
using crypto::SessionRequestMessage;

// What a valid session token names.
struct SessionClaims {
  std::string_view device_id;  // points into the token passed to VerifySession
  uint32_t epoch = 0;
  int64_t expires_s = 0;
};

struct DeviceCredentialsOptions {
  // The journal (credential_journal.h) when no CredentialStore is given; empty = in memory only.
  std::string journal_path;
  std::string secret_path;         // the session-token HMAC secret; empty = a fresh one per process
  int64_t session_ttl_s = 3600;    // lifetime of an issued session token
  // Enrollment proofs and session requests carry the device's clock: at most this far from ours.
  int64_t max_clock_skew_s = 600;
};

class DeviceCredentials {
 public:
  static constexpr int kShards = 64;

  // `env.fs` holds the secret (and the journal); the clock is not read (callers pass times).
  // `store`: where credentials live; null = a CredentialJournal at options.journal_path.
  DeviceCredentials(Env env, DeviceCredentialsOptions options,
                    std::unique_ptr<CredentialStore> store = nullptr);
  ~DeviceCredentials();  // StopFollower()
  DeviceCredentials(const DeviceCredentials&) = delete;
  DeviceCredentials& operator=(const DeviceCredentials&) = delete;

  // Reads or creates the secret, loads the store. Call once, before anything else. DataLoss
  // names a corrupt journal line or secret file.
  [[nodiscard]] Status Load();

  // A shared store: waits up to `wait_ms` for another server's change, then applies every change
  // committed since the last look to the in-memory view (the follower's step; tests call it).
  Status Refresh(int wait_ms);
  // Runs Refresh in a thread, each wait at most `poll_micros` (a lost notification is made up
  // for within it), `on_error` called with each failure (then the loop waits poll_micros and
  // retries). No-op unless the store is shared. StopFollower is idempotent.
  void StartFollower(int64_t poll_micros, std::function<void(const Status&)> on_error = {});
  void StopFollower();

  // The device's credential, or NotFound.
  Result<CredentialInfo> Get(std::string_view device_id) const;
  // True if registering `key` for `device_id` would add a credential (an unknown device, or one
  // an operator reset) rather than confirm the registered one; the enrollment rate limit applies
  // only then.
  bool WouldAddCredential(std::string_view device_id, const crypto::PublicKey& key) const;

  // Registers `key` for `device_id` (the caller has checked the proof of possession):
  //  * unknown device, or reset: the key becomes the device's, epoch + 1, journaled durably;
  //  * active with the same key: OK, nothing written (idempotent re-enrollment);
  //  * active with another key: AlreadyExists ("enrolled with another key; ... reset");
  //  * revoked: PermissionDenied ("revoked").
  // On error nothing changes.
  Result<CredentialInfo> Register(std::string_view device_id, const crypto::PublicKey& key,
                                  int64_t now_s);
  // Operator verbs; NotFound for an unknown device. Revoke: active or reset -> revoked. Reset:
  // -> reset (the next enrollment may register any key). Both invalidate the device's sessions.
  // `actor` is recorded in the store.
  Status Revoke(std::string_view device_id, std::string_view actor, int64_t now_s);
  Status Reset(std::string_view device_id, std::string_view actor, int64_t now_s);

  // A session token for an active device at `epoch`, valid until now_s + session_ttl_s.
  std::string IssueSession(std::string_view device_id, uint32_t epoch, int64_t now_s) const;
  // Unauthenticated naming the problem (malformed, bad MAC, expired, superseded key, revoked,
  // reset, unknown device). Constant-time MAC comparison.
  Result<SessionClaims> VerifySession(std::string_view token, int64_t now_s) const;
  // OK iff `signature` (64 bytes) of SessionRequestMessage(device_id, timestamp_s) verifies with
  // the device's active key and timestamp_s is within max_clock_skew_s of now_s. NotFound for an
  // unknown or reset device (enroll), PermissionDenied if revoked, Unauthenticated otherwise.
  Result<CredentialInfo> CheckSessionRequest(std::string_view device_id, int64_t timestamp_s,
                                             std::string_view signature, int64_t now_s) const;
  // InvalidArgument unless |timestamp_s - now_s| <= max_clock_skew_s.
  Status CheckTimestamp(int64_t timestamp_s, int64_t now_s) const;

  int64_t session_ttl_s() const { return options_.session_ttl_s; }
  size_t size() const;

 private:
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, CredentialInfo> devices;
  };
  Shard& ShardFor(std::string_view id) const;
  std::string Mac(std::string_view signed_part) const;
  // Puts `c` in the view unless the view holds a newer version of the device.
  void Apply(std::string_view device_id, const CredentialInfo& c);
  // store_->Change under mutate_mu_, the result applied to the view.
  Result<std::optional<CredentialInfo>> Change(std::string_view device_id, std::string_view actor,
                                               int64_t now_s, const CredentialStore::Decide& decide);
  Status ChangeState(std::string_view device_id, CredentialState to, std::string_view actor,
                     int64_t now_s);

  Env env_;
  DeviceCredentialsOptions options_;
  std::unique_ptr<CredentialStore> store_;
  std::array<uint8_t, 32> secret_{};
  std::unique_ptr<Shard[]> shards_;
  std::mutex mutate_mu_;  // one change at a time (the journal decides on the view)

  std::mutex follow_mu_;
  std::condition_variable follow_cv_;
  bool follow_stop_ = false;  // GUARDED_BY(follow_mu_)
  std::thread follower_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_DEVICE_CREDENTIALS_H_
