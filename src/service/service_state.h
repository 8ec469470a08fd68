// The release service's one model and one commit path. Every concern of the service (principals,
// content types, bundle admissions, releases, reviews, policies, customer controls, audit, the
// controller's directory; see release_service.h) reads and mutates this state and nothing else.
//
// Contract of every mutation (whatever concern makes it): it checks the caller's role, takes the
// write lock (ServiceState::Write), validates its input against the current model, builds one
// store::WriteBatch with the change and its audit entries, and returns OK only after
// Writer::Commit returned OK (Store::Apply: durable and audited; only then is the change published
// to the model). A refused call changes nothing and writes nothing. If the store fails, the state
// fails stop: every later commit is refused with the store's error (Unavailable) until the process
// restarts and reloads. After a commit the mutating call runs NotifyChange with no lock held.
//
// Thread-safety: all methods may be called concurrently from any thread. Mutations are serialized
// (one Writer at a time; each validates, commits durably, then publishes its change to the
// in-memory model under a short exclusive lock). Readers take a shared lock on the model and never
// wait for a commit's fsync; they see only committed changes. See docs/control-plane.md
// "Threading" and docs/server.md "Threads and locks".
#ifndef RINGFENCE_SERVICE_SERVICE_STATE_H_
#define RINGFENCE_SERVICE_SERVICE_STATE_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"
#include "core/stage1.h"
#include "core/status.h"
#include "dynamic/dynamic_check.h"
#include "platform/env.h"
#include "rollout/plan.h"
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

// The in-memory model: everything but envelopes and the audit log. Mutated only by the writer
// (holding the write lock) under an exclusive lock, after the change is durable. Thread-compatible
// on its own; ServiceState guards it.
struct Model {
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
  // The review policy of a channel that has none (ReleaseServiceOptions).
  int default_approvals_required = 1;
  std::vector<server::Role> default_approver_roles;

  // The policy in force for `channel` (its own, or the default).
  store::ChannelPolicy PolicyFor(std::string_view channel) const;
  // The release as the API shows it (approvals counted under the channel's policy now).
  ReleaseView View(const server::ReleaseRecord& r) const;
  // AlreadyExists if the channel already has a bundle of `info`'s version.
  Status VersionFree(const BundleInfo& info) const;
};

class ServiceState {
 public:
  // Loads the model from `store`. The references must outlive the state.
  static Result<std::unique_ptr<ServiceState>> Load(store::Store& store, Clock& clock,
                                                    ReleaseServiceOptions options);
  ServiceState(const ServiceState&) = delete;
  ServiceState& operator=(const ServiceState&) = delete;

  // The model under a shared lock, held as long as the Reader lives. Never take Write() while
  // holding a Reader (lock order below).
  class Reader {
   public:
    const Model& operator*() const { return model_; }
    const Model* operator->() const { return &model_; }

   private:
    friend class ServiceState;
    // Dereferences `model` only once the lock is held (Reload swaps it).
    Reader(std::shared_mutex& mu, const std::unique_ptr<Model>& model)
        : lock_(mu), model_(*model) {}
    std::shared_lock<std::shared_mutex> lock_;
    const Model& model_;
  };
  Reader Read() const { return Reader(mu_, model_); }

  // The one mutation in progress: holds the write lock as long as it lives. The writer may read
  // the model without the shared lock (it is the only mutator).
  class Writer {
   public:
    const Model& model() const { return state_.model_ref(); }
    // Marks the commits of this writer as the elected controller's, holding `fencing_epoch` of
    // the controller lease (store.h WriteBatch::fencing_epoch; 0: not fenced).
    void Fence(int64_t fencing_epoch) { fencing_epoch_ = fencing_epoch; }
    // Applies `batch` durably, then `commit_model` to the model under the exclusive lock, then
    // reports the audit records (ReleaseServiceOptions::on_audit). Refused with the sticky store
    // failure once the store failed. Every release in the batch is committed only if the store
    // still holds it as this model does (or not at all, for a new one): a change another server
    // made meanwhile refuses the batch with Aborted (store.h ReleaseExpectation), changing
    // nothing; the change reaches this model through Reload.
    Status Commit(store::WriteBatch batch, const std::function<void(Model&)>& commit_model);

   private:
    friend class ServiceState;
    explicit Writer(ServiceState& state) : state_(state), lock_(state.write_mu_) {}
    ServiceState& state_;
    std::lock_guard<std::mutex> lock_;
    int64_t fencing_epoch_ = 0;
  };
  Writer Write() { return Writer(*this); }

  // Replaces the model with the store's contents (another server changed the shared store:
  // cluster/change_watcher.h), between two mutations (takes the write lock), then calls the change
  // listener. Readers see the old model or the new one, never a mix. On error the model is kept.
  Status Reload();

  // Calls the change listener (set by SetChangeListener). Call it with no lock held, after a
  // mutation's Writer is gone.
  void NotifyChange();
  void SetChangeListener(std::function<void()> listener);

  // The stored envelope of a committed bundle, through a cache (no lock held during the store
  // read); NotFound for a bundle the model does not know.
  Result<std::string> BundleEnvelope(std::string_view sha256) const;
  // Decodes a stored bundle against `type`. Takes the shared lock (BundleEnvelope): call it with
  // no lock or with the write lock held.
  Status DecodeStoredBundle(const BundleInfo& info, const ContentType& type, rf::Bundle* bundle,
                            size_t* payload_bytes) const;

  const ReleaseServiceOptions& options() const { return options_; }
  store::Store& store() const { return store_; }
  // The service's clock (wall time, microseconds).
  int64_t NowMicros() const { return clock_.NowUnixMicros(); }

 private:
  ServiceState(store::Store& store, Clock& clock, ReleaseServiceOptions options);
  // A model of the store's contents `c`.
  Result<std::unique_ptr<Model>> BuildModel(store::StoreContents c) const;
  const Model& model_ref() const { return *model_; }

  store::Store& store_;
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

#endif  // RINGFENCE_SERVICE_SERVICE_STATE_H_
