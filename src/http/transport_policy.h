// Which transports ringfence's HTTP clients and server accept (docs/server.md "TLS"): HTTPS
// anywhere; plain HTTP only on the loopback interface, unless the operator passes
// --insecure-http. One rule for the server's listen address, the agent and the CLI.
//
//   RF_RETURN_IF_ERROR(http::CheckClientUrl(url, flags.insecure_http));
#ifndef RINGFENCE_HTTP_TRANSPORT_POLICY_H_
#define RINGFENCE_HTTP_TRANSPORT_POLICY_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace rf::http {

// True for "localhost", IPv4 127.0.0.0/8, IPv6 ::1 and ::ffff:127.x.y.z (brackets allowed).
bool IsLoopbackHost(std::string_view host);

// The host of an http:// or https:// URL ("[::1]" as "::1"); InvalidArgument for other schemes or
// an empty host.
Result<std::string> UrlHost(std::string_view url);

// OK for https:// URLs, and for http:// URLs whose host is loopback or when `insecure_http`.
// InvalidArgument naming the URL and the way out otherwise.
Status CheckClientUrl(std::string_view url, bool insecure_http);

// The server side of the rule: OK if `tls`, or the listen `host` is loopback, or `insecure_http`.
Status CheckListen(std::string_view host, bool tls, bool insecure_http);

}  // namespace rf::http

#endif  // RINGFENCE_HTTP_TRANSPORT_POLICY_H_
