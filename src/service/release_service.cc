#include "service/release_service.h"


#include <algorithm>
#include <tuple>

#include <boost/json.hpp>

#include "admission/admission.h"
#include "admission/review.h"
#include "core/bundle.h"
#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "protocol/identifiers.h"
#include "protocol/statements.h"
#include "store/release_codec.h"
#include "store/strict_json.h"

namespace rf::service {

using server::Principal;
using server::Role;

// The in-memory model: everything but envelopes and the audit log. Mutated only by the writer
// (holding write_mu_) under an exclusive lock on mu_, after the change is durable.
struct ReleaseService::Model {
  std::map<std::pair<std::string, int64_t>, store::ContentTypeRecord> types;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const ContentType>> parsed_types;
  std::map<std::string, BundleInfo, std::less<>> bundles;  // by sha256
  std::map<std::string, server::ReleaseRecord, std::less<>> releases;
  std::map<std::string, int64_t, std::less<>> release_number;  // "r-7" -> 7
  int64_t last_release_number = 0;
  std::map<std::string, std::vector<store::ApprovalRecord>, std::less<>> approvals;  // by release
  std::map<std::string, store::PrincipalRecord, std::less<>> principals;
  std::map<std::string, std::string, std::less<>> principal_by_token;  // token sha256 -> name
  std::map<std::string, store::ChannelPolicy, std::less<>> policies;
  std::map<std::tuple<std::string, std::string, std::string>, server::CustomerControl> controls;
};

namespace {

// A JSON object for audit details, keys in insertion order.
class Details {
 public:
  Details& Str(std::string_view k, std::string_view v) {
    Key(k);
    AppendJsonString(&out_, v);
    return *this;
  }
  Details& Int(std::string_view k, int64_t v) {
    Key(k);
    out_ += std::to_string(v);
    return *this;
  }
  Details& Bool(std::string_view k, bool v) {
    Key(k);
    out_ += v ? "true" : "false";
    return *this;
  }
  Details& StrList(std::string_view k, const std::vector<std::string>& v) {
    Key(k);
    out_ += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out_ += ',';
      AppendJsonString(&out_, v[i]);
    }
    out_ += ']';
    return *this;
  }
  std::string Done() const { return out_ + "}"; }

 private:
  void Key(std::string_view k) {
    if (out_.size() > 1) out_ += ',';
    AppendJsonString(&out_, k);
    out_ += ':';
  }
  std::string out_ = "{";
};

std::vector<std::string> RoleNames(const std::vector<Role>& roles) {
  std::vector<std::string> out;
  for (Role r : roles) out.emplace_back(store::RoleString(r));
  return out;
}

Status Require(const Principal& actor, Role role, std::string_view what) {
  if (actor.Has(role)) return Status::Ok();
  return Status::PermissionDenied("principal '" + actor.name + "' lacks role " +
                                  std::string(store::RoleString(role)) + " required to " +
                                  std::string(what));
}

bool Contains(const std::vector<Role>& roles, Role r) {
  return std::find(roles.begin(), roles.end(), r) != roles.end();
}

int CountApprovals(const std::vector<store::ApprovalRecord>& approvals,
                   const store::ChannelPolicy& policy) {
  int n = 0;
  for (const auto& a : approvals) n += Contains(policy.approver_roles, a.role) ? 1 : 0;
  return n;
}

std::string Short(std::string_view sha) { return admission::ShortSha(sha); }

// "consumer 'x' crash (SIGSEGV) on ipc-0003; ..." for every consumer that failed.
std::string LayerTwoSummary(const dynamic::DynamicReport& r) {
  std::string out;
  for (const auto& c : r.consumers) {
    if (c.passed) continue;
    std::string what;
    for (const auto& run : c.runs) {
      if (run.outcome == dynamic::RunOutcome::kPass) continue;
      what = std::string(dynamic::RunOutcomeName(run.outcome)) +
             (run.signal.empty() ? "" : " (" + run.signal + ")");
      break;
    }
    std::string items;
    for (const auto& i : c.failing_items) items += (items.empty() ? "" : ", ") + i;
    out += (out.empty() ? "" : "; ") + std::string("consumer '") + c.name + "': " + what +
           (items.empty() ? "" : " on " + items);
  }
  return out;
}

bool IsSafetyEvent(rollout::EventKind k) {
  return k == rollout::EventKind::kHalt || k == rollout::EventKind::kGateHalt ||
         k == rollout::EventKind::kRollback || k == rollout::EventKind::kPause ||
         k == rollout::EventKind::kGateHold;
}

std::string EventAction(rollout::EventKind k) {
  std::string name(rollout::EventKindName(k));
  std::string out = "release.";
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      if (i) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;  // "release.gate_halt"
}

}  // namespace

// ----- construction -----

ReleaseService::ReleaseService(store::Store& store, const server::FleetSource& fleet, Clock& clock,
                               ReleaseServiceOptions options)
    : store_(store), fleet_(fleet), clock_(clock), options_(std::move(options)),
      model_(std::make_unique<Model>()) {}

ReleaseService::~ReleaseService() = default;

Result<std::unique_ptr<ReleaseService>> ReleaseService::Open(store::Store& store,
                                                             const server::FleetSource& fleet,
                                                             Clock& clock,
                                                             ReleaseServiceOptions options) {
  if (options.default_approvals_required < 1 || options.default_approver_roles.empty()) {
    return Status::InvalidArgument("default policy needs at least 1 approval from some role");
  }
  if (!options.layer2_consumers.empty() &&
      (options.layer2_env.clock == nullptr || options.layer2_env.fs == nullptr)) {
    return Status::InvalidArgument("layer 2 consumers need layer2_env (clock and filesystem)");
  }
  RF_ASSIGN_OR_RETURN(store::StoreContents c, store.Load());
  std::unique_ptr<ReleaseService> s(new ReleaseService(store, fleet, clock, std::move(options)));
  Model& m = *s->model_;
  for (auto& t : c.content_types) {
    auto parsed = ParseContentType(t.yaml, "content type " + t.name);
    if (!parsed.ok()) return Status::DataLoss("stored " + parsed.status().message());
    m.parsed_types[{t.name, t.schema_version}] =
        std::make_shared<const ContentType>(std::move(*parsed));
    m.types[{t.name, t.schema_version}] = std::move(t);
  }
  for (auto& b : c.bundles) m.bundles[b.sha256] = std::move(b);
  for (auto& r : c.releases) {
    int64_t n = 0;
    if (r.release_id.rfind("r-", 0) == 0) n = std::atoll(r.release_id.c_str() + 2);
    m.last_release_number = std::max(m.last_release_number, n);
    m.release_number[r.release_id] = n;
    m.releases[r.release_id] = std::move(r);
  }
  for (auto& a : c.approvals) m.approvals[a.release_id].push_back(std::move(a));
  for (auto& p : c.principals) {
    m.principal_by_token[p.token_sha256] = p.name;
    m.principals[p.name] = std::move(p);
  }
  for (auto& p : c.policies) m.policies[p.channel] = std::move(p);
  for (auto& k : c.controls) m.controls[{k.channel, k.attr, k.value}] = std::move(k);
  return s;
}

