// The CLI verbs that talk to `ringfence server`'s operator API (docs/api/openapi.yaml):
//   ringfence --server URL --token FILE type add | bundle upload | release ... | fleet |
//             fleet revoke|reset|credential DEVICE | audit | principal add | policy set |
//             control set|delete
// and `ringfence audit verify --data DIR` (or `--store postgresql://...`), which checks the audit
// chain offline in the SQLite file (or the PostgreSQL database, read-only).
//
// Exit codes: 0 done, 1 refused by the server (or audit not verified, or a watched release ended
// halted/rolled back), 2 unusable input, usage or transport error.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "http/http_client.h"
#include "http/transport_policy.h"
#include "core/bundle.h"
#include "core/stage1.h"
#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "protocol/statements.h"
#include "store/audit.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"

namespace rf::cli {
namespace {

namespace json = boost::json;
using http::HttpClient;
using http::HttpClientOptions;
using http::HttpReply;

struct Remote {
  std::string server, token_file, ca_file;
  bool insecure_http = false;
};

struct Args {
  std::string file, id, channel, plan, bundle, key, role = "reviewer", reason, name, data, store;
  std::string reviewer_key, tenant, group, delay;
  std::vector<std::string> roles, publisher_keys;
  int approvals = 0, publisher_threshold = 0;
  int64_t after = 0, limit = 100;
  double interval = 2;
  bool json_out = false, once = false, pin_previous = false, exclude_early = false;
  bool allow_unsafe_plan = false;
};

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

// Connection to the server from --server/--token/--ca (or RINGFENCE_SERVER/RINGFENCE_TOKEN_FILE/
// RINGFENCE_CA); plain HTTP only to loopback unless --insecure-http (http/transport_policy.h).
Result<std::unique_ptr<HttpClient>> Connect(const Remote& r) {
  if (r.server.empty()) {
    return Status::InvalidArgument("--server URL (or RINGFENCE_SERVER) is required");
  }
  if (r.token_file.empty()) {
    return Status::InvalidArgument("--token FILE (or RINGFENCE_TOKEN_FILE) is required");
  }
  Env env = PosixEnv();
  RF_ASSIGN_OR_RETURN(std::string token, env.fs->ReadFile(r.token_file, 4096));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty()) return Status::InvalidArgument(r.token_file + ": empty token file");
  RF_RETURN_IF_ERROR(http::CheckClientUrl(r.server, r.insecure_http).WithPrefix("--server"));
  HttpClientOptions o;
  o.base_url = r.server;
  o.token = std::move(token);
  o.ca_file = r.ca_file;
  o.insecure_http = r.insecure_http;
  return std::make_unique<HttpClient>(o);
}

// Sends a request; on a non-2xx reply prints the server's error and returns its exit code in
// *exit_code (1 for 4xx refusals, 2 for transport and 5xx). Returns the parsed body on 2xx.
std::optional<json::object> Call(HttpClient& c, std::string_view method, std::string_view path,
                                 std::string_view body, int* exit_code,
                                 const std::map<std::string, std::string>& query = {},
                                 std::string* raw = nullptr) {
  auto reply = c.Send(method, path, body, query);
  if (!reply.ok()) {
    *exit_code = UsageError(reply.status());
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(reply->body, ec);
  if (reply->status < 200 || reply->status >= 300) {
    std::string msg = reply->body;
    if (!ec && v.is_object() && v.as_object().contains("error")) {
      const auto& e = v.as_object().at("error").as_object();
      msg = std::string(e.at("code").as_string()) + ": " + std::string(e.at("message").as_string());
    }
    std::cerr << "ringfence: server refused (HTTP " << reply->status << "): " << msg << "\n";
    *exit_code = reply->status >= 500 ? kExitUnusable : kExitRejected;
    return std::nullopt;
  }
  if (ec || !v.is_object()) {
    *exit_code = UsageError(Status::DataLoss("server reply is not a JSON object"));
    return std::nullopt;
  }
  if (raw) *raw = reply->body;
  *exit_code = kExitOk;
  return std::move(v.as_object());
}

std::string S(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t I(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return 0;
}

bool B(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_bool() && v->as_bool();
}

std::string Pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

void PrintRelease(const json::object& r) {
  std::cout << Pad(S(r, "release_id"), 8) << " channel " << Pad(S(r, "channel"), 8) << " v"
            << Pad(std::to_string(I(r, "version")), 8) << Pad(S(r, "phase"), 18);
  if (I(r, "wave") >= 0) std::cout << "wave " << S(r, "wave_name") << "  ";
  std::cout << "approvals " << I(r, "approvals_counted") << "/" << I(r, "approvals_required")
            << "  by " << S(r, "author");
  if (!S(r, "reason").empty()) std::cout << "  (" << S(r, "reason") << ")";
  std::cout << "\n";
}

// The compact progress view `watch` redraws.
void PrintProgress(const json::object& p) {
  std::cout << "release " << S(p, "release_id") << "  channel " << S(p, "channel") << "  version "
            << I(p, "version") << "  " << S(p, "phase");
  if (B(p, "operator_paused")) std::cout << " (paused by operator)";
  if (B(p, "gate_hold")) std::cout << " (gate hold)";
  if (!S(p, "reason").empty()) std::cout << ": " << S(p, "reason");
  std::cout << "\n";
  const json::value* prog = p.if_contains("progress");
  const json::object* live = prog && prog->is_object() ? &prog->as_object() : nullptr;
  if (live) {
    std::cout << "gate " << Pad(S(*live, "gate_state"), 10) << " e-max "
              << live->at("max_e_value").to_number<double>() << " / threshold "
              << live->at("e_threshold").to_number<double>() << "   exposed "
              << FormatCount(I(*live, "exposed_devices")) << " of "
              << FormatCount(I(*live, "eligible_devices")) << ", applied "
              << FormatCount(I(*live, "applied_devices")) << ", harmed "
              << FormatCount(I(*live, "harmed_devices")) << "\n";
    if (!S(*live, "gate_detail").empty()) std::cout << "     " << S(*live, "gate_detail") << "\n";
  } else {
    std::cout << "(no live progress from the controller)\n";
  }
  const int64_t current = I(p, "wave");
  const std::string phase = S(p, "phase");
  const auto& waves = p.at("waves").as_array();
  const json::array* live_waves =
      live && live->contains("waves") ? &live->at("waves").as_array() : nullptr;
  for (size_t w = 0; w < waves.size(); ++w) {
    const auto& wo = waves[w].as_object();
    const int64_t i = static_cast<int64_t>(w);
    std::string status = i < current ? "done" : i == current ? phase : "";
    if (phase == "Completed") status = "done";
    std::string bar = "[          ]";
    std::string counts;
    if (live_waves && w < live_waves->size()) {
      const auto& lw = (*live_waves)[w].as_object();
      const int64_t target = I(lw, "target_devices"), exposed = I(lw, "exposed_devices");
      const int64_t filled = target > 0 ? std::min<int64_t>(10, exposed * 10 / target) : 0;
      bar = "[" + std::string(static_cast<size_t>(filled), '#') +
            std::string(static_cast<size_t>(10 - filled), ' ') + "]";
      counts = FormatCount(exposed) + "/" + FormatCount(target);
    } else if (status == "done") {
      bar = "[##########]";
    }
    std::cout << (i == current && phase != "Completed" ? "> " : "  ") << Pad(S(wo, "name"), 10)
              << bar << " " << Pad(counts, 22) << "dispatch " << I(wo, "dispatch_s") << "s bake "
              << I(wo, "bake_s") << "s  " << status << "\n";
  }
}

int TypeAdd(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  auto yaml = ReadInput(PosixEnv(), a.file);
  if (!yaml.ok()) return UsageError(yaml.status());
  int rc = 0;
  auto o = Call(**c, "POST", "/v1/content-types", "{\"yaml\":" + Quote(*yaml) + "}", &rc);
  if (!o) return rc;
  std::cout << "registered content type " << S(*o, "name") << " schema_version "
            << I(*o, "schema_version") << "\n";
  return kExitOk;
}

void PrintFindings(const json::object& report) {
  if (!report.contains("findings")) return;
  for (const auto& f : report.at("findings").as_array()) {
    const auto& fo = f.as_object();
    std::cout << "  " << Pad(S(fo, "severity"), 8) << Pad(S(fo, "check"), 22)
              << Pad(S(fo, "item").empty() ? "-" : S(fo, "item"), 12)
              << Pad(S(fo, "field").empty() ? "-" : S(fo, "field"), 18) << S(fo, "message") << "\n";
  }
}

int BundleUpload(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  auto env = ReadInput(PosixEnv(), a.file);
  if (!env.ok()) return UsageError(env.status());
  auto reply = (*c)->Send("POST", "/v1/bundles", "{\"envelope\":" + Quote(*env) + "}");
  if (!reply.ok()) return UsageError(reply.status());
  boost::system::error_code ec;
  json::value v = json::parse(reply->body, ec);
  if (ec || !v.is_object()) {
    std::cerr << "ringfence: server replied HTTP " << reply->status << ": " << reply->body << "\n";
    return kExitUnusable;
  }
  const json::object& o = v.as_object();
  if (a.json_out) std::cout << reply->body << "\n";
  if (reply->status == 200 || reply->status == 201) {
    if (!a.json_out) {
      std::cout << (B(o, "already_present") ? "already uploaded " : "uploaded ") << S(o, "sha256")
                << "\n  channel " << S(o, "channel") << " version " << I(o, "version")
                << ", layer 1 accepted against the live fleet (" << I(o, "warnings")
                << " warning(s))\n";
      if (o.contains("report") && o.at("report").is_object()) PrintFindings(o.at("report").as_object());
    }
    return kExitOk;
  }
  if (o.contains("error")) {
    const auto& e = o.at("error").as_object();
    std::cerr << "ringfence: upload refused (HTTP " << reply->status << "): " << S(e, "code")
              << ": " << S(e, "message") << "\n";
  }
  if (!a.json_out && o.contains("report") && o.at("report").is_object()) {
    PrintFindings(o.at("report").as_object());
  }
  return reply->status >= 500 ? kExitUnusable : kExitRejected;
}

int ReleaseCreate(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  auto plan = ReadInput(PosixEnv(), a.plan);
  if (!plan.ok()) return UsageError(plan.status());
  int rc = 0;
  auto o = Call(**c, "POST", "/v1/releases",
                "{\"bundle_sha256\":" + Quote(a.bundle) + ",\"plan_yaml\":" + Quote(*plan) +
                    (a.allow_unsafe_plan ? ",\"allow_unsafe_plan\":true}" : "}"),
                &rc);
  if (!o) return rc;
  std::cout << "created ";
  PrintRelease(*o);
  return kExitOk;
}

int ReleaseGet(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  int rc = 0;
  std::string raw;
  auto o = Call(**c, "GET", "/v1/releases/" + a.id, "", &rc, {}, &raw);
  if (!o) return rc;
  if (a.json_out) {
    std::cout << raw << "\n";
    return kExitOk;
  }
  PrintRelease(*o);
  std::cout << "  bundle " << S(*o, "bundle_sha256") << "\n  plan " << S(o->at("plan").as_object(), "name")
            << " (on_failure " << S(o->at("plan").as_object(), "on_failure") << ")\n"
            << "  reports_sha256 " << S(*o, "reports_sha256") << "\n";
  for (const auto& ap : o->at("approvals").as_array()) {
    const auto& x = ap.as_object();
    std::cout << "  approved by " << S(x, "reviewer") << " as " << S(x, "role") << " (key "
              << S(x, "keyid").substr(0, 16) << "…)\n";
  }
  return kExitOk;
}

int ReleaseList(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  int rc = 0;
  std::map<std::string, std::string> q;
  if (!a.channel.empty()) q["channel"] = a.channel;
  std::string raw;
  auto o = Call(**c, "GET", "/v1/releases", "", &rc, q, &raw);
  if (!o) return rc;
  if (a.json_out) {
    std::cout << raw << "\n";
    return kExitOk;
  }
  for (const auto& x : o->at("releases").as_array()) PrintRelease(x.as_object());
  return kExitOk;
}

int ReleaseApprove(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  Env env = PosixEnv();
  auto key = LoadPrivateKey(env, a.key);
  if (!key.ok()) return UsageError(key.status());
  int rc = 0;
  auto me = Call(**c, "GET", "/v1/whoami", "", &rc);
  if (!me) return rc;
  auto rel = Call(**c, "GET", "/v1/releases/" + a.id, "", &rc);
  if (!rel) return rc;
  // Recompute the reports digest from the texts we were shown: the signature covers what this
  // reviewer saw, not a digest the server asserts.
  const auto& reports = rel->at("reports").as_object();
  const std::string l1 = S(reports, "layer1"), l2 = S(reports, "layer2");
  const std::string digest = crypto::Sha256Hex(l1 + l2);
  if (digest != S(*rel, "reports_sha256")) {
    std::cerr << "ringfence: the server's reports_sha256 does not match its reports; not signing\n";
    return kExitRejected;
  }
  boost::system::error_code ec;
  json::value report = json::parse(l1, ec);
  if (!ec && report.is_object()) {
    std::cout << "layer 1 verdict for bundle " << S(*rel, "bundle_sha256").substr(0, 16) << "…: "
              << S(report.as_object(), "verdict") << "\n";
  }
  protocol::ApprovalStatement s;
  s.bundle_sha256 = S(*rel, "bundle_sha256");
  s.channel = S(*rel, "channel");
  s.release_id = S(*rel, "release_id");
  s.reports_sha256 = digest;
  s.reviewer = S(*me, "name");
  s.role = a.role;
  s.version = I(*rel, "version");
  crypto::Envelope e;
  e.payload_type = std::string(protocol::kApprovalPayloadType);
  e.payload = protocol::EncodeApprovalStatement(s);
  crypto::SignEnvelope(&e, *key);
  auto o = Call(**c, "POST", "/v1/releases/" + a.id + "/approvals",
                "{\"envelope\":" + Quote(crypto::SerializeEnvelope(e)) + "}", &rc);
  if (!o) return rc;
  std::cout << "approved " << s.release_id << " (channel " << s.channel << " version " << s.version
            << ") as " << s.reviewer << "/" << s.role << " with key " << key->KeyId().substr(0, 16)
            << "…: " << I(*o, "approvals_counted") << " of " << I(*o, "approvals_required")
            << " approvals, now " << S(*o, "phase") << "\n";
  return kExitOk;
}

int ReleaseVerb(const Remote& r, const Args& a, const std::string& verb) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  int rc = 0;
  const bool takes_reason = verb == "pause" || verb == "halt" || verb == "rollback";
  auto o = Call(**c, "POST", "/v1/releases/" + a.id + "/" + verb,
                takes_reason ? "{\"reason\":" + Quote(a.reason) + "}" : "{}", &rc);
  if (!o) return rc;
  std::cout << verb << ": ";
  PrintRelease(o->at("release").as_object());
  return kExitOk;
}

int ReleaseWatch(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  const bool tty = ::isatty(1) != 0;
  std::string last;
  for (;;) {
    int rc = 0;
    std::string raw;
    auto o = Call(**c, "GET", "/v1/releases/" + a.id + "/progress", "", &rc, {}, &raw);
    if (!o) return rc;
    if (raw != last) {
      if (tty) std::cout << "\033[H\033[2J";
      PrintProgress(*o);
      std::cout << std::flush;
      last = raw;
    }
    if (B(*o, "finished")) return S(*o, "phase") == "Completed" ? kExitOk : kExitRejected;
    if (a.once) return kExitOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(a.interval * 1000)));
    if (!tty) std::cout << "\n";
  }
}

