// The release service: every operator operation on content types, bundles, releases, approvals,
// principals, channel policies and customer controls, plus the durable side the controller uses
// (rf::server::ReleaseDirectory).
//
// Contract of every mutating call: it checks the caller's role, validates its input against the
// current model, builds one store::WriteBatch with the change and its audit entries, and returns OK
// only after Store::Apply returned OK (durable and audited). A refused call changes nothing and
// writes nothing. If the store fails, the service fails stop: every later mutation is refused
// with the store's error (Unavailable) until the process restarts and reloads.
//
// Layer 1 runs on upload against the live fleet (FleetSource::Inventory()); layer 3 is enforced
// here: approvals are Ed25519 approval statements (docs/protocol.md) verified against the
// reviewer's registered key, never from the release's author or the bundle's uploader, counted
// only from the roles of the channel's policy; Start is refused without the quorum.
//
//   SqliteStore store = ...; MyFleet fleet; Env env = PosixEnv();
//   RF_ASSIGN_OR_RETURN(auto service, ReleaseService::Open(store, fleet, *env.clock, {}));
//   service->SetChangeListener([&] { controller.Wake(); });
//
// Thread-safety: all methods may be called concurrently from any thread. Mutations are serialized
// (one at a time; each validates, commits durably, then publishes its change to the in-memory
// model under a short exclusive lock). Reads take a shared lock on the model and never wait for a
// commit's fsync; they see only committed changes. See docs/control-plane.md "Threading".
#ifndef RINGFENCE_SERVICE_RELEASE_SERVICE_H_
#define RINGFENCE_SERVICE_RELEASE_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "admission/admission.h"
#include "core/content_type.h"
#include "core/stage1.h"
#include "core/status.h"
#include "dynamic/dynamic_check.h"
#include "platform/env.h"
#include "rollout/plan.h"
#include "rollout/release.h"
#include "server/interfaces.h"
#include "store/store.h"

namespace rf::service {

struct ReleaseServiceOptions {
  // Review policy of a channel that has none: K approvals from these roles.
  int default_approvals_required = 1;
  std::vector<server::Role> default_approver_roles = {server::Role::kReviewer};
  // Largest bundle envelope accepted at upload (bytes).
  size_t max_envelope_bytes = 64u << 20;
  // Largest content type / plan YAML accepted (bytes).
  size_t max_yaml_bytes = 1u << 20;
  // Layer-1 options (parallel_for: how stage 1 uses cores; unset = sequential).
  StageOneOptions stage_one;
  // Plan linter; fleet_size is filled from FleetSource::DeviceCount() when unset.
  rollout::LintOptions lint;

  // Layer 2 on upload: every consumer build here runs on the bundle in a sandbox (src/dynamic);
  // any crash, timeout, CPU/memory overrun or refusal refuses the upload, and the report is stored
  // as the bundle's layer-2 report (which approvals sign). Empty = layer 2 off. `layer2_env`
  // (clock and filesystem for the runs) is required when consumers are given.
  std::vector<dynamic::ConsumerSpec> layer2_consumers;
  dynamic::DynamicCheckOptions layer2;
  Env layer2_env{nullptr, nullptr, nullptr};