// ----- plumbing -----

Status ReleaseService::CommitLocked(store::WriteBatch batch,
                                    const std::function<void(Model&)>& commit_model) {
  if (!failed_.ok()) return failed_;
  Status st = store_.Apply(batch);
  if (!st.ok()) {
    // Unavailable is the store's sticky failure: the outcome on disk is unknown, so the model can
    // no longer be trusted to match it. Fail stop.
    if (st.code() == StatusCode::kUnavailable) failed_ = st;
    return st;
  }
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    commit_model(*model_);
  }
  if (options_.on_audit) {
    for (const store::AuditRecord& a : batch.audit) options_.on_audit(a);
  }
  return Status::Ok();
}

void ReleaseService::NotifyChange() {
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> l(listener_mu_);
    listener = listener_;
  }
  if (listener) listener();
}

void ReleaseService::SetChangeListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> l(listener_mu_);
  listener_ = std::move(listener);
}

// ----- principals -----

Result<Principal> ReleaseService::Authenticate(std::string_view bearer_token) const {
  if (bearer_token.empty()) return Status::Unauthenticated("missing bearer token");
  const std::string hash = crypto::Sha256Hex(bearer_token);
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = model_->principal_by_token.find(hash);
  if (it == model_->principal_by_token.end()) return Status::Unauthenticated("unknown token");
  const store::PrincipalRecord& p = model_->principals.at(it->second);
  return Principal{p.name, p.roles};
}

Status ReleaseService::EnsurePrincipal(std::string_view name, const std::vector<Role>& roles,
                                       std::string_view token) {
  if (!protocol::IsValidPrincipalName(name)) return Status::InvalidArgument("principal name '" + std::string(name) + "' is not [a-z0-9._-]{1,64} other than '.' and '..'");
  if (token.size() < 16) return Status::InvalidArgument("token too short");
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    const std::string token_sha256 = crypto::Sha256Hex(token);
    auto existing = model_->principals.find(name);
    if (existing != model_->principals.end() && existing->second.token_sha256 == token_sha256) {
      return Status::Ok();
    }
    if (auto owner = model_->principal_by_token.find(token_sha256);
        owner != model_->principal_by_token.end() && owner->second != name) {
      return Status::AlreadyExists("token already belongs to another principal");
    }
    // New, or its token file was replaced (`ringfence server rotate-secrets`): the old token stops
    // working now.
    const bool rotated = existing != model_->principals.end();
    store::PrincipalRecord p = rotated ? existing->second : store::PrincipalRecord{};
    const std::string old_hash = p.token_sha256;
    if (!rotated) {
      p.name = std::string(name);
      p.roles = roles;
      p.created_by = "system";
      p.created_us = clock_.NowUnixMicros();
    }
    p.token_sha256 = token_sha256;
    store::WriteBatch b;
    b.principals.push_back(p);
    b.audit.push_back({"system", rotated ? "principal.token_rotated" : "principal.bootstrap",
                       "principal " + p.name, Details().StrList("roles", RoleNames(p.roles)).Done(),
                       clock_.NowUnixMicros()});
    st = CommitLocked(std::move(b), [&](Model& m) {
      if (rotated) m.principal_by_token.erase(old_hash);
      m.principal_by_token[p.token_sha256] = p.name;
      m.principals[p.name] = p;
    });
  }
  if (st.ok()) NotifyChange();
  return st;
}

Result<std::string> ReleaseService::CreatePrincipal(const Principal& actor, std::string_view name,
                                                    const std::vector<Role>& roles,
                                                    std::string_view reviewer_public_key) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kAdmin, "create principals"));
  if (!protocol::IsValidPrincipalName(name)) {
    return Status::InvalidArgument("principal name '" + std::string(name) +
                                   "' is not [a-z0-9._-]{1,64} other than '.' and '..'");
  }
  if (roles.empty()) return Status::InvalidArgument("a principal needs at least one role");
  if (Contains(roles, Role::kAgent)) {
    return Status::InvalidArgument(
        "the agent role belongs to the server's enrollment token, not to principals");
  }
  std::string keyid;
  if (!reviewer_public_key.empty()) {
    auto key = crypto::DecodePublicKeyFile(reviewer_public_key);
    if (!key.ok()) return key.status().WithPrefix("reviewer_public_key");
    keyid = key->KeyId();
  }
  std::string token = crypto::SecretSource::BearerToken();
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    if (model_->principals.count(name)) {
      return Status::AlreadyExists("principal '" + std::string(name) + "' exists");
    }
    if (!keyid.empty()) {
      for (const auto& [n, p] : model_->principals) {
        if (p.reviewer_key.empty()) continue;
        auto other = crypto::DecodePublicKeyFile(p.reviewer_key);
        if (other.ok() && other->KeyId() == keyid) {
          return Status::AlreadyExists("reviewer key " + Short(keyid) +
                                       " is already registered to principal '" + n + "'");
        }
      }
    }
    store::PrincipalRecord p;
    p.name = std::string(name);
    p.roles = roles;
    p.token_sha256 = crypto::Sha256Hex(token);
    p.reviewer_key = std::string(reviewer_public_key);
    p.created_by = actor.name;
    p.created_us = clock_.NowUnixMicros();
    store::WriteBatch b;
    b.principals.push_back(p);
    b.audit.push_back({actor.name, "principal.create", "principal " + p.name,
                       Details().StrList("roles", RoleNames(roles)).Str("reviewer_keyid", keyid).Done(),
                       p.created_us});
    st = CommitLocked(std::move(b), [&](Model& m) {
      m.principal_by_token[p.token_sha256] = p.name;
      m.principals[p.name] = p;
    });
  }
  if (!st.ok()) return st;
  NotifyChange();
  return token;
}

