// The signed statements of docs/protocol.md "Signed statements": release statements (issued by the
// server's controller with its release key), approvals (signed by reviewers with the CLI, recorded
// by the server's layer 3, verified again by the agent's layer 5), and the header of a bundle
// payload. This is the one definition of their payload types, fields and bytes: one canonical
// encoder and one strict decoder each. What a statement must say to be acted on (release ids,
// reports digests, quorum, validity window) is decided separately by each side: the server
// (service/release_service.h) and the agent (agent/verifier.h) share bytes, not verdicts.
//
// Every decoder takes the exact payload bytes of a DSSE envelope, refuses anything that is not
// canonical JSON with exactly the documented keys and types, and never looks at a signature.
// Pure. Thread-safe.
#ifndef RINGFENCE_PROTOCOL_STATEMENTS_H_
#define RINGFENCE_PROTOCOL_STATEMENTS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "crypto/dsse.h"  // kBundlePayloadType

namespace rf::protocol {

inline constexpr std::string_view kReleasePayloadType = "application/vnd.ringfence.release+json";
inline constexpr std::string_view kApprovalPayloadType = "application/vnd.ringfence.approval+json";
// The bundle payload type is crypto::kBundlePayloadType (crypto/dsse.h), used by the signing tools.

struct ReleaseStatement {
  std::string action;  // "install" or "revert"
  std::string bundle_sha256;
  std::string channel;
  int64_t expires_s = 0;
  int64_t issued_s = 0;
  std::string release_id;
  int64_t version = 0;
  friend bool operator==(const ReleaseStatement&, const ReleaseStatement&) = default;
};

struct ApprovalStatement {
  std::string bundle_sha256;
  std::string channel;
  std::string release_id;
  std::string reports_sha256;
  std::string reviewer;
  std::string role;
  int64_t version = 0;
  friend bool operator==(const ApprovalStatement&, const ApprovalStatement&) = default;
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

// Canonical encodings: the bytes that are signed (the server's controller for release
// statements, `ringfence approve` and the demo for approvals). Decode(Encode(s)) == s for every
// statement the decoder accepts.
std::string EncodeReleaseStatement(const ReleaseStatement& s);
std::string EncodeApprovalStatement(const ApprovalStatement& s);

}  // namespace rf::protocol

#endif  // RINGFENCE_PROTOCOL_STATEMENTS_H_
