// The mapping between Status codes and HTTP statuses, both ways (docs/protocol.md "Conventions",
// docs/operator-api.md "Errors"): the server answers every refusal with HttpStatusFor(status),
// and the agent, the CLI and the demo turn an HTTP error back into a Status with StatusFromHttp.
//
// Pure. Thread-safe.
#ifndef RINGFENCE_PROTOCOL_HTTP_STATUS_H_
#define RINGFENCE_PROTOCOL_HTTP_STATUS_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace rf::protocol {

// Status -> HTTP: InvalidArgument 400, Unauthenticated 401, PermissionDenied 403, NotFound 404,
// AlreadyExists/Aborted/FailedPrecondition/OutOfRange 409, ResourceExhausted 413, Unavailable 503,
// DeadlineExceeded 504, OK 200, everything else 500.
int HttpStatusFor(const Status& status);

// HTTP -> Status (the client side; `http_status` is not 2xx): 404 NotFound, 409 Aborted,
// 401 Unauthenticated, 403 PermissionDenied, 413 ResourceExhausted, 429 and every 5xx Unavailable
// (worth retrying later), any other status InvalidArgument. 409 maps to
// Aborted because a client cannot tell the server's AlreadyExists/FailedPrecondition apart
// without the error body's code (callers that care look at the code in `message`).
Status StatusFromHttp(int http_status, std::string message);

// The `code` and `message` of an error body {"error":{"code":..,"message":..}} as
// "code: message" (the message cut at 300 bytes), or "" if `body` is not one.
std::string ErrorBodySummary(std::string_view body);

}  // namespace rf::protocol

#endif  // RINGFENCE_PROTOCOL_HTTP_STATUS_H_
