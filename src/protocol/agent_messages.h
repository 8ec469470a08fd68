// The agent protocol's messages (docs/protocol.md), both ways: the request bodies an agent sends
// (enroll, session, check-in) and the server's strict decoders for them; the server's check-in
// and session responses and the agent's strict decoders for them. This is the one definition of
// their shapes and limits; the server (src/server/agent_api.cc) and the agent
// (src/agent/protocol_client.cc) only call these.
//
// Request decoding (server side) is strict: unknown keys, wrong types, missing required keys,
// out-of-range values and over-long lists are InvalidArgument naming the key
// ("key 'health.apply[3].result': ..."); a request refused here changes nothing.
//
// Response decoding (agent side) refuses a body whose frame is wrong (not JSON, unknown top-level
// keys, bad poll_after_s) as a whole, but judges each channel's directive on its own: a directive
// that is malformed (unknown action, bad digest, a channel name such as "..", ...) lands in
// CheckinResponse::rejected with the reason, and the other directives are still returned, so one
// bad directive never costs a device the reverts of other channels.
//
//   Result<CheckinRequest> r = ParseCheckinRequest(body);            // server
//   Result<CheckinResponse> resp = DecodeCheckinResponse(body);      // agent
//
// Pure: no I/O, no clock reads. Thread-safe.
#ifndef RINGFENCE_PROTOCOL_AGENT_MESSAGES_H_
#define RINGFENCE_PROTOCOL_AGENT_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "core/fleet.h"
#include "core/status.h"
#include "crypto/crypto.h"
#include "protocol/identifiers.h"

namespace rf::protocol {

// Protocol limits (docs/protocol.md, "Conventions" and the endpoint sections).
inline constexpr size_t kMaxAgentBodyBytes = 64 * 1024;
inline constexpr size_t kMaxAttrs = 16;
inline constexpr size_t kMaxAttrKeyBytes = 32;
inline constexpr size_t kMaxAttrValueBytes = 64;
inline constexpr size_t kMaxContentTypes = 16;
inline constexpr size_t kMaxHealthEntries = 32;
inline constexpr size_t kMaxChannels = 64;
inline constexpr size_t kMaxReasonBytes = 256;
// A check-in response lists at most this many channels (the agent refuses more).
inline constexpr size_t kMaxResponseChannels = 128;
// Longest revert reason an agent keeps (longer ones are cut).
inline constexpr size_t kMaxRevertReasonBytes = 1024;
// Largest `confirm_after_ms` of a check-in response (one hour; docs/protocol.md "Post-apply
// confirmation").
inline constexpr int64_t kMaxConfirmAfterMs = 3'600'000;
// Largest `lkg_after_ms` of an install directive (seven days; docs/protocol.md).
inline constexpr int64_t kMaxLkgAfterMs = 7 * 86'400'000LL;

// Device attributes (the same type as rollout::Attributes).
using Attributes = std::map<std::string, std::string, std::less<>>;

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
std::optional<ApplyOutcome> ApplyOutcomeFromName(std::string_view name);

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
  friend bool operator==(const QuarantinedVersion&, const QuarantinedVersion&) = default;
};

// ----- requests (agent -> server) -----

struct EnrollRequest {
  std::string device_id;
  Attributes attrs;
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
  std::optional<Attributes> attrs;
  std::optional<CapabilityManifest> capabilities;
  std::vector<ChannelReport> channels;  // sorted by channel, unique
  int64_t crashes = 0;
  int64_t errors = 0;
  std::vector<ApplyResult> apply;
  std::vector<QuarantinedVersion> quarantined;
};

// What identifies and describes a device (enroll and check-in bodies).
struct DeviceInfo {
  std::string device_id;
  std::map<std::string, std::string> attrs;
  std::string capabilities_json;  // the capability manifest, a JSON object ("{}" when none)
};

// Validates device id and attrs against the protocol's rules (InvalidArgument naming the problem).
Status ValidateDeviceInfo(const DeviceInfo& device);
// The enrollment body: the device, its public key and the proof of possession signed by `key`
// at `now_s` (crypto::EnrollProofMessage).
std::string EncodeEnrollRequest(const DeviceInfo& device, const crypto::SigningKey& key,
                                int64_t now_s);
// The session request body, signed by `key` at `now_s` (crypto::SessionRequestMessage).
std::string EncodeSessionRequest(const std::string& device_id, const crypto::SigningKey& key,
                                 int64_t now_s);
// The check-in body (canonical JSON): the device, `seq`, what is installed and the health report.
// Reasons are cut to kMaxReasonBytes (at a UTF-8 character boundary). REQUIRES: the apply/quarantined lists within kMaxHealthEntries.
std::string EncodeCheckinRequest(const DeviceInfo& device, int64_t seq,
                                 const std::vector<ChannelReport>& channels, int64_t crashes,
                                 int64_t errors, const std::vector<ApplyResult>& apply,
                                 const std::vector<QuarantinedVersion>& quarantined);

// Decode a POST /v1/agent/enroll body. `attrs` and `capabilities` are required there.
[[nodiscard]] Result<EnrollRequest> ParseEnrollRequest(std::string_view body);
// Decode a POST /v1/agent/session body.
[[nodiscard]] Result<SessionRequest> ParseSessionRequest(std::string_view body);
// Decode a POST /v1/agent/checkin body.
[[nodiscard]] Result<CheckinRequest> ParseCheckinRequest(std::string_view body);

