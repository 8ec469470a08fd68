// Bundle uploads: what the release service admits (publisher signatures, layer 1 against the live
// fleet, layer 2 in the sandbox) and the bundles it holds. One concern of the service
// (release_service.h); the decisions are admission::AdmitBundle (pure, src/admission), the commit
// goes through ServiceState.
//
// Thread-safety: all methods may be called concurrently from any thread (ServiceState's contract).
// An upload's admission and layer 2 run with no service lock held (docs/server.md "Threads and
// locks").
#ifndef RINGFENCE_SERVICE_BUNDLE_ADMISSIONS_H_
#define RINGFENCE_SERVICE_BUNDLE_ADMISSIONS_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/admission.h"
#include "core/status.h"
#include "server/interfaces.h"
#include "service/service_state.h"

namespace rf::service {

struct UploadResult {
  BundleInfo bundle;     // sha256, channel, version, report_json, ...
  bool accepted = false;
  bool already_present = false;  // identical envelope uploaded before (idempotent)
  size_t errors = 0, warnings = 0;
};

class BundleAdmissions {
 public:
  // `state` and `fleet` must outlive this object.
  BundleAdmissions(ServiceState& state, const server::FleetSource& fleet)
      : state_(state), fleet_(fleet) {}

  // Author only. Parses the envelope, verifies publisher signatures if the channel's policy has
  // publisher keys, decodes the payload against its registered content type, runs layer 1 against
  // the whole fleet (FleetSource::WholeFleet: every replica's in a cluster) and the channel's
  // newest bundle, and stores the bundle and its report if accepted. Refused (nothing stored):
  // InvalidArgument "layer 1 rejected bundle ...: <error findings>" with `*result` still filled
  // (report_json holds the full report); WholeFleet's error if the fleet cannot be read whole.
  Status Upload(const server::Principal& actor, std::string_view envelope_text,
                UploadResult* result);
  // Newest first within a channel; channel "" = all.
  std::vector<BundleInfo> List(std::string_view channel_filter = {}) const;
  Result<BundleInfo> Get(std::string_view sha256) const;

 private:
  // What admission needs of a channel, read under the read lock (the previous bundle decoded
  // after it is released). Commit checks that it still holds.
  struct UploadChannel {
    store::ChannelPolicy policy;  // the channel's own ("" channel: none; no publisher keys)
    int64_t newest_version = -1;  // the channel's newest bundle version, -1 if none
    std::shared_ptr<const ContentType> previous_type;
    std::optional<rf::Bundle> previous;  // that bundle, decoded
    size_t previous_bytes = 0;
  };
  Status ReadUploadChannel(const std::string& channel, UploadChannel* out) const;
  // Layer 2 on the admitted bundle (no lock held); fills the layer-2 report.
  Status RunLayerTwo(const admission::UploadHeader& upload, const rf::Bundle& bundle,
                     const ContentType& type, UploadResult* result) const;
  // Under the write lock: re-checks what admission read, commits the bundle and its audit entry.
  Status Commit(const server::Principal& actor, std::string_view envelope_text,
                const UploadChannel& channel, UploadResult* result);

  ServiceState& state_;
  const server::FleetSource& fleet_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_BUNDLE_ADMISSIONS_H_
