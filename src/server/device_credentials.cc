#include "server/device_credentials.h"

#include <sodium.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "protocol/identifiers.h"
#include "server/checkin.h"  // IsValidId

namespace rf::server {
namespace {

constexpr std::string_view kJournalMagic = "ringfence-credentials v1";
constexpr std::string_view kTokenPrefix = "rfs1~";
constexpr size_t kMaxJournalBytes = size_t{1} << 30;

bool ParseInt(std::string_view s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// Splits `line` at single spaces into exactly `n` fields.
bool SplitFields(std::string_view line, std::string_view* f, int n) {
  for (int i = 0; i < n; ++i) {
    const size_t sp = i + 1 < n ? line.find(' ') : line.size();
    if (sp == std::string_view::npos || sp == 0) return false;
    f[i] = line.substr(0, sp);
    line.remove_prefix(i + 1 < n ? sp + 1 : sp);
  }
  return true;
}

std::string KeyLine(std::string_view id, const CredentialInfo& c, int64_t now_s) {
  std::string line = "K ";
  line.append(id);
  line += ' ';
  line += crypto::ToHex(std::string_view(reinterpret_cast<const char*>(c.key.bytes.data()), 32));
  line += ' ';
  AppendInt(&line, c.epoch);
  line += ' ';
  AppendInt(&line, now_s);
  line += '\n';
  return line;
}

std::string StateLine(char kind, std::string_view id, std::string_view actor, int64_t now_s) {
  std::string line(1, kind);
  line += ' ';
  line.append(id);
  line += ' ';
  AppendInt(&line, now_s);
  line += ' ';
  line.append(actor);
  line += '\n';
  return line;
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

DeviceCredentials::DeviceCredentials(Env env, DeviceCredentialsOptions options)
    : env_(env), options_(std::move(options)), shards_(new Shard[kShards]) {
  if (sodium_init() < 0) std::abort();
  randombytes_buf(secret_.data(), secret_.size());
}

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
  if (options_.journal_path.empty() || !env_.fs->Exists(options_.journal_path)) return Status::Ok();
  RF_ASSIGN_OR_RETURN(std::string text, env_.fs->ReadFile(options_.journal_path, kMaxJournalBytes));
  size_t lines = 0, valid = 0;
  RF_RETURN_IF_ERROR(Replay(text, &lines, &valid));
  const size_t devices = size();
  if (valid != text.size() || lines > 2 * devices + 1024) {
    // A torn tail (never acknowledged) or mostly superseded lines: rewrite the live state.
    std::string out(kJournalMagic);
    out += '\n';
    std::string states;
    for (int i = 0; i < kShards; ++i) {
      std::lock_guard l(shards_[i].mu);
      for (const auto& [id, c] : shards_[i].devices) {
        out += KeyLine(id, c, 0);
        if (c.state != CredentialState::kActive) {
          states += StateLine(c.state == CredentialState::kRevoked ? 'V' : 'X', id, "compaction", 0);
        }
      }
    }
    out += states;
    RF_RETURN_IF_ERROR(env_.fs->WriteFileAtomic(options_.journal_path, out, 0600));
  }
  return Status::Ok();
}

Status DeviceCredentials::Replay(std::string_view text, size_t* lines, size_t* valid_bytes) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) break;  // a torn last append: never acknowledged
    const std::string_view line = text.substr(pos, eol - pos);
    ++*lines;
    auto corrupt = [&](std::string_view why) {
      return Status::DataLoss(options_.journal_path + ":" + std::to_string(*lines) + ": " +
                              std::string(why));
    };
    if (*lines == 1) {
      if (line != kJournalMagic) return corrupt("not a credentials journal");
    } else if (line.starts_with("K ")) {
      std::string_view f[4];
      int64_t epoch, t;
      if (!SplitFields(line.substr(2), f, 4) || !IsValidId(f[0]) || f[1].size() != 64 ||
          !ParseInt(f[2], &epoch) || epoch < 1 || epoch > UINT32_MAX || !ParseInt(f[3], &t)) {
        return corrupt("malformed key line");
      }
      auto raw = crypto::FromHex(f[1]);
      if (!raw.ok() || raw->size() != 32) return corrupt("malformed public key");
      CredentialInfo c;
      std::memcpy(c.key.bytes.data(), raw->data(), 32);
      c.epoch = static_cast<uint32_t>(epoch);
      Shard& sh = ShardFor(f[0]);
      std::lock_guard l(sh.mu);
      sh.devices[std::string(f[0])] = c;
    } else if (line.starts_with("V ") || line.starts_with("X ")) {
      std::string_view f[3];
      int64_t t;
      if (!SplitFields(line.substr(2), f, 3) || !IsValidId(f[0]) || !ParseInt(f[1], &t) ||
          !protocol::IsValidPrincipalName(f[2])) {
        return corrupt("malformed state line");
      }
      Shard& sh = ShardFor(f[0]);
      std::lock_guard l(sh.mu);
      auto it = sh.devices.find(std::string(f[0]));
      if (it == sh.devices.end()) return corrupt("state change of a device without a key");
      it->second.state = line[0] == 'V' ? CredentialState::kRevoked : CredentialState::kReset;
    } else {
      return corrupt("unknown line kind");
    }
    pos = eol + 1;
  }
  *valid_bytes = pos;  // 0 when even the header is torn (the journal was being created)
  return Status::Ok();
}

