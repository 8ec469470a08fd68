#include "service/service_state.h"

#include <algorithm>

#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "service/service_common.h"

namespace rf::service {

namespace {

int CountApprovals(const std::vector<store::ApprovalRecord>& approvals,
                   const store::ChannelPolicy& policy) {
  int n = 0;
  for (const auto& a : approvals) n += ContainsRole(policy.approver_roles, a.role) ? 1 : 0;
  return n;
}

}  // namespace

// ----- the model's shared queries -----

store::ChannelPolicy Model::PolicyFor(std::string_view channel) const {
  if (auto it = policies.find(channel); it != policies.end()) return it->second;
  store::ChannelPolicy p;
  p.channel = std::string(channel);
  p.approvals_required = default_approvals_required;
  p.approver_roles = default_approver_roles;
  return p;
}

ReleaseView Model::View(const server::ReleaseRecord& r) const {
  ReleaseView v;
  v.record = r;
  if (auto it = approvals.find(r.release_id); it != approvals.end()) v.approvals = it->second;
  const store::ChannelPolicy policy = PolicyFor(r.channel);
  v.approvals_required = policy.approvals_required;
  v.approver_roles = policy.approver_roles;
  v.approvals_counted = CountApprovals(v.approvals, policy);
  if (auto it = bundles.find(r.bundle_sha256); it != bundles.end()) {
    v.layer1_report = it->second.report_json;
    v.layer2_report = it->second.layer2_report_json;
  }
  v.reports_sha256 = crypto::Sha256Hex(v.layer1_report + v.layer2_report);
  return v;
}

Status Model::VersionFree(const BundleInfo& info) const {
  for (const auto& [s, b] : bundles) {
    if (b.channel == info.channel && b.version == info.version) {
      return Status::AlreadyExists("channel " + info.channel + " already has version " +
                                   std::to_string(info.version) + " (bundle " + Short(s) + ")");
    }
  }
  return Status::Ok();
}

// ----- construction -----

ServiceState::ServiceState(store::Store& store, Clock& clock, ReleaseServiceOptions options)
    : store_(store), clock_(clock), options_(std::move(options)),
      model_(std::make_unique<Model>()) {}

Result<std::unique_ptr<ServiceState>> ServiceState::Load(store::Store& store, Clock& clock,
                                                         ReleaseServiceOptions options) {
  RF_ASSIGN_OR_RETURN(store::StoreContents c, store.Load());
  std::unique_ptr<ServiceState> s(new ServiceState(store, clock, std::move(options)));
  RF_ASSIGN_OR_RETURN(s->model_, s->BuildModel(std::move(c)));
  return s;
}

Result<std::unique_ptr<Model>> ServiceState::BuildModel(store::StoreContents c) const {
  auto model = std::make_unique<Model>();
  Model& m = *model;
  m.default_approvals_required = options_.default_approvals_required;
  m.default_approver_roles = options_.default_approver_roles;
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
  return model;
}

Status ServiceState::Reload() {
  {
    std::lock_guard<std::mutex> w(write_mu_);  // no mutation in flight: the store has them all
    if (!failed_.ok()) return failed_;
    RF_ASSIGN_OR_RETURN(store::StoreContents c, store_.Load());
    RF_ASSIGN_OR_RETURN(std::unique_ptr<Model> fresh, BuildModel(std::move(c)));
    std::unique_lock<std::shared_mutex> l(mu_);
    model_.swap(fresh);
  }
  NotifyChange();
  return Status::Ok();
}

// ----- the commit path -----

Status ServiceState::Writer::Commit(store::WriteBatch batch,
                                    const std::function<void(Model&)>& commit_model) {
  ServiceState& s = state_;
  if (!s.failed_.ok()) return s.failed_;
  // Compare-and-set on every release the batch writes (another server may share the store).
  for (const auto& r : batch.releases) {
    auto it = s.model_->releases.find(r.release_id);
    batch.expected_releases.push_back(
        {r.release_id, it == s.model_->releases.end() ? std::nullopt
                                                      : std::make_optional(it->second.state)});
  }
  batch.fencing_epoch = fencing_epoch_;
  Status st = s.store_.Apply(batch);
  if (!st.ok()) {
    // Unavailable is the store's sticky failure: the outcome on disk is unknown, so the model can
    // no longer be trusted to match it. Fail stop.
    if (st.code() == StatusCode::kUnavailable) s.failed_ = st;
    return st;
  }
  {
    std::unique_lock<std::shared_mutex> l(s.mu_);
    commit_model(*s.model_);
  }
  if (s.options_.on_audit) {
    for (const store::AuditRecord& a : batch.audit) s.options_.on_audit(a);
  }
  return Status::Ok();
}

void ServiceState::NotifyChange() {
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> l(listener_mu_);
    listener = listener_;
  }
  if (listener) listener();
}

void ServiceState::SetChangeListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> l(listener_mu_);
  listener_ = std::move(listener);
}

// ----- stored envelopes -----

Result<std::string> ServiceState::BundleEnvelope(std::string_view sha256) const {
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

Status ServiceState::DecodeStoredBundle(const BundleInfo& info, const ContentType& type,
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

}  // namespace rf::service
