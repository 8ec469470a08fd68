#include "service/principals.h"

#include "crypto/crypto.h"
#include "protocol/identifiers.h"
#include "service/service_common.h"

namespace rf::service {

using server::Principal;
using server::Role;

Result<Principal> Principals::Authenticate(std::string_view bearer_token) const {
  if (bearer_token.empty()) return Status::Unauthenticated("missing bearer token");
  const std::string hash = crypto::Sha256Hex(bearer_token);
  auto m = state_.Read();
  auto it = m->principal_by_token.find(hash);
  if (it == m->principal_by_token.end()) return Status::Unauthenticated("unknown token");
  const store::PrincipalRecord& p = m->principals.at(it->second);
  return Principal{p.name, p.roles};
}

Status Principals::Ensure(std::string_view name, const std::vector<Role>& roles,
                          std::string_view token) {
  RF_RETURN_IF_ERROR(protocol::CheckPrincipalName(name));
  if (token.size() < 16) return Status::InvalidArgument("token too short");
  Status st;
  {
    auto w = state_.Write();
    const Model& m = w.model();
    const std::string token_sha256 = crypto::Sha256Hex(token);
    auto existing = m.principals.find(name);
    if (existing != m.principals.end() && existing->second.token_sha256 == token_sha256) {
      return Status::Ok();
    }
    if (auto owner = m.principal_by_token.find(token_sha256);
        owner != m.principal_by_token.end() && owner->second != name) {
      return Status::AlreadyExists("token already belongs to another principal");
    }
    // New, or its token file was replaced (`ringfence server rotate-secrets`): the old token stops
    // working now.
    const bool rotated = existing != m.principals.end();
    store::PrincipalRecord p = rotated ? existing->second : store::PrincipalRecord{};
    const std::string old_hash = p.token_sha256;
    if (!rotated) {
      p.name = std::string(name);
      p.roles = roles;
      p.created_by = "system";
      p.created_us = state_.NowMicros();
    }
    p.token_sha256 = token_sha256;
    store::WriteBatch b;
    b.principals.push_back(p);
    b.audit.push_back({"system", rotated ? "principal.token_rotated" : "principal.bootstrap",
                       "principal " + p.name, Details().StrList("roles", RoleNames(p.roles)).Done(),
                       state_.NowMicros()});
    st = w.Commit(std::move(b), [&](Model& mm) {
      if (rotated) mm.principal_by_token.erase(old_hash);
      mm.principal_by_token[p.token_sha256] = p.name;
      mm.principals[p.name] = p;
    });
  }
  if (st.ok()) state_.NotifyChange();
  return st;
}

Result<std::string> Principals::Create(const Principal& actor, std::string_view name,
                                       const std::vector<Role>& roles,
                                       std::string_view reviewer_public_key) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kAdmin, "create principals"));
  RF_RETURN_IF_ERROR(protocol::CheckPrincipalName(name));
  if (roles.empty()) return Status::InvalidArgument("a principal needs at least one role");
  if (ContainsRole(roles, Role::kAgent)) {
    return Status::InvalidArgument(
        "the agent role belongs to the server's enrollment token, not to principals");
  }
  std::string keyid;
  if (!reviewer_public_key.empty()) {
    auto key = crypto::DecodePublicKeyFile(reviewer_public_key);
    if (!key.ok()) return key.status().WithPrefix("reviewer_public_key");
    keyid = key->KeyId();
  }
  std::string token = crypto::SecretSource::BearerToken();
  Status st;
  {
    auto w = state_.Write();
    const Model& m = w.model();
    if (m.principals.count(name)) {
      return Status::AlreadyExists("principal '" + std::string(name) + "' exists");
    }
    if (!keyid.empty()) {
      for (const auto& [n, p] : m.principals) {
        if (p.reviewer_key.empty()) continue;
        auto other = crypto::DecodePublicKeyFile(p.reviewer_key);
        if (other.ok() && other->KeyId() == keyid) {
          return Status::AlreadyExists("reviewer key " + Short(keyid) +
                                       " is already registered to principal '" + n + "'");
        }
      }
    }
    store::PrincipalRecord p;
    p.name = std::string(name);
    p.roles = roles;
    p.token_sha256 = crypto::Sha256Hex(token);
    p.reviewer_key = std::string(reviewer_public_key);
    p.created_by = actor.name;
    p.created_us = state_.NowMicros();
    store::WriteBatch b;
    b.principals.push_back(p);
    b.audit.push_back({actor.name, "principal.create", "principal " + p.name,
                       Details().StrList("roles", RoleNames(roles)).Str("reviewer_keyid", keyid).Done(),
                       p.created_us});
    st = w.Commit(std::move(b), [&](Model& mm) {
      mm.principal_by_token[p.token_sha256] = p.name;
      mm.principals[p.name] = p;
    });
  }
  if (!st.ok()) return st;
  state_.NotifyChange();
  return token;
}

std::vector<PrincipalInfo> Principals::List() const {
  auto m = state_.Read();
  std::vector<PrincipalInfo> out;
  for (const auto& [n, p] : m->principals) {
    PrincipalInfo i{p.name, p.roles, "", p.created_by, p.created_us};
    if (!p.reviewer_key.empty()) {
      auto k = crypto::DecodePublicKeyFile(p.reviewer_key);
      if (k.ok()) i.reviewer_keyid = k->KeyId();
    }
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace rf::service
