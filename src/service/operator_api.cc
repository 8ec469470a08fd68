#include "service/operator_api.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include "core/bundle.h"
#include "store/release_codec.h"
#include "store/strict_json.h"

namespace rf::service {

using server::HttpRequest;
using server::HttpResponse;
using server::Principal;
using server::Role;

namespace {

// A small JSON writer: objects and arrays with automatic commas.
class Json {
 public:
  Json& Open(char c) {
    Comma();
    out_ += c;
    first_ = true;
    return *this;
  }
  Json& Close(char c) {
    out_ += c;
    first_ = false;
    return *this;
  }
  Json& Key(std::string_view k) {
    Comma();
    AppendJsonString(&out_, k);
    out_ += ':';
    first_ = true;  // the value follows without a comma
    return *this;
  }
  Json& Str(std::string_view v) {
    Comma();
    AppendJsonString(&out_, v);
    return *this;
  }
  Json& Int(int64_t v) {
    Comma();
    out_ += std::to_string(v);
    return *this;
  }
  Json& Num(double v) {
    Comma();
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, r.ptr);
    return *this;
  }
  Json& Bool(bool v) {
    Comma();
    out_ += v ? "true" : "false";
    return *this;
  }
  Json& Null() {
    Comma();
    out_ += "null";
    return *this;
  }
  // A JSON text produced elsewhere (a stored report), inserted as is.
  Json& Raw(std::string_view text) {
    Comma();
    out_ += text;
    return *this;
  }
  Json& KStr(std::string_view k, std::string_view v) { return Key(k).Str(v); }
  Json& KInt(std::string_view k, int64_t v) { return Key(k).Int(v); }
  Json& KBool(std::string_view k, bool v) { return Key(k).Bool(v); }
  std::string Take() { return std::move(out_); }

 private:
  void Comma() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string out_;
  bool first_ = true;
};

Json& Roles(Json& j, const std::vector<Role>& roles) {
  j.Open('[');
  for (Role r : roles) j.Str(store::RoleString(r));
  return j.Close(']');
}

std::string DefaultCode(StatusCode c) {
  switch (c) {
    case StatusCode::kInvalidArgument: return "invalid_request";
    case StatusCode::kUnauthenticated: return "unauthenticated";
    case StatusCode::kPermissionDenied: return "forbidden";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kAlreadyExists: return "already_exists";
    case StatusCode::kFailedPrecondition: return "failed_precondition";
    case StatusCode::kResourceExhausted: return "body_too_large";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kDataLoss: return "data_loss";
    default: return "internal";
  }
}

HttpResponse Error(const Status& st, std::string_view code = {}) {
  return server::ErrorResponse(st, code.empty() ? DefaultCode(st.code()) : std::string(code));
}

HttpResponse Ok(std::string body, int status = 200) {
  return server::JsonResponse(status, std::move(body));
}

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    size_t s = path.find('/');
    std::string_view part = path.substr(0, s);
    if (!part.empty()) out.push_back(part);
    if (s == std::string_view::npos) break;
    path.remove_prefix(s + 1);
  }
  return out;
}

// Decodes the request body as a JSON object. An empty body counts as {} when allowed.
Result<boost::json::object> Body(const HttpRequest& req, bool empty_ok) {
  if (empty_ok && req.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return boost::json::object();
  }
  return store::ParseJsonObject(req.body, "body", StatusCode::kInvalidArgument);
}

Result<std::vector<Role>> ParseRoles(const std::vector<std::string>& names, std::string_view key) {
  std::vector<Role> roles;
  for (const auto& n : names) {
    auto r = store::RoleFromString(n);
    if (!r.ok()) return Status::InvalidArgument("body: key '" + std::string(key) + "': " + r.status().message());
    roles.push_back(*r);
  }
  return roles;
}

Result<int64_t> QueryInt(const HttpRequest& req, std::string_view key, int64_t def) {
  auto it = req.query.find(key);
  if (it == req.query.end()) return def;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size() || v < 0) {
    return Status::InvalidArgument("query parameter '" + std::string(key) +
                                   "': expected a non-negative integer");
  }
  return v;
}

