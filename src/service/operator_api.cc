#include "service/operator_api.h"

#include <charconv>

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

Status OnlyQuery(const HttpRequest& req, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : req.query) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return Status::InvalidArgument("unknown query parameter '" + k + "'");
    }
  }
  return Status::Ok();
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
  auto who = service_.Authenticate(req.bearer_token);
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
  const std::vector<std::string_view> p = Split(req.path);
  if (p.size() < 2 || p[0] != "v1") return Error(Status::NotFound("no such endpoint " + req.path));
  const std::string_view m = req.method;
  const std::string_view res = p[1];
  auto no_endpoint = [&] {
    return Error(Status::NotFound("no such endpoint: " + req.method + " " + req.path));
  };
  // Endpoints that take no query parameters refuse any (strictness extends to the URL).
  auto no_query = [&]() { return OnlyQuery(req, {}); };

  if (res == "whoami" && p.size() == 2 && m == "GET") {
    Json j;
    j.Open('{').KStr("name", me.name).Key("roles");
    Roles(j, me.roles);
    j.Close('}');
    return Ok(j.Take());
  }

  if (res == "content-types" && p.size() == 2) {
    if (Status q = no_query(); !q.ok()) return Error(q);
    if (m == "GET") {
      Json j;
      j.Open('{').Key("content_types").Open('[');
      for (const auto& t : service_.ContentTypes()) {
        j.Open('{').KStr("name", t.name).KInt("schema_version", t.schema_version);
        j.KStr("created_by", t.created_by).KInt("created_us", t.created_us).KStr("yaml", t.yaml);
        j.Close('}');
      }
      j.Close(']').Close('}');
      return Ok(j.Take());
    }
    if (m == "POST") {
      auto body = Body(req, false);
      if (!body.ok()) return Error(body.status());
      store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
      std::string yaml;
      if (Status s = r.String("yaml", &yaml); !s.ok()) return Error(s);
      if (Status s = r.Finish(); !s.ok()) return Error(s);
      auto t = service_.AddContentType(me, yaml);
      if (!t.ok()) return Error(t.status());
      Json j;
      j.Open('{').KStr("name", t->name).KInt("schema_version", t->schema_version).Close('}');
      return Ok(j.Take());
    }
    return no_endpoint();
  }

  if (res == "bundles") {
    if (p.size() == 2 && m == "GET") {
      if (Status q = OnlyQuery(req, {"channel"}); !q.ok()) return Error(q);
      auto it = req.query.find("channel");
      Json j;
      j.Open('{').Key("bundles").Open('[');
      for (const auto& b : service_.Bundles(it == req.query.end() ? "" : it->second)) {
        BundleJson(j, b, false);
      }
      j.Close(']').Close('}');
      return Ok(j.Take());
    }
    if (p.size() == 2 && m == "POST") {
      if (Status q = no_query(); !q.ok()) return Error(q);
      auto body = Body(req, false);
      if (!body.ok()) return Error(body.status());
      store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
      std::string envelope;
      if (Status s = r.String("envelope", &envelope); !s.ok()) return Error(s);
      if (Status s = r.Finish(); !s.ok()) return Error(s);
      UploadResult up;
      Status st = service_.UploadBundle(me, envelope, &up);
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
    return no_endpoint();
  }

  // Not under /v1/bundles/: that prefix belongs to the agent API (immutable bundle downloads).
  if (res == "bundle-reports" && p.size() == 3 && m == "GET") {
    auto b = service_.GetBundle(p[2]);
    if (!b.ok()) return Error(b.status());
    Json j;
    BundleJson(j, *b, true);
    return Ok(j.Take());
  }

  if (res == "releases") {
    if (p.size() == 2 && m == "GET") {
      if (Status q = OnlyQuery(req, {"channel"}); !q.ok()) return Error(q);
      auto it = req.query.find("channel");
      Json j;
      j.Open('{').Key("releases").Open('[');
      for (const auto& v : service_.ListReleases(it == req.query.end() ? "" : it->second)) {
        ReleaseJson(j, v, false);
      }
      j.Close(']').Close('}');
      return Ok(j.Take());
    }
    if (p.size() == 2 && m == "POST") {
      if (Status q = no_query(); !q.ok()) return Error(q);
      auto body = Body(req, false);
      if (!body.ok()) return Error(body.status());
      store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
      std::string sha, plan;
      bool allow_unsafe_plan = false;
      if (Status s = r.String("bundle_sha256", &sha); !s.ok()) return Error(s);
      if (Status s = r.String("plan_yaml", &plan); !s.ok()) return Error(s);
      if (Status s = r.OptBool("allow_unsafe_plan", &allow_unsafe_plan); !s.ok()) return Error(s);
      if (Status s = r.Finish(); !s.ok()) return Error(s);
      auto v = service_.CreateRelease(me, sha, plan, allow_unsafe_plan);
      if (!v.ok()) {
        return Error(v.status(), v.status().code() == StatusCode::kFailedPrecondition
                                     ? "unsafe_plan" : "");
      }
      return Ok(ReleaseViewJson(*v), 201);
    }
    if (p.size() < 3) return no_endpoint();
    const std::string id(p[2]);
    if (p.size() == 3 && m == "GET") {
      auto v = service_.GetRelease(id);
      if (!v.ok()) return Error(v.status());
      return Ok(ReleaseViewJson(*v));
    }
    if (p.size() == 4 && m == "GET" && p[3] == "progress") {
      auto v = service_.GetRelease(id);
      if (!v.ok()) return Error(v.status());
      const rollout::ReleaseState& s = v->record.state;
      Json j;
      j.Open('{').KStr("release_id", id).KStr("channel", v->record.channel);
      j.KInt("version", v->record.version);
      StateJson(j, s);
      j.KBool("finished", rollout::IsFinished(s));
      j.KInt("dispatch_elapsed_s", rollout::DispatchElapsedMicros(s, s.last_event_micros) / 1'000'000);
      j.KInt("approvals_counted", v->approvals_counted);
      j.KInt("approvals_required", v->approvals_required);
      j.Key("progress");
      std::optional<server::ReleaseProgress> pr;
      if (progress_ != nullptr) pr = progress_->Progress(id);
      if (!pr) {
        j.Null();
      } else {
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
      j.Close('}');
      return Ok(j.Take());
    }
    if (p.size() == 4 && m == "POST") {
      if (Status q = no_query(); !q.ok()) return Error(q);
      const std::string_view verb = p[3];
      if (verb == "approvals") {
        auto body = Body(req, false);
        if (!body.ok()) return Error(body.status());
        store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
        std::string envelope;
        if (Status s = r.String("envelope", &envelope); !s.ok()) return Error(s);
        if (Status s = r.Finish(); !s.ok()) return Error(s);
        auto v = service_.Approve(me, id, envelope);
        if (!v.ok()) return Error(v.status());
        return Ok(ReleaseViewJson(*v));
      }
      const bool takes_reason = verb == "pause" || verb == "halt" || verb == "rollback";
      if (!takes_reason && verb != "start" && verb != "resume") return no_endpoint();
      auto body = Body(req, true);
      if (!body.ok()) return Error(body.status());
      store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
      std::string reason;
      if (takes_reason) {
        if (Status s = r.String("reason", &reason); !s.ok()) return Error(s);
      }
      if (Status s = r.Finish(); !s.ok()) return Error(s);
      Result<rollout::TransitionResult> t = Status::Internal("unset");
      if (verb == "start") t = service_.Start(me, id);
      if (verb == "resume") t = service_.Resume(me, id);
      if (verb == "pause") t = service_.Pause(me, id, reason);
      if (verb == "halt") t = service_.Halt(me, id, reason);
      if (verb == "rollback") t = service_.Rollback(me, id, reason);
      if (!t.ok()) {
        const bool quorum = verb == "start" && t.status().code() == StatusCode::kFailedPrecondition &&
                            t.status().message().find("approvals") != std::string::npos;
        return Error(t.status(), quorum ? "quorum_missing" : "");
      }
      auto v = service_.GetRelease(id);
      if (!v.ok()) return Error(v.status());
      return Ok(TransitionJson(*v, *t));
    }
    return no_endpoint();
  }

  if (res == "fleet" && p.size() == 2 && m == "GET") {
    if (Status q = no_query(); !q.ok()) return Error(q);
    const Fleet fleet = fleet_.Inventory();
    Json j;
    j.Open('{').KInt("devices", fleet_.DeviceCount()).Key("strata").Open('[');
    for (const Stratum& s : fleet.strata) {
      j.Open('{').Key("attrs").Open('{');
      for (const auto& [k, v] : s.attrs) j.KStr(k, v);
      j.Close('}').Key("capabilities").Open('{');
      for (const auto& [t, c] : s.capabilities) {
        j.Key(t).Open('{').Key("schema_versions").Open('[');
        for (int64_t v : c.schema_versions) j.Int(v);
        j.Close(']').KInt("inputs", c.inputs);
        if (c.max_items) j.KInt("max_items", c.max_items);
        if (c.max_bundle_bytes) j.KInt("max_bundle_bytes", c.max_bundle_bytes);
        j.Close('}');
      }
      j.Close('}').KInt("devices", s.devices).Close('}');
    }
    j.Close(']').Close('}');
    return Ok(j.Take());
  }

  if (res == "audit" && m == "GET") {
    if (p.size() == 2) {
      if (Status q = OnlyQuery(req, {"after", "limit"}); !q.ok()) return Error(q);
      auto after = QueryInt(req, "after", 0);
      if (!after.ok()) return Error(after.status());
      auto lim = QueryInt(req, "limit", 100);
      if (!lim.ok()) return Error(lim.status());
      const size_t n = std::min(static_cast<size_t>(*lim), options_.max_audit_page);
      auto entries = service_.Audit(*after, n);
      if (!entries.ok()) return Error(entries.status());
      Json j;
      j.Open('{').Key("entries").Open('[');
      for (const auto& e : *entries) j.Raw(store::AuditEntryJson(e));
      j.Close(']').Close('}');
      return Ok(j.Take());
    }
    if (p.size() == 3 && p[2] == "verify") {
      if (Status q = no_query(); !q.ok()) return Error(q);
      auto v = service_.VerifyAudit();
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
    return no_endpoint();
  }

  if (res == "principals" && p.size() == 2) {
    if (Status q = no_query(); !q.ok()) return Error(q);
    if (m == "GET") {
      Json j;
      j.Open('{').Key("principals").Open('[');
      for (const auto& pi : service_.Principals()) {
        j.Open('{').KStr("name", pi.name).Key("roles");
        Roles(j, pi.roles);
        j.KStr("reviewer_keyid", pi.reviewer_keyid).KStr("created_by", pi.created_by);
        j.KInt("created_us", pi.created_us).Close('}');
      }
      j.Close(']').Close('}');
      return Ok(j.Take());
    }
    if (m == "POST") {
      auto body = Body(req, false);
      if (!body.ok()) return Error(body.status());
      store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
      std::string name, key;
      std::vector<std::string> role_names;
      if (Status s = r.String("name", &name); !s.ok()) return Error(s);
      if (Status s = r.StringArray("roles", &role_names); !s.ok()) return Error(s);
      if (Status s = r.OptString("reviewer_public_key", &key); !s.ok()) return Error(s);
      if (Status s = r.Finish(); !s.ok()) return Error(s);
      auto roles = ParseRoles(role_names, "roles");
      if (!roles.ok()) return Error(roles.status());
      auto token = service_.CreatePrincipal(me, name, *roles, key);
      if (!token.ok()) return Error(token.status());
      Json j;
      j.Open('{').KStr("name", name).Key("roles");
      Roles(j, *roles);
      j.KStr("token", *token).Close('}');
      return Ok(j.Take(), 201);
    }
    return no_endpoint();
  }

  if (res == "policies") {
    if (Status q = no_query(); !q.ok()) return Error(q);
    if (p.size() == 2 && m == "GET") {
      Json j;
      j.Open('{').Key("policies").Open('[');
      for (const auto& pol : service_.Policies()) {
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
    if (p.size() == 3 && m == "PUT") {
      auto body = Body(req, false);
      if (!body.ok()) return Error(body.status());
      store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
      store::ChannelPolicy pol;
      pol.channel = std::string(p[2]);
      int64_t k = 0, threshold = 0;
      std::vector<std::string> role_names;
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
      if (Status s = service_.SetPolicy(me, pol); !s.ok()) return Error(s);
      return Ok("{\"channel\":\"" + pol.channel + "\"}");
    }
    return no_endpoint();
  }

  if (res == "controls" && p.size() == 2) {
    if (m == "GET") {
      if (Status q = no_query(); !q.ok()) return Error(q);
      Json j;
      j.Open('{').Key("controls").Open('[');
      for (const auto& c : service_.Controls()) {
        j.Open('{').KStr("channel", c.channel).KStr("attr", c.attr).KStr("value", c.value);
        j.KBool("pin_previous", c.pin_previous).KInt("delay_s", c.delay_s);
        j.KBool("exclude_early_waves", c.exclude_early_waves).Close('}');
      }
      j.Close(']').Close('}');
      return Ok(j.Take());
    }
    if (m == "PUT") {
      if (Status q = no_query(); !q.ok()) return Error(q);
      auto body = Body(req, false);
      if (!body.ok()) return Error(body.status());
      store::StrictObject r(*body, "body", StatusCode::kInvalidArgument);
      server::CustomerControl c;
      if (Status s = r.String("channel", &c.channel); !s.ok()) return Error(s);
      if (Status s = r.String("attr", &c.attr); !s.ok()) return Error(s);
      if (Status s = r.String("value", &c.value); !s.ok()) return Error(s);
      if (Status s = r.OptBool("pin_previous", &c.pin_previous); !s.ok()) return Error(s);
      if (Status s = r.OptInt("delay_s", &c.delay_s); !s.ok()) return Error(s);
      if (Status s = r.OptBool("exclude_early_waves", &c.exclude_early_waves); !s.ok()) {
        return Error(s);
      }
      if (Status s = r.Finish(); !s.ok()) return Error(s);
      if (Status s = service_.PutControl(me, c); !s.ok()) return Error(s);
      return Ok("{}");
    }
    if (m == "DELETE") {
      if (Status q = OnlyQuery(req, {"channel", "attr", "value"}); !q.ok()) return Error(q);
      store::ControlKey k;
      for (auto [name, out] : {std::pair<const char*, std::string*>{"channel", &k.channel},
                               {"attr", &k.attr}, {"value", &k.value}}) {
        auto it = req.query.find(name);
        if (it == req.query.end()) {
          return Error(Status::InvalidArgument(std::string("query parameter '") + name +
                                               "': missing"));
        }
        *out = it->second;
      }
      if (Status s = service_.DeleteControl(me, k); !s.ok()) return Error(s);
      return Ok("{}");
    }
    return no_endpoint();
  }

  return no_endpoint();
}

}  // namespace rf::service
