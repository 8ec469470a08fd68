#include "agent/protocol_client.h"

#include <boost/json.hpp>

#include "agent/canonical_json.h"
#include "protocol/http_status.h"

namespace rf::agent {
namespace {

// A non-2xx answer as a Status carrying the server's error code and message.
Status ServerError(int http_status, std::string_view body, std::string_view what) {
  std::string detail = protocol::ErrorBodySummary(body);
  if (detail.empty()) detail = "(no error body)";
  return protocol::StatusFromHttp(
      http_status, std::string(what) + ": HTTP " + std::to_string(http_status) + " " + detail);
}

}  // namespace

std::string EncodeCheckinRequest(const DeviceInfo& device, const AgentState& state, int64_t seq) {
  std::vector<protocol::ChannelReport> channels;
  channels.reserve(state.channels.size());
  for (const auto& [name, c] : state.channels) channels.push_back({name, c.current, c.lkg});
  std::vector<protocol::ApplyResult> apply;
  for (const ApplyResult& a : state.pending.apply) {
    // The agent records only the protocol's outcome names (agent_state.h).
    const auto outcome = protocol::ApplyOutcomeFromName(a.result);
    if (!outcome) continue;
    apply.push_back({a.channel, a.version, a.sha256, *outcome, a.reason});
  }
  std::vector<protocol::QuarantinedVersion> quarantined;
  for (const QuarantineEntry& q : state.pending.quarantined) {
    quarantined.push_back({q.channel, q.version, q.sha256, q.reason});
  }
  return protocol::EncodeCheckinRequest(device, seq, channels, state.pending.crashes,
                                        state.pending.errors, apply, quarantined);
}

ProtocolClient::ProtocolClient(HttpClient* http, std::string server_url, std::string token,
                               ProtocolLimits limits)
    : http_(http), server_url_(std::move(server_url)), token_(std::move(token)), limits_(limits) {}

Result<HttpResponse> ProtocolClient::Call(HttpRequest req, const std::string& bearer,
                                          std::string_view what) {
  req.bearer_token = bearer;
  RF_ASSIGN_OR_RETURN(HttpResponse resp, http_->Send(req));
  if (resp.status < 200 || resp.status > 299) return ServerError(resp.status, resp.body, what);
  return resp;
}

Result<DeviceSession> ProtocolClient::PostForSession(const std::string& path, std::string body,
                                                     const std::string& bearer,
                                                     std::string_view what) {
  HttpRequest req;
  req.method = "POST";
  RF_ASSIGN_OR_RETURN(req.url, ResolveUrl(server_url_, path));
  req.body = std::move(body);
  req.max_response_bytes = 16 << 10;
  req.timeout_ms = limits_.checkin_timeout_ms;
  RF_ASSIGN_OR_RETURN(HttpResponse resp, Call(std::move(req), bearer, what));
  RF_ASSIGN_OR_RETURN(session_, DecodeSessionResponse(resp.body));
  return session_;
}

Result<DeviceSession> ProtocolClient::Enroll(const DeviceInfo& device,
                                             const crypto::SigningKey& key, int64_t now_s) {
  return PostForSession("/v1/agent/enroll", EncodeEnrollRequest(device, key, now_s), token_,
                        "enroll");
}

Result<DeviceSession> ProtocolClient::NewSession(const std::string& device_id,
                                                 const crypto::SigningKey& key, int64_t now_s) {
  return PostForSession("/v1/agent/session", EncodeSessionRequest(device_id, key, now_s), "",
                        "session");
}

Result<CheckinResponse> ProtocolClient::Checkin(std::string_view body) {
  HttpRequest req;
  req.method = "POST";
  RF_ASSIGN_OR_RETURN(req.url, ResolveUrl(server_url_, "/v1/agent/checkin"));
  req.body = std::string(body);
  req.max_response_bytes = limits_.max_checkin_response_bytes;
  req.timeout_ms = limits_.checkin_timeout_ms;
  RF_ASSIGN_OR_RETURN(HttpResponse resp, Call(std::move(req), session_.token, "check-in"));
  return DecodeCheckinResponse(resp.body);
}

Result<std::string> ProtocolClient::FetchBundle(const Directive& d) {
  HttpRequest req;
  RF_ASSIGN_OR_RETURN(req.url, ResolveUrl(server_url_, d.bundle_url));
  req.max_response_bytes = limits_.max_bundle_bytes;
  req.timeout_ms = limits_.download_timeout_ms;
  RF_ASSIGN_OR_RETURN(HttpResponse resp, Call(std::move(req), session_.token, "bundle download"));
  return std::move(resp.body);
}

Result<std::vector<std::string>> ProtocolClient::FetchApprovals(const Directive& d) {
  HttpRequest req;
  RF_ASSIGN_OR_RETURN(req.url, ResolveUrl(server_url_, d.approvals_url));
  req.max_response_bytes = limits_.max_approvals_bytes;
  req.timeout_ms = limits_.download_timeout_ms;
  RF_ASSIGN_OR_RETURN(HttpResponse resp, Call(std::move(req), session_.token, "approvals download"));
  return protocol::DecodeApprovalsResponse(resp.body);
}

}  // namespace rf::agent
