// The agent side of docs/protocol.md: the four calls (enroll, check-in, bundle, approvals) over an
// HttpClient with per-call size and time caps. Bodies are encoded and decoded by the protocol
// library (protocol/agent_messages.h); HTTP errors map to Status by protocol/http_status.h.
//
// Nothing a server sends is trusted beyond its shape: directives only say what to fetch; the
// Verifier decides what is applied.
#ifndef RINGFENCE_AGENT_PROTOCOL_CLIENT_H_
#define RINGFENCE_AGENT_PROTOCOL_CLIENT_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent_state.h"
#include "agent/http_client.h"
#include "core/status.h"
#include "crypto/crypto.h"
#include "protocol/agent_messages.h"

namespace rf::agent {

// The messages and their codecs are the protocol's (protocol/agent_messages.h).
using protocol::CheckinResponse;
using protocol::DecodeCheckinResponse;
using protocol::DecodeSessionResponse;
using protocol::DeviceInfo;
using protocol::DeviceSession;
using protocol::Directive;
using protocol::EncodeEnrollRequest;
using protocol::EncodeSessionRequest;
using protocol::RejectedDirective;
using protocol::ValidateDeviceInfo;

struct ProtocolLimits {
  size_t max_checkin_response_bytes = 256u << 10;
  size_t max_bundle_bytes = 16u << 20;
  size_t max_approvals_bytes = 1u << 20;
  int64_t checkin_timeout_ms = 15'000;
  int64_t download_timeout_ms = 120'000;
};

// The check-in body for `seq`: device, installed channels and the pending health report
// (protocol::EncodeCheckinRequest of the agent's state).
std::string EncodeCheckinRequest(const DeviceInfo& device, const AgentState& state, int64_t seq);

class ProtocolClient {
 public:
  // `http` must outlive the client. `server_url`: "http://host:port". `token`: the fleet's
  // enrollment token (used for enrollment only).
  ProtocolClient(HttpClient* http, std::string server_url, std::string token,
                 ProtocolLimits limits);

  // Enrolls with the fleet token and the device's key; the session it returns is kept for the
  // calls below. 409 key_conflict -> Aborted, 403 device_revoked -> PermissionDenied.
  Result<DeviceSession> Enroll(const DeviceInfo& device, const crypto::SigningKey& key,
                               int64_t now_s);
  // A new session signed by the device's key (no fleet token); kept for the calls below.
  // 404 unknown_device (not enrolled, or reset) -> NotFound, 403 revoked -> PermissionDenied.
  Result<DeviceSession> NewSession(const std::string& device_id, const crypto::SigningKey& key,
                                   int64_t now_s);
  // The session in use ("" if none) and forgetting it (after a 401).
  const DeviceSession& session() const { return session_; }
  void ClearSession() { session_ = {}; }
  // Server refusals map to: 404 unknown_device -> NotFound, 409 stale_checkin -> Aborted,
  // 401 -> Unauthenticated, 403 -> PermissionDenied, other 4xx -> InvalidArgument,
  // 5xx/429 -> Unavailable. The message carries the server's error code and message.
  // Check-ins and downloads carry the session token.
  Result<CheckinResponse> Checkin(std::string_view body);
  // The bundle envelope bytes (size-capped, not yet verified).
  Result<std::string> FetchBundle(const Directive& d);
  // Approval envelope texts (size-capped, not yet verified).
  Result<std::vector<std::string>> FetchApprovals(const Directive& d);

 private:
  // Sends `req` with `bearer` (none if empty).
  Result<HttpResponse> Call(HttpRequest req, const std::string& bearer, std::string_view what);
  Result<DeviceSession> PostForSession(const std::string& path, std::string body,
                                       const std::string& bearer, std::string_view what);

  HttpClient* http_;
  std::string server_url_;
  std::string token_;
  ProtocolLimits limits_;
  DeviceSession session_;
};

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_PROTOCOL_CLIENT_H_
