// Review: what an approval counts for (layer 3, docs/protocol.md "Approval"), as a pure function.
// The release service decodes the approval statement (its codec), reads the release, its approvals,
// the reviewer's registered key and the channel's policy under its write lock, calls
// EvaluateApproval, and commits the record (and the Ready transition) it returns.
// Thread-compatible: no state.
#ifndef RINGFENCE_ADMISSION_REVIEW_H_
#define RINGFENCE_ADMISSION_REVIEW_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/records.h"
#include "core/status.h"
#include "crypto/dsse.h"

namespace rf::admission {

struct ApprovalInput {
  const Principal* actor = nullptr;         // the caller (required)
  const crypto::Envelope* envelope = nullptr;  // the parsed approval envelope (required)
  std::string_view envelope_text;           // as submitted (stored in the record)
  // What the decoded statement says.
  std::string_view reviewer, role_name, release_id, bundle_sha256, channel, reports_sha256;
  int64_t version = 0;
  // The model.
  const ReleaseRecord* release = nullptr;   // the release approved (required)
  std::string_view bundle_uploader;         // who uploaded the release's bundle
  std::string_view expected_reports_sha256; // SHA-256 of the bundle's layer-1 || layer-2 reports
  const std::vector<ApprovalRecord>* approvals = nullptr;  // the release's approvals so far
  const std::string* reviewer_key = nullptr;  // the caller's registered key file JSON, or null
  const ChannelPolicy* policy = nullptr;    // the channel's policy in force (required)
  int64_t now_micros = 0;
};

struct ApprovalDecision {
  ApprovalRecord approval;       // to store
  int counted = 0;               // approvals from counted roles, this one included
  std::optional<ReleaseRecord> ready;  // the release moved to Ready (quorum reached), if it did
};

// Checks, in order: the caller is the statement's reviewer and holds its role (not agent); the
// caller neither authored the release nor uploaded its bundle; approvals are open (AwaitingApproval
// or Ready); the statement names this release, bundle, channel, version and reports digest; the
// caller's registered key signed it; neither the caller nor that key approved before; the policy
// counts the role. PermissionDenied / InvalidArgument / FailedPrecondition / AlreadyExists naming
// the problem otherwise. The caller checks (reviewer, role, role held) come first and read nothing
// but `actor` and the statement: a caller may refuse early with the model fields still null when
// they fail (the release service does, before its write lock).
Result<ApprovalDecision> EvaluateApproval(const ApprovalInput& in);

}  // namespace rf::admission

#endif  // RINGFENCE_ADMISSION_REVIEW_H_
