// The signed statements the agent reads (docs/protocol.md "Signed statements"): release statements
// from the server's release key, approvals from reviewers, and the header of a bundle payload.
//
// Every decoder takes the exact payload bytes of a DSSE envelope, refuses anything that is not
// canonical JSON with exactly the documented keys and types, and never looks at a signature:
// signatures are the Verifier's job (agent/verifier.h).
#ifndef RINGFENCE_AGENT_STATEMENTS_H_
#define RINGFENCE_AGENT_STATEMENTS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace rf::agent {

inline constexpr std::string_view kReleasePayloadType = "application/vnd.ringfence.release+json";
inline constexpr std::string_view kApprovalPayloadType = "application/vnd.ringfence.approval+json";

struct ReleaseStatement {
  std::string action;  // "install" or "revert"
  std::string bundle_sha256;
  std::string channel;
  int64_t expires_s = 0;
  int64_t issued_s = 0;
  std::string release_id;
  int64_t version = 0;
};

struct ApprovalStatement {
  std::string bundle_sha256;
  std::string channel;
  std::string release_id;
  std::string reports_sha256;
  std::string reviewer;
  std::string role;
  int64_t version = 0;
};

// What the agent needs from a bundle payload without knowing its content type.
struct BundleHeader {
  std::string channel;
  std::string content_type;
  int64_t schema_version = 0;
  int64_t version = 0;
  size_t items = 0;
};

Result<ReleaseStatement> DecodeReleaseStatement(std::string_view payload);
Result<ApprovalStatement> DecodeApprovalStatement(std::string_view payload);
// The payload must be canonical JSON with exactly channel, content_type, items (an array of
// objects), schema_version and version >= 1.
Result<BundleHeader> DecodeBundleHeader(std::string_view payload);

// Canonical encodings (used by tests, the benchmark and anything that issues statements).
std::string EncodeReleaseStatement(const ReleaseStatement& s);
std::string EncodeApprovalStatement(const ApprovalStatement& s);

// True for 64 lowercase hex digits.
bool IsSha256Hex(std::string_view s);
// True for 1-128 characters of [A-Za-z0-9._:-] that are not "." or ".." (channel names become
// file names in the state directory).
bool IsValidChannel(std::string_view s);

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_STATEMENTS_H_
