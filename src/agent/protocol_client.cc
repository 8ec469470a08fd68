#include "agent/protocol_client.h"

#include <boost/json.hpp>

#include "agent/canonical_json.h"
#include "agent/statements.h"
#include "crypto/device_auth.h"

namespace rf::agent {
namespace {

bool IsDeviceIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

boost::json::object DeviceJson(const DeviceInfo& d) {
  boost::json::object o;
  o["device_id"] = d.device_id;
  boost::json::object attrs;
  for (const auto& [k, v] : d.attrs) attrs[k] = v;
  o["attrs"] = std::move(attrs);
  auto caps = ParseJson(d.capabilities_json.empty() ? "{}" : d.capabilities_json, 8);
  o["capabilities"] = caps.ok() ? std::move(*caps) : boost::json::object();
  return o;
}

// Maps a non-2xx answer to a Status carrying the server's error code and message.
Status ServerError(int http_status, std::string_view body, std::string_view what) {
  std::string detail;
  auto v = ParseJson(body.substr(0, 4096), 4);
  if (v.ok() && v->is_object()) {
    const auto* e = v->get_object().if_contains("error");
    if (e && e->is_object()) {
      auto code = GetString(e->get_object(), "code", "error");
      auto msg = GetString(e->get_object(), "message", "error");
      if (code.ok()) detail = *code;
      if (msg.ok()) detail += (detail.empty() ? "" : ": ") + msg->substr(0, 300);
    }
  }
  if (detail.empty()) detail = "(no error body)";
  std::string m = std::string(what) + ": HTTP " + std::to_string(http_status) + " " + detail;
  if (http_status == 404) return Status::NotFound(m);
  if (http_status == 409) return Status::Aborted(m);
  if (http_status == 401) return Status::Unauthenticated(m);
  if (http_status == 403) return Status::PermissionDenied(m);
  if (http_status == 429 || http_status >= 500) return Status::Unavailable(m);
  return Status::InvalidArgument(m);
}

Result<Directive> DecodeDirective(const std::string& channel, const boost::json::value& v) {
  const std::string w = "check-in response: channels." + channel;
  if (!IsValidChannel(channel)) return Status::InvalidArgument(w + ": not a valid channel name");
  if (!v.is_object()) return Status::InvalidArgument(w + " is not an object");
  const auto& o = v.get_object();
  Directive d;
  d.channel = channel;
  RF_ASSIGN_OR_RETURN(d.action, GetString(o, "action", w));
  if (d.action == "install") {
    RF_RETURN_IF_ERROR(CheckKeys(o, {"action", "version", "sha256", "bundle_url", "approvals_url", "release"}, w));
    RF_ASSIGN_OR_RETURN(d.bundle_url, GetString(o, "bundle_url", w));
    RF_ASSIGN_OR_RETURN(d.approvals_url, GetString(o, "approvals_url", w));
  } else if (d.action == "revert") {
    RF_RETURN_IF_ERROR(CheckKeys(o, {"action", "version", "sha256", "reason", "release"}, w));
    if (o.contains("reason")) {
    RF_ASSIGN_OR_RETURN(d.reason, GetString(o, "reason", w));
  }
    if (d.reason.size() > 1024) d.reason.resize(1024);
  } else {
    return Status::InvalidArgument(w + ": unknown action '" + d.action.substr(0, 32) + "'");
  }
  RF_ASSIGN_OR_RETURN(d.version, GetInt(o, "version", w));
  RF_ASSIGN_OR_RETURN(d.sha256, GetString(o, "sha256", w));
  RF_ASSIGN_OR_RETURN(d.release, GetString(o, "release", w));
  if (d.version < 1) return Status::InvalidArgument(w + ": 'version' must be >= 1");
  if (!IsSha256Hex(d.sha256)) return Status::InvalidArgument(w + ": 'sha256' is not a SHA-256 hex digest");
  return d;
}

}  // namespace

Status ValidateDeviceInfo(const DeviceInfo& d) {
  if (d.device_id.empty() || d.device_id.size() > 128) {
    return Status::InvalidArgument("device id must be 1-128 characters");
  }
  for (char c : d.device_id) {
    if (!IsDeviceIdChar(c)) return Status::InvalidArgument("device id may hold only [A-Za-z0-9._:-]");
  }
  if (d.attrs.size() > 16) return Status::InvalidArgument("at most 16 attributes");
  for (const auto& [k, v] : d.attrs) {
    if (k.empty() || k.size() > 32) return Status::InvalidArgument("attribute key '" + k + "' must be 1-32 characters");
    for (char c : k) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
        return Status::InvalidArgument("attribute key '" + k + "' may hold only [a-z0-9_]");
      }
    }
    if (v.empty() || v.size() > 64) return Status::InvalidArgument("attribute '" + k + "' value must be 1-64 bytes");
  }
  auto caps = ParseJson(d.capabilities_json.empty() ? "{}" : d.capabilities_json, 8);
  if (!caps.ok() || !caps->is_object()) {
    return Status::InvalidArgument("the capability manifest is not a JSON object");
  }
  if (caps->get_object().size() > 16) return Status::InvalidArgument("the manifest lists more than 16 content types");
  return Status::Ok();
}

std::string EncodeEnrollRequest(const DeviceInfo& device, const crypto::SigningKey& key,
                                int64_t now_s) {
  boost::json::object o = DeviceJson(device);
  const std::string pub = crypto::Base64Encode(
      std::string_view(reinterpret_cast<const char*>(key.public_key().bytes.data()), 32));
  o["public_key"] = pub;
  o["timestamp_s"] = now_s;
  o["proof"] = crypto::Base64Encode(key.Sign(crypto::EnrollProofMessage(device.device_id, pub, now_s)));
  return boost::json::serialize(o);
}