  // Switches for the layer-by-layer demonstrations (`ringfence server --skip-layer1`,
  // `--allow-unreviewed`); never in production. skip_layer1: uploads and starts are not checked
  // by layer 1 (the stored report says so, the upload's audit entry too). allow_zero_approvals:
  // an admin may set a channel policy of 0 approvals (layer 3 off on the server; releases of that
  // channel are Ready when created, audited as such).
  bool skip_layer1 = false;
  bool allow_zero_approvals = false;
  // Called with each audit record once it is durably committed, in commit order, under the
  // service's write lock (keep it quick; it must not call the service). The server logs them
  // (docs/server.md "Log"). Empty: none.
  std::function<void(const store::AuditRecord&)> on_audit;
};

// A bundle as listed by the API (without its envelope).
using BundleInfo = store::BundleRecord;

struct UploadResult {
  BundleInfo bundle;     // sha256, channel, version, report_json, ...
  bool accepted = false;
  bool already_present = false;  // identical envelope uploaded before (idempotent)
  size_t errors = 0, warnings = 0;
};

// Everything the API shows about a release.
struct ReleaseView {
  server::ReleaseRecord record;
  std::vector<store::ApprovalRecord> approvals;
  int approvals_required = 0;                // K of the channel's policy (now)
  std::vector<server::Role> approver_roles;  // roles counted
  int approvals_counted = 0;                 // approvals from counted roles
  std::string layer1_report;                 // the bundle's stored layer-1 report JSON text
  std::string layer2_report;                 // layer-2 report JSON text ("" until layer 2 exists)
  std::string reports_sha256;                // SHA-256(layer1_report || layer2_report), hex
};

struct PrincipalInfo {
  std::string name;
  std::vector<server::Role> roles;
  std::string reviewer_keyid;  // "" if no reviewer key
  std::string created_by;
  int64_t created_us = 0;
};

class ReleaseService final : public server::ReleaseDirectory {
 public:
  // Loads the model from `store`. The references must outlive the service.
  static Result<std::unique_ptr<ReleaseService>> Open(store::Store& store,
                                                      const server::FleetSource& fleet,
                                                      Clock& clock,
                                                      ReleaseServiceOptions options = {});
  ~ReleaseService() override;
  ReleaseService(const ReleaseService&) = delete;
  ReleaseService& operator=(const ReleaseService&) = delete;

  // ----- principals -----
  // The principal holding `bearer_token`; Unauthenticated if none.
  Result<server::Principal> Authenticate(std::string_view bearer_token) const;
  // Server start: creates principal `name` with `roles` holding `token`; if it exists with another
  // token (its token file was rotated), replaces the token hash (audited principal.token_rotated)
  // and keeps its roles. No caller check: for the server's own bootstrap (admin and agent tokens
  // read from the data directory), not for the API.
  Status EnsurePrincipal(std::string_view name, const std::vector<server::Role>& roles,
                         std::string_view token);
  // Admin only. Creates a principal and returns its fresh random bearer token (shown once; only its
  // SHA-256 is stored). `reviewer_public_key`: public key file JSON, or "" for none. Names:
  // [a-z0-9._-]{1,64}. A reviewer key may belong to one principal only. The agent role is refused
  // (it belongs to the enrollment token made by EnsurePrincipal).
  Result<std::string> CreatePrincipal(const server::Principal& actor, std::string_view name,
                                      const std::vector<server::Role>& roles,
                                      std::string_view reviewer_public_key);
  std::vector<PrincipalInfo> Principals() const;

  // ----- content types -----
  // Admin only. Registers a content type (name, schema_version) from its YAML. Re-registering the
  // same bytes is OK (idempotent); different bytes under the same name and version: AlreadyExists.
  Result<store::ContentTypeRecord> AddContentType(const server::Principal& actor,
                                                  std::string_view yaml);
  std::vector<store::ContentTypeRecord> ContentTypes() const;

  // ----- bundles -----
  // Author only. Parses the envelope, verifies publisher signatures if the channel's policy has
  // publisher keys, decodes the payload against its registered content type, runs layer 1 against
  // the live fleet inventory and the channel's newest bundle, and stores the bundle and its report
  // if accepted. Refused (nothing stored): InvalidArgument "layer 1 rejected bundle ...: <error
  // findings>" with `*result` still filled (report_json holds the full report).
  Status UploadBundle(const server::Principal& actor, std::string_view envelope_text,
                      UploadResult* result);
  std::vector<BundleInfo> Bundles(std::string_view channel_filter = {}) const;
  Result<BundleInfo> GetBundle(std::string_view sha256) const;