std::vector<PrincipalInfo> ReleaseService::Principals() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<PrincipalInfo> out;
  for (const auto& [n, p] : model_->principals) {
    PrincipalInfo i{p.name, p.roles, "", p.created_by, p.created_us};
    if (!p.reviewer_key.empty()) {
      auto k = crypto::DecodePublicKeyFile(p.reviewer_key);
      if (k.ok()) i.reviewer_keyid = k->KeyId();
    }
    out.push_back(std::move(i));
  }
  return out;
}

// ----- content types -----

Result<store::ContentTypeRecord> ReleaseService::AddContentType(const Principal& actor,
                                                                std::string_view yaml) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kAdmin, "register content types"));
  if (yaml.size() > options_.max_yaml_bytes) {
    return Status::ResourceExhausted("content type larger than " +
                                     std::to_string(options_.max_yaml_bytes) + " bytes");
  }
  RF_ASSIGN_OR_RETURN(ContentType type, ParseContentType(yaml, "content type"));
  store::ContentTypeRecord rec{type.name, type.schema_version, std::string(yaml), actor.name,
                               clock_.NowUnixMicros()};
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    auto it = model_->types.find({type.name, type.schema_version});
    if (it != model_->types.end()) {
      if (it->second.yaml == yaml) return it->second;  // idempotent
      return Status::AlreadyExists("content type " + type.name + " schema_version " +
                                   std::to_string(type.schema_version) +
                                   " is registered with different content; bump schema_version");
    }
    store::WriteBatch b;
    b.content_types.push_back(rec);
    b.audit.push_back({actor.name, "content_type.add", "content type " + type.name,
                       Details().Int("schema_version", type.schema_version)
                           .Str("sha256", crypto::Sha256Hex(yaml)).Done(),
                       rec.created_us});
    auto parsed = std::make_shared<const ContentType>(std::move(type));
    st = CommitLocked(std::move(b), [&](Model& m) {
      m.types[{rec.name, rec.schema_version}] = rec;
      m.parsed_types[{rec.name, rec.schema_version}] = parsed;
    });
  }
  if (!st.ok()) return st;
  NotifyChange();
  return rec;
}

std::vector<store::ContentTypeRecord> ReleaseService::ContentTypes() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<store::ContentTypeRecord> out;
  for (const auto& [k, v] : model_->types) out.push_back(v);
  return out;
}

// ----- bundles -----

// An upload in three steps (docs/server.md "Threads and locks"): read what admission needs from
// the model under the read lock; decide (admission::AdmitBundle: signatures and layer 1) and run
// layer 2 with no service lock held; commit under the write lock after checking that what was
// read still holds (CommitUpload). Only the commit waits for other mutations.
Status ReleaseService::UploadBundle(const Principal& actor, std::string_view envelope_text,
                                    UploadResult* result) {
  *result = UploadResult();
  RF_RETURN_IF_ERROR(Require(actor, Role::kAuthor, "upload bundles"));
  RF_ASSIGN_OR_RETURN(admission::UploadHeader upload,
                      admission::ReadUpload(envelope_text, options_.max_envelope_bytes));
  std::shared_ptr<const ContentType> type;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (auto it = model_->bundles.find(upload.sha256); it != model_->bundles.end()) {
      result->bundle = it->second;
      result->accepted = true;
      result->already_present = true;
      return Status::Ok();
    }
    auto tit = model_->parsed_types.find({upload.content_type, upload.schema_version});
    if (tit == model_->parsed_types.end()) {
      return Status::NotFound("content type " + upload.content_type + " schema_version " +
                              std::to_string(upload.schema_version) + " is not registered");
    }
    type = tit->second;
  }
  RF_ASSIGN_OR_RETURN(admission::DecodedUpload decoded, admission::DecodeUpload(upload, *type));
  UploadChannel channel;
  RF_RETURN_IF_ERROR(ReadUploadChannel(decoded.bundle.channel, &channel));
  const Fleet fleet = options_.skip_layer1 ? Fleet() : fleet_.Inventory();
  admission::AdmissionInput in;
  in.upload = &upload;
  in.decoded = &decoded;
  in.type = type.get();
  in.publisher_keys = &channel.policy.publisher_keys;
  in.publisher_threshold = channel.policy.publisher_threshold;
  in.previous = channel.previous ? &*channel.previous : nullptr;
  in.previous_payload_bytes = channel.previous_bytes;
  in.fleet = &fleet;
  in.uploader = actor.name;
  in.now_micros = clock_.NowUnixMicros();
  admission::Admission admitted = admission::AdmitBundle(in, {options_.stage_one, options_.skip_layer1});
  result->bundle = std::move(admitted.bundle);
  result->accepted = admitted.accepted;
  result->errors = admitted.errors;
  result->warnings = admitted.warnings;
  RF_RETURN_IF_ERROR(admitted.status);
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    RF_RETURN_IF_ERROR(VersionFreeLocked(*model_, result->bundle));
  }
  RF_RETURN_IF_ERROR(RunLayerTwo(upload, decoded.bundle, *type, result));
  return CommitUpload(actor, envelope_text, channel, result);
}