void StateJson(Json& j, const rollout::ReleaseState& s) {
  j.KStr("phase", rollout::PhaseName(s.phase)).KInt("wave", s.wave);
  j.KStr("wave_name", s.wave >= 0 && static_cast<size_t>(s.wave) < s.waves.size()
                          ? std::string_view(s.waves[static_cast<size_t>(s.wave)].name)
                          : std::string_view());
  j.KBool("operator_paused", s.operator_paused).KBool("gate_hold", s.gate_hold);
  j.KBool("promotion_requested", s.promotion_requested).KStr("reason", s.reason);
  j.Key("waves").Open('[');
  for (const auto& w : s.waves) {
    j.Open('{').KStr("name", w.name).KInt("dispatch_s", w.dispatch_micros / 1'000'000);
    j.KInt("bake_s", w.bake_micros / 1'000'000).Close('}');
  }
  j.Close(']');
  j.KInt("last_event_us", s.last_event_micros);
}

void ReleaseJson(Json& j, const ReleaseView& v, bool full) {
  const server::ReleaseRecord& r = v.record;
  j.Open('{').KStr("release_id", r.release_id).KStr("channel", r.channel);
  j.KStr("content_type", r.content_type).KInt("version", r.version);
  j.KStr("bundle_sha256", r.bundle_sha256).KStr("author", r.author);
  j.KInt("created_s", r.created_s).KInt("started_s", r.started_s);
  StateJson(j, r.state);
  j.Key("plan").Open('{').KStr("name", r.plan.name);
  j.KStr("on_failure", rollout::FailureActionName(r.plan.on_failure));
  if (full) j.KStr("yaml", r.plan_yaml);
  j.Close('}');
  j.Key("previous");
  if (r.previous) {
    j.Open('{').KInt("version", r.previous->first).KStr("sha256", r.previous->second).Close('}');
  } else {
    j.Null();
  }
  j.Key("approvals").Open('[');
  for (const auto& a : v.approvals) {
    j.Open('{').KStr("reviewer", a.reviewer).KStr("role", store::RoleString(a.role));
    j.KStr("keyid", a.keyid).KInt("created_us", a.created_us).Close('}');
  }
  j.Close(']');
  j.KInt("approvals_required", v.approvals_required).KInt("approvals_counted", v.approvals_counted);
  j.Key("approver_roles");
  Roles(j, v.approver_roles);
  if (full) {
    // The exact texts the approval's reports_sha256 covers (docs/protocol.md "Approval").
    j.Key("reports").Open('{').KStr("layer1", v.layer1_report).KStr("layer2", v.layer2_report);
    j.Close('}');
  }
  j.KStr("reports_sha256", v.reports_sha256);
  j.Close('}');
}

void BundleJson(Json& j, const BundleInfo& b, bool with_report) {
  j.Open('{').KStr("sha256", b.sha256).KStr("channel", b.channel);
  j.KStr("content_type", b.content_type).KInt("schema_version", b.schema_version);
  j.KInt("version", b.version).KInt("payload_bytes", b.payload_bytes);
  j.KStr("uploaded_by", b.uploaded_by).KInt("uploaded_us", b.uploaded_us);
  if (with_report) j.Key("report").Raw(b.report_json);
  j.Close('}');
}

std::string TransitionJson(const ReleaseView& v, const rollout::TransitionResult& t) {
  Json j;
  j.Open('{').Key("release");
  ReleaseJson(j, v, false);
  j.Key("effects").Open('[');
  for (const auto& e : t.effects) {
    j.Open('{').KStr("kind", rollout::EffectKindName(e.kind)).KInt("wave", e.wave);
    j.KStr("text", e.text).Close('}');
  }
  j.Close(']').Close('}');
  return j.Take();
}