  // ----- releases -----
  // Author only. A release of an accepted bundle under the plan (ParsePlan + CheckPlan; every
  // linter finding in the error). Ids are "r-1", "r-2", ...
  // `allow_unsafe_plan` is the audited break-glass: an admin (only) may create a release under a
  // plan the linter refuses (e.g. everyone at once); the findings and the admin's name go into a
  // `release.unsafe_plan` audit entry in the same commit. A plan that does not parse is refused.
  // When the channel's policy requires 0 approvals the release is Ready at once.
  Result<ReleaseView> CreateRelease(const server::Principal& actor, std::string_view bundle_sha256,
                                    std::string_view plan_yaml, bool allow_unsafe_plan = false);
  Result<ReleaseView> GetRelease(std::string_view release_id) const;
  // Newest first; channel "" = all.
  std::vector<ReleaseView> ListReleases(std::string_view channel_filter = {}) const;
  // Records an approval (envelope text of an approval statement). The caller must be the statement's
  // reviewer, hold its role, have a registered key that signed it; the release must be awaiting
  // approval (or ready); the statement must name this release, its bundle, channel, version and
  // reports digest. When the quorum is reached the release becomes Ready in the same commit.
  Result<ReleaseView> Approve(const server::Principal& actor, std::string_view release_id,
                              std::string_view approval_envelope);
  // Operator only. Start re-checks the quorum under the channel's current policy, and layer 1
  // against the fleet as it is now (devices may have reported new consumer versions since upload).
  Result<rollout::TransitionResult> Start(const server::Principal& actor, std::string_view id);
  Result<rollout::TransitionResult> Pause(const server::Principal& actor, std::string_view id,
                                          std::string_view reason);
  Result<rollout::TransitionResult> Resume(const server::Principal& actor, std::string_view id);
  Result<rollout::TransitionResult> Halt(const server::Principal& actor, std::string_view id,
                                         std::string_view reason);
  Result<rollout::TransitionResult> Rollback(const server::Principal& actor, std::string_view id,
                                             std::string_view reason);

  // ----- policies and customer controls -----
  // Admin only. K >= 1, roles non-empty and not agent; publisher keys decode; threshold in
  // [1, keys] when keys are given.
  Status SetPolicy(const server::Principal& actor, const store::ChannelPolicy& policy);
  std::vector<store::ChannelPolicy> Policies() const;
  // The policy in force for `channel` (its own, or the default).
  store::ChannelPolicy PolicyFor(std::string_view channel) const;
  // Operator only. Upsert by (channel, attr, value); attr is "tenant" or "group".
  Status PutControl(const server::Principal& actor, const server::CustomerControl& control);
  // Operator only. NotFound if absent.
  Status DeleteControl(const server::Principal& actor, const store::ControlKey& key);

  // ----- audit -----
  // Up to `limit` entries with seq > after_seq, in order.
  Result<std::vector<store::AuditEntry>> Audit(int64_t after_seq, size_t limit) const;
  Result<store::AuditVerification> VerifyAudit() const;

  // The service's clock (wall time, microseconds): "now" for views computed when read (e.g. the
  // elapsed dispatch time of a release's current wave).
  int64_t NowMicros() const { return clock_.NowUnixMicros(); }

  // ----- server::ReleaseDirectory -----
  std::vector<server::ReleaseRecord> ActiveReleases() const override;
  Result<rollout::TransitionResult> ApplyEvent(std::string_view release_id,
                                               const rollout::Event& event,
                                               int64_t now_micros) override;
  std::vector<server::CustomerControl> Controls() const override;
  Result<std::string> BundleEnvelope(std::string_view sha256) const override;
  std::vector<std::string> Approvals(std::string_view sha256) const override;
  void SetChangeListener(std::function<void()> listener) override;

 private:
  struct Model;
  ReleaseService(store::Store& store, const server::FleetSource& fleet, Clock& clock,
                 ReleaseServiceOptions options);