std::string EncodeSessionRequest(const std::string& device_id, const crypto::SigningKey& key,
                                 int64_t now_s) {
  boost::json::object o;
  o["device_id"] = device_id;
  o["timestamp_s"] = now_s;
  o["signature"] = crypto::Base64Encode(key.Sign(crypto::SessionRequestMessage(device_id, now_s)));
  return boost::json::serialize(o);
}

Result<DeviceSession> DecodeSessionResponse(std::string_view body) {
  constexpr std::string_view w = "session response";
  auto v = ParseJson(body, 4);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("session response is not a JSON object");
  const auto& o = v->get_object();
  RF_RETURN_IF_ERROR(
      CheckKeys(o, {"device_id", "poll_after_s", "session_token", "session_expires_s"}, w));
  DeviceSession s;
  RF_ASSIGN_OR_RETURN(s.token, GetString(o, "session_token", w));
  RF_ASSIGN_OR_RETURN(s.expires_s, GetInt(o, "session_expires_s", w));
  RF_ASSIGN_OR_RETURN(s.poll_after_s, GetInt(o, "poll_after_s", w));
  if (s.token.empty() || s.token.size() > 512) {
    return Status::InvalidArgument("session response: 'session_token' must be 1-512 characters");
  }
  for (char c : s.token) {
    if (c <= ' ' || c > '~') {
      return Status::InvalidArgument("session response: 'session_token' is not printable ASCII");
    }
  }
  return s;
}

std::string EncodeCheckinRequest(const DeviceInfo& device, const AgentState& state, int64_t seq) {
  boost::json::object o = DeviceJson(device);
  o["seq"] = seq;
  boost::json::object chans;
  for (const auto& [name, c] : state.channels) {
    boost::json::object co;
    if (c.current) co["current"] = {{"version", c.current->version}, {"sha256", c.current->sha256}};
    if (c.lkg) co["lkg"] = {{"version", c.lkg->version}, {"sha256", c.lkg->sha256}};
    chans[name] = std::move(co);
  }
  o["channels"] = std::move(chans);
  boost::json::object h;
  h["crashes"] = state.pending.crashes;
  h["errors"] = state.pending.errors;
  boost::json::array apply, quarantined;
  for (const auto& a : state.pending.apply) {
    boost::json::object e{{"channel", a.channel}, {"version", a.version}, {"sha256", a.sha256}, {"result", a.result}};
    if (!a.reason.empty()) e["reason"] = a.reason.substr(0, 512);
    apply.push_back(std::move(e));
  }
  for (const auto& q : state.pending.quarantined) {
    quarantined.push_back({{"channel", q.channel}, {"version", q.version}, {"sha256", q.sha256},
                           {"reason", q.reason.substr(0, 512)}});
  }
  h["apply"] = std::move(apply);
  h["quarantined"] = std::move(quarantined);
  o["health"] = std::move(h);
  return EncodeCanonicalJson(o);
}

Result<CheckinResponse> DecodeCheckinResponse(std::string_view body) {
  constexpr std::string_view w = "check-in response";
  auto v = ParseJson(body, 8);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("check-in response is not a JSON object");
  const auto& o = v->get_object();
  RF_RETURN_IF_ERROR(
      CheckKeys(o, {"poll_after_s", "server_time_s", "channels", "confirm_after_ms"}, w));
  CheckinResponse r;
  RF_ASSIGN_OR_RETURN(r.poll_after_s, GetInt(o, "poll_after_s", w));
  if (r.poll_after_s < 0) return Status::InvalidArgument("check-in response: 'poll_after_s' is negative");
  if (o.contains("server_time_s")) {
    RF_ASSIGN_OR_RETURN(r.server_time_s, GetInt(o, "server_time_s", w));
  }
  if (o.contains("confirm_after_ms")) {
    RF_ASSIGN_OR_RETURN(r.confirm_after_ms, GetInt(o, "confirm_after_ms", w));
    if (r.confirm_after_ms < 0 || r.confirm_after_ms > 3'600'000) {
      return Status::InvalidArgument("check-in response: 'confirm_after_ms' outside 0..3600000");
    }
  }
  if (const auto* ch = o.if_contains("channels")) {
    if (!ch->is_object()) return Status::InvalidArgument("check-in response: 'channels' is not an object");
    if (ch->get_object().size() > 128) return Status::InvalidArgument("check-in response: more than 128 channels");
    for (const auto& kv : ch->get_object()) {
      RF_ASSIGN_OR_RETURN(Directive d, DecodeDirective(std::string(kv.key()), kv.value()));
      r.directives.push_back(std::move(d));
    }
  }
  return r;
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
  constexpr std::string_view w = "approvals response";
  auto v = ParseJson(resp.body, 4);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("approvals response is not a JSON object");
  RF_RETURN_IF_ERROR(CheckKeys(v->get_object(), {"approvals"}, w));
  const auto* a = v->get_object().if_contains("approvals");
  if (!a || !a->is_array()) return Status::InvalidArgument("approvals response: 'approvals' is missing or not an array");
  std::vector<std::string> out;
  for (const auto& e : a->get_array()) {
    if (!e.is_string()) return Status::InvalidArgument("approvals response: an entry is not a string");
    out.emplace_back(e.get_string());
  }
  return out;
}

}  // namespace rf::agent