// ----- routes -----
// One row per operation of docs/api/openapi.yaml: method, path pattern ({name} matches one
// segment), the query parameters it takes (any other is 400) and its handler. A path that matches
// some row but not the method is 405 with `Allow`; a path that matches none is 404.

// What a handler gets: the request, the authenticated caller and the path's {captures} in order.
struct Call {
  const HttpRequest& req;
  const Principal& me;
  const std::vector<std::string_view>& params;
  ReleaseService& service;
  const server::FleetSource& fleet;
  const server::ProgressSource* progress;
  const OperatorApiOptions& options;

  std::string Query(std::string_view key) const {
    auto it = req.query.find(key);
    return it == req.query.end() ? std::string() : it->second;
  }
};

using Handler = HttpResponse (*)(const Call&);

struct Route {
  std::string_view method;
  std::string_view pattern;
  std::array<std::string_view, 3> query;  // accepted query parameters ("" = unused slot)
  Handler handler;
};

// Decodes the body as a strict object with `decode`; on any error returns the 400.
template <typename Fn>
std::optional<HttpResponse> Decode(const HttpRequest& req, bool empty_ok, Fn&& decode) {
  auto body = Body(req, empty_ok);
  if (!body.ok()) return Error(body.status());
  store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
  if (Status s = decode(r); !s.ok()) return Error(s);
  if (Status s = r.Finish(); !s.ok()) return Error(s);
  return std::nullopt;
}

HttpResponse GetWhoami(const Call& c) {
  Json j;
  j.Open('{').KStr("name", c.me.name).Key("roles");
  Roles(j, c.me.roles);
  j.Close('}');
  return Ok(j.Take());
}

HttpResponse ListContentTypes(const Call& c) {
  Json j;
  j.Open('{').Key("content_types").Open('[');
  for (const auto& t : c.service.content_types().List()) {
    j.Open('{').KStr("name", t.name).KInt("schema_version", t.schema_version);
    j.KStr("created_by", t.created_by).KInt("created_us", t.created_us).KStr("yaml", t.yaml);
    j.Close('}');
  }
  j.Close(']').Close('}');
  return Ok(j.Take());
}

HttpResponse AddContentType(const Call& c) {
  std::string yaml;
  if (auto bad = Decode(c.req, false, [&](store::StrictObject& r) { return r.String("yaml", &yaml); })) {
    return *bad;
  }
  auto t = c.service.content_types().Add(c.me, yaml);
  if (!t.ok()) return Error(t.status());
  Json j;
  j.Open('{').KStr("name", t->name).KInt("schema_version", t->schema_version).Close('}');
  return Ok(j.Take());
}

HttpResponse ListBundles(const Call& c) {
  Json j;
  j.Open('{').Key("bundles").Open('[');
  for (const auto& b : c.service.bundles().List(c.Query("channel"))) BundleJson(j, b, false);
  j.Close(']').Close('}');
  return Ok(j.Take());
}

HttpResponse UploadBundle(const Call& c) {
  std::string envelope;
  if (auto bad = Decode(c.req, false,
                        [&](store::StrictObject& r) { return r.String("envelope", &envelope); })) {
    return *bad;
  }
  UploadResult up;
  Status st = c.service.bundles().Upload(c.me, envelope, &up);
  if (!st.ok() && up.bundle.report_json.empty()) return Error(st);
  Json j;
  j.Open('{');
  if (!st.ok()) {
    // Refused with a report: the error and the whole layer-1 report.
    j.Key("error").Open('{').KStr("code", "bundle_rejected").KStr("message", st.message());
    j.Close('}');
  }
  j.KStr("sha256", up.bundle.sha256).KStr("channel", up.bundle.channel);
  j.KInt("version", up.bundle.version).KStr("content_type", up.bundle.content_type);
  j.KBool("accepted", up.accepted && st.ok()).KBool("already_present", up.already_present);
  j.KInt("errors", static_cast<int64_t>(up.errors));
  j.KInt("warnings", static_cast<int64_t>(up.warnings));
  j.Key("report").Raw(up.bundle.report_json.empty() ? "null" : up.bundle.report_json);
  j.Key("layer2_report")
      .Raw(up.bundle.layer2_report_json.empty() ? "null" : up.bundle.layer2_report_json);
  j.Close('}');
  return Ok(j.Take(), st.ok() ? (up.already_present ? 200 : 201) : server::HttpStatusFor(st));
}