  // REQUIRES: write_mu_ held. Applies `batch` durably, then `commit_model` to the model.
  Status CommitLocked(store::WriteBatch batch, const std::function<void(Model&)>& commit_model);
  Result<rollout::TransitionResult> OperatorEvent(const server::Principal& actor,
                                                  std::string_view id, rollout::Event event,
                                                  bool check_quorum);
  Result<rollout::TransitionResult> TransitionLocked(std::string_view id,
                                                     const rollout::Event& event, int64_t now,
                                                     const std::string& actor);
  ReleaseView ViewLocked(const server::ReleaseRecord& r) const;
  // ----- upload (UploadBundle's steps) -----
  // What admission needs of a channel, read under the read lock (the previous bundle decoded
  // after it is released). CommitUpload checks that it still holds.
  struct UploadChannel {
    store::ChannelPolicy policy;  // the channel's own ("" channel: none; no publisher keys)
    int64_t newest_version = -1;  // the channel's newest bundle version, -1 if none
    std::shared_ptr<const ContentType> previous_type;
    std::optional<rf::Bundle> previous;  // that bundle, decoded
    size_t previous_bytes = 0;
  };
  Status ReadUploadChannel(const std::string& channel, UploadChannel* out) const;
  // AlreadyExists if the channel already has a bundle of this version. REQUIRES: mu_ or write_mu_.
  static Status VersionFreeLocked(const Model& m, const BundleInfo& info);
  // Layer 2 on the admitted bundle (no lock held); fills the layer-2 report.
  Status RunLayerTwo(const admission::UploadHeader& upload, const rf::Bundle& bundle,
                     const ContentType& type, UploadResult* result) const;
  // Under write_mu_: re-checks what admission read, commits the bundle and its audit entry.
  Status CommitUpload(const server::Principal& actor, std::string_view envelope_text,
                      const UploadChannel& channel, UploadResult* result);
  // Decodes a stored bundle against `type` (no lock needed).
  Status DecodeStoredBundle(const BundleInfo& info, const ContentType& type, rf::Bundle* bundle,
                            size_t* payload_bytes) const;
  // REQUIRES: write_mu_ held (these read the model without mu_).
  Status DecodeStoredBundleLocked(const BundleInfo& info, rf::Bundle* bundle,
                                  size_t* payload_bytes) const;
  // The channel's newest bundle with version < below_version, decoded (nullopt if none).
  Status PreviousBundleLocked(std::string_view channel, int64_t below_version,
                              std::optional<rf::Bundle>* prev, size_t* payload_bytes) const;
  // Layer 1 on the release's bundle against the fleet as it is now; FailedPrecondition if rejected.
  Status RecheckLayerOneLocked(const server::ReleaseRecord& r) const;
  store::ChannelPolicy PolicyForLocked(std::string_view channel) const;
  void NotifyChange();

  store::Store& store_;
  const server::FleetSource& fleet_;
  Clock& clock_;
  const ReleaseServiceOptions options_;

  // Lock order (docs/server.md "Threads and locks"): write_mu_ -> mu_; envelope_mu_ and
  // listener_mu_ are leaves (nothing is taken while holding them); never write_mu_ while holding
  // mu_. Callers may hold the controller's tick_mu_ but never its mu_ (Controller releases it
  // around ApplyEvent). An upload's admission and layer 2 run holding neither write_mu_ nor mu_.
  std::mutex write_mu_;            // serializes mutations (validate + commit + update model)
  mutable std::shared_mutex mu_;   // guards model_; held exclusively only to update it
  std::unique_ptr<Model> model_;   // GUARDED_BY(mu_)
  Status failed_;                  // GUARDED_BY(write_mu_): sticky store failure

  mutable std::mutex envelope_mu_;
  mutable std::map<std::string, std::shared_ptr<const std::string>, std::less<>>
      envelope_cache_;  // GUARDED_BY(envelope_mu_)

  std::mutex listener_mu_;
  std::function<void()> listener_;  // GUARDED_BY(listener_mu_)
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_RELEASE_SERVICE_H_
