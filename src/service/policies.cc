#include "service/policies.h"

#include "crypto/crypto.h"
#include "protocol/identifiers.h"
#include "service/service_common.h"

namespace rf::service {

using server::Principal;
using server::Role;

store::ChannelPolicy Policies::For(std::string_view channel) const {
  return state_.Read()->PolicyFor(channel);
}

Status Policies::Set(const Principal& actor, const store::ChannelPolicy& policy) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kAdmin, "set channel policies"));
  RF_RETURN_IF_ERROR(protocol::CheckChannel(policy.channel));
  if (policy.approvals_required == 0 && !state_.options().allow_zero_approvals) {
    return Status::InvalidArgument(
        "approvals must be between 1 and 32 (0 only on a server started with --allow-unreviewed)");
  }
  if (policy.approvals_required < 0 || policy.approvals_required > 32) {
    return Status::InvalidArgument("approvals must be between 1 and 32");
  }
  if (policy.approver_roles.empty() || ContainsRole(policy.approver_roles, Role::kAgent)) {
    return Status::InvalidArgument("roles must name at least one role and not agent");
  }
  std::vector<std::string> keyids;
  std::vector<crypto::PublicKey> keys;
  for (size_t i = 0; i < policy.publisher_keys.size(); ++i) {
    auto k = crypto::DecodePublicKeyFile(policy.publisher_keys[i]);
    if (!k.ok()) return k.status().WithPrefix("publisher_keys[" + std::to_string(i) + "]");
    keys.push_back(*k);
    keyids.push_back(k->KeyId());
  }
  // The same key twice (even as two differently formatted key files) would let one signature
  // meet a threshold of two; refused rather than silently deduplicated.
  RF_RETURN_IF_ERROR(crypto::CheckDistinctKeys(keys, "publisher_keys"));
  if (policy.publisher_keys.empty() ? policy.publisher_threshold != 0
                                    : (policy.publisher_threshold < 1 ||
                                       policy.publisher_threshold >
                                           static_cast<int>(policy.publisher_keys.size()))) {
    return Status::InvalidArgument(
        "publisher_threshold must be 0 without publisher keys, else between 1 and their number");
  }
  Status st;
  {
    auto w = state_.Write();
    store::WriteBatch b;
    b.policies.push_back(policy);
    b.audit.push_back({actor.name, "policy.set", "channel " + policy.channel,
                       Details().Int("approvals", policy.approvals_required)
                           .StrList("roles", RoleNames(policy.approver_roles))
                           .StrList("publisher_keyids", keyids)
                           .Int("publisher_threshold", policy.publisher_threshold).Done(),
                       state_.NowMicros()});
    st = w.Commit(std::move(b), [&](Model& m) { m.policies[policy.channel] = policy; });
  }
  if (st.ok()) state_.NotifyChange();
  return st;
}

std::vector<store::ChannelPolicy> Policies::List() const {
  return ValuesOf(state_.Read()->policies);
}

}  // namespace rf::service