Status ReleaseService::ReadUploadChannel(const std::string& channel, UploadChannel* out) const {
  std::optional<BundleInfo> newest;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (auto pit = model_->policies.find(channel); pit != model_->policies.end()) {
      out->policy = pit->second;
    }
    for (const auto& [sha, b] : model_->bundles) {
      if (b.channel == channel && (!newest || b.version > newest->version)) newest = b;
    }
    if (newest) {
      auto tit = model_->parsed_types.find({newest->content_type, newest->schema_version});
      if (tit == model_->parsed_types.end()) {
        return Status::DataLoss("stored bundle " + newest->sha256 + " does not decode");
      }
      out->previous_type = tit->second;
    }
  }
  out->newest_version = newest ? newest->version : -1;
  if (!newest) return Status::Ok();
  rf::Bundle prev;
  RF_RETURN_IF_ERROR(DecodeStoredBundle(*newest, *out->previous_type, &prev, &out->previous_bytes));
  out->previous = std::move(prev);
  return Status::Ok();
}

Status ReleaseService::VersionFreeLocked(const Model& m, const BundleInfo& info) {
  for (const auto& [s, b] : m.bundles) {
    if (b.channel == info.channel && b.version == info.version) {
      return Status::AlreadyExists("channel " + info.channel + " already has version " +
                                   std::to_string(info.version) + " (bundle " + Short(s) + ")");
    }
  }
  return Status::Ok();
}

Status ReleaseService::RunLayerTwo(const admission::UploadHeader& upload, const rf::Bundle& bundle,
                                   const ContentType& type, UploadResult* result) const {
  if (options_.layer2_consumers.empty()) return Status::Ok();
  // The real consumers on the bundle in a sandbox: seconds of subprocesses, no lock held.
  dynamic::DynamicCheckInput in;
  in.type = &type;
  in.bundle = &bundle;
  in.payload = upload.envelope.payload;
  in.consumers = options_.layer2_consumers;
  auto dyn = dynamic::RunDynamicChecks(in, options_.layer2, options_.layer2_env);
  if (!dyn.ok()) return dyn.status().WithPrefix("layer 2 could not run");
  result->bundle.layer2_report_json = dynamic::DynamicReportJson(*dyn);
  if (dyn->accepted) return Status::Ok();
  result->accepted = false;
  return Status::InvalidArgument("layer 2 rejected bundle " + Short(upload.sha256) + " (channel " +
                                 result->bundle.channel + " version " +
                                 std::to_string(result->bundle.version) +
                                 "): " + LayerTwoSummary(*dyn));
}

Status ReleaseService::CommitUpload(const Principal& actor, std::string_view envelope_text,
                                    const UploadChannel& channel, UploadResult* result) {
  const BundleInfo& info = result->bundle;
  const std::string& sha = info.sha256;
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    const Model& m = *model_;  // the writer may read without mu_: it is the only mutator
    if (m.bundles.count(sha) != 0) {
      result->already_present = true;
      return Status::Ok();
    }
    RF_RETURN_IF_ERROR(VersionFreeLocked(m, info));
    // What admission read must still hold: the channel's newest bundle and its publisher policy.
    int64_t newest_now = -1;
    for (const auto& [s, b] : m.bundles) {
      if (b.channel == info.channel) newest_now = std::max(newest_now, b.version);
    }
    if (newest_now != channel.newest_version) {
      return Status::Aborted("channel " + info.channel +
                             " received another bundle while this one was checked; upload again");
    }
    store::ChannelPolicy policy_now;
    if (auto pit = m.policies.find(info.channel); pit != m.policies.end()) policy_now = pit->second;
    if (policy_now.publisher_keys != channel.policy.publisher_keys ||
        policy_now.publisher_threshold != channel.policy.publisher_threshold) {
      return Status::Aborted("channel " + info.channel +
                             "'s publisher policy changed while this bundle was checked; upload again");
    }
    store::WriteBatch b;
    b.bundles.push_back(info);
    b.bundles.back().envelope = std::string(envelope_text);
    b.audit.push_back({actor.name, "bundle.upload", "bundle " + sha,
                       Details().Str("channel", info.channel).Int("version", info.version)
                           .Str("content_type", info.content_type)
                           .Int("errors", static_cast<int64_t>(result->errors))
                           .Int("warnings", static_cast<int64_t>(result->warnings))
                           .Str("layer1", options_.skip_layer1 ? "skipped (--skip-layer1)" : "accepted")
                           .Str("layer2", options_.layer2_consumers.empty()
                                              ? "off"
                                              : "accepted (" + std::to_string(options_.layer2_consumers.size()) +
                                                    " consumer builds)")
                           .Done(),
                       info.uploaded_us});
    st = CommitLocked(std::move(b), [&](Model& mm) { mm.bundles[sha] = info; });
  }
  if (st.ok()) NotifyChange();
  return st;
}

Status ReleaseService::DecodeStoredBundle(const BundleInfo& info, const ContentType& type,
                                          rf::Bundle* bundle, size_t* payload_bytes) const {
  auto text = BundleEnvelope(info.sha256);
  if (!text.ok()) return text.status();
  crypto::EnvelopeLimits limits;
  limits.max_envelope_bytes = std::max(options_.max_envelope_bytes, text->size());
  auto env = crypto::ParseEnvelope(*text, limits);
  if (!env.ok()) return Status::DataLoss("stored bundle " + info.sha256 + " does not decode");
  std::vector<Finding> ignored;
  auto b = DecodeBundlePayload(env->payload, type, &ignored);
  if (!b.ok()) return Status::DataLoss("stored bundle " + info.sha256 + ": " + b.status().message());
  *bundle = std::move(*b);
  *payload_bytes = env->payload.size();
  return Status::Ok();
}

Status ReleaseService::DecodeStoredBundleLocked(const BundleInfo& info, rf::Bundle* bundle,
                                                size_t* payload_bytes) const {
  auto type = model_->parsed_types.find({info.content_type, info.schema_version});
  if (type == model_->parsed_types.end()) {
    return Status::DataLoss("stored bundle " + info.sha256 + " does not decode");
  }
  return DecodeStoredBundle(info, *type->second, bundle, payload_bytes);
}

Status ReleaseService::PreviousBundleLocked(std::string_view channel, int64_t below_version,
                                            std::optional<rf::Bundle>* prev,
                                            size_t* payload_bytes) const {
  const BundleInfo* info = nullptr;
  for (const auto& [sha, b] : model_->bundles) {
    if (b.channel == channel && b.version < below_version && (!info || b.version > info->version)) {
      info = &b;
    }
  }
  prev->reset();
  if (info == nullptr) return Status::Ok();
  rf::Bundle b;
  RF_RETURN_IF_ERROR(DecodeStoredBundleLocked(*info, &b, payload_bytes));
  *prev = std::move(b);
  return Status::Ok();
}

