#include "server/credential_copy.h"

#include <map>
#include <optional>
#include <string>

namespace rf::server {
namespace {

bool SameCredential(const CredentialInfo& a, const CredentialInfo& b) {
  return a.key.bytes == b.key.bytes && a.epoch == b.epoch && a.state == b.state;
}

std::string Describe(const CredentialInfo& c) {
  return "key " + c.key.KeyId().substr(0, 16) + " epoch " + std::to_string(c.epoch) + " " +
         std::string(CredentialStateName(c.state));
}

Result<std::map<std::string, CredentialInfo, std::less<>>> LoadAll(CredentialStore& s,
                                                                   std::string_view which) {
  std::map<std::string, CredentialInfo, std::less<>> all;
  Status st = s.Load([&all](std::string_view id, const CredentialInfo& c) {
    all.insert_or_assign(std::string(id), c);
  });
  if (!st.ok()) return st.WithPrefix(which);
  return all;
}

}  // namespace

Result<CredentialCopyStats> CopyCredentials(CredentialStore& from, CredentialStore& to,
                                            std::string_view actor, int64_t now_s) {
  RF_ASSIGN_OR_RETURN(auto source, LoadAll(from, "source credentials"));
  RF_ASSIGN_OR_RETURN(auto target, LoadAll(to, "target credentials"));
  CredentialCopyStats stats;
  // The target may only hold what an earlier run of this copy wrote.
  for (const auto& [id, c] : target) {
    auto it = source.find(id);
    if (it == source.end()) {
      return Status::FailedPrecondition("target credentials: device '" + id +
                                        "' is not in the source; copy only into a new store");
    }
    if (!SameCredential(it->second, c)) {
      return Status::FailedPrecondition("target credentials: device '" + id + "' holds " +
                                        Describe(c) + ", the source " + Describe(it->second));
    }
  }
  for (const auto& [id, c] : source) {
    if (target.count(id) != 0) {
      ++stats.already_there;
      continue;
    }
    const CredentialInfo wanted = c;
    auto changed = to.Change(
        id, std::nullopt, actor, now_s,
        [&](const std::optional<CredentialInfo>& current)
            -> Result<std::optional<CredentialInfo>> {
          if (!current) return std::optional<CredentialInfo>(wanted);
          if (SameCredential(*current, wanted)) return std::optional<CredentialInfo>();
          return Status::FailedPrecondition("target credentials: device '" + id +
                                            "' was changed during the copy (" +
                                            Describe(*current) + ")");
        });
    if (!changed.ok()) return changed.status();
    switch (c.state) {
      case CredentialState::kActive: ++stats.active; break;
      case CredentialState::kRevoked: ++stats.revoked; break;
      case CredentialState::kReset: ++stats.reset; break;
    }
  }
  return stats;
}

}  // namespace rf::server
