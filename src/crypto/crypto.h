// Hashing, Ed25519 signatures and their encodings, via libsodium.
//
// Keys are stored as the 32-byte Ed25519 seed (private) and the 32-byte public key; the key id is
// the lowercase hex SHA-256 of the public key. Signatures are plain Ed25519 over exact bytes (never
// re-serialized JSON). Formats: docs/bundle-format.md.
#ifndef RINGFENCE_CRYPTO_CRYPTO_H_
#define RINGFENCE_CRYPTO_CRYPTO_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace rf::crypto {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
std::string ToHex(std::string_view bytes);
std::string ToHex(const Sha256Digest& d);
Result<std::string> FromHex(std::string_view hex);

std::string Base64Encode(std::string_view bytes);
// Strict standard (RFC 4648 §4, padded) decoding, one encoding per byte string: only the
// standard alphabet, complete '=' padding, zero unused bits in the last group; anything else
// (whitespace included) is InvalidArgument naming the problem. Key files use it.
Result<std::string> Base64Decode(std::string_view text);
// Any of the four RFC 4648 variants (libsodium's sodium_base64_VARIANT_*): the standard ("+/",
// §4) or the URL-safe ("-_", §5) alphabet, not both in one string, with complete '=' padding or
// none. Otherwise exactly as strict as Base64Decode. DSSE envelopes use it (docs/bundle-format.md
// "Envelope"); encoders still write Base64Encode's standard padded form.
Result<std::string> Base64DecodeAnyVariant(std::string_view text);

struct PublicKey {
  std::array<uint8_t, 32> bytes{};
  std::string KeyId() const;  // hex SHA-256 of bytes
};

class SigningKey {
 public:
  // A new random key from libsodium's CSPRNG.
  static SigningKey Generate();
  // REQUIRES: seed.size() == 32.
  static Result<SigningKey> FromSeed(std::string_view seed);

  const PublicKey& public_key() const { return pub_; }
  std::string KeyId() const { return pub_.KeyId(); }
  std::string_view seed() const {
    return std::string_view(reinterpret_cast<const char*>(seed_.data()), seed_.size());
  }
  // A 64-byte Ed25519 signature over exactly `message`.
  std::string Sign(std::string_view message) const;

  SigningKey(const SigningKey&) = default;
  SigningKey& operator=(const SigningKey&) = default;
  ~SigningKey();

 private:
  SigningKey() = default;
  std::array<uint8_t, 32> seed_{};
  std::array<uint8_t, 64> secret_{};
  PublicKey pub_;
};

// The one source of secrets: bearer tokens, key seeds and nonces come only from here, that is from
// libsodium's randombytes_buf (the OS CSPRNG: getrandom(2)). Env::Random (src/platform/env.h) is a
// seeded simulation generator for jitter and sampling; it must never reach a secret, because its
// state can be recovered from a few of its outputs (docs/threat-model.md). Thread-safe.
class SecretSource {
 public:
  // `n` bytes from the OS CSPRNG.
  static std::string Bytes(size_t n);
  // A bearer token: "rf_" followed by 64 lowercase hex digits (256 bits).
  static std::string BearerToken();
};

// OK iff `signature` is a valid Ed25519 signature by `key` over exactly `message`.
Status Verify(const PublicKey& key, std::string_view message, std::string_view signature);

// Key files (JSON, documented in docs/bundle-format.md).
//   private: {"algorithm":"ed25519","keyid":"<hex>","seed":"<base64>"}   (mode 0600)
//   public:  {"algorithm":"ed25519","keyid":"<hex>","public":"<base64>"}
std::string EncodePrivateKeyFile(const SigningKey& key);
std::string EncodePublicKeyFile(const PublicKey& key);
Result<SigningKey> DecodePrivateKeyFile(std::string_view text);
Result<PublicKey> DecodePublicKeyFile(std::string_view text);

}  // namespace rf::crypto

#endif  // RINGFENCE_CRYPTO_CRYPTO_H_