// The building blocks of the request decoders, for other encodings of the same values (the
// server's interned profile and installed-set keys, server/checkin.h). InvalidArgument naming
// the key, as above.
[[nodiscard]] Result<Attributes> DecodeAttributes(const boost::json::value& v);
[[nodiscard]] Result<CapabilityManifest> DecodeCapabilities(const boost::json::value& v);
// {"<channel>": {"current": {...}, "lkg": {...}}, ...}, sorted by channel; `where` names it.
[[nodiscard]] Result<std::vector<ChannelReport>> DecodeChannelReports(const boost::json::value& v,
                                                                      std::string_view where);
// [{"channel", "version", "sha256", "reason"?}, ...] (health.quarantined's entries), at most
// kMaxHealthEntries; `where` names it.
[[nodiscard]] Result<std::vector<QuarantinedVersion>> DecodeQuarantinedList(
    const boost::json::value& v, std::string_view where);

namespace internal {
// The two halves of ParseCheckinRequest, exposed for tests: a strict hand parser for the common
// check-in shape (nullopt for anything else, never an error) and the Boost.JSON decoder that
// handles everything and names every error. Where the fast one returns a request, the DOM one
// returns the same request.
std::optional<CheckinRequest> ParseCheckinRequestFast(std::string_view body);
[[nodiscard]] Result<CheckinRequest> ParseCheckinRequestDom(std::string_view body);
}  // namespace internal

// ----- responses (server -> agent) -----

// A device session (docs/protocol.md "Device credentials"): what check-ins and downloads carry.
struct DeviceSession {
  std::string token;
  int64_t expires_s = 0;     // server clock
  int64_t poll_after_s = 60;
};

// The enrollment and session responses:
// {"device_id":..,"poll_after_s":..,"session_token":..,"session_expires_s":..}.
std::string EncodeSessionResponse(std::string_view device_id, int64_t poll_after_s,
                                  std::string_view token, int64_t expires_s);
[[nodiscard]] Result<DeviceSession> DecodeSessionResponse(std::string_view body);

// One channel of a check-in response.
struct Directive {
  std::string channel;
  std::string action;  // "install" or "revert"
  int64_t version = 0;
  std::string sha256;
  std::string bundle_url;     // install only
  std::string approvals_url;  // install only
  std::string release;        // the release statement envelope (JSON text)
  std::string reason;         // revert only (may be empty)
  // Install only: the release plan's gate.lkg_after: the content becomes the device's last known
  // good after it has run this long (docs/protocol.md; docs/agent.md "Late crashes"). -1: not
  // sent (the agent's own default applies). 0..kMaxLkgAfterMs otherwise.
  int64_t lkg_after_ms = -1;
  friend bool operator==(const Directive&, const Directive&) = default;
};

// A directive the agent could not decode: what could be read of it, and why it was refused.
// `directive` holds the fields that decoded (channel always; version/sha256 only when valid).
struct RejectedDirective {
  Directive directive;
  Status error;  // InvalidArgument naming the key
};

struct CheckinResponse {
  int64_t poll_after_s = 60;
  int64_t server_time_s = 0;
  // > 0: this check-in reported an apply the server wants confirmed: check in again after this
  // long, jittered (rollout::ConfirmationDelayMicros; docs/protocol.md "Post-apply confirmation").
  // 0: no confirmation owed. At most kMaxConfirmAfterMs.
  int64_t confirm_after_ms = 0;
  std::vector<Directive> directives;       // in the body's order
  std::vector<RejectedDirective> rejected;  // malformed directives, in the body's order
};

// Builds a check-in response body in one buffer (the check-in path's hot loop):
//
//   CheckinResponseWriter w(poll_after_s, now_s);
//   w.Install("291", 43, sha, statement, /*lkg_after_ms=*/600'000);
//   std::string body = std::move(w).Finish();
//
// REQUIRES: each channel at most once; `sha256` 64 lowercase hex digits.
class CheckinResponseWriter {
 public:
  CheckinResponseWriter(int64_t poll_after_s, int64_t server_time_s);
  // {"action":"install","version":..,"sha256":..,"bundle_url":"/v1/bundles/<sha>",
  //  "approvals_url":"/v1/bundles/<sha>/approvals","release":<statement>,"lkg_after_ms":..}
  // `lkg_after_ms` < 0: the key is left out. REQUIRES: lkg_after_ms <= kMaxLkgAfterMs.
  void Install(std::string_view channel, int64_t version, std::string_view sha256,
               std::string_view release_statement, int64_t lkg_after_ms);
  // {"action":"revert","version":..,"sha256":..,"reason":..,"release":<statement>}
  void Revert(std::string_view channel, int64_t version, std::string_view sha256,
              std::string_view reason, std::string_view release_statement);
  // "confirm_after_ms": the check-in reported an apply that owes a confirmation (docs/protocol.md
  // "Post-apply confirmation"). REQUIRES: 0 < ms <= kMaxConfirmAfterMs. Not written when unset.
  void ConfirmAfter(int64_t ms) { confirm_after_ms_ = ms; }
  std::string Finish() &&;

 private:
  std::string body_;
  bool first_ = true;
  int64_t confirm_after_ms_ = 0;
};

// Strict decoding of a check-in response (see the file comment for what is refused as a whole
// and what per directive).
[[nodiscard]] Result<CheckinResponse> DecodeCheckinResponse(std::string_view body);

// GET /v1/bundles/{sha256}/approvals: {"approvals":["<approval envelope JSON text>",...]}.
std::string EncodeApprovalsResponse(const std::vector<std::string>& envelopes);
[[nodiscard]] Result<std::vector<std::string>> DecodeApprovalsResponse(std::string_view body);

}  // namespace rf::protocol

#endif  // RINGFENCE_PROTOCOL_AGENT_MESSAGES_H_