int Fleet(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  int rc = 0;
  std::string raw;
  auto o = Call(**c, "GET", "/v1/fleet", "", &rc, {}, &raw);
  if (!o) return rc;
  if (a.json_out) {
    std::cout << raw << "\n";
    return kExitOk;
  }
  std::cout << FormatCount(I(*o, "devices")) << " devices\n";
  for (const auto& s : o->at("strata").as_array()) {
    const auto& so = s.as_object();
    std::string attrs;
    for (const auto& kv : so.at("attrs").as_object()) {
      attrs += std::string(kv.key()) + "=" + std::string(kv.value().as_string()) + " ";
    }
    std::string caps;
    for (const auto& kv : so.at("capabilities").as_object()) {
      caps += std::string(kv.key()) + "(inputs " + std::to_string(I(kv.value().as_object(), "inputs")) + ") ";
    }
    std::cout << "  " << Pad(FormatCount(I(so, "devices")), 12) << Pad(attrs, 40)
              << (caps.empty() ? "-" : caps) << "\n";
  }
  return kExitOk;
}

// `fleet revoke|reset|credential DEVICE` (docs/protocol.md "Device credentials").
int FleetDevice(const Remote& r, const Args& a, const std::string& verb) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  int rc = 0;
  std::string raw;
  const std::string path = "/v1/fleet/devices/" + a.id + "/" + verb;
  auto o = Call(**c, verb == "credential" ? "GET" : "POST", path, "", &rc, {}, &raw);
  if (!o) return rc;
  if (a.json_out) {
    std::cout << raw << "\n";
    return kExitOk;
  }
  std::cout << "device " << S(*o, "device_id") << ": credential " << S(*o, "state") << ", key "
            << S(*o, "key_id").substr(0, 16) << ", epoch " << I(*o, "epoch") << "\n";
  if (verb == "revoke") {
    std::cout << "its check-ins are refused until an operator resets it and it enrolls again\n";
  } else if (verb == "reset") {
    std::cout << "its next enrollment may register any key\n";
  }
  return kExitOk;
}