Status ReleaseService::RecheckLayerOneLocked(const server::ReleaseRecord& r) const {
  if (options_.skip_layer1) return Status::Ok();
  const BundleInfo& info = model_->bundles.at(r.bundle_sha256);
  rf::Bundle bundle;
  size_t bytes = 0;
  RF_RETURN_IF_ERROR(DecodeStoredBundleLocked(info, &bundle, &bytes));
  std::optional<rf::Bundle> prev;
  size_t prev_bytes = 0;
  RF_RETURN_IF_ERROR(PreviousBundleLocked(info.channel, info.version, &prev, &prev_bytes));
  const Fleet fleet = fleet_.Inventory();
  StageOneInput in;
  in.type = model_->parsed_types.at({info.content_type, info.schema_version}).get();
  in.bundle = &bundle;
  in.payload_bytes = bytes;
  if (prev) {
    in.previous = &*prev;
    in.previous_payload_bytes = prev_bytes;
  }
  in.fleet = &fleet;
  StageOneReport report = RunStageOne(in, {}, options_.stage_one);
  if (report.accepted) return Status::Ok();
  return Status::FailedPrecondition("layer 1 now rejects bundle " + Short(info.sha256) +
                                    " against the current fleet; release " + r.release_id +
                                    " cannot start: " + admission::ErrorSummary(report));
}

std::vector<BundleInfo> ReleaseService::Bundles(std::string_view channel_filter) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<BundleInfo> out;
  for (const auto& [s, b] : model_->bundles) {
    if (channel_filter.empty() || b.channel == channel_filter) out.push_back(b);
  }
  std::sort(out.begin(), out.end(), [](const BundleInfo& a, const BundleInfo& b) {
    return std::tie(a.channel, b.version) < std::tie(b.channel, a.version);
  });
  return out;
}

Result<BundleInfo> ReleaseService::GetBundle(std::string_view sha256) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = model_->bundles.find(sha256);
  if (it == model_->bundles.end()) return Status::NotFound("unknown bundle " + std::string(sha256));
  return it->second;
}

// ----- releases -----

ReleaseView ReleaseService::ViewLocked(const server::ReleaseRecord& r) const {
  ReleaseView v;
  v.record = r;
  if (auto it = model_->approvals.find(r.release_id); it != model_->approvals.end()) {
    v.approvals = it->second;
  }
  const store::ChannelPolicy policy = PolicyForLocked(r.channel);
  v.approvals_required = policy.approvals_required;
  v.approver_roles = policy.approver_roles;
  v.approvals_counted = CountApprovals(v.approvals, policy);
  if (auto it = model_->bundles.find(r.bundle_sha256); it != model_->bundles.end()) {
    v.layer1_report = it->second.report_json;
    v.layer2_report = it->second.layer2_report_json;
  }
  v.reports_sha256 = crypto::Sha256Hex(v.layer1_report + v.layer2_report);
  return v;
}

Result<ReleaseView> ReleaseService::CreateRelease(const Principal& actor,
                                                  std::string_view bundle_sha256,
                                                  std::string_view plan_yaml,
                                                  bool allow_unsafe_plan) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kAuthor, "create releases"));
  if (allow_unsafe_plan) {
    RF_RETURN_IF_ERROR(Require(actor, Role::kAdmin, "override the plan linter (allow_unsafe_plan)"));
  }
  if (plan_yaml.size() > options_.max_yaml_bytes) {
    return Status::ResourceExhausted("plan larger than " +
                                     std::to_string(options_.max_yaml_bytes) + " bytes");
  }
  RF_ASSIGN_OR_RETURN(rollout::Plan plan, rollout::ParsePlan(plan_yaml, "plan"));
  rollout::LintOptions lint = options_.lint;
  if (!lint.fleet_size) {
    const int64_t n = fleet_.DeviceCount();
    if (n > 0) lint.fleet_size = n;
  }
  // The break-glass: the linter's findings are recorded and audited instead of refusing.
  std::string overridden;
  if (Status lint_st = rollout::CheckPlan(plan, lint); !lint_st.ok()) {
    if (!allow_unsafe_plan) return lint_st;
    overridden = lint_st.message();
  }
  server::ReleaseRecord r;
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    const Model& m = *model_;
    auto bit = m.bundles.find(bundle_sha256);
    if (bit == m.bundles.end()) {
      return Status::NotFound("unknown bundle " + std::string(bundle_sha256));
    }
    const BundleInfo& bundle = bit->second;
    // A bundle stored before channel names were checked this way (docs/protocol.md) is never
    // released: devices refuse such a channel.
    RF_RETURN_IF_ERROR(protocol::CheckChannel(bundle.channel, "bundle " + Short(bundle.sha256) +
                                                                  ": channel"));
    const int64_t now = clock_.NowUnixMicros();
    const int64_t number = m.last_release_number + 1;
    r.release_id = "r-" + std::to_string(number);
    r.channel = bundle.channel;
    r.content_type = bundle.content_type;
    r.version = bundle.version;
    r.bundle_sha256 = bundle.sha256;
    r.plan_yaml = std::string(plan_yaml);
    r.state = rollout::NewRelease(plan, r.release_id, now);
    r.plan = std::move(plan);
    r.author = actor.name;
    r.created_s = now / 1'000'000;
    // The channel's newest completed release is the "N-1" customers may pin to.
    const server::ReleaseRecord* prev = nullptr;
    for (const auto& [id, x] : m.releases) {
      if (x.channel == r.channel && x.state.phase == rollout::Phase::kCompleted &&
          x.version < r.version && (!prev || x.version > prev->version)) {
        prev = &x;
      }
    }
    if (prev) r.previous = std::make_pair(prev->version, prev->bundle_sha256);
    store::WriteBatch b;
    b.releases.push_back(r);
    b.audit.push_back({actor.name, "release.create", r.release_id,
                       Details().Str("bundle_sha256", r.bundle_sha256).Str("channel", r.channel)
                           .Int("version", r.version).Str("plan", r.plan.name)
                           .Str("plan_sha256", crypto::Sha256Hex(plan_yaml)).Done(),
                       now});
    if (!overridden.empty()) {
      b.audit.push_back({actor.name, "release.unsafe_plan", r.release_id,
                         Details().Str("plan", r.plan.name).Str("lint", overridden)
                             .Str("note", "the plan linter was overridden (allow_unsafe_plan) by " +
                                              actor.name)
                             .Done(),
                         now});
    }
    // A channel whose policy requires no approvals (layer 3 off) is Ready at once.
    if (PolicyForLocked(r.channel).approvals_required == 0) {
      auto t = rollout::Transition(r.state, rollout::Event::Approved("policy"), now);
      if (!t.ok()) return t.status();
      r.state = std::move(t->state);
      b.releases.back() = r;
      b.audit.push_back({"system", "release.approved", r.release_id,
                         Details().Str("from", "AwaitingApproval").Str("to", "Ready")
                             .Int("approvals", 0)
                             .Str("note", "channel " + r.channel + " requires no approvals").Done(),
                         now});
    }
    st = CommitLocked(std::move(b), [&](Model& mm) {
      mm.releases[r.release_id] = r;
      mm.release_number[r.release_id] = number;
      mm.last_release_number = number;
    });
  }
  if (!st.ok()) return st;
  NotifyChange();
  return GetRelease(r.release_id);
}

