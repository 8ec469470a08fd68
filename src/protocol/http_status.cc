#include "protocol/http_status.h"

#include <boost/json.hpp>

#include "protocol/canonical_json.h"

namespace rf::protocol {

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange: return 409;
    case StatusCode::kResourceExhausted: return 413;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

Status StatusFromHttp(int http_status, std::string message) {
  switch (http_status) {
    case 401: return Status::Unauthenticated(std::move(message));
    case 403: return Status::PermissionDenied(std::move(message));
    case 404: return Status::NotFound(std::move(message));
    case 409: return Status::Aborted(std::move(message));
    case 413: return Status::ResourceExhausted(std::move(message));
    case 429: return Status::Unavailable(std::move(message));
    default: break;
  }
  if (http_status >= 500) return Status::Unavailable(std::move(message));
  return Status::InvalidArgument(std::move(message));
}

std::string ErrorBodySummary(std::string_view body) {
  auto v = ParseJson(body.substr(0, 4096), 4);
  if (!v.ok() || !v->is_object()) return "";
  const auto* e = v->get_object().if_contains("error");
  if (e == nullptr || !e->is_object()) return "";
  std::string detail;
  auto code = GetString(e->get_object(), "code", "error");
  auto msg = GetString(e->get_object(), "message", "error");
  if (code.ok()) detail = *code;
  if (msg.ok()) detail += (detail.empty() ? "" : ": ") + msg->substr(0, 300);
  return detail;
}

}  // namespace rf::protocol
