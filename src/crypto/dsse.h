// DSSE envelopes (https://github.com/secure-systems-lab/dsse, v1.0): a payload, its type and
// Ed25519 signatures over PAE(payloadType, payload). Byte format: docs/bundle-format.md.
#ifndef RINGFENCE_CRYPTO_DSSE_H_
#define RINGFENCE_CRYPTO_DSSE_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "crypto/crypto.h"

namespace rf::crypto {

inline constexpr std::string_view kBundlePayloadType = "application/vnd.ringfence.bundle+json";

struct DsseSignature {
  // Unauthenticated hint naming the signer (we write the signer's key id); may be empty. Never
  // decides anything: verification tries every trusted key whatever it says.
  std::string keyid;
  std::string sig;  // raw 64 bytes
};

struct Envelope {
  std::string payload_type;
  std::string payload;  // raw bytes (decoded from base64)
  std::vector<DsseSignature> signatures;
};

struct EnvelopeLimits {
  size_t max_envelope_bytes = 256u << 20;  // the whole JSON text
  size_t max_signatures = 32;
};

// "DSSEv1 <len(type)> <type> <len(body)> <body>": the exact bytes that are signed.
std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload);

// Parses envelope JSON. `payload` and `sig` may use either base64 alphabet, padded or not
// (Base64DecodeAnyVariant); `keyid` may be absent (read as empty). Every malformation (not JSON,
// missing or unknown keys, bad base64, a signature that is not 64 bytes, too many signatures,
// oversized) is InvalidArgument/DataLoss/ResourceExhausted with a message that names the problem.
Result<Envelope> ParseEnvelope(std::string_view json, const EnvelopeLimits& limits = {});
// Serializes with a fixed key order, standard padded base64, no "keyid" when it is empty, and a
// trailing newline.
std::string SerializeEnvelope(const Envelope& env);

// Adds a signature by `key` (keyid = its key id), replacing in place any signature that already
// verifies under `key` (whatever its keyid): re-signing never duplicates.
void SignEnvelope(Envelope* env, const SigningKey& key);

// THE threshold rule (docs/bundle-format.md "Envelope"; every m-of-n check uses it): the distinct
// keys among `trusted` that signed `env`, as indexes into `trusted` (first occurrence of each key,
// ascending). Every key is tried against every signature whatever the keyid says (a keyid naming
// the key only orders the attempts); each signature counts for at most one key, and a key listed
// twice in `trusted` counts once. Cost: at most (distinct keys) x (signatures) Ed25519
// verifications over PreAuthEncoding(env), fewer when keyids are right. Thread-safe (pure).
std::vector<size_t> TrustedSigners(const Envelope& env, std::span<const PublicKey> trusted);

// OK iff some signature on `env` verifies under `key` (TrustedSigners with one key); otherwise
// DataLoss saying whether the envelope is unsigned, has no signature by the key, or has one naming
// the key that does not verify.
Status VerifyEnvelope(const Envelope& env, const PublicKey& key);

// OK iff no key appears twice in `keys`; else InvalidArgument "<what>[j] repeats key <keyid>,
// listed at [i] already ...". Configured key lists (channel policies, trust roots, `bundle verify
// --pub`) are refused with it, so a threshold can never be met by listing one key twice.
Status CheckDistinctKeys(std::span<const PublicKey> keys, std::string_view what);

}  // namespace rf::crypto

#endif  // RINGFENCE_CRYPTO_DSSE_H_
