#include "server/agent_api.h"

#include <algorithm>
#include <utility>

#include "protocol/agent_messages.h"
#include "protocol/identifiers.h"
#include "rollout/confirmation.h"
#include "rollout/controller_core.h"

namespace rf::server {
namespace {

// A plan's windows fit the wire (rollout/plan.h lints them; protocol/agent_messages.h decodes them).
static_assert(rollout::kMaxConfirmAfterMicros == protocol::kMaxConfirmAfterMs * 1000);
static_assert(rollout::kMaxLkgAfterMicros == protocol::kMaxLkgAfterMs * 1000);

constexpr std::string_view kBundlesPrefix = "/v1/bundles/";
constexpr std::string_view kApprovalsSuffix = "/approvals";

constexpr std::string_view kAllowPost = "POST";
constexpr std::string_view kAllowGet = "GET, HEAD";

// The customer controls matching a device on a channel, combined.
void ApplyControls(const std::vector<CustomerControl>& controls, std::string_view channel,
                   const rollout::Attributes& attrs, rollout::ReleaseFacts* f) {
  for (const CustomerControl& c : controls) {
    if (c.channel != channel) continue;
    auto it = attrs.find(c.attr);
    if (it == attrs.end() || it->second != c.value) continue;
    f->pin_previous |= c.pin_previous;
    f->delay_micros = std::max(f->delay_micros, c.delay_s * 1'000'000);
    f->exclude_early_waves |= c.exclude_early_waves;
  }
}

bool Quarantined(const CheckinRequest& req, std::string_view sha) {
  for (const QuarantinedVersion& q : req.quarantined) {
    if (q.sha256 == sha) return true;
  }
  for (const ApplyResult& a : req.apply) {
    if (a.sha256 == sha &&
        (a.result == ApplyOutcome::kQuarantined || a.result == ApplyOutcome::kReverted)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool TokenEquals(std::string_view presented, std::string_view expected) {
  if (expected.empty() || presented.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i] ^ expected[i]);
  }
  return diff == 0;
}

AgentApi::AgentApi(FleetInventory& inventory, DeviceCredentials& credentials,
                   Controller& controller, ReleaseDirectory& releases, Clock& clock,
                   ServerMetrics& metrics, std::string agent_token, std::string trust_json,
                   AgentApiOptions options)
    : inventory_(inventory),
      credentials_(credentials),
      controller_(controller),
      releases_(releases),
      clock_(clock),
      metrics_(metrics),
      agent_token_(std::move(agent_token)),
      trust_json_(std::move(trust_json)),
      options_(options),
      enroll_limit_(options.enroll_rate_per_s, options.enroll_burst) {}

bool AgentApi::IsAgentPath(std::string_view path) {
  return path == "/v1/agent/enroll" || path == "/v1/agent/session" ||
         path == "/v1/agent/checkin" || path == "/v1/trust" || path.starts_with(kBundlesPrefix);
}

HttpResponse AgentApi::Error(const Status& st, std::string_view code) {
  metrics_.CountAgentError(code);
  return ErrorResponse(st, code);
}

std::optional<HttpResponse> AgentApi::Handle(const HttpRequest& req) {
  if (!IsAgentPath(req.path)) return std::nullopt;
  const bool post = req.method == "POST";
  const bool get = req.method == "GET" || req.method == "HEAD";
  // A session request is authenticated by its signature alone (so a rotated fleet token never
  // locks out enrolled devices); a check-in by the device's session token (Checkin).
  if (req.path == "/v1/agent/session") {
    return post ? Session(req) : MethodNotAllowed(req.method, req.path, kAllowPost);
  }
  if (req.path == "/v1/agent/checkin") {
    return post ? Checkin(req) : MethodNotAllowed(req.method, req.path, kAllowPost);
  }
  if (req.bearer_token.empty()) {
    return Error(Status::Unauthenticated("missing 'Authorization: Bearer TOKEN'"),
                 "unauthenticated");
  }
  const bool fleet_token = TokenEquals(req.bearer_token, agent_token_);
  if (req.path == "/v1/agent/enroll") {
    if (!fleet_token) return Error(Status::Unauthenticated("unknown token"), "unauthenticated");
    return post ? Enroll(req) : MethodNotAllowed(req.method, req.path, kAllowPost);
  }
  // Bundles and trust: the fleet token or any valid session token (they are public to the fleet
  // and verified on the device anyway).
  if (!fleet_token) {
    auto claims = credentials_.VerifySession(req.bearer_token, clock_.NowUnixMicros() / 1'000'000);
    if (!claims.ok()) return Error(Status::Unauthenticated("unknown token"), "unauthenticated");
  }
  if (!get) return MethodNotAllowed(req.method, req.path, kAllowGet);
  if (req.path == "/v1/trust") return JsonResponse(200, trust_json_);
  std::string_view rest = std::string_view(req.path).substr(kBundlesPrefix.size());
  if (rest.ends_with(kApprovalsSuffix)) {
    return Approvals(rest.substr(0, rest.size() - kApprovalsSuffix.size()));
  }
  return Bundle(rest);
}

std::string AgentApi::SessionBody(std::string_view device_id, uint32_t epoch, int64_t now_s) {
  return protocol::EncodeSessionResponse(device_id, options_.poll_after_s,
                                         credentials_.IssueSession(device_id, epoch, now_s),
                                         now_s + credentials_.session_ttl_s());
}

HttpResponse AgentApi::Enroll(const HttpRequest& req) {
  if (req.body.size() > kMaxAgentBodyBytes) {
    return Error(Status::ResourceExhausted("body exceeds 65536 bytes"), "body_too_large");
  }
  auto parsed = ParseEnrollRequest(req.body);
  if (!parsed.ok()) {
    return Error(parsed.status(), parsed.status().code() == StatusCode::kResourceExhausted
                                      ? "body_too_large"
                                      : "invalid_request");
  }
  const EnrollRequest& e = *parsed;
  const int64_t now = clock_.NowUnixMicros();
  const int64_t now_s = now / 1'000'000;
  if (Status s = credentials_.CheckTimestamp(e.timestamp_s, now_s); !s.ok()) {
    return Error(s, "clock_skew");
  }
  crypto::PublicKey key;
  std::copy(e.public_key.begin(), e.public_key.end(), key.bytes.begin());
  if (credentials_.WouldAddCredential(e.device_id, key)) {
    if (const int64_t wait = enroll_limit_.TryTake(clock_.MonotonicMicros()); wait > 0) {
      HttpResponse r = Error(Status::ResourceExhausted("enrollment rate limit reached; retry later"),
                             "rate_limited");
      r.status = 429;
      r.headers.emplace_back("Retry-After", std::to_string((wait + 999'999) / 1'000'000));
      return r;
    }
  }
  if (Status s = crypto::Verify(key, EnrollProofMessage(e.device_id, e.public_key_b64, e.timestamp_s),
                                e.proof);
      !s.ok()) {
    return Error(Status::Unauthenticated("enrollment proof does not verify with the enrolled "
                                         "public key (it must sign the statement of "
                                         "docs/protocol.md for this device id and key)"),
                 "invalid_proof");
  }
  auto reg = credentials_.Register(e.device_id, key, now_s);
  if (!reg.ok()) {
    switch (reg.status().code()) {
      case StatusCode::kAlreadyExists: return Error(reg.status(), "key_conflict");
      case StatusCode::kPermissionDenied: return Error(reg.status(), "device_revoked");
      default: return Error(reg.status(), "internal");
    }
  }
  inventory_.Enroll(e, now);
  metrics_.CountEnrollment();
  return JsonResponse(200, SessionBody(e.device_id, reg->epoch, now_s));
}

HttpResponse AgentApi::Session(const HttpRequest& req) {
  auto parsed = ParseSessionRequest(req.body);
  if (!parsed.ok()) {
    return Error(parsed.status(), parsed.status().code() == StatusCode::kResourceExhausted
                                      ? "body_too_large"
                                      : "invalid_request");
  }
  const int64_t now_s = clock_.NowUnixMicros() / 1'000'000;
  auto c = credentials_.CheckSessionRequest(parsed->device_id, parsed->timestamp_s,
                                            parsed->signature, now_s);
  if (!c.ok()) {
    switch (c.status().code()) {
      case StatusCode::kNotFound: return Error(c.status(), "unknown_device");
      case StatusCode::kPermissionDenied: return Error(c.status(), "device_revoked");
      default: return Error(c.status(), "unauthenticated");
    }
  }
  return JsonResponse(200, SessionBody(parsed->device_id, c->epoch, now_s));
}

HttpResponse AgentApi::Checkin(const HttpRequest& req) {
  if (req.bearer_token.empty()) {
    return Error(Status::Unauthenticated("missing 'Authorization: Bearer SESSION_TOKEN'"),
                 "unauthenticated");
  }
  const int64_t now = clock_.NowUnixMicros();
  auto claims = credentials_.VerifySession(req.bearer_token, now / 1'000'000);
  if (!claims.ok()) return Error(claims.status(), "unauthenticated");
  auto parsed = ParseCheckinRequest(req.body);
  if (!parsed.ok()) {
    return Error(parsed.status(), parsed.status().code() == StatusCode::kResourceExhausted
                                      ? "body_too_large"
                                      : "invalid_request");
  }
  const CheckinRequest& ci = *parsed;
  if (ci.device_id != claims->device_id) {
    return Error(Status::PermissionDenied("the session token is device '" +
                                          std::string(claims->device_id) +
                                          "''s; it may not check in as '" + ci.device_id + "'"),
                 "forbidden_device");
  }
  auto accepted = inventory_.Checkin(ci, now);
  if (!accepted.ok() && accepted.status().code() == StatusCode::kNotFound && ci.attrs &&
      ci.capabilities) {
    // The device holds a valid session (its credential is active) but has no record here: it
    // enrolled through another server of a cluster, or this server lost its record in a crash.
    // Its check-in carries its whole profile, so the record is made from it (docs/deploy.md
    // "Device state across servers"); a check-in without a profile still gets 404 (enroll again).
    EnrollRequest profile;
    profile.device_id = ci.device_id;
    profile.attrs = *ci.attrs;
    profile.capabilities = *ci.capabilities;
    inventory_.Enroll(profile, now);
    accepted = inventory_.Checkin(ci, now);
  }
  if (!accepted.ok()) {
    return Error(accepted.status(), accepted.status().code() == StatusCode::kNotFound
                                        ? "unknown_device"
                                        : "stale_checkin");
  }
  const CheckinView& view = *accepted;
  metrics_.CountCheckin();

  controller_.RefreshIfStale();
  const std::shared_ptr<const DispatchSnapshot> snap = controller_.snapshot();
  const InstalledSet& installed = inventory_.installed(view.installed);
  const DeviceProfile& profile = inventory_.profile(view.profile);

  protocol::CheckinResponseWriter body(options_.poll_after_s, now / 1'000'000);
  uint16_t offer = 0;
  int64_t confirm_after = 0;  // > 0: this check-in reported an apply that owes a confirmation
  for (const auto& [channel, list] : snap->channels) {
    const ChannelReport* ch = installed.Find(channel);
    rollout::ReleaseFacts controls;
    ApplyControls(snap->controls, channel, profile.attrs, &controls);
    bool decided = false;
    for (const ReleaseDispatch& r : list) {
      const int32_t stratum = r.StratumOf(view.profile);
      const bool runs = ch != nullptr && ch->current && ch->current->sha256 == r.sha256;
      if (r.health && stratum >= 0 && (ci.crashes > 0 || ci.errors > 0)) {
        const bool treated = runs || (r.slot >= 0 && ((view.offered >> r.slot) & 1));
        if (ci.crashes > 0) r.health->Add(stratum, treated, HealthCounters::kCrash);
        if (ci.errors > 0) r.health->Add(stratum, treated, HealthCounters::kError);
      }
      if (r.confirmations && stratum >= 0) {
        // Post-apply confirmation (docs/protocol.md): an apply report opens a debt, any other
        // check-in pays it.
        const bool applied = std::any_of(ci.apply.begin(), ci.apply.end(), [&](const ApplyResult& a) {
          return a.result == ApplyOutcome::kApplied && a.sha256 == r.sha256 && a.channel == channel;
        });
        if (applied) {
          r.confirmations->Owe(ci.device_id, rollout::ConfirmationDeadline(r.gate, now));
          confirm_after = std::max(confirm_after, r.gate.confirm_after_micros);
        } else {
          r.confirmations->Seen(ci.device_id);
        }
      }
      if (decided) continue;
      rollout::ReleaseFacts rf = controls;
      rf.phase = r.phase;
      rf.version = r.version;
      rf.wave = r.wave;
      rf.wave_count = r.wave_count;
      rf.started_micros = r.started_micros;
      rollout::DeviceFacts df;
      df.eligible = stratum != kIneligible;
      df.has_current = ch != nullptr && ch->current.has_value();
      df.current_version = df.has_current ? ch->current->version : 0;
      df.runs_release = runs;
      df.targeted = stratum >= 0 && static_cast<size_t>(stratum) < r.cutoff.size() &&
                    r.hasher.Rank(ci.device_id) < r.cutoff[stratum];
      df.quarantined = Quarantined(ci, r.sha256);
      const rollout::DeviceAction action = rollout::DecideDeviceAction(rf, df, now);
      if (action == rollout::DeviceAction::kKeep) continue;
      decided = true;
      if (action == rollout::DeviceAction::kInstall) {
        if (r.slot >= 0) offer |= static_cast<uint16_t>(1u << r.slot);
        body.Install(channel, r.version, r.sha256, r.statement, r.gate.lkg_after_micros / 1000);
      } else {
        body.Revert(channel, r.version, r.sha256,
                    "release " + r.release_id + " " + std::string(rollout::PhaseName(r.phase)) +
                        (r.reason.empty() ? "" : ": " + r.reason),
                    r.statement);
      }
    }
  }
  if (confirm_after > 0) body.ConfirmAfter(confirm_after / 1000);
  if (offer != 0) inventory_.MarkOffered(view.handle, offer);
  return JsonResponse(200, std::move(body).Finish());
}

HttpResponse AgentApi::Bundle(std::string_view sha) {
  if (!protocol::IsSha256Hex(sha)) {
    return Error(Status::NotFound("not a bundle digest (64 lowercase hex digits)"), "unknown_bundle");
  }
  auto env = releases_.BundleEnvelope(sha);
  if (!env.ok()) {
    if (env.status().code() == StatusCode::kNotFound) {
      return Error(Status::NotFound("unknown bundle " + std::string(sha)), "unknown_bundle");
    }
    return Error(env.status(), "internal");
  }
  HttpResponse r = JsonResponse(200, std::move(*env));
  r.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
  return r;
}

HttpResponse AgentApi::Approvals(std::string_view sha) {
  if (!protocol::IsSha256Hex(sha)) {
    return Error(Status::NotFound("not a bundle digest (64 lowercase hex digits)"), "unknown_bundle");
  }
  return JsonResponse(200, protocol::EncodeApprovalsResponse(releases_.Approvals(sha)));
}

Router::Router(AgentApi& agent, ServerMetrics& metrics, Controller& controller,
               const FleetSource& fleet, Clock& clock, std::string agent_token,
               HttpHandler operator_api)
    : agent_(agent),
      metrics_(metrics),
      controller_(controller),
      fleet_(fleet),
      clock_(clock),
      agent_token_(std::move(agent_token)),
      operator_api_(std::move(operator_api)) {}

HttpResponse Router::Handle(const HttpRequest& req) {
  const int64_t start = clock_.MonotonicMicros();
  HttpResponse r = Route(req);
  metrics_.ObserveRequestMicros(clock_.MonotonicMicros() - start);
  return r;
}

HttpResponse Router::Route(const HttpRequest& req) {
  if ((req.path == "/healthz" || req.path == "/metrics") && req.method != "GET" &&
      req.method != "HEAD") {
    return MethodNotAllowed(req.method, req.path, kAllowGet);
  }
  if (req.path == "/healthz") return JsonResponse(200, "{\"status\":\"ok\"}");
  if (req.path == "/metrics") {
    HttpResponse r = JsonResponse(
        200, metrics_.Render(*controller_.snapshot(), controller_.GateMetrics(), fleet_.DeviceCount()));
    r.content_type = "text/plain; version=0.0.4";
    return r;
  }
  if (auto r = agent_.Handle(req)) return std::move(*r);
  if (TokenEquals(req.bearer_token, agent_token_)) {
    return ErrorResponse(
        Status::PermissionDenied("the agent token may only enroll, check in and fetch bundles"),
        "forbidden_role");
  }
  if (operator_api_) return operator_api_(req);
  return ErrorResponse(Status::NotFound("no endpoint " + req.method + " " + req.path), "not_found");
}

}  // namespace rf::server