int Audit(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  int rc = 0;
  std::string raw;
  auto o = Call(**c, "GET", "/v1/audit", "", &rc,
                {{"after", std::to_string(a.after)}, {"limit", std::to_string(a.limit)}}, &raw);
  if (!o) return rc;
  if (a.json_out) {
    std::cout << raw << "\n";
    return kExitOk;
  }
  for (const auto& e : o->at("entries").as_array()) {
    const auto& eo = e.as_object();
    std::cout << Pad(std::to_string(I(eo, "seq")), 6) << Pad(std::to_string(I(eo, "time_us") / 1'000'000), 12)
              << Pad(S(eo, "actor"), 12) << Pad(S(eo, "action"), 22) << Pad(S(eo, "subject"), 24)
              << json::serialize(eo.at("details")) << "\n";
  }
  return kExitOk;
}

int AuditVerify(const Remote& r, const Args& a) {
  if (!a.data.empty() || !a.store.empty()) {
    // Offline, straight from the database: the SQLite file (the server may be running: WAL
    // readers coexist) or the PostgreSQL database (read-only: nothing migrated, nothing written).
    if (!a.data.empty() && !a.store.empty()) {
      return UsageError(Status::InvalidArgument("--data and --store: give one"));
    }
    store::StorePtr s;
    if (!a.store.empty()) {
      if (!store::IsPostgresUri(a.store)) {
        return UsageError(Status::InvalidArgument("--store: not a postgresql:// URI"));
      }
      store::PgStoreOptions o;
      o.read_only = true;
      auto pg = store::PgStore::Open(a.store, o);
      if (!pg.ok()) return UsageError(pg.status());
      s = std::move(*pg);
    } else {
      store::SqliteStoreOptions o;
      o.read_only = true;
      auto lite = store::SqliteStore::Open(a.data + "/" + store::kDatabaseFileName, o);
      if (!lite.ok()) return UsageError(lite.status());
      s = std::move(*lite);
    }
    auto v = s->VerifyAudit();
    if (!v.ok()) {
      std::cout << "audit log FAILED verification: " << v.status().message() << "\n";
      return kExitRejected;
    }
    std::cout << "audit log verified: " << v->entries << " entries, head seq " << v->head.seq
              << " hash " << v->head.hash << "\n";
    return kExitOk;
  }
  // Against a server: fetch its recorded head and every entry up to it over the operator API and
  // recompute the chain here (docs/control-plane.md "Verifying from outside"), so the result does
  // not rest on the server's own check. Entries appended meanwhile (past the head) are not read.
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  int rc = 0;
  auto o = Call(**c, "GET", "/v1/audit/verify", "", &rc);
  if (!o) return rc;
  if (!B(*o, "ok")) {
    std::cout << "audit log FAILED verification on the server: " << S(*o, "error") << "\n";
    return kExitRejected;
  }
  const json::object* head_json = o->if_contains("head") ? o->at("head").if_object() : nullptr;
  if (head_json == nullptr) return UsageError(Status::DataLoss("server reply has no head"));
  const store::AuditHead head{I(*head_json, "seq"), S(*head_json, "hash")};
  store::AuditChainVerifier verifier;
  constexpr int64_t kPage = 1000;  // the API's largest page (docs/api/openapi.yaml)
  for (int64_t after = 0; after < head.seq;) {
    const int64_t n = std::min(kPage, head.seq - after);
    auto page = Call(**c, "GET", "/v1/audit", "", &rc,
                     {{"after", std::to_string(after)}, {"limit", std::to_string(n)}});
    if (!page) return rc;
    const json::array* entries =
        page->if_contains("entries") ? page->at("entries").if_array() : nullptr;
    if (entries == nullptr || entries->empty()) {
      return UsageError(Status::DataLoss("server returned no audit entries after seq " +
                                         std::to_string(after)));
    }
    for (const json::value& v : *entries) {
      if (!v.is_object()) return UsageError(Status::DataLoss("audit entry is not a JSON object"));
      auto e = store::AuditEntryFromJson(v.as_object());
      if (!e.ok()) return UsageError(e.status());
      if (after == head.seq) break;  // appended after the head was read
      if (Status st = verifier.Add(*e); !st.ok()) {
        std::cout << "audit log FAILED verification: " << st.message() << "\n";
        return kExitRejected;
      }
      after = e->seq;
    }
  }
  auto v = verifier.Finish(head);
  if (!v.ok()) {
    std::cout << "audit log FAILED verification: " << v.status().message() << "\n";
    return kExitRejected;
  }
  std::cout << "audit log verified: " << v->entries << " entries, head seq " << v->head.seq
            << " hash " << v->head.hash << " (chain recomputed locally)\n";
  return kExitOk;
}

