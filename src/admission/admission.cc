#include "admission/admission.h"

#include <algorithm>
#include <utility>

#include <boost/json.hpp>

#include "crypto/crypto.h"
#include "protocol/identifiers.h"

namespace rf::admission {
namespace {

// OK if at least `threshold` distinct publisher keys signed (crypto::TrustedSigners, the one rule).
Status CheckPublishers(const AdmissionInput& in, const std::string& channel) {
  if (in.publisher_keys == nullptr || in.publisher_keys->empty()) return Status::Ok();
  std::vector<crypto::PublicKey> keys;
  for (const std::string& k : *in.publisher_keys) {
    auto key = crypto::DecodePublicKeyFile(k);
    if (key.ok()) keys.push_back(*key);
  }
  const auto good = static_cast<int>(crypto::TrustedSigners(in.upload->envelope, keys).size());
  if (good >= in.publisher_threshold) return Status::Ok();
  return Status::PermissionDenied("bundle for channel " + channel + " carries " +
                                  std::to_string(good) +
                                  " valid publisher signature(s); the channel's policy requires " +
                                  std::to_string(in.publisher_threshold));
}

}  // namespace

std::string ErrorSummary(const StageOneReport& r) {
  std::string out;
  size_t shown = 0;
  for (const Finding& f : r.findings) {
    if (f.severity != Severity::kError) continue;
    if (shown == 5) {
      out += "; ...";
      break;
    }
    out += shown++ ? "; " : "";
    out += f.check;
    if (!f.item.empty()) out += " " + f.item;
    if (!f.field.empty()) out += " " + f.field;
    out += ": " + f.message;
  }
  return out;
}

std::string ShortSha(std::string_view sha) { return std::string(sha.substr(0, 16)); }

Result<UploadHeader> ReadUpload(std::string_view envelope_text, size_t max_envelope_bytes) {
  if (envelope_text.size() > max_envelope_bytes) {
    return Status::ResourceExhausted("bundle envelope larger than " +
                                     std::to_string(max_envelope_bytes) + " bytes");
  }
  crypto::EnvelopeLimits limits;
  limits.max_envelope_bytes = max_envelope_bytes;
  auto env = crypto::ParseEnvelope(envelope_text, limits);
  if (!env.ok()) return Status::InvalidArgument("envelope: " + env.status().message());
  if (env->payload_type != crypto::kBundlePayloadType) {
    return Status::InvalidArgument("envelope: payloadType '" + env->payload_type +
                                   "' is not a ringfence bundle");
  }
  // The payload names its content type; the caller looks it up before decoding against it.
  UploadHeader h;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(env->payload, ec);
  const boost::json::object* o = !ec && v.is_object() ? &v.as_object() : nullptr;
  const boost::json::value* t = o ? o->if_contains("content_type") : nullptr;
  const boost::json::value* sv = o ? o->if_contains("schema_version") : nullptr;
  if (t == nullptr || !t->is_string() || sv == nullptr || !sv->is_int64()) {
    return Status::InvalidArgument(
        "bundle payload: not a JSON object with string content_type and integer schema_version");
  }
  h.content_type = std::string(t->as_string());
  h.schema_version = sv->as_int64();
  h.sha256 = crypto::Sha256Hex(env->payload);
  h.envelope = std::move(*env);
  return h;
}

Result<DecodedUpload> DecodeUpload(const UploadHeader& upload, const ContentType& type) {
  DecodedUpload d;
  auto bundle = DecodeBundlePayload(upload.envelope.payload, type, &d.findings);
  if (!bundle.ok()) return bundle.status().WithPrefix("bundle payload");
  RF_RETURN_IF_ERROR(protocol::CheckChannel(bundle->channel, "bundle payload: channel"));
  d.bundle = std::move(*bundle);
  return d;
}

Admission AdmitBundle(const AdmissionInput& in, const AdmissionOptions& options) {
  Admission a;
  const rf::Bundle& bundle = in.decoded->bundle;
  const std::string& sha = in.upload->sha256;
  const size_t payload_bytes = in.upload->envelope.payload.size();
  a.status = CheckPublishers(in, bundle.channel);
  if (!a.status.ok()) return a;
  StageOneReport report;
  if (options.skip_layer1) {
    // Layer 1 switched off: only a payload that decodes cleanly is taken.
    for (const Finding& f : in.decoded->findings) {
      if (f.severity == Severity::kError) {
        a.status = Status::InvalidArgument("bundle payload does not decode against " +
                                           in.type->name + ": " + f.message);
        return a;
      }
    }
    report.items = bundle.items.size();
    report.payload_bytes = payload_bytes;
  } else {
    StageOneInput s1;
    s1.type = in.type;
    s1.bundle = &bundle;
    s1.payload_bytes = payload_bytes;
    s1.previous = in.previous;
    s1.previous_payload_bytes = in.previous != nullptr ? in.previous_payload_bytes : 0;
    s1.fleet = in.fleet;
    report = RunStageOne(s1, std::move(in.decoded->findings), options.stage_one);
  }
  BundleRecord& info = a.bundle;
  info.sha256 = sha;
  info.channel = bundle.channel;
  info.content_type = in.type->name;
  info.schema_version = in.type->schema_version;
  info.version = bundle.version;
  info.payload_bytes = static_cast<int64_t>(payload_bytes);
  info.report_json = options.skip_layer1
                         ? "{\"bundle_sha256\":\"" + sha +
                               "\",\"reason\":\"layer 1 is switched off on this server "
                               "(--skip-layer1)\",\"verdict\":\"skipped\"}"
                         : StageOneReportJson(report, sha);
  info.uploaded_by = in.uploader;
  info.uploaded_us = in.now_micros;
  a.accepted = report.accepted;
  a.errors = report.errors;
  a.warnings = report.warnings;
  if (!report.accepted) {
    a.status = Status::InvalidArgument(
        "layer 1 rejected bundle " + ShortSha(sha) + " (channel " + info.channel + " version " +
        std::to_string(info.version) + "): " + std::to_string(report.errors) +
        " error(s): " + ErrorSummary(report));
  }
  return a;
}

}  // namespace rf::admission