// Not under /v1/bundles/: that prefix belongs to the agent API (immutable bundle downloads).
HttpResponse GetBundleReport(const Call& c) {
  auto b = c.service.bundles().Get(c.params[0]);
  if (!b.ok()) return Error(b.status());
  Json j;
  BundleJson(j, *b, true);
  return Ok(j.Take());
}

HttpResponse ListReleases(const Call& c) {
  Json j;
  j.Open('{').Key("releases").Open('[');
  for (const auto& v : c.service.releases().List(c.Query("channel"))) ReleaseJson(j, v, false);
  j.Close(']').Close('}');
  return Ok(j.Take());
}

HttpResponse CreateRelease(const Call& c) {
  std::string sha, plan;
  bool allow_unsafe_plan = false;
  if (auto bad = Decode(c.req, false, [&](store::StrictObject& r) {
        RF_RETURN_IF_ERROR(r.String("bundle_sha256", &sha));
        RF_RETURN_IF_ERROR(r.String("plan_yaml", &plan));
        return r.OptBool("allow_unsafe_plan", &allow_unsafe_plan);
      })) {
    return *bad;
  }
  auto v = c.service.releases().Create(c.me, sha, plan, allow_unsafe_plan);
  if (!v.ok()) {
    return Error(v.status(),
                 v.status().code() == StatusCode::kFailedPrecondition ? "unsafe_plan" : "");
  }
  return Ok(ReleaseViewJson(*v), 201);
}

HttpResponse GetRelease(const Call& c) {
  auto v = c.service.releases().Get(c.params[0]);
  if (!v.ok()) return Error(v.status());
  return Ok(ReleaseViewJson(*v));
}

void ProgressJson(Json& j, const std::optional<server::ReleaseProgress>& pr) {
  if (!pr) {
    j.Null();
    return;
  }
  j.Open('{').KInt("eligible_devices", pr->eligible_devices);
  j.KInt("exposed_devices", pr->exposed_devices).KInt("applied_devices", pr->applied_devices);
  j.KInt("harmed_devices", pr->harmed_devices).KStr("gate_state", pr->gate_state);
  j.Key("max_e_value").Num(pr->max_e_value).Key("e_threshold").Num(pr->e_threshold);
  j.KStr("gate_detail", pr->gate_detail).Key("waves").Open('[');
  for (const auto& w : pr->waves) {
    j.Open('{').KStr("name", w.name).KInt("target_devices", w.target_devices);
    j.KInt("exposed_devices", w.exposed_devices).Close('}');
  }
  j.Close(']').Close('}');
}

HttpResponse GetProgress(const Call& c) {
  const std::string id(c.params[0]);
  auto v = c.service.releases().Get(id);
  if (!v.ok()) return Error(v.status());
  const rollout::ReleaseState& s = v->record.state;
  Json j;
  j.Open('{').KStr("release_id", id).KStr("channel", v->record.channel);
  j.KInt("version", v->record.version);
  StateJson(j, s);
  j.KBool("finished", rollout::IsFinished(s));
  // Time the current wave has dispatched so far, pauses excluded, as of now (docs/rollout.md).
  j.KInt("dispatch_elapsed_s", rollout::DispatchElapsedMicros(s, c.service.NowMicros()) / 1'000'000);
  j.KInt("approvals_counted", v->approvals_counted);
  j.KInt("approvals_required", v->approvals_required);
  j.Key("progress");
  ProgressJson(j, c.progress != nullptr ? c.progress->Progress(id)
                                        : std::optional<server::ReleaseProgress>());
  j.Close('}');
  return Ok(j.Take());
}