int PrincipalAdd(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  std::string body = "{\"name\":" + Quote(a.name) + ",\"roles\":[";
  for (size_t i = 0; i < a.roles.size(); ++i) body += (i ? "," : "") + Quote(a.roles[i]);
  body += "]";
  if (!a.reviewer_key.empty()) {
    auto k = ReadInput(PosixEnv(), a.reviewer_key);
    if (!k.ok()) return UsageError(k.status());
    body += ",\"reviewer_public_key\":" + Quote(*k);
  }
  body += "}";
  int rc = 0;
  auto o = Call(**c, "POST", "/v1/principals", body, &rc);
  if (!o) return rc;
  std::cerr << "created principal " << a.name << "; its token (shown once) follows on stdout\n";
  std::cout << S(*o, "token") << "\n";
  return kExitOk;
}

int PolicySet(const Remote& r, const Args& a) {
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  std::string body = "{\"approvals\":" + std::to_string(a.approvals) + ",\"roles\":[";
  for (size_t i = 0; i < a.roles.size(); ++i) body += (i ? "," : "") + Quote(a.roles[i]);
  body += "],\"publisher_keys\":[";
  for (size_t i = 0; i < a.publisher_keys.size(); ++i) {
    auto k = ReadInput(PosixEnv(), a.publisher_keys[i]);
    if (!k.ok()) return UsageError(k.status());
    body += (i ? "," : "") + Quote(*k);
  }
  body += "],\"publisher_threshold\":" + std::to_string(a.publisher_threshold) + "}";
  int rc = 0;
  auto o = Call(**c, "PUT", "/v1/policies/" + a.channel, body, &rc);
  if (!o) return rc;
  std::cout << "channel " << a.channel << ": " << a.approvals << " approval(s) from ";
  for (size_t i = 0; i < a.roles.size(); ++i) std::cout << (i ? ", " : "") << a.roles[i];
  std::cout << "\n";
  return kExitOk;
}

