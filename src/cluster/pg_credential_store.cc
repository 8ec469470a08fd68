#include "cluster/pg_credential_store.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace rf::cluster {
namespace {

using server::CredentialInfo;
using server::CredentialState;

constexpr size_t kFollowPageRows = 10'000;

store::DeviceCredentialRow ToRow(const CredentialInfo& c) {
  store::DeviceCredentialRow r;
  r.public_key_hex =
      crypto::ToHex(std::string_view(reinterpret_cast<const char*>(c.key.bytes.data()), 32));
  r.epoch = c.epoch;
  r.state = std::string(server::CredentialStateName(c.state));
  r.seq = c.version;
  return r;
}

// DataLoss naming the row if the database holds something this code would never have written.
Result<CredentialInfo> FromRow(const store::DeviceCredentialRow& r) {
  auto bad = [&](std::string_view why) {
    return Status::DataLoss("postgresql: device_credentials row '" + r.device_id + "': " +
                            std::string(why));
  };
  CredentialInfo c;
  auto raw = crypto::FromHex(r.public_key_hex);
  if (!raw.ok() || raw->size() != 32) return bad("public_key is not 64 hex digits");
  std::memcpy(c.key.bytes.data(), raw->data(), 32);
  if (r.epoch < 1 || r.epoch > UINT32_MAX) return bad("epoch out of range");
  c.epoch = static_cast<uint32_t>(r.epoch);
  if (r.state == "active") {
    c.state = CredentialState::kActive;
  } else if (r.state == "revoked") {
    c.state = CredentialState::kRevoked;
  } else if (r.state == "reset") {
    c.state = CredentialState::kReset;
  } else {
    return bad("unknown state '" + r.state + "'");
  }
  c.version = r.seq;
  return c;
}

}  // namespace

Status PgCredentialStore::Load(const Sink& sink) {
  Status bad;
  int64_t seq = 0;
  RF_RETURN_IF_ERROR(store_.LoadDeviceCredentials(
      [&](const store::DeviceCredentialRow& row) {
        auto c = FromRow(row);
        if (!c.ok()) {
          if (bad.ok()) bad = c.status();
          return;
        }
        sink(row.device_id, *c);
      },
      &seq));
  RF_RETURN_IF_ERROR(bad);
  seen_.store(seq);
  return Status::Ok();
}

Result<std::optional<CredentialInfo>> PgCredentialStore::Change(
    std::string_view device_id, const std::optional<CredentialInfo>& /*cached*/,
    std::string_view actor, int64_t now_s, const Decide& decide) {
  RF_ASSIGN_OR_RETURN(
      std::optional<store::DeviceCredentialRow> row,
      store_.ChangeDeviceCredential(
          device_id, actor, now_s,
          [&](const std::optional<store::DeviceCredentialRow>& current)
              -> Result<std::optional<store::DeviceCredentialRow>> {
            std::optional<CredentialInfo> cur;
            if (current) {
              RF_ASSIGN_OR_RETURN(cur, FromRow(*current));
            }
            RF_ASSIGN_OR_RETURN(std::optional<CredentialInfo> next, decide(cur));
            if (!next) return std::optional<store::DeviceCredentialRow>();
            return std::optional<store::DeviceCredentialRow>(ToRow(*next));
          }));
  if (!row) return std::optional<CredentialInfo>();
  RF_ASSIGN_OR_RETURN(CredentialInfo c, FromRow(*row));
  return std::optional<CredentialInfo>(c);
}

Status PgCredentialStore::Follow(int wait_ms, const Sink& sink) {
  RF_RETURN_IF_ERROR(store_.WaitForCredentialChange(wait_ms).status());
  for (;;) {
    RF_ASSIGN_OR_RETURN(auto rows, store_.DeviceCredentialsSince(seen_.load(), kFollowPageRows));
    for (const store::DeviceCredentialRow& row : rows) {
      RF_ASSIGN_OR_RETURN(CredentialInfo c, FromRow(row));
      sink(row.device_id, c);
      seen_.store(row.seq);
    }
    if (rows.size() < kFollowPageRows) return Status::Ok();
  }
}

}  // namespace rf::cluster