HttpResponse Approve(const Call& c) {
  std::string envelope;
  if (auto bad = Decode(c.req, false,
                        [&](store::StrictObject& r) { return r.String("envelope", &envelope); })) {
    return *bad;
  }
  auto v = c.service.reviews().Approve(c.me, c.params[0], envelope);
  if (!v.ok()) return Error(v.status());
  return Ok(ReleaseViewJson(*v));
}

// start / resume / pause / halt / rollback: the verb is the path's last segment.
HttpResponse Transition(const Call& c) {
  const std::string id(c.params[0]);
  const std::string_view path = c.req.path;
  const std::string_view verb = path.substr(path.rfind('/') + 1);
  const bool takes_reason = verb == "pause" || verb == "halt" || verb == "rollback";
  std::string reason;
  if (auto bad = Decode(c.req, true, [&](store::StrictObject& r) {
        return takes_reason ? r.String("reason", &reason) : Status::Ok();
      })) {
    return *bad;
  }
  Result<rollout::TransitionResult> t = Status::Internal("unset");
  if (verb == "start") t = c.service.releases().Start(c.me, id);
  if (verb == "resume") t = c.service.releases().Resume(c.me, id);
  if (verb == "pause") t = c.service.releases().Pause(c.me, id, reason);
  if (verb == "halt") t = c.service.releases().Halt(c.me, id, reason);
  if (verb == "rollback") t = c.service.releases().Rollback(c.me, id, reason);
  if (!t.ok()) {
    const bool quorum = verb == "start" && t.status().code() == StatusCode::kFailedPrecondition &&
                        t.status().message().find("approvals") != std::string::npos;
    return Error(t.status(), quorum ? "quorum_missing" : "");
  }
  auto v = c.service.releases().Get(id);
  if (!v.ok()) return Error(v.status());
  return Ok(TransitionJson(*v, *t));
}

// The whole fleet: every replica's devices in a cluster (FleetSource::WholeFleet, docs/deploy.md
// "Layer 1 across replicas"), so that any replica answers alike; 503 if part of it is unreadable.
HttpResponse GetFleet(const Call& c) {
  Result<Fleet> whole = c.fleet.WholeFleet();
  if (!whole.ok()) return Error(whole.status());
  const Fleet& fleet = *whole;
  int64_t devices = 0;
  for (const Stratum& s : fleet.strata) devices += s.devices;
  Json j;
  j.Open('{').KInt("devices", devices).Key("strata").Open('[');
  for (const Stratum& s : fleet.strata) {
    j.Open('{').Key("attrs").Open('{');
    for (const auto& [k, v] : s.attrs) j.KStr(k, v);
    j.Close('}').Key("capabilities").Open('{');
    for (const auto& [t, cap] : s.capabilities) {
      j.Key(t).Open('{').Key("schema_versions").Open('[');
      for (int64_t v : cap.schema_versions) j.Int(v);
      j.Close(']').KInt("inputs", cap.inputs);
      if (cap.max_items) j.KInt("max_items", cap.max_items);
      if (cap.max_bundle_bytes) j.KInt("max_bundle_bytes", cap.max_bundle_bytes);
      j.Close('}');
    }
    j.Close('}').KInt("devices", s.devices).Close('}');
  }
  j.Close(']').Close('}');
  return Ok(j.Take());
}

HttpResponse ListAudit(const Call& c) {
  auto after = QueryInt(c.req, "after", 0);
  if (!after.ok()) return Error(after.status());
  auto lim = QueryInt(c.req, "limit", 100);
  if (!lim.ok()) return Error(lim.status());
  const auto max = static_cast<int64_t>(c.options.max_audit_page);
  if (*lim > max) {
    return Error(Status::InvalidArgument("query parameter 'limit': " + std::to_string(*lim) +
                                         " exceeds the maximum page of " + std::to_string(max)));
  }
  auto entries = c.service.audit().Read(*after, static_cast<size_t>(*lim));
  if (!entries.ok()) return Error(entries.status());
  Json j;
  j.Open('{').Key("entries").Open('[');
  for (const auto& e : *entries) j.Raw(store::AuditEntryJson(e));
  j.Close(']').Close('}');
  return Ok(j.Take());
}