// "90s", "30m", "2h", "1d" or plain seconds.
Result<int64_t> ParseDuration(const std::string& s) {
  if (s.empty()) return int64_t{0};
  int64_t mult = 1;
  std::string num = s;
  switch (s.back()) {
    case 's': mult = 1; num.pop_back(); break;
    case 'm': mult = 60; num.pop_back(); break;
    case 'h': mult = 3600; num.pop_back(); break;
    case 'd': mult = 86400; num.pop_back(); break;
    default: break;
  }
  if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos || num.size() > 9) {
    return Status::InvalidArgument("--delay '" + s + "': expected e.g. 90s, 30m, 2h, 1d");
  }
  return std::stoll(num) * mult;
}

int ControlSet(const Remote& r, const Args& a, bool remove) {
  if (a.tenant.empty() == a.group.empty()) {
    return UsageError(Status::InvalidArgument("give exactly one of --tenant or --group"));
  }
  auto c = Connect(r);
  if (!c.ok()) return UsageError(c.status());
  const std::string attr = a.tenant.empty() ? "group" : "tenant";
  const std::string value = a.tenant.empty() ? a.group : a.tenant;
  int rc = 0;
  if (remove) {
    auto o = Call(**c, "DELETE", "/v1/controls", "", &rc,
                  {{"channel", a.channel}, {"attr", attr}, {"value", value}});
    if (!o) return rc;
    std::cout << "removed the control of " << attr << "=" << value << " on channel " << a.channel << "\n";
    return kExitOk;
  }
  auto delay = ParseDuration(a.delay);
  if (!delay.ok()) return UsageError(delay.status());
  std::string body = "{\"channel\":" + Quote(a.channel) + ",\"attr\":" + Quote(attr) +
                     ",\"value\":" + Quote(value) + ",\"pin_previous\":" +
                     (a.pin_previous ? "true" : "false") + ",\"delay_s\":" + std::to_string(*delay) +
                     ",\"exclude_early_waves\":" + (a.exclude_early ? "true" : "false") + "}";
  auto o = Call(**c, "PUT", "/v1/controls", body, &rc);
  if (!o) return rc;
  std::cout << "channel " << a.channel << ", " << attr << "=" << value << ": pin N-1 "
            << (a.pin_previous ? "yes" : "no") << ", delay " << *delay << "s, exclude early waves "
            << (a.exclude_early ? "yes" : "no") << "\n";
  return kExitOk;
}

}  // namespace

