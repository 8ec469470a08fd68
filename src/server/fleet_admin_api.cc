#include "server/fleet_admin_api.h"

#include <utility>

#include "server/checkin.h"  // IsValidId

namespace rf::server {
namespace {

constexpr std::string_view kPrefix = "/v1/fleet/devices/";

HttpResponse Fail(const Status& st, std::string_view code = {}) {
  if (!code.empty()) return ErrorResponse(st, code);
  switch (st.code()) {
    case StatusCode::kUnauthenticated: return ErrorResponse(st, "unauthenticated");
    case StatusCode::kPermissionDenied: return ErrorResponse(st, "forbidden_role");
    case StatusCode::kNotFound: return ErrorResponse(st, "unknown_device");
    case StatusCode::kInvalidArgument: return ErrorResponse(st, "invalid_request");
    default: return ErrorResponse(st, "internal");
  }
}

}  // namespace

FleetAdminApi::FleetAdminApi(DeviceCredentials& credentials, Clock& clock,
                             Authenticator authenticate)
    : credentials_(credentials), clock_(clock), authenticate_(std::move(authenticate)) {}

bool FleetAdminApi::Handles(std::string_view path) { return path.starts_with(kPrefix); }

HttpResponse FleetAdminApi::Handle(const HttpRequest& req) const {
  auto who = authenticate_(req.bearer_token);
  if (!who.ok()) return Fail(who.status());
  if (!who->Has(Role::kOperator)) {
    return Fail(Status::PermissionDenied("device credentials need the operator role"));
  }
  std::string_view rest = std::string_view(req.path).substr(kPrefix.size());
  const size_t slash = rest.find('/');
  const std::string_view id = rest.substr(0, slash);
  const std::string_view verb = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (!IsValidId(id)) return Fail(Status::NotFound("not a device id: '" + std::string(id) + "'"));
  if (!req.query.empty()) return Fail(Status::InvalidArgument("this endpoint takes no query"));
  const int64_t now_s = clock_.NowUnixMicros() / 1'000'000;
  auto describe = [&]() -> HttpResponse {
    auto c = credentials_.Get(id);
    if (!c.ok()) return Fail(c.status());
    std::string body = "{\"device_id\":";
    AppendJsonString(&body, id);
    body += ",\"state\":\"";
    body += CredentialStateName(c->state);
    body += "\",\"key_id\":\"" + c->key.KeyId() + "\",\"epoch\":" + std::to_string(c->epoch) + "}";
    return JsonResponse(200, std::move(body));
  };
  auto not_allowed = [&] {
    return MethodNotAllowed(req.method, req.path, verb == "credential" ? "GET" : "POST");
  };
  if (verb == "credential") return req.method == "GET" ? describe() : not_allowed();
  if (verb != "revoke" && verb != "reset") {
    return Fail(Status::NotFound("no such endpoint: " + req.method + " " + req.path), "not_found");
  }
  if (req.method != "POST") return not_allowed();
  if (!req.body.empty() && req.body != "{}") {
    return Fail(Status::InvalidArgument("body: expected none or {}"));
  }
  Status st = verb == "revoke" ? credentials_.Revoke(id, who->name, now_s)
                               : credentials_.Reset(id, who->name, now_s);
  if (!st.ok()) return Fail(st);
  return describe();
}

}  // namespace rf::server