Result<ReleaseView> ReleaseService::GetRelease(std::string_view release_id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = model_->releases.find(release_id);
  if (it == model_->releases.end()) {
    return Status::NotFound("unknown release " + std::string(release_id));
  }
  return ViewLocked(it->second);
}

std::vector<ReleaseView> ReleaseService::ListReleases(std::string_view channel_filter) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<std::pair<int64_t, const server::ReleaseRecord*>> order;
  for (const auto& [id, r] : model_->releases) {
    if (channel_filter.empty() || r.channel == channel_filter) {
      order.emplace_back(model_->release_number.at(id), &r);
    }
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<ReleaseView> out;
  for (const auto& [n, r] : order) out.push_back(ViewLocked(*r));
  return out;
}

Result<ReleaseView> ReleaseService::Approve(const Principal& actor, std::string_view release_id,
                                            std::string_view approval_envelope) {
  if (approval_envelope.size() > (64u << 10)) {
    return Status::ResourceExhausted("approval envelope larger than 64 KiB");
  }
  auto env = crypto::ParseEnvelope(approval_envelope);
  if (!env.ok()) return Status::InvalidArgument("approval envelope: " + env.status().message());
  if (env->payload_type != protocol::kApprovalPayloadType) {
    return Status::InvalidArgument("approval envelope: payloadType '" + env->payload_type +
                                   "', expected '" +
                                   std::string(protocol::kApprovalPayloadType) + "'");
  }
  RF_ASSIGN_OR_RETURN(protocol::ApprovalStatement stmt,
                      protocol::DecodeApprovalStatement(env->payload));
  admission::ApprovalInput in;
  in.actor = &actor;
  in.envelope = &*env;
  in.envelope_text = approval_envelope;
  in.reviewer = stmt.reviewer;
  in.role_name = stmt.role;
  in.release_id = stmt.release_id;
  in.bundle_sha256 = stmt.bundle_sha256;
  in.channel = stmt.channel;
  in.reports_sha256 = stmt.reports_sha256;
  in.version = stmt.version;
  in.now_micros = clock_.NowUnixMicros();
  // The caller and role checks need no model: refuse before taking the write lock.
  if (auto role = store::RoleFromString(stmt.role); stmt.reviewer != actor.name || !role.ok() ||
                                                    *role == Role::kAgent || !actor.Has(*role)) {
    return admission::EvaluateApproval(in).status();
  }
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    const Model& m = *model_;
    auto rit = m.releases.find(release_id);
    if (rit == m.releases.end()) {
      return Status::NotFound("unknown release " + std::string(release_id));
    }
    const server::ReleaseRecord& r = rit->second;
    const ReleaseView view = ViewLocked(r);
    const store::ChannelPolicy policy = PolicyForLocked(r.channel);
    in.release = &r;
    in.bundle_uploader = m.bundles.at(r.bundle_sha256).uploaded_by;
    in.expected_reports_sha256 = view.reports_sha256;
    in.approvals = &view.approvals;
    auto pit = m.principals.find(actor.name);
    in.reviewer_key = pit != m.principals.end() ? &pit->second.reviewer_key : nullptr;
    in.policy = &policy;
    RF_ASSIGN_OR_RETURN(admission::ApprovalDecision d, admission::EvaluateApproval(in));
    const store::ApprovalRecord& a = d.approval;
    store::WriteBatch b;
    b.approvals.push_back(a);
    b.audit.push_back({actor.name, "release.approve", r.release_id,
                       Details().Str("role", stmt.role).Str("keyid", a.keyid)
                           .Str("bundle_sha256", r.bundle_sha256)
                           .Str("reports_sha256", stmt.reports_sha256)
                           .Int("counted", d.counted).Int("required", policy.approvals_required)
                           .Done(),
                       a.created_us});
    if (d.ready) {
      b.releases.push_back(*d.ready);
      b.audit.push_back({"system", "release.approved", r.release_id,
                         Details().Str("from", "AwaitingApproval").Str("to", "Ready")
                             .Int("approvals", d.counted).Done(),
                         a.created_us});
    }
    st = CommitLocked(std::move(b), [&](Model& mm) {
      mm.approvals[a.release_id].push_back(a);
      if (d.ready) mm.releases[d.ready->release_id] = *d.ready;
    });
  }
  if (!st.ok()) return st;
  NotifyChange();
  return GetRelease(release_id);
}