void RegisterRemoteCommands(CLI::App& app, int* exit_code) {
  auto remote = std::make_shared<Remote>();
  auto a = std::make_shared<Args>();
  app.add_option("--server", remote->server, "ringfence server URL, e.g. https://fleet.example.com:8443")
      ->envname("RINGFENCE_SERVER");
  app.add_option("--token", remote->token_file, "file holding your bearer token")
      ->envname("RINGFENCE_TOKEN_FILE");
  app.add_option("--ca", remote->ca_file,
                 "PEM CA certificate(s) the server's TLS certificate must chain to")
      ->envname("RINGFENCE_CA");
  app.add_flag("--insecure-http", remote->insecure_http,
               "allow plain http:// to a non-loopback server (the token travels unencrypted)");
  auto run = [exit_code](std::function<int()> f) { return [exit_code, f] { *exit_code = f(); }; };

  CLI::App* type = app.add_subcommand("type", "content types on the server");
  type->require_subcommand(1);
  CLI::App* type_add = type->add_subcommand("add", "register a content type (admin)");
  type_add->add_option("file", a->file, "content type (.yaml)")->required();
  type_add->callback(run([=] { return TypeAdd(*remote, *a); }));

  // `bundle` exists already (bundle_command.cc); upload joins it.
  CLI::App* bundle = app.get_subcommand("bundle");
  CLI::App* upload = bundle->add_subcommand(
      "upload", "upload a built bundle; layer 1 runs against the live fleet (author)");
  upload->add_option("bundle", a->file, "built bundle (DSSE envelope)")->required();
  upload->add_flag("--json", a->json_out, "print the server's reply");
  upload->callback(run([=] { return BundleUpload(*remote, *a); }));

  CLI::App* rel = app.add_subcommand("release", "releases: create, review, start and steer rollouts");
  rel->require_subcommand(1);
  CLI::App* create = rel->add_subcommand("create", "a release of an uploaded bundle under a plan (author)");
  create->add_option("--bundle", a->bundle, "bundle sha256")->required();
  create->add_option("--plan", a->plan, "rollout plan (.yaml)")->required();
  create->add_flag("--allow-unsafe-plan", a->allow_unsafe_plan,
                   "break-glass (admin only, audited): create it even though the plan linter refuses the plan");
  create->callback(run([=] { return ReleaseCreate(*remote, *a); }));
  CLI::App* get = rel->add_subcommand("get", "one release");
  get->add_option("id", a->id)->required();
  get->add_flag("--json", a->json_out, "print the server's reply");
  get->callback(run([=] { return ReleaseGet(*remote, *a); }));
  CLI::App* list = rel->add_subcommand("list", "releases, newest first");
  list->add_option("--channel", a->channel);
  list->add_flag("--json", a->json_out, "print the server's reply");
  list->callback(run([=] { return ReleaseList(*remote, *a); }));
  CLI::App* approve = rel->add_subcommand(
      "approve", "sign the approval statement locally with your reviewer key and submit it");
  approve->add_option("id", a->id)->required();
  approve->add_option("--key", a->key, "your private key file (NAME.key); it never leaves this machine")
      ->required();
  approve->add_option("--role", a->role, "role you approve as (default reviewer)");
  approve->callback(run([=] { return ReleaseApprove(*remote, *a); }));
  for (const char* verb : {"start", "pause", "resume", "halt", "rollback"}) {
    const std::string v = verb;
    CLI::App* cmd = rel->add_subcommand(v, v + " a release (operator)");
    cmd->add_option("id", a->id)->required();
    if (v == "pause" || v == "halt" || v == "rollback") {
      cmd->add_option("--reason", a->reason, "why (recorded in the audit log)")->required();
    }
    cmd->callback(run([=] { return ReleaseVerb(*remote, *a, v); }));
  }
  CLI::App* watch = rel->add_subcommand(
      "watch", "redraw waves, exposure and gate state until the release finishes "
               "(exit 0 completed, 1 halted or rolled back)");
  watch->add_option("id", a->id)->required();
  watch->add_option("--interval", a->interval, "seconds between polls (default 2)");
  watch->add_flag("--once", a->once, "draw once and exit");
  watch->callback(run([=] { return ReleaseWatch(*remote, *a); }));

  CLI::App* fleet = app.add_subcommand("fleet", "the fleet as devices report it: strata and capabilities");
  fleet->add_flag("--json", a->json_out, "print the server's reply");
  fleet->callback([=] {
    if (fleet->get_subcommands().empty()) *exit_code = Fleet(*remote, *a);
  });
  for (const auto& [verb, help] : std::vector<std::pair<std::string, std::string>>{
           {"revoke", "revoke a device's credential: its check-ins are refused until it is reset "
                      "and enrolls again (operator)"},
           {"reset", "allow a device's next enrollment to register a new key (operator)"},
           {"credential", "a device's credential: state, key id, epoch (operator)"}}) {
    CLI::App* cmd = fleet->add_subcommand(verb, help);
    cmd->add_option("device", a->id, "device id")->required();
    cmd->add_flag("--json", a->json_out, "print the server's reply");
    const std::string v = verb;
    cmd->callback(run([=] { return FleetDevice(*remote, *a, v); }));
  }

  CLI::App* audit = app.add_subcommand("audit", "the hash-chained audit log");
  audit->add_option("--after", a->after, "entries after this seq");
  audit->add_option("--limit", a->limit, "at most this many (default 100)");
  audit->add_flag("--json", a->json_out, "print the server's reply");
  audit->callback([=] {
    if (audit->get_subcommands().empty()) *exit_code = Audit(*remote, *a);
  });
  CLI::App* verify = audit->add_subcommand(
      "verify",
      "check the chain: fetched from the server and recomputed here, or offline with --data DIR "
      "or --store postgresql://...; exit 1 if broken");
  verify->add_option("--data", a->data, "server data directory: verify the database file directly");
  verify->add_option("--store", a->store,
                     "a cluster's PostgreSQL database (URI): verify it directly, read-only");
  verify->callback(run([=] { return AuditVerify(*remote, *a); }));

  CLI::App* principal = app.add_subcommand("principal", "people and their tokens (admin)");
  principal->require_subcommand(1);
  CLI::App* padd = principal->add_subcommand("add", "create a principal; prints its token once");
  padd->add_option("name", a->name)->required();
  padd->add_option("--role", a->roles, "author, reviewer, operator, admin (repeatable)")->required();
  padd->add_option("--reviewer-key", a->reviewer_key, "public key file (NAME.pub) for approvals");
  padd->callback(run([=] { return PrincipalAdd(*remote, *a); }));

  CLI::App* policy = app.add_subcommand("policy", "per-channel review policy (admin)");
  policy->require_subcommand(1);
  CLI::App* pset = policy->add_subcommand("set", "K approvals from these roles; optional publisher keys");
  pset->add_option("channel", a->channel)->required();
  pset->add_option("--approvals", a->approvals, "K")->required();
  pset->add_option("--role", a->roles, "roles whose approvals count (repeatable)")->required();
  pset->add_option("--publisher-key", a->publisher_keys, "public key file uploads must be signed by");
  pset->add_option("--publisher-threshold", a->publisher_threshold, "valid publisher signatures required");
  pset->callback(run([=] { return PolicySet(*remote, *a); }));

  CLI::App* control = app.add_subcommand("control", "customer controls per tenant or device group (operator)");
  control->require_subcommand(1);
  for (const char* verb : {"set", "delete"}) {
    const bool remove = std::string(verb) == "delete";
    CLI::App* cmd = control->add_subcommand(verb, remove ? "remove a control" : "set a control");
    cmd->add_option("--channel", a->channel)->required();
    cmd->add_option("--tenant", a->tenant);
    cmd->add_option("--group", a->group);
    if (!remove) {
      cmd->add_flag("--pin-previous", a->pin_previous, "stay on N-1");
      cmd->add_option("--delay", a->delay, "take releases only this long after they start (e.g. 2h)");
      cmd->add_flag("--exclude-early-waves", a->exclude_early, "never in a canary or early wave");
    }
    cmd->callback(run([=] { return ControlSet(*remote, *a, remove); }));
  }
}

}  // namespace rf::cli
