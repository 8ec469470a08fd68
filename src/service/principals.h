// Principals of the release service: who may call it (bearer tokens) and with which roles.
// One concern of the service (release_service.h); it reads and commits through ServiceState.
//
// Thread-safety: all methods may be called concurrently from any thread (ServiceState's contract).
#ifndef RINGFENCE_SERVICE_PRINCIPALS_H_
#define RINGFENCE_SERVICE_PRINCIPALS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "server/interfaces.h"
#include "service/service_state.h"

namespace rf::service {

struct PrincipalInfo {
  std::string name;
  std::vector<server::Role> roles;
  std::string reviewer_keyid;  // "" if no reviewer key
  std::string created_by;
  int64_t created_us = 0;
};

class Principals {
 public:
  // `state` must outlive this object.
  explicit Principals(ServiceState& state) : state_(state) {}

  // The principal holding `bearer_token`; Unauthenticated if none.
  Result<server::Principal> Authenticate(std::string_view bearer_token) const;
  // Server start: creates principal `name` with `roles` holding `token`; if it exists with another
  // token (its token file was rotated), replaces the token hash (audited principal.token_rotated)
  // and keeps its roles. No caller check: for the server's own bootstrap (admin and agent tokens
  // read from the data directory), not for the API.
  Status Ensure(std::string_view name, const std::vector<server::Role>& roles,
                std::string_view token);
  // Admin only. Creates a principal and returns its fresh random bearer token (shown once; only its
  // SHA-256 is stored). `reviewer_public_key`: public key file JSON, or "" for none. Names:
  // [a-z0-9._-]{1,64} other than `.` and `..` (protocol/identifiers.h). A reviewer key may belong
  // to one principal only. The agent role is refused (it belongs to the enrollment token made by
  // Ensure).
  Result<std::string> Create(const server::Principal& actor, std::string_view name,
                             const std::vector<server::Role>& roles,
                             std::string_view reviewer_public_key);
  std::vector<PrincipalInfo> List() const;

 private:
  ServiceState& state_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_PRINCIPALS_H_
