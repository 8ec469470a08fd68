#include "service/bundle_admissions.h"

#include <algorithm>
#include <tuple>

#include "service/service_common.h"

namespace rf::service {

using server::Principal;
using server::Role;

namespace {

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

}  // namespace

// An upload in three steps (docs/server.md "Threads and locks"): read what admission needs from
// the model under the read lock; decide (admission::AdmitBundle: signatures and layer 1) and run
// layer 2 with no service lock held; commit under the write lock after checking that what was
// read still holds (Commit). Only the commit waits for other mutations.
Status BundleAdmissions::Upload(const Principal& actor, std::string_view envelope_text,
                                UploadResult* result) {
  *result = UploadResult();
  const ReleaseServiceOptions& options = state_.options();
  RF_RETURN_IF_ERROR(Require(actor, Role::kAuthor, "upload bundles"));
  RF_ASSIGN_OR_RETURN(admission::UploadHeader upload,
                      admission::ReadUpload(envelope_text, options.max_envelope_bytes));
  std::shared_ptr<const ContentType> type;
  {
    auto m = state_.Read();
    if (auto it = m->bundles.find(upload.sha256); it != m->bundles.end()) {
      result->bundle = it->second;
      result->accepted = true;
      result->already_present = true;
      return Status::Ok();
    }
    auto tit = m->parsed_types.find({upload.content_type, upload.schema_version});
    if (tit == m->parsed_types.end()) {
      return Status::NotFound("content type " + upload.content_type + " schema_version " +
                              std::to_string(upload.schema_version) + " is not registered");
    }
    type = tit->second;
  }
  RF_ASSIGN_OR_RETURN(admission::DecodedUpload decoded, admission::DecodeUpload(upload, *type));
  UploadChannel channel;
  RF_RETURN_IF_ERROR(ReadUploadChannel(decoded.bundle.channel, &channel));
  Fleet fleet;
  if (!options.skip_layer1) {
    RF_ASSIGN_OR_RETURN(fleet, fleet_.WholeFleet());  // fails closed on part of the fleet
  }
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
  in.now_micros = state_.NowMicros();
  admission::Admission admitted = admission::AdmitBundle(in, {options.stage_one, options.skip_layer1});
  result->bundle = std::move(admitted.bundle);
  result->accepted = admitted.accepted;
  result->errors = admitted.errors;
  result->warnings = admitted.warnings;
  RF_RETURN_IF_ERROR(admitted.status);
  RF_RETURN_IF_ERROR(state_.Read()->VersionFree(result->bundle));
  RF_RETURN_IF_ERROR(RunLayerTwo(upload, decoded.bundle, *type, result));
  return Commit(actor, envelope_text, channel, result);
}

Status BundleAdmissions::ReadUploadChannel(const std::string& channel, UploadChannel* out) const {
  std::optional<BundleInfo> newest;
  {
    auto m = state_.Read();
    if (auto pit = m->policies.find(channel); pit != m->policies.end()) {
      out->policy = pit->second;
    }
    for (const auto& [sha, b] : m->bundles) {
      if (b.channel == channel && (!newest || b.version > newest->version)) newest = b;
    }
    if (newest) {
      auto tit = m->parsed_types.find({newest->content_type, newest->schema_version});
      if (tit == m->parsed_types.end()) {
        return Status::DataLoss("stored bundle " + newest->sha256 + " does not decode");
      }
      out->previous_type = tit->second;
    }
  }
  out->newest_version = newest ? newest->version : -1;
  if (!newest) return Status::Ok();
  rf::Bundle prev;
  RF_RETURN_IF_ERROR(
      state_.DecodeStoredBundle(*newest, *out->previous_type, &prev, &out->previous_bytes));
  out->previous = std::move(prev);
  return Status::Ok();
}

Status BundleAdmissions::RunLayerTwo(const admission::UploadHeader& upload,
                                     const rf::Bundle& bundle, const ContentType& type,
                                     UploadResult* result) const {
  const ReleaseServiceOptions& options = state_.options();
  if (options.layer2_consumers.empty()) return Status::Ok();
  // The real consumers on the bundle in a sandbox: seconds of subprocesses, no lock held.
  dynamic::DynamicCheckInput in;
  in.type = &type;
  in.bundle = &bundle;
  in.payload = upload.envelope.payload;
  in.consumers = options.layer2_consumers;
  auto dyn = dynamic::RunDynamicChecks(in, options.layer2, options.layer2_env);
  if (!dyn.ok()) return dyn.status().WithPrefix("layer 2 could not run");
  result->bundle.layer2_report_json = dynamic::DynamicReportJson(*dyn);
  if (dyn->accepted) return Status::Ok();
  result->accepted = false;
  return Status::InvalidArgument("layer 2 rejected bundle " + Short(upload.sha256) + " (channel " +
                                 result->bundle.channel + " version " +
                                 std::to_string(result->bundle.version) +
                                 "): " + LayerTwoSummary(*dyn));
}

Status BundleAdmissions::Commit(const Principal& actor, std::string_view envelope_text,
                                const UploadChannel& channel, UploadResult* result) {
  const ReleaseServiceOptions& options = state_.options();
  const BundleInfo& info = result->bundle;
  const std::string& sha = info.sha256;
  Status st;
  {
    auto w = state_.Write();
    const Model& m = w.model();
    if (m.bundles.count(sha) != 0) {
      result->already_present = true;
      return Status::Ok();
    }
    RF_RETURN_IF_ERROR(m.VersionFree(info));
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
                           .Str("layer1", options.skip_layer1 ? "skipped (--skip-layer1)" : "accepted")
                           .Str("layer2", options.layer2_consumers.empty()
                                              ? "off"
                                              : "accepted (" + std::to_string(options.layer2_consumers.size()) +
                                                    " consumer builds)")
                           .Done(),
                       info.uploaded_us});
    st = w.Commit(std::move(b), [&](Model& mm) { mm.bundles[sha] = info; });
  }
  if (st.ok()) state_.NotifyChange();
  return st;
}

std::vector<BundleInfo> BundleAdmissions::List(std::string_view channel_filter) const {
  std::vector<BundleInfo> out;
  {
    auto m = state_.Read();
    for (const auto& [s, b] : m->bundles) {
      if (channel_filter.empty() || b.channel == channel_filter) out.push_back(b);
    }
  }
  std::sort(out.begin(), out.end(), [](const BundleInfo& a, const BundleInfo& b) {
    return std::tie(a.channel, b.version) < std::tie(b.channel, a.version);
  });
  return out;
}

Result<BundleInfo> BundleAdmissions::Get(std::string_view sha256) const {
  auto m = state_.Read();
  auto it = m->bundles.find(sha256);
  if (it == m->bundles.end()) return Status::NotFound("unknown bundle " + std::string(sha256));
  return it->second;
}

}  // namespace rf::service