HttpResponse VerifyAudit(const Call& c) {
  auto v = c.service.audit().Verify();
  Json j;
  j.Open('{').KBool("ok", v.ok());
  if (v.ok()) {
    j.KInt("entries", v->entries).Key("head").Open('{').KInt("seq", v->head.seq);
    j.KStr("hash", v->head.hash).Close('}');
  } else {
    j.KStr("error", v.status().message());
  }
  j.Close('}');
  return Ok(j.Take());
}

HttpResponse ListPrincipals(const Call& c) {
  Json j;
  j.Open('{').Key("principals").Open('[');
  for (const auto& pi : c.service.principals().List()) {
    j.Open('{').KStr("name", pi.name).Key("roles");
    Roles(j, pi.roles);
    j.KStr("reviewer_keyid", pi.reviewer_keyid).KStr("created_by", pi.created_by);
    j.KInt("created_us", pi.created_us).Close('}');
  }
  j.Close(']').Close('}');
  return Ok(j.Take());
}

HttpResponse CreatePrincipal(const Call& c) {
  std::string name, key;
  std::vector<std::string> role_names;
  if (auto bad = Decode(c.req, false, [&](store::StrictObject& r) {
        RF_RETURN_IF_ERROR(r.String("name", &name));
        RF_RETURN_IF_ERROR(r.StringArray("roles", &role_names));
        return r.OptString("reviewer_public_key", &key);
      })) {
    return *bad;
  }
  auto roles = ParseRoles(role_names, "roles");
  if (!roles.ok()) return Error(roles.status());
  auto token = c.service.principals().Create(c.me, name, *roles, key);
  if (!token.ok()) return Error(token.status());
  Json j;
  j.Open('{').KStr("name", name).Key("roles");
  Roles(j, *roles);
  j.KStr("token", *token).Close('}');
  return Ok(j.Take(), 201);
}

HttpResponse ListPolicies(const Call& c) {
  Json j;
  j.Open('{').Key("policies").Open('[');
  for (const auto& pol : c.service.policies().List()) {
    j.Open('{').KStr("channel", pol.channel).KInt("approvals", pol.approvals_required);
    j.Key("roles");
    Roles(j, pol.approver_roles);
    j.Key("publisher_keys").Open('[');
    for (const auto& k : pol.publisher_keys) j.Str(k);
    j.Close(']').KInt("publisher_threshold", pol.publisher_threshold).Close('}');
  }
  j.Close(']').Close('}');
  return Ok(j.Take());
}

HttpResponse SetPolicy(const Call& c) {
  store::ChannelPolicy pol;
  pol.channel = std::string(c.params[0]);
  int64_t k = 0, threshold = 0;
  std::vector<std::string> role_names;
  auto body = Body(c.req, false);
  if (!body.ok()) return Error(body.status());
  store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
  if (Status s = r.Int("approvals", &k); !s.ok()) return Error(s);
  if (Status s = r.StringArray("roles", &role_names); !s.ok()) return Error(s);
  if (Status s = r.OptStringArray("publisher_keys", &pol.publisher_keys); !s.ok()) return Error(s);
  if (Status s = r.OptInt("publisher_threshold", &threshold); !s.ok()) return Error(s);
  if (Status s = r.Finish(); !s.ok()) return Error(s);
  // 0 only where the server allows it (--allow-unreviewed); the service decides.
  if (k < 0 || k > 32) return Error(r.Error("approvals", "must be between 1 and 32"));
  if (threshold < 0 || threshold > 32) {
    return Error(r.Error("publisher_threshold", "must be between 0 and 32"));
  }
  auto roles = ParseRoles(role_names, "roles");
  if (!roles.ok()) return Error(roles.status());
  pol.approvals_required = static_cast<int>(k);
  pol.approver_roles = *roles;
  pol.publisher_threshold = static_cast<int>(threshold);
  if (Status s = c.service.policies().Set(c.me, pol); !s.ok()) return Error(s);
  Json j;
  j.Open('{').KStr("channel", pol.channel).Close('}');
  return Ok(j.Take());
}

