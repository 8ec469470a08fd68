// The verifier: exactly the checks of docs/protocol.md "What the agent verifies before applying".
//
// Pure: no I/O, no clock reads (the caller passes `now_s`). Every refusal is a non-OK Status whose
// message is the reason the agent reports at check-in ("refused": reason); nothing is applied
// unless VerifyInstall returns OK.
//
//   InstallCandidate c{...downloaded bytes...};
//   Result<VerifiedBundle> v = VerifyInstall(trust, c, installed, clock_now_s);
//   if (!v.ok()) report_refused(v.status().message());
#ifndef RINGFENCE_AGENT_VERIFIER_H_
#define RINGFENCE_AGENT_VERIFIER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/statements.h"
#include "agent/trust_root.h"
#include "protocol/agent_messages.h"
#include "core/status.h"

namespace rf::agent {

// A bundle version and digest (protocol/agent_messages.h).
using protocol::BundleRef;

// What the server's `install` directive named, and what was downloaded for it.
struct InstallCandidate {
  std::string channel;
  int64_t version = 0;               // from the (unsigned) directive
  std::string sha256;                // from the (unsigned) directive
  std::string release_envelope;      // the directive's "release" (JSON text)
  std::string bundle_envelope;       // GET /v1/bundles/{sha256}
  std::vector<std::string> approval_envelopes;  // GET /v1/bundles/{sha256}/approvals
};

// The device's anti-rollback facts for one channel.
struct InstalledView {
  std::optional<BundleRef> current;
  // Every version this device quarantined or was told to revert (refused forever).
  std::vector<BundleRef> refused;
};

struct VerifiedBundle {
  std::string channel;
  int64_t version = 0;
  std::string sha256;
  std::string release_id;
  BundleHeader header;
  std::string envelope;  // the exact downloaded bytes
};

struct VerifierLimits {
  size_t max_approvals = 64;  // approval envelopes looked at, at most
};

// Step 1: the release statement carried by a directive. OK iff it is a DSSE envelope of the
// release payload type, validly signed by a trust-root release key, within its validity window
// (issued_s - skew <= now_s <= expires_s + skew), with the expected action and channel.
Result<ReleaseStatement> VerifyReleaseStatement(const TrustRoot& trust, std::string_view envelope_json,
                                                std::string_view expected_action,
                                                std::string_view expected_channel, int64_t now_s);

// Step 4 alone (also used before downloading anything): AlreadyExists when `version`/`sha256` is
// what is installed (a no-op), OutOfRange for an older or quarantined version, FailedPrecondition
// for mix-and-match (same version, other digest).
Status CheckAntiRollback(const InstalledView& installed, int64_t version, std::string_view sha256);

// Steps 1-4, in order.
Result<VerifiedBundle> VerifyInstall(const TrustRoot& trust, const InstallCandidate& candidate,
                                     const InstalledView& installed, int64_t now_s,
                                     const VerifierLimits& limits = {});

// Re-checks a bundle already in a slot (after a restart): a parseable envelope with the publisher
// threshold of valid signatures and a canonical payload. Returns its header and digest.
struct SlotBundle {
  BundleHeader header;
  std::string sha256;
};
Result<SlotBundle> VerifyStoredBundle(const TrustRoot& trust, std::string_view envelope_json);

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_VERIFIER_H_
