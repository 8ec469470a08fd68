// The device's trust root (`trust.json`), provisioned out of band with the agent: which keys may
// publish bundles, approve them and issue release statements, how many of each are needed, and
// how much clock skew to tolerate. Format: docs/agent.md "Trust root".
#ifndef RINGFENCE_AGENT_TRUST_ROOT_H_
#define RINGFENCE_AGENT_TRUST_ROOT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "crypto/crypto.h"

namespace rf::agent {

struct TrustRoot {
  std::vector<crypto::PublicKey> publisher_keys;  // distinct; bundle signers
  int64_t publisher_threshold = 1;                // >= 1, <= publisher_keys.size()
  std::vector<crypto::PublicKey> reviewer_keys;   // distinct; approval signers
  int64_t approval_threshold = 1;                 // 0 switches layer 3 off on this device
  std::vector<crypto::PublicKey> release_keys;    // distinct, at least one; release statements
  int64_t clock_skew_s = 300;                     // slack on issued_s / expires_s, 0..86400
};

// Parses and validates trust.json. Every problem (unknown key, bad key file, duplicate key,
// threshold out of range) is InvalidArgument naming the key.
Result<TrustRoot> ParseTrustRoot(std::string_view json);
// The same format, for provisioning tools and tests.
std::string EncodeTrustRoot(const TrustRoot& trust);

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_TRUST_ROOT_H_
