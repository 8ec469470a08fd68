// Admission of bundles: the pure decisions of an upload. The release service (src/service) reads
// its model under its lock, calls these outside it, and commits what they decide
// (docs/server.md "Threads and locks"):
//
//   RF_ASSIGN_OR_RETURN(UploadHeader h, ReadUpload(text, max_bytes));      // no model needed
//   ... look up h.content_type / h.schema_version in the model ...
//   RF_ASSIGN_OR_RETURN(DecodedUpload d, DecodeUpload(h, type));           // the channel is known
//   ... look up the channel's policy and newest bundle ...
//   Admission a = AdmitBundle({.upload = &h, .decoded = &d, ...}, options); // signatures + layer 1
//
// Layer 2 (consumer processes) is not pure and stays in the service. Thread-compatible: no state.
#ifndef RINGFENCE_ADMISSION_ADMISSION_H_
#define RINGFENCE_ADMISSION_ADMISSION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"
#include "core/fleet.h"
#include "core/stage1.h"
#include "core/status.h"
#include "crypto/dsse.h"
#include "admission/records.h"

namespace rf::admission {

// What an uploaded envelope says before the model is consulted.
struct UploadHeader {
  crypto::Envelope envelope;
  std::string content_type;     // the payload's content_type
  int64_t schema_version = 0;   // the payload's schema_version
  std::string sha256;           // hex SHA-256 of the payload: the bundle's identity
};

// Parses the DSSE envelope (at most `max_envelope_bytes`), checks that it carries a ringfence
// bundle and reads the payload's content type and schema version. ResourceExhausted if too large,
// InvalidArgument naming the problem otherwise.
Result<UploadHeader> ReadUpload(std::string_view envelope_text, size_t max_envelope_bytes);

struct DecodedUpload {
  rf::Bundle bundle;
  std::vector<Finding> findings;  // decode findings (layer 1 reports them)
};

// Decodes the payload against its registered content type and checks the channel name
// (1-128 characters of [A-Za-z0-9._:-]). InvalidArgument naming the problem otherwise.
Result<DecodedUpload> DecodeUpload(const UploadHeader& upload, const ContentType& type);

struct AdmissionOptions {
  // Layer-1 options (parallel_for: how stage 1 uses cores; unset = sequential).
  StageOneOptions stage_one;
  // Demonstrations only (`ringfence server --skip-layer1`): no layer 1; a payload that decodes
  // cleanly is admitted and the report says layer 1 was skipped.
  bool skip_layer1 = false;
};

struct AdmissionInput {
  const UploadHeader* upload = nullptr;   // required
  DecodedUpload* decoded = nullptr;       // required; its findings are consumed
  const ContentType* type = nullptr;      // required: the type it decoded against
  // The channel's publisher keys (public key file JSONs) and how many distinct ones must sign;
  // no keys: unsigned uploads are fine.
  const std::vector<std::string>* publisher_keys = nullptr;
  int publisher_threshold = 0;
  // The channel's newest bundle (growth and version order), or null.
  const rf::Bundle* previous = nullptr;
  size_t previous_payload_bytes = 0;
  const Fleet* fleet = nullptr;  // the live fleet (the consumer contract); null: not checked
  std::string uploader;          // principal name
  int64_t now_micros = 0;        // upload time (wall clock, microseconds)
};

struct Admission {
  // OK if admitted. PermissionDenied: too few publisher signatures. InvalidArgument: layer 1
  // rejected it ("layer 1 rejected bundle ...: <error findings>") or it does not decode (skip).
  Status status;
  BundleRecord bundle;          // filled once layer 1 ran (report_json holds the full report)
  bool accepted = false;
  size_t errors = 0, warnings = 0;
};

// Publisher signatures, then layer 1 against the fleet and the previous bundle. Deterministic.
Admission AdmitBundle(const AdmissionInput& in, const AdmissionOptions& options);

// The error findings of a rejected layer-1 report (the first five), for refusal messages.
std::string ErrorSummary(const StageOneReport& report);

// The first 16 hex digits of a digest, as refusal messages show it.
std::string ShortSha(std::string_view sha);

}  // namespace rf::admission

#endif  // RINGFENCE_ADMISSION_ADMISSION_H_