Result<rollout::TransitionResult> ReleaseService::TransitionLocked(std::string_view id,
                                                                   const rollout::Event& event,
                                                                   int64_t now,
                                                                   const std::string& actor) {
  const Model& m = *model_;
  auto it = m.releases.find(id);
  if (it == m.releases.end()) return Status::NotFound("unknown release " + std::string(id));
  const server::ReleaseRecord& r = it->second;
  if (IsSafetyEvent(event.kind)) now = std::max(now, r.state.last_event_micros);
  RF_ASSIGN_OR_RETURN(rollout::TransitionResult t, rollout::Transition(r.state, event, now));
  // A timer tick that crossed no deadline changes nothing but last_event_micros: not worth an
  // fsync. The stored state stays as it was (time checks only need it not to be in the future).
  rollout::ReleaseState probe = t.state;
  probe.last_event_micros = r.state.last_event_micros;
  if (probe == r.state && t.effects.empty()) return t;

  server::ReleaseRecord updated = r;
  updated.state = t.state;
  if (event.kind == rollout::EventKind::kStart && updated.started_s == 0) {
    updated.started_s = now / 1'000'000;
  }
  std::vector<std::string> texts, effects;
  for (const rollout::Effect& e : t.effects) {
    effects.emplace_back(rollout::EffectKindName(e.kind));
    if (e.kind == rollout::EffectKind::kRecordAudit || e.kind == rollout::EffectKind::kPage) {
      texts.push_back(e.text);
    }
  }
  store::WriteBatch b;
  b.releases.push_back(updated);
  b.audit.push_back({actor, EventAction(event.kind), r.release_id,
                     Details().Str("from", rollout::PhaseName(r.state.phase))
                         .Str("to", rollout::PhaseName(t.state.phase))
                         .Int("wave", t.state.wave).Str("reason", event.reason)
                         .StrList("effects", effects).StrList("notes", texts).Done(),
                     now});
  RF_RETURN_IF_ERROR(CommitLocked(std::move(b), [&](Model& mm) {
    mm.releases[updated.release_id] = updated;
  }));
  return t;
}

Result<rollout::TransitionResult> ReleaseService::OperatorEvent(const Principal& actor,
                                                                std::string_view id,
                                                                rollout::Event event,
                                                                bool check_quorum) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kOperator,
                             std::string(rollout::EventKindName(event.kind)) + " releases"));
  event.actor = actor.name;
  if (event.reason.size() > 1024) return Status::InvalidArgument("reason longer than 1024 bytes");
  Result<rollout::TransitionResult> t = Status::Internal("unset");
  {
    std::lock_guard<std::mutex> w(write_mu_);
    if (check_quorum) {
      auto it = model_->releases.find(id);
      if (it == model_->releases.end()) return Status::NotFound("unknown release " + std::string(id));
      const ReleaseView v = ViewLocked(it->second);
      if (v.approvals_counted < v.approvals_required) {
        return Status::FailedPrecondition(
            "release " + std::string(id) + " has " + std::to_string(v.approvals_counted) +
            " of the " + std::to_string(v.approvals_required) + " approvals (from " +
            store::JoinRoles(v.approver_roles) + ") that channel " + it->second.channel +
            " requires: it cannot start");
      }
      // The fleet may have changed since upload (new consumer versions reported): layer 1 again.
      RF_RETURN_IF_ERROR(RecheckLayerOneLocked(it->second));
    }
    t = TransitionLocked(id, event, clock_.NowUnixMicros(), actor.name);
  }
  if (t.ok()) NotifyChange();
  return t;
}

Result<rollout::TransitionResult> ReleaseService::Start(const Principal& actor,
                                                        std::string_view id) {
  return OperatorEvent(actor, id, rollout::Event::Start(), /*check_quorum=*/true);
}
Result<rollout::TransitionResult> ReleaseService::Pause(const Principal& actor,
                                                        std::string_view id,
                                                        std::string_view reason) {
  return OperatorEvent(actor, id, rollout::Event::Pause(std::string(reason)), false);
}
Result<rollout::TransitionResult> ReleaseService::Resume(const Principal& actor,
                                                         std::string_view id) {
  return OperatorEvent(actor, id, rollout::Event::Resume(), false);
}
Result<rollout::TransitionResult> ReleaseService::Halt(const Principal& actor, std::string_view id,
                                                       std::string_view reason) {
  return OperatorEvent(actor, id, rollout::Event::Halt(std::string(reason)), false);
}
Result<rollout::TransitionResult> ReleaseService::Rollback(const Principal& actor,
                                                           std::string_view id,
                                                           std::string_view reason) {
  return OperatorEvent(actor, id, rollout::Event::Rollback(std::string(reason)), false);
}

// ----- policies and controls -----

store::ChannelPolicy ReleaseService::PolicyFor(std::string_view channel) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return PolicyForLocked(channel);
}

store::ChannelPolicy ReleaseService::PolicyForLocked(std::string_view channel) const {
  // REQUIRES: mu_ held (shared) or write_mu_ held.
  if (auto it = model_->policies.find(channel); it != model_->policies.end()) return it->second;
  store::ChannelPolicy p;
  p.channel = std::string(channel);
  p.approvals_required = options_.default_approvals_required;
  p.approver_roles = options_.default_approver_roles;
  return p;
}

Status ReleaseService::SetPolicy(const Principal& actor, const store::ChannelPolicy& policy) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kAdmin, "set channel policies"));
  RF_RETURN_IF_ERROR(protocol::CheckChannel(policy.channel));
  if (policy.approvals_required == 0 && !options_.allow_zero_approvals) {
    return Status::InvalidArgument(
        "approvals must be between 1 and 32 (0 only on a server started with --allow-unreviewed)");
  }
  if (policy.approvals_required < 0 || policy.approvals_required > 32) {
    return Status::InvalidArgument("approvals must be between 1 and 32");
  }
  if (policy.approver_roles.empty() || Contains(policy.approver_roles, Role::kAgent)) {
    return Status::InvalidArgument("roles must name at least one role and not agent");
  }
  std::vector<std::string> keyids;
  std::vector<crypto::PublicKey> keys;
  for (size_t i = 0; i < policy.publisher_keys.size(); ++i) {
    auto k = crypto::DecodePublicKeyFile(policy.publisher_keys[i]);
    if (!k.ok()) return k.status().WithPrefix("publisher_keys[" + std::to_string(i) + "]");
    keys.push_back(*k);
    keyids.push_back(k->KeyId());
  }
  // The same key twice (even as two differently formatted key files) would let one signature
  // meet a threshold of two; refused rather than silently deduplicated.
  RF_RETURN_IF_ERROR(crypto::CheckDistinctKeys(keys, "publisher_keys"));
  if (policy.publisher_keys.empty() ? policy.publisher_threshold != 0
                                    : (policy.publisher_threshold < 1 ||
                                       policy.publisher_threshold >
                                           static_cast<int>(policy.publisher_keys.size()))) {
    return Status::InvalidArgument(
        "publisher_threshold must be 0 without publisher keys, else between 1 and their number");
  }
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    store::WriteBatch b;
    b.policies.push_back(policy);
    b.audit.push_back({actor.name, "policy.set", "channel " + policy.channel,
                       Details().Int("approvals", policy.approvals_required)
                           .StrList("roles", RoleNames(policy.approver_roles))
                           .StrList("publisher_keyids", keyids)
                           .Int("publisher_threshold", policy.publisher_threshold).Done(),
                       clock_.NowUnixMicros()});
    st = CommitLocked(std::move(b), [&](Model& m) { m.policies[policy.channel] = policy; });
  }
  if (st.ok()) NotifyChange();
  return st;
}