HttpResponse ListControls(const Call& c) {
  Json j;
  j.Open('{').Key("controls").Open('[');
  for (const auto& ctl : c.service.controls().List()) {
    j.Open('{').KStr("channel", ctl.channel).KStr("attr", ctl.attr).KStr("value", ctl.value);
    j.KBool("pin_previous", ctl.pin_previous).KInt("delay_s", ctl.delay_s);
    j.KBool("exclude_early_waves", ctl.exclude_early_waves).Close('}');
  }
  j.Close(']').Close('}');
  return Ok(j.Take());
}

HttpResponse PutControl(const Call& c) {
  server::CustomerControl ctl;
  if (auto bad = Decode(c.req, false, [&](store::StrictObject& r) {
        RF_RETURN_IF_ERROR(r.String("channel", &ctl.channel));
        RF_RETURN_IF_ERROR(r.String("attr", &ctl.attr));
        RF_RETURN_IF_ERROR(r.String("value", &ctl.value));
        RF_RETURN_IF_ERROR(r.OptBool("pin_previous", &ctl.pin_previous));
        RF_RETURN_IF_ERROR(r.OptInt("delay_s", &ctl.delay_s));
        return r.OptBool("exclude_early_waves", &ctl.exclude_early_waves);
      })) {
    return *bad;
  }
  if (Status s = c.service.controls().Put(c.me, ctl); !s.ok()) return Error(s);
  return Ok("{}");
}

HttpResponse DeleteControl(const Call& c) {
  store::ControlKey k;
  for (auto [name, out] : {std::pair<const char*, std::string*>{"channel", &k.channel},
                           {"attr", &k.attr}, {"value", &k.value}}) {
    auto it = c.req.query.find(name);
    if (it == c.req.query.end()) {
      return Error(Status::InvalidArgument(std::string("query parameter '") + name + "': missing"));
    }
    *out = it->second;
  }
  if (Status s = c.service.controls().Delete(c.me, k); !s.ok()) return Error(s);
  return Ok("{}");
}

constexpr Route kRoutes[] = {
    {"GET", "/v1/whoami", {}, GetWhoami},
    {"GET", "/v1/content-types", {}, ListContentTypes},
    {"POST", "/v1/content-types", {}, AddContentType},
    {"GET", "/v1/bundles", {"channel"}, ListBundles},
    {"POST", "/v1/bundles", {}, UploadBundle},
    {"GET", "/v1/bundle-reports/{sha256}", {}, GetBundleReport},
    {"GET", "/v1/releases", {"channel"}, ListReleases},
    {"POST", "/v1/releases", {}, CreateRelease},
    {"GET", "/v1/releases/{id}", {}, GetRelease},
    {"GET", "/v1/releases/{id}/progress", {}, GetProgress},
    {"POST", "/v1/releases/{id}/approvals", {}, Approve},
    {"POST", "/v1/releases/{id}/start", {}, Transition},
    {"POST", "/v1/releases/{id}/resume", {}, Transition},
    {"POST", "/v1/releases/{id}/pause", {}, Transition},
    {"POST", "/v1/releases/{id}/halt", {}, Transition},
    {"POST", "/v1/releases/{id}/rollback", {}, Transition},
    {"GET", "/v1/fleet", {}, GetFleet},
    {"GET", "/v1/audit", {"after", "limit"}, ListAudit},
    {"GET", "/v1/audit/verify", {}, VerifyAudit},
    {"GET", "/v1/principals", {}, ListPrincipals},
    {"POST", "/v1/principals", {}, CreatePrincipal},
    {"GET", "/v1/policies", {}, ListPolicies},
    {"PUT", "/v1/policies/{channel}", {}, SetPolicy},
    {"GET", "/v1/controls", {}, ListControls},
    {"PUT", "/v1/controls", {}, PutControl},
    {"DELETE", "/v1/controls", {"channel", "attr", "value"}, DeleteControl},
};

