// Helpers shared by the release service's concerns (src/service): the audit entries' details JSON
// and the caller's role check. Internal to src/service; header-only.
#ifndef RINGFENCE_SERVICE_SERVICE_COMMON_H_
#define RINGFENCE_SERVICE_SERVICE_COMMON_H_

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "admission/admission.h"
#include "core/status.h"
#include "server/interfaces.h"
#include "store/release_codec.h"
#include "core/bundle.h"

namespace rf::service {

// A JSON object for audit details, keys in insertion order.
class Details {
 public:
  Details& Str(std::string_view k, std::string_view v) {
    Key(k);
    AppendJsonString(&out_, v);
    return *this;
  }
  Details& Int(std::string_view k, int64_t v) {
    Key(k);
    out_ += std::to_string(v);
    return *this;
  }
  Details& Bool(std::string_view k, bool v) {
    Key(k);
    out_ += v ? "true" : "false";
    return *this;
  }
  Details& StrList(std::string_view k, const std::vector<std::string>& v) {
    Key(k);
    out_ += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out_ += ',';
      AppendJsonString(&out_, v[i]);
    }
    out_ += ']';
    return *this;
  }
  std::string Done() const { return out_ + "}"; }

 private:
  void Key(std::string_view k) {
    if (out_.size() > 1) out_ += ',';
    AppendJsonString(&out_, k);
    out_ += ':';
  }
  std::string out_ = "{";
};

inline std::vector<std::string> RoleNames(const std::vector<server::Role>& roles) {
  std::vector<std::string> out;
  for (server::Role r : roles) out.emplace_back(store::RoleString(r));
  return out;
}

// PermissionDenied naming the caller, the role and what it was needed for.
inline Status Require(const server::Principal& actor, server::Role role, std::string_view what) {
  if (actor.Has(role)) return Status::Ok();
  return Status::PermissionDenied("principal '" + actor.name + "' lacks role " +
                                  std::string(store::RoleString(role)) + " required to " +
                                  std::string(what));
}

inline bool ContainsRole(const std::vector<server::Role>& roles, server::Role r) {
  return std::find(roles.begin(), roles.end(), r) != roles.end();
}

inline std::string Short(std::string_view sha) { return admission::ShortSha(sha); }

// The values of a model map, in key order (the List() of a concern).
template <typename Map>
std::vector<typename Map::mapped_type> ValuesOf(const Map& map) {
  std::vector<typename Map::mapped_type> out;
  out.reserve(map.size());
  for (const auto& entry : map) out.push_back(entry.second);
  return out;
}

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_SERVICE_COMMON_H_