std::vector<store::ChannelPolicy> ReleaseService::Policies() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<store::ChannelPolicy> out;
  for (const auto& [c, p] : model_->policies) out.push_back(p);
  return out;
}

Status ReleaseService::PutControl(const Principal& actor, const server::CustomerControl& c) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kOperator, "set customer controls"));
  RF_RETURN_IF_ERROR(protocol::CheckChannel(c.channel));
  if (c.attr != "tenant" && c.attr != "group") {
    return Status::InvalidArgument("attr must be tenant or group, not '" + c.attr + "'");
  }
  if (c.value.empty() || c.value.size() > 64) {
    return Status::InvalidArgument("value must be 1-64 bytes");
  }
  if (c.delay_s < 0 || c.delay_s > 365 * 86400) {
    return Status::InvalidArgument("delay_s must be between 0 and 31536000");
  }
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    store::WriteBatch b;
    b.controls.push_back(c);
    b.audit.push_back({actor.name, "control.set", "channel " + c.channel + " " + c.attr + "=" + c.value,
                       Details().Bool("pin_previous", c.pin_previous).Int("delay_s", c.delay_s)
                           .Bool("exclude_early_waves", c.exclude_early_waves).Done(),
                       clock_.NowUnixMicros()});
    st = CommitLocked(std::move(b), [&](Model& m) { m.controls[{c.channel, c.attr, c.value}] = c; });
  }
  if (st.ok()) NotifyChange();
  return st;
}

Status ReleaseService::DeleteControl(const Principal& actor, const store::ControlKey& k) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kOperator, "delete customer controls"));
  Status st;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    if (!model_->controls.count({k.channel, k.attr, k.value})) {
      return Status::NotFound("no control for channel " + k.channel + " " + k.attr + "=" + k.value);
    }
    store::WriteBatch b;
    b.deleted_controls.push_back(k);
    b.audit.push_back({actor.name, "control.delete",
                       "channel " + k.channel + " " + k.attr + "=" + k.value, "{}",
                       clock_.NowUnixMicros()});
    st = CommitLocked(std::move(b),
                      [&](Model& m) { m.controls.erase({k.channel, k.attr, k.value}); });
  }
  if (st.ok()) NotifyChange();
  return st;
}

// ----- audit -----

Result<std::vector<store::AuditEntry>> ReleaseService::Audit(int64_t after_seq,
                                                             size_t limit) const {
  return store_.ReadAudit(after_seq, limit);
}

Result<store::AuditVerification> ReleaseService::VerifyAudit() const { return store_.VerifyAudit(); }

// ----- server::ReleaseDirectory -----

std::vector<server::ReleaseRecord> ReleaseService::ActiveReleases() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<std::pair<int64_t, const server::ReleaseRecord*>> order;
  for (const auto& [id, r] : model_->releases) {
    if (r.state.phase == rollout::Phase::kAwaitingApproval ||
        r.state.phase == rollout::Phase::kReady) {
      continue;
    }
    order.emplace_back(model_->release_number.at(id), &r);
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second->channel, b.first) < std::tie(b.second->channel, a.first);
  });
  std::vector<server::ReleaseRecord> out;
  for (const auto& [n, r] : order) out.push_back(*r);
  return out;
}

Result<rollout::TransitionResult> ReleaseService::ApplyEvent(std::string_view release_id,
                                                             const rollout::Event& event,
                                                             int64_t now_micros) {
  Result<rollout::TransitionResult> t = Status::Internal("unset");
  {
    std::lock_guard<std::mutex> w(write_mu_);
    t = TransitionLocked(release_id, event, now_micros,
                         event.actor.empty() ? std::string("controller") : event.actor);
  }
  if (t.ok()) NotifyChange();
  return t;
}

std::vector<server::CustomerControl> ReleaseService::Controls() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<server::CustomerControl> out;
  for (const auto& [k, c] : model_->controls) out.push_back(c);
  return out;
}

Result<std::string> ReleaseService::BundleEnvelope(std::string_view sha256) const {
  {
    std::lock_guard<std::mutex> l(envelope_mu_);
    if (auto it = envelope_cache_.find(sha256); it != envelope_cache_.end()) return *it->second;
  }
  {
    // Only bundles the model knows (committed) are served.
    std::shared_lock<std::shared_mutex> l(mu_);
    if (!model_->bundles.count(sha256)) {
      return Status::NotFound("unknown bundle " + std::string(sha256));
    }
  }
  RF_ASSIGN_OR_RETURN(std::string text, store_.BundleEnvelope(sha256));
  std::lock_guard<std::mutex> l(envelope_mu_);
  envelope_cache_[std::string(sha256)] = std::make_shared<const std::string>(text);
  return text;
}

std::vector<std::string> ReleaseService::Approvals(std::string_view sha256) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [id, r] : model_->releases) {
    if (r.bundle_sha256 != sha256) continue;
    if (auto it = model_->approvals.find(id); it != model_->approvals.end()) {
      for (const auto& a : it->second) out.push_back(a.envelope);
    }
  }
  return out;
}

}  // namespace rf::service
