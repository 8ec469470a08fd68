// The agent protocol's request bodies (docs/protocol.md), decoded and validated as pure functions.
//
// Every check-in and enrollment body goes through these parsers before anything is stored, so a
// request that is refused here changes nothing. Validation is strict: unknown keys, wrong types,
// missing required keys, out-of-range values and over-long lists are InvalidArgument naming the
// key ("key 'health.apply[3].result': ...").
//
//   Result<CheckinRequest> r = ParseCheckinRequest(body);
//   if (!r.ok()) return ErrorResponse(r.status(), "invalid_request");
//
// Pure: no I/O, no clock reads. Thread-safe.
#ifndef RINGFENCE_SERVER_CHECKIN_H_
#define RINGFENCE_SERVER_CHECKIN_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fleet.h"
#include "core/status.h"
#include "rollout/cohort.h"

namespace rf::server {

// Protocol limits (docs/protocol.md, "Conventions" and the endpoint sections).
inline constexpr size_t kMaxAgentBodyBytes = 64 * 1024;
inline constexpr size_t kMaxIdBytes = 128;  // device ids and channels
inline constexpr size_t kMaxAttrs = 16;
inline constexpr size_t kMaxAttrKeyBytes = 32;
inline constexpr size_t kMaxAttrValueBytes = 64;
inline constexpr size_t kMaxContentTypes = 16;
inline constexpr size_t kMaxHealthEntries = 32;
inline constexpr size_t kMaxChannels = 64;
inline constexpr size_t kMaxReasonBytes = 256;

// 1-128 characters of [A-Za-z0-9._:-].
bool IsValidId(std::string_view id);
// 64 lowercase hex digits.
bool IsValidSha256Hex(std::string_view hex);

struct BundleRef {
  int64_t version = 0;
  std::string sha256;
  friend bool operator==(const BundleRef&, const BundleRef&) = default;
};

// What a device has installed for one channel; either may be absent.
struct ChannelReport {
  std::string channel;
  std::optional<BundleRef> current;
  std::optional<BundleRef> lkg;
  friend bool operator==(const ChannelReport&, const ChannelReport&) = default;
};

enum class ApplyOutcome : uint8_t { kApplied, kRefused, kPreflightFailed, kReverted, kQuarantined };
std::string_view ApplyOutcomeName(ApplyOutcome o);

struct ApplyResult {
  std::string channel;
  int64_t version = 0;
  std::string sha256;
  ApplyOutcome result = ApplyOutcome::kApplied;
  std::string reason;  // optional
};

struct QuarantinedVersion {
  std::string channel;
  int64_t version = 0;
  std::string sha256;
  std::string reason;  // optional
};

struct EnrollRequest {
  std::string device_id;
  rollout::Attributes attrs;
  CapabilityManifest capabilities;
  // The device's credential (docs/protocol.md "Device credentials").
  std::string public_key_b64;  // as sent (it is part of the signed proof)
  std::string public_key;      // its 32 raw bytes (Ed25519)
  int64_t timestamp_s = 0;     // the device's clock when it signed
  std::string proof;           // 64 raw bytes: Ed25519 over EnrollProofMessage
};

// POST /v1/agent/session: a device's signed request for a new session token.
struct SessionRequest {
  std::string device_id;
  int64_t timestamp_s = 0;
  std::string signature;  // 64 raw bytes: Ed25519 over SessionRequestMessage
};

struct CheckinRequest {
  std::string device_id;
  int64_t seq = 0;  // >= 1
  std::optional<rollout::Attributes> attrs;
  std::optional<CapabilityManifest> capabilities;
  std::vector<ChannelReport> channels;  // sorted by channel, unique
  int64_t crashes = 0;
  int64_t errors = 0;
  std::vector<ApplyResult> apply;
  std::vector<QuarantinedVersion> quarantined;
};

// Decode a POST /v1/agent/enroll body. `attrs` and `capabilities` are required there.
[[nodiscard]] Result<EnrollRequest> ParseEnrollRequest(std::string_view body);
// Decode a POST /v1/agent/session body.
[[nodiscard]] Result<SessionRequest> ParseSessionRequest(std::string_view body);
// Decode a POST /v1/agent/checkin body.
[[nodiscard]] Result<CheckinRequest> ParseCheckinRequest(std::string_view body);

namespace internal {
// The two halves of ParseCheckinRequest, exposed for tests: a strict hand parser for the common
// check-in shape (nullopt for anything else, never an error) and the Boost.JSON decoder that
// handles everything and names every error. Where the fast one returns a request, the DOM one
// returns the same request.
std::optional<CheckinRequest> ParseCheckinRequestFast(std::string_view body);
[[nodiscard]] Result<CheckinRequest> ParseCheckinRequestDom(std::string_view body);
}  // namespace internal

// Canonical JSON of a device profile (its attributes and capability manifest):
// {"attrs":{...},"capabilities":{...}} with keys sorted, no whitespace. Two devices have the same
// profile iff these strings are equal; ParseProfileKey inverts it.
std::string EncodeProfileKey(const rollout::Attributes& attrs, const CapabilityManifest& caps);
[[nodiscard]] Status ParseProfileKey(std::string_view key, rollout::Attributes* attrs,
                                     CapabilityManifest* caps);

// Canonical JSON of what a device has installed: {"291":{"current":{...},"lkg":{...}},...}.
// REQUIRES: `channels` sorted by channel (as ParseCheckinRequest returns them).
std::string EncodeInstalledKey(const std::vector<ChannelReport>& channels);
[[nodiscard]] Result<std::vector<ChannelReport>> ParseInstalledKey(std::string_view key);

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_CHECKIN_H_
