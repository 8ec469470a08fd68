#include "server/device_credentials.h"

#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "protocol/identifiers.h"
#include "server/checkin.h"  // IsValidId
#include "server/credential_journal.h"

namespace rf::server {
namespace {

constexpr std::string_view kTokenPrefix = "rfs1~";

bool ParseInt(std::string_view s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

std::string_view CredentialStateName(CredentialState s) {
  switch (s) {
    case CredentialState::kActive: return "active";
    case CredentialState::kRevoked: return "revoked";
    case CredentialState::kReset: return "reset";
  }
  return "?";
}

DeviceCredentials::DeviceCredentials(Env env, DeviceCredentialsOptions options,
                                     std::unique_ptr<CredentialStore> store)
    : env_(env),
      options_(std::move(options)),
      store_(store ? std::move(store)
                   : std::make_unique<CredentialJournal>(env.fs, options_.journal_path)),
      shards_(new Shard[kShards]) {
  if (sodium_init() < 0) std::abort();
  randombytes_buf(secret_.data(), secret_.size());
}

DeviceCredentials::~DeviceCredentials() { StopFollower(); }

DeviceCredentials::Shard& DeviceCredentials::ShardFor(std::string_view id) const {
  return shards_[std::hash<std::string_view>{}(id) % kShards];
}

size_t DeviceCredentials::size() const {
  size_t n = 0;
  for (int i = 0; i < kShards; ++i) {
    std::lock_guard l(shards_[i].mu);
    n += shards_[i].devices.size();
  }
  return n;
}

Status DeviceCredentials::Load() {
  if (!options_.secret_path.empty()) {
    if (!env_.fs->Exists(options_.secret_path)) {
      RF_RETURN_IF_ERROR(env_.fs->WriteFileAtomic(
          options_.secret_path,
          crypto::ToHex(std::string_view(reinterpret_cast<const char*>(secret_.data()), 32)) + "\n",
          0600));
    }
    RF_ASSIGN_OR_RETURN(std::string text, env_.fs->ReadFile(options_.secret_path, 4096));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    auto raw = crypto::FromHex(text);
    if (!raw.ok() || raw->size() != secret_.size()) {
      return Status::DataLoss(options_.secret_path + ": expected 64 hex digits (a 32-byte secret)");
    }
    std::memcpy(secret_.data(), raw->data(), secret_.size());
  }
  return store_->Load([this](std::string_view id, const CredentialInfo& c) { Apply(id, c); });
}

void DeviceCredentials::Apply(std::string_view device_id, const CredentialInfo& c) {
  Shard& sh = ShardFor(device_id);
  std::lock_guard l(sh.mu);
  auto [it, added] = sh.devices.try_emplace(std::string(device_id), c);
  if (!added && it->second.version <= c.version) it->second = c;
}

Status DeviceCredentials::Refresh(int wait_ms) {
  return store_->Follow(wait_ms,
                        [this](std::string_view id, const CredentialInfo& c) { Apply(id, c); });
}

void DeviceCredentials::StartFollower(int64_t poll_micros,
                                      std::function<void(const Status&)> on_error) {
  if (!store_->shared() || follower_.joinable()) return;
  {
    std::lock_guard l(follow_mu_);
    follow_stop_ = false;
  }
  const int wait_ms = static_cast<int>(std::max<int64_t>(1, poll_micros / 1000));
  follower_ = std::thread([this, wait_ms, on_error = std::move(on_error)] {
    std::unique_lock l(follow_mu_);
    while (!follow_stop_) {
      l.unlock();
      Status st = Refresh(wait_ms);
      l.lock();
      if (!st.ok()) {
        if (on_error) on_error(st);
        // A broken connection answers at once: wait before the next try.
        follow_cv_.wait_for(l, std::chrono::milliseconds(wait_ms), [this] { return follow_stop_; });
      }
    }
  });
}

void DeviceCredentials::StopFollower() {
  {
    std::lock_guard l(follow_mu_);
    follow_stop_ = true;
  }
  follow_cv_.notify_all();
  if (follower_.joinable()) follower_.join();
}

Result<CredentialInfo> DeviceCredentials::Get(std::string_view device_id) const {
  Shard& sh = ShardFor(device_id);
  std::lock_guard l(sh.mu);
  auto it = sh.devices.find(std::string(device_id));
  if (it == sh.devices.end()) {
    return Status::NotFound("device '" + std::string(device_id) + "' has no credential");
  }
  return it->second;
}

bool DeviceCredentials::WouldAddCredential(std::string_view device_id,
                                           const crypto::PublicKey& key) const {
  auto c = Get(device_id);
  if (!c.ok()) return true;
  return c->state == CredentialState::kReset && c->key.bytes != key.bytes;
}

Result<std::optional<CredentialInfo>> DeviceCredentials::Change(
    std::string_view device_id, std::string_view actor, int64_t now_s,
    const CredentialStore::Decide& decide) {
  std::lock_guard ml(mutate_mu_);
  std::optional<CredentialInfo> cached;
  if (auto c = Get(device_id); c.ok()) cached = *c;
  RF_ASSIGN_OR_RETURN(std::optional<CredentialInfo> now,
                      store_->Change(device_id, cached, actor, now_s, decide));
  if (now) Apply(device_id, *now);
  return now;
}

Result<CredentialInfo> DeviceCredentials::Register(std::string_view device_id,
                                                   const crypto::PublicKey& key, int64_t now_s) {
  auto decide_on = [&](const CredentialInfo& c) -> Status {
    if (c.state == CredentialState::kRevoked) {
      return Status::PermissionDenied("device '" + std::string(device_id) +
                                      "' is revoked: an operator must reset it (ringfence fleet "
                                      "reset) before it can enroll again");
    }
    if (c.state == CredentialState::kActive && c.key.bytes != key.bytes) {
      return Status::AlreadyExists(
          "device '" + std::string(device_id) + "' is enrolled with another key (" +
          c.key.KeyId().substr(0, 16) + "...); an operator must reset it (ringfence fleet reset) "
          "before another key can enroll");
    }
    return Status::Ok();
  };
  // Fast path: re-enrollment with the registered key (nothing written, no store round trip).
  if (auto c = Get(device_id); c.ok()) {
    RF_RETURN_IF_ERROR(decide_on(*c));
    if (c->state == CredentialState::kActive) return *c;
  }
  // Decided again by the store, atomically with the write (another server may have changed it).
  RF_ASSIGN_OR_RETURN(
      std::optional<CredentialInfo> now,
      Change(device_id, "enrollment", now_s,
             [&](const std::optional<CredentialInfo>& cur)
                 -> Result<std::optional<CredentialInfo>> {
               CredentialInfo next;
               next.key = key;
               next.epoch = 1;
               if (cur) {
                 RF_RETURN_IF_ERROR(decide_on(*cur));
                 if (cur->state == CredentialState::kActive) {
                   return std::optional<CredentialInfo>();  // the same key: nothing to write
                 }
                 next.epoch = cur->epoch + 1;  // after a reset, any key (the same too): new epoch
               }
               return std::optional<CredentialInfo>(next);
             }));
  if (!now) return Status::Internal("credential store kept no credential for an enrollment");
  return *now;
}

Status DeviceCredentials::ChangeState(std::string_view device_id, CredentialState to,
                                      std::string_view actor, int64_t now_s) {
  // The actor is the authenticated principal: the one principal-name rule (protocol/identifiers.h).
  RF_RETURN_IF_ERROR(protocol::CheckPrincipalName(actor));
  return Change(device_id, actor, now_s,
                [&](const std::optional<CredentialInfo>& cur)
                    -> Result<std::optional<CredentialInfo>> {
                  if (!cur) {
                    return Status::NotFound("device '" + std::string(device_id) +
                                            "' has no credential");
                  }
                  if (cur->state == to) return std::optional<CredentialInfo>();
                  CredentialInfo next = *cur;
                  next.state = to;
                  return std::optional<CredentialInfo>(next);
                })
      .status();
}

Status DeviceCredentials::Revoke(std::string_view device_id, std::string_view actor,
                                 int64_t now_s) {
  return ChangeState(device_id, CredentialState::kRevoked, actor, now_s);
}

Status DeviceCredentials::Reset(std::string_view device_id, std::string_view actor,
                                int64_t now_s) {
  return ChangeState(device_id, CredentialState::kReset, actor, now_s);
}

std::string DeviceCredentials::Mac(std::string_view signed_part) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(signed_part.data()),
                         signed_part.size(), secret_.data());
  return crypto::ToHex(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

std::string DeviceCredentials::IssueSession(std::string_view device_id, uint32_t epoch,
                                            int64_t now_s) const {
  std::string t(kTokenPrefix);
  t.append(device_id);
  t += '~';
  AppendInt(&t, epoch);
  t += '~';
  AppendInt(&t, now_s + options_.session_ttl_s);
  const std::string mac = Mac(t);
  t += '~';
  t += mac;
  return t;
}

Result<SessionClaims> DeviceCredentials::VerifySession(std::string_view token,
                                                       int64_t now_s) const {
  auto bad = [](std::string_view why) {
    return Status::Unauthenticated("session token " + std::string(why));
  };
  if (!token.starts_with(kTokenPrefix) || token.size() > 256) return bad("is malformed");
  const size_t mac_sep = token.rfind('~');
  // The last '~' must follow the prefix (a token whose only '~' is the prefix's used to throw
  // std::out_of_range below: found by device_auth_fuzz).
  if (mac_sep == std::string_view::npos || mac_sep < kTokenPrefix.size()) return bad("is malformed");
  const std::string_view signed_part = token.substr(0, mac_sep);
  const std::string_view mac = token.substr(mac_sep + 1);
  std::string_view f[3];
  if (mac.size() != 2 * crypto_auth_hmacsha256_BYTES) return bad("is malformed");
  std::string_view rest = signed_part.substr(kTokenPrefix.size());
  for (int i = 0; i < 3; ++i) {
    const size_t sep = i < 2 ? rest.find('~') : rest.size();
    if (sep == std::string_view::npos) return bad("is malformed");
    f[i] = rest.substr(0, sep);
    rest.remove_prefix(i < 2 ? sep + 1 : sep);
  }
  int64_t epoch = 0, expires = 0;
  if (!IsValidId(f[0]) || !ParseInt(f[1], &epoch) || !ParseInt(f[2], &expires) || epoch < 1 ||
      epoch > UINT32_MAX) {
    return bad("is malformed");
  }
  const std::string expected = Mac(signed_part);
  if (sodium_memcmp(expected.data(), mac.data(), expected.size()) != 0) {
    return bad("does not verify (forged, or issued before the server secret changed)");
  }
  if (expires <= now_s) return bad("expired: request a new session (POST /v1/agent/session)");
  SessionClaims claims{f[0], static_cast<uint32_t>(epoch), expires};
  Shard& sh = ShardFor(claims.device_id);
  std::lock_guard l(sh.mu);
  auto it = sh.devices.find(std::string(claims.device_id));
  if (it == sh.devices.end()) return bad("names a device without a credential");
  if (it->second.state == CredentialState::kRevoked) return bad("is of a revoked device");
  if (it->second.state == CredentialState::kReset) return bad("is of a device that was reset: enroll again");
  if (it->second.epoch != claims.epoch) return bad("is of a replaced key");
  return claims;
}

Status DeviceCredentials::CheckTimestamp(int64_t timestamp_s, int64_t now_s) const {
  const int64_t skew = timestamp_s > now_s ? timestamp_s - now_s : now_s - timestamp_s;
  if (skew > options_.max_clock_skew_s) {
    return Status::InvalidArgument(
        "timestamp_s " + std::to_string(timestamp_s) + " is " + std::to_string(skew) +
        " s from the server's clock (" + std::to_string(now_s) + "); at most " +
        std::to_string(options_.max_clock_skew_s) + " s allowed");
  }
  return Status::Ok();
}

Result<CredentialInfo> DeviceCredentials::CheckSessionRequest(std::string_view device_id,
                                                              int64_t timestamp_s,
                                                              std::string_view signature,
                                                              int64_t now_s) const {
  auto c = Get(device_id);
  if (!c.ok()) return Status::NotFound("device '" + std::string(device_id) + "' is not enrolled");
  if (c->state == CredentialState::kReset) {
    return Status::NotFound("device '" + std::string(device_id) + "' was reset: enroll again");
  }
  if (c->state == CredentialState::kRevoked) {
    return Status::PermissionDenied("device '" + std::string(device_id) + "' is revoked");
  }
  if (Status s = CheckTimestamp(timestamp_s, now_s); !s.ok()) {
    return Status::Unauthenticated(s.message());
  }
  if (Status s = crypto::Verify(c->key, SessionRequestMessage(device_id, timestamp_s), signature);
      !s.ok()) {
    return Status::Unauthenticated("session request signature does not verify with device '" +
                                   std::string(device_id) + "''s key");
  }
  return *c;
}

}  // namespace rf::server
