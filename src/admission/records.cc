#include "admission/records.h"

namespace rf::admission {

Result<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kAuthor, Role::kReviewer, Role::kOperator, Role::kAdmin, Role::kAgent}) {
    if (RoleName(r) == name) return r;
  }
  return Status::InvalidArgument("unknown role '" + std::string(name) +
                                 "' (author, reviewer, operator, admin, agent)");
}

std::string JoinRoleNames(const std::vector<Role>& roles) {
  std::string out;
  for (Role r : roles) {
    if (!out.empty()) out += ',';
    out += RoleName(r);
  }
  return out;
}

}  // namespace rf::admission
