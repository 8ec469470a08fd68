// The control plane's records: principals and roles, releases, customer controls, content types,
// bundles, approvals, channel policies. Plain values, shared by the pure admission and review
// functions (admission/admission.h, admission/review.h), the store (src/store), the server runtime
// (src/server) and the release service (src/service); this folder depends on none of them, so
// the folders include one another without a cycle (scripts/check-include-cycles.sh).
#ifndef RINGFENCE_ADMISSION_RECORDS_H_
#define RINGFENCE_ADMISSION_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "rollout/plan.h"
#include "rollout/release.h"

namespace rf::admission {

// ----- principals and roles -----

enum class Role : uint8_t { kAuthor, kReviewer, kOperator, kAdmin, kAgent };
inline std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kAuthor: return "author";
    case Role::kReviewer: return "reviewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
    case Role::kAgent: return "agent";
  }
  return "unknown";
}

// The role named `name` ("author", ..., as RoleName writes them); InvalidArgument otherwise.
Result<Role> ParseRole(std::string_view name);
// "author,reviewer": RoleName of each, comma-separated.
std::string JoinRoleNames(const std::vector<Role>& roles);

struct Principal {
  std::string name;          // "alice"; "agent" for the enrollment token
  std::vector<Role> roles;
  // Admin implies every role except agent; the agent role implies nothing else.
  bool Has(Role r) const {
    for (Role x : roles) {
      if (x == r || (x == Role::kAdmin && r != Role::kAgent)) return true;
    }
    return false;
  }
};

// A release as stored (durable) by the release service.
struct ReleaseRecord {
  std::string release_id;
  std::string channel;
  std::string content_type;
  int64_t version = 0;
  std::string bundle_sha256;
  std::string plan_yaml;        // as uploaded; parsed with rollout::ParsePlan
  rollout::Plan plan;           // parsed
  rollout::ReleaseState state;  // persisted after every accepted transition
  std::string author;
  int64_t created_s = 0;
  int64_t started_s = 0;  // 0 until kStart
  // The channel's previous completed bundle (for customer "pin N-1"), if any.
  std::optional<std::pair<int64_t, std::string>> previous;  // (version, sha256)
};

// Customer controls (DESIGN/issue 4): per tenant or device group, per channel.
struct CustomerControl {
  std::string channel;
  std::string attr;   // "tenant" or "group"
  std::string value;  // e.g. "acme"
  bool pin_previous = false;         // stay on N-1: never take the channel's newest release
  int64_t delay_s = 0;               // take a release only this long after it started
  bool exclude_early_waves = false;  // only in the last wave (never a canary)
};

struct ContentTypeRecord {
  std::string name;
  int64_t schema_version = 0;
  std::string yaml;  // as registered; parsed with ParseContentType
  std::string created_by;
  int64_t created_us = 0;
  friend bool operator==(const ContentTypeRecord&, const ContentTypeRecord&) = default;
};

struct BundleRecord {
  std::string sha256;  // hex SHA-256 of the payload: the bundle's identity
  std::string channel;
  std::string content_type;
  int64_t schema_version = 0;
  int64_t version = 0;
  int64_t payload_bytes = 0;
  // The DSSE envelope text as uploaded. Left empty by Store::Load (read it with BundleEnvelope).
  std::string envelope;
  std::string report_json;  // layer-1 report (StageOneReportJson) at upload
  std::string layer2_report_json;  // layer-2 report (DynamicReportJson) at upload, "" if layer 2 was off
  std::string uploaded_by;
  int64_t uploaded_us = 0;
  friend bool operator==(const BundleRecord&, const BundleRecord&) = default;
};

struct ApprovalRecord {
  std::string release_id;
  std::string reviewer;  // principal name; one approval per reviewer and release
  Role role = Role::kReviewer;
  std::string keyid;     // reviewer key that signed
  std::string envelope;  // the approval's DSSE envelope text, as submitted
  int64_t created_us = 0;
  friend bool operator==(const ApprovalRecord&, const ApprovalRecord&) = default;
};

struct PrincipalRecord {
  std::string name;
  std::vector<Role> roles;
  std::string token_sha256;  // hex SHA-256 of the bearer token; the token itself is never stored
  std::string reviewer_key;  // public key file JSON (crypto::EncodePublicKeyFile), or ""
  std::string created_by;
  int64_t created_us = 0;
  friend bool operator==(const PrincipalRecord&, const PrincipalRecord&) = default;
};

// Review and publishing policy of one channel.
struct ChannelPolicy {
  std::string channel;
  int approvals_required = 1;                // K
  std::vector<Role> approver_roles;  // approvals count only from these roles
  std::vector<std::string> publisher_keys;   // public key file JSONs; empty = uploads unsigned ok
  int publisher_threshold = 0;               // distinct publisher keys that must sign (if keys set)
  friend bool operator==(const ChannelPolicy&, const ChannelPolicy&) = default;
};

// Identifies a customer control (primary key).
struct ControlKey {
  std::string channel, attr, value;
};

}  // namespace rf::admission

#endif  // RINGFENCE_ADMISSION_RECORDS_H_
