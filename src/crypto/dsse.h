// DSSE envelopes (https://github.com/secure-systems-lab/dsse, v1.0): a payload, its type and
// Ed25519 signatures over PAE(payloadType, payload). Byte format: docs/bundle-format.md.
#ifndef RINGFENCE_CRYPTO_DSSE_H_
#define RINGFENCE_CRYPTO_DSSE_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "crypto/crypto.h"

namespace rf::crypto {

inline constexpr std::string_view kBundlePayloadType = "application/vnd.ringfence.bundle+json";

struct DsseSignature {
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

// Parses envelope JSON. Every malformation (not JSON, missing or unknown keys, bad base64, a
// signature that is not 64 bytes, too many signatures, oversized) is InvalidArgument/DataLoss
// with a message that names the problem.
Result<Envelope> ParseEnvelope(std::string_view json, const EnvelopeLimits& limits = {});
// Serializes with a fixed key order and a trailing newline.
std::string SerializeEnvelope(const Envelope& env);

// Adds (or replaces, for the same key id) a signature by `key`.
void SignEnvelope(Envelope* env, const SigningKey& key);
// OK iff the envelope carries a valid signature by `key` over its payload.
Status VerifyEnvelope(const Envelope& env, const PublicKey& key);

}  // namespace rf::crypto

#endif  // RINGFENCE_CRYPTO_DSSE_H_