// True if `path` (split) matches `pattern`; the {captures} are appended to *params.
bool Match(const std::vector<std::string_view>& path, std::string_view pattern,
           std::vector<std::string_view>* params) {
  const std::vector<std::string_view> pat = Split(pattern);
  if (pat.size() != path.size()) return false;
  params->clear();
  for (size_t i = 0; i < pat.size(); ++i) {
    if (pat[i].front() == '{') {
      params->push_back(path[i]);
    } else if (pat[i] != path[i]) {
      return false;
    }
  }
  return true;
}

Status CheckQuery(const HttpRequest& req, const Route& route) {
  for (const auto& [k, v] : req.query) {
    if (std::find(route.query.begin(), route.query.end(), k) == route.query.end() || k.empty()) {
      return Status::InvalidArgument("unknown query parameter '" + k + "'");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string ReleaseViewJson(const ReleaseView& v) {
  Json j;
  ReleaseJson(j, v, true);
  return j.Take();
}

OperatorApi::OperatorApi(ReleaseService& service, const server::FleetSource& fleet,
                         const server::ProgressSource* progress, OperatorApiOptions options)
    : service_(service), fleet_(fleet), progress_(progress), options_(options) {}

bool OperatorApi::Handles(std::string_view method, std::string_view path) {
  if (path.substr(0, 4) != "/v1/") return false;
  auto p = Split(path);
  if (p.size() >= 2 && p[1] == "agent") return false;
  if (p.size() == 2 && p[1] == "trust") return false;
  // /v1/bundles/{sha256} and /v1/bundles/{sha256}/approvals (everything under /v1/bundles/) are
  // the agent API's; /v1/bundles itself (list, upload) is ours.
  if (p.size() >= 3 && p[1] == "bundles") return false;
  (void)method;
  return true;
}

HttpResponse OperatorApi::Handle(const HttpRequest& req) const {
  auto who = service_.principals().Authenticate(req.bearer_token);
  if (!who.ok()) return Error(who.status());
  const Principal& me = *who;
  if (me.Has(Role::kAgent)) {
    return Error(Status::PermissionDenied("an agent token may not call operator endpoints"),
                 "forbidden_role");
  }
  const bool upload = req.method == "POST" && req.path == "/v1/bundles";
  const size_t limit = upload ? options_.max_upload_body_bytes : options_.max_body_bytes;
  if (req.body.size() > limit) {
    return Error(Status::ResourceExhausted("request body of " + std::to_string(req.body.size()) +
                                           " bytes exceeds the limit of " + std::to_string(limit)),
                 "body_too_large");
  }
  const std::vector<std::string_view> path = Split(req.path);
  std::vector<std::string_view> params;
  std::string allow;  // methods of the rows whose pattern matches, for a 405
  for (const Route& route : kRoutes) {
    if (!Match(path, route.pattern, &params)) continue;
    if (route.method != req.method) {
      if (allow.find(route.method) == std::string::npos) {
        if (!allow.empty()) allow += ", ";
        allow += route.method;
      }
      continue;
    }
    if (Status q = CheckQuery(req, route); !q.ok()) return Error(q);
    return route.handler(Call{req, me, params, service_, fleet_, progress_, options_});
  }
  if (allow.empty()) {
    return Error(Status::NotFound("no such endpoint: " + req.method + " " + req.path));
  }
  std::string body = "{\"error\":{\"code\":\"method_not_allowed\",\"message\":";
  AppendJsonString(&body, req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
  body += "}}";
  HttpResponse r = server::JsonResponse(405, std::move(body));
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace rf::service
