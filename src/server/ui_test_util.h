// Test fixtures of the dashboard endpoints' unit tests (ui_*_test.cc): one set of principals and
// one request builder. Tests only.
#ifndef RINGFENCE_SERVER_UI_TEST_UTIL_H_
#define RINGFENCE_SERVER_UI_TEST_UTIL_H_

#include <string>
#include <string_view>

#include "core/status.h"
#include "server/interfaces.h"

namespace rf::server {

// "op": olivia (operator); "rev": rita (reviewer); "agent": an agent; any other token: 401.
inline Result<Principal> UiTestAuth(std::string_view token) {
  if (token == "op") return Principal{"olivia", {Role::kOperator}};
  if (token == "rev") return Principal{"rita", {Role::kReviewer}};
  if (token == "agent") return Principal{"agent", {Role::kAgent}};
  return Status::Unauthenticated("unknown token");
}

// GET `path` with bearer `token`.
inline HttpRequest UiTestGet(std::string path, std::string token = "op") {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.bearer_token = std::move(token);
  return r;
}

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_UI_TEST_UTIL_H_