Status DeviceCredentials::Journal(const std::string& line) {
  if (options_.journal_path.empty()) return Status::Ok();
  // REQUIRES: journal_mu_ held.
  if (!env_.fs->Exists(options_.journal_path)) {
    RF_RETURN_IF_ERROR(
        env_.fs->AppendDurable(options_.journal_path, std::string(kJournalMagic) + "\n" + line, 0600));
    return Status::Ok();
  }
  return env_.fs->AppendDurable(options_.journal_path, line, 0600);
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

Result<CredentialInfo> DeviceCredentials::Register(std::string_view device_id,
                                                   const crypto::PublicKey& key, int64_t now_s) {
  auto decide = [&](const CredentialInfo& c) -> Status {
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
  // Fast path: re-enrollment with the registered key (no journal write, no journal lock).
  if (auto c = Get(device_id); c.ok()) {
    RF_RETURN_IF_ERROR(decide(*c));
    if (c->state == CredentialState::kActive) return *c;
  }
  // Every mutation holds journal_mu_, so the state cannot change between the check and the apply.
  std::lock_guard jl(journal_mu_);
  CredentialInfo next;
  next.key = key;
  next.epoch = 1;
  if (auto c = Get(device_id); c.ok()) {
    RF_RETURN_IF_ERROR(decide(*c));
    if (c->state == CredentialState::kActive) return *c;
    next.epoch = c->epoch + 1;  // after a reset, any key (the same one too) starts a new epoch
  }
  RF_RETURN_IF_ERROR(Journal(KeyLine(device_id, next, now_s)));
  Shard& sh = ShardFor(device_id);
  std::lock_guard l(sh.mu);
  sh.devices[std::string(device_id)] = next;
  return next;
}

Status DeviceCredentials::ChangeState(std::string_view device_id, CredentialState to, char kind,
                                      std::string_view actor, int64_t now_s) {
  // The actor is the authenticated principal: the one principal-name rule (protocol/identifiers.h).
  RF_RETURN_IF_ERROR(protocol::CheckPrincipalName(actor));
  std::lock_guard jl(journal_mu_);
  RF_ASSIGN_OR_RETURN(CredentialInfo c, Get(device_id));
  if (c.state == to) return Status::Ok();
  RF_RETURN_IF_ERROR(Journal(StateLine(kind, device_id, actor, now_s)));
  Shard& sh = ShardFor(device_id);
  std::lock_guard l(sh.mu);
  sh.devices[std::string(device_id)].state = to;
  return Status::Ok();
}

Status DeviceCredentials::Revoke(std::string_view device_id, std::string_view actor,
                                 int64_t now_s) {
  return ChangeState(device_id, CredentialState::kRevoked, 'V', actor, now_s);
}

Status DeviceCredentials::Reset(std::string_view device_id, std::string_view actor,
                                int64_t now_s) {
  return ChangeState(device_id, CredentialState::kReset, 'X', actor, now_s);
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
