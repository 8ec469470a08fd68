// The release service: every operator operation on content types, bundles, releases, approvals,
// principals, channel policies and customer controls, plus the durable side the controller uses
// (rf::server::ReleaseDirectory). It is one model and one commit path (ServiceState,
// service_state.h: the contract of every mutation, the locks, fail-stop on a store failure) split
// by concern; each concern is a small class over that state, and callers use the one they need:
//
//   principals()     Principals        bearer tokens -> principals; create, bootstrap, list
//   content_types()  ContentTypes      register and list content types
//   bundles()        BundleAdmissions  upload (publisher signatures, layers 1 and 2), list, get
//   releases()       Releases          create, read, and the operator's transitions
//   reviews()        Reviews           approvals (layer 3 on the server)
//   policies()       Policies          channel review and publisher policies
//   controls()       CustomerControls  pin / delay / exclude per tenant or group
//   audit()          AuditLog          pages of the audit log and its hash chain's check
//   directory()      ControllerDirectory  server::ReleaseDirectory for the controller
//
// Layer 1 runs on upload against the whole live fleet (FleetSource::WholeFleet()); layer 3 is enforced
// by Reviews and Releases::Start (the quorum).
//
//   SqliteStore store = ...; MyFleet fleet; Env env = PosixEnv();
//   RF_ASSIGN_OR_RETURN(auto service, ReleaseService::Open(store, fleet, *env.clock, {}));
//   service->directory().SetChangeListener([&] { controller.Wake(); });
//   service->bundles().Upload(author, envelope, &result);
//
// Thread-safety: every concern may be called concurrently from any thread (ServiceState's
// contract); the accessors themselves hold no lock. See docs/control-plane.md "Threading".
#ifndef RINGFENCE_SERVICE_RELEASE_SERVICE_H_
#define RINGFENCE_SERVICE_RELEASE_SERVICE_H_

#include <memory>

#include "core/status.h"
#include "platform/env.h"
#include "server/interfaces.h"
#include "service/audit_log.h"
#include "service/bundle_admissions.h"
#include "service/content_types.h"
#include "service/customer_controls.h"
#include "service/policies.h"
#include "service/principals.h"
#include "service/release_directory.h"
#include "service/releases.h"
#include "service/reviews.h"
#include "service/service_state.h"
#include "store/store.h"

namespace rf::service {

class ReleaseService {
 public:
  // Checks `options` and loads the model from `store`. The references must outlive the service.
  static Result<std::unique_ptr<ReleaseService>> Open(store::Store& store,
                                                      const server::FleetSource& fleet,
                                                      Clock& clock,
                                                      ReleaseServiceOptions options = {});
  ReleaseService(const ReleaseService&) = delete;
  ReleaseService& operator=(const ReleaseService&) = delete;

  Principals& principals() { return principals_; }
  ContentTypes& content_types() { return content_types_; }
  BundleAdmissions& bundles() { return bundles_; }
  Releases& releases() { return releases_; }
  Reviews& reviews() { return reviews_; }
  Policies& policies() { return policies_; }
  CustomerControls& controls() { return controls_; }
  AuditLog& audit() { return audit_; }
  ControllerDirectory& directory() { return directory_; }
  // Replaces the model with the store's contents (another server changed it: ServiceState::Reload).
  Status Reload() { return state_->Reload(); }

  // The service's clock (wall time, microseconds): "now" for views computed when read (e.g. the
  // elapsed dispatch time of a release's current wave).
  int64_t NowMicros() const { return state_->NowMicros(); }

 private:
  ReleaseService(std::unique_ptr<ServiceState> state, store::Store& store,
                 const server::FleetSource& fleet);

  std::unique_ptr<ServiceState> state_;  // the one model and commit path; never null
  Principals principals_;
  ContentTypes content_types_;
  BundleAdmissions bundles_;
  Releases releases_;
  Reviews reviews_;
  Policies policies_;
  CustomerControls controls_;
  AuditLog audit_;
  ControllerDirectory directory_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_RELEASE_SERVICE_H_
