// The agent side of docs/protocol.md: request bodies, strict response decoding, and the four calls
// (enroll, check-in, bundle, approvals) over an HttpClient with per-call size and time caps.
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

namespace rf::agent {

// One channel of a check-in response.
struct Directive {
  std::string channel;
  std::string action;  // "install" or "revert"
  int64_t version = 0;
  std::string sha256;
  std::string bundle_url;     // install only
  std::string approvals_url;  // install only
  std::string release;        // the release statement envelope (JSON text)
  std::string reason;         // revert only (may be empty)
};

struct CheckinResponse {
  int64_t poll_after_s = 60;
  int64_t server_time_s = 0;
  // > 0: this check-in reported an apply the server wants confirmed: check in again after this
  // long, jittered (rollout::ConfirmationDelayMicros; docs/protocol.md "Post-apply confirmation").
  int64_t confirm_after_ms = 0;
  std::vector<Directive> directives;
};

// A device session (docs/protocol.md "Device credentials"): what check-ins and downloads carry.
struct DeviceSession {
  std::string token;
  int64_t expires_s = 0;     // server clock
  int64_t poll_after_s = 60;
};

// What identifies and describes the device (enroll and check-in).
struct DeviceInfo {
  std::string device_id;
  std::map<std::string, std::string> attrs;
  std::string capabilities_json;  // the capability manifest, a JSON object ("{}" when none)
};

struct ProtocolLimits {
  size_t max_checkin_response_bytes = 256u << 10;
  size_t max_bundle_bytes = 16u << 20;
  size_t max_approvals_bytes = 1u << 20;
  int64_t checkin_timeout_ms = 15'000;
  int64_t download_timeout_ms = 120'000;
};

// Validates device id and attrs against the protocol's rules (InvalidArgument naming the problem).
Status ValidateDeviceInfo(const DeviceInfo& device);

// The enrollment body: the device, its public key and the proof of possession signed by `key`
// at `now_s` (crypto::EnrollProofMessage).
std::string EncodeEnrollRequest(const DeviceInfo& device, const crypto::SigningKey& key,
                                int64_t now_s);
// The session request body, signed by `key` at `now_s` (crypto::SessionRequestMessage).
std::string EncodeSessionRequest(const std::string& device_id, const crypto::SigningKey& key,
                                 int64_t now_s);
// Strict decoding of the enrollment and session responses.
Result<DeviceSession> DecodeSessionResponse(std::string_view body);
// The check-in body for `seq`: device, installed channels and the pending health report.
std::string EncodeCheckinRequest(const DeviceInfo& device, const AgentState& state, int64_t seq);
// Strict decoding: unknown keys, wrong types, bad digests, channel names or actions are
// InvalidArgument naming the key.
Result<CheckinResponse> DecodeCheckinResponse(std::string_view body);

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
