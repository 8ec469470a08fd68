#include "crypto/crypto.h"

#include <sodium.h>

#include <boost/json.hpp>
#include <cstdlib>

namespace rf::crypto {
namespace {

struct SodiumInit {
  SodiumInit() {
    if (sodium_init() < 0) std::abort();  // cannot happen on a supported platform
  }
};

void EnsureSodium() { static SodiumInit init; }

const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  EnsureSodium();
  Sha256Digest d;
  crypto_hash_sha256(d.data(), U8(data), data.size());
  return d;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHex[static_cast<uint8_t>(bytes[i]) >> 4];
    out[2 * i + 1] = kHex[static_cast<uint8_t>(bytes[i]) & 15];
  }
  return out;
}

std::string ToHex(const Sha256Digest& d) {
  return ToHex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string Sha256Hex(std::string_view data) { return ToHex(Sha256(data)); }

Result<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return Status::InvalidArgument("hex string has odd length");
  std::string out(hex.size() / 2, '\0');
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("invalid hex digit");
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  EnsureSodium();
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), U8(bytes), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // drop the NUL terminator
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  // Table-driven and strict (libsodium's constant-time decoder is ~10x slower, and bundle payloads
  // are public data): length a multiple of 4, '=' only as the last one or two characters, and the
  // unused bits of the last group zero, so every byte string has exactly one encoding.
  static const auto kTable = [] {
    std::array<int8_t, 256> t;
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (text.size() % 4 != 0) return Status::InvalidArgument("invalid base64: length is not a multiple of 4");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = (text.size() >= 2 && text[text.size() - 2] == '=') ? 2 : 1;
  std::string out;
  out.resize(text.size() / 4 * 3 - pad);
  size_t o = 0;
  const size_t full = text.size() - (pad ? 4 : 0);
  auto val = [&](size_t i) { return kTable[static_cast<uint8_t>(text[i])]; };
  for (size_t i = 0; i < full; i += 4) {
    int a = val(i), b = val(i + 1), c = val(i + 2), d = val(i + 3);
    if ((a | b | c | d) < 0) return Status::InvalidArgument("invalid base64 character");
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6) | uint32_t(d);
    out[o++] = static_cast<char>(v >> 16);
    out[o++] = static_cast<char>(v >> 8);
    out[o++] = static_cast<char>(v);
  }
  if (pad) {
    const size_t i = full;
    int a = val(i), b = val(i + 1), c = pad == 1 ? val(i + 2) : 0;
    if ((a | b | c) < 0) return Status::InvalidArgument("invalid base64 character");
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6);
    if ((pad == 2 && (v & 0xffff)) || (pad == 1 && (v & 0xff))) {
      return Status::InvalidArgument("invalid base64: non-zero padding bits");
    }
    out[o++] = static_cast<char>(v >> 16);
    if (pad == 1) out[o++] = static_cast<char>(v >> 8);
  }
  return out;
}

std::string PublicKey::KeyId() const {
  return Sha256Hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string SecretSource::Bytes(size_t n) {
  EnsureSodium();
  std::string out(n, '\0');
  randombytes_buf(out.data(), out.size());
  return out;
}

std::string SecretSource::BearerToken() {
  std::string raw = Bytes(32);
  std::string token = "rf_" + ToHex(raw);
  sodium_memzero(raw.data(), raw.size());
  return token;
}

SigningKey SigningKey::Generate() {
  EnsureSodium();
  SigningKey k;
  randombytes_buf(k.seed_.data(), k.seed_.size());
  crypto_sign_ed25519_seed_keypair(k.pub_.bytes.data(), k.secret_.data(), k.seed_.data());
  return k;
}

Result<SigningKey> SigningKey::FromSeed(std::string_view seed) {
  EnsureSodium();
  if (seed.size() != 32) return Status::InvalidArgument("an Ed25519 seed must be 32 bytes");
  SigningKey k;
  std::copy(seed.begin(), seed.end(), k.seed_.begin());
  crypto_sign_ed25519_seed_keypair(k.pub_.bytes.data(), k.secret_.data(), k.seed_.data());
  return k;
}

SigningKey::~SigningKey() {
  sodium_memzero(seed_.data(), seed_.size());
  sodium_memzero(secret_.data(), secret_.size());
}

std::string SigningKey::Sign(std::string_view message) const {
  std::string sig(crypto_sign_ed25519_BYTES, '\0');
  crypto_sign_ed25519_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, U8(message),
                               message.size(), secret_.data());
  return sig;
}

Status Verify(const PublicKey& key, std::string_view message, std::string_view signature) {
  EnsureSodium();
  if (signature.size() != crypto_sign_ed25519_BYTES) {
    return Status::DataLoss("signature is " + std::to_string(signature.size()) +
                            " bytes, an Ed25519 signature is 64");
  }
  if (crypto_sign_ed25519_verify_detached(U8(signature), U8(message), message.size(),
                                          key.bytes.data()) != 0) {
    return Status::DataLoss("signature does not verify against key " + key.KeyId());
  }
  return Status::Ok();
}

std::string EncodePrivateKeyFile(const SigningKey& key) {
  boost::json::object o;
  o["algorithm"] = "ed25519";
  o["keyid"] = key.KeyId();
  o["seed"] = Base64Encode(key.seed());
  return boost::json::serialize(o) + "\n";
}

std::string EncodePublicKeyFile(const PublicKey& key) {
  boost::json::object o;
  o["algorithm"] = "ed25519";
  o["keyid"] = key.KeyId();
  o["public"] = Base64Encode(
      std::string_view(reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size()));
  return boost::json::serialize(o) + "\n";
}

namespace {

// Parses a key file and returns the decoded bytes under `field`, checking the declared key id.
Result<std::string> DecodeKeyField(std::string_view text, std::string_view field,
                                   std::string* keyid) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return Status::InvalidArgument("key file is not a JSON object");
  const auto& o = v.as_object();
  for (const auto& kv : o) {
    if (kv.key() != "algorithm" && kv.key() != "keyid" && kv.key() != field) {
      return Status::InvalidArgument("key file has unknown key '" + std::string(kv.key()) + "'");
    }
  }
  const auto* alg = o.if_contains("algorithm");
  if (!alg || !alg->is_string() || alg->as_string() != "ed25519") {
    return Status::InvalidArgument("key file: algorithm must be \"ed25519\"");
  }
  const auto* id = o.if_contains("keyid");
  if (!id || !id->is_string()) return Status::InvalidArgument("key file: keyid is missing");
  *keyid = std::string(id->as_string());
  const auto* f = o.if_contains(field);
  if (!f || !f->is_string()) {
    return Status::InvalidArgument("key file: '" + std::string(field) + "' is missing");
  }
  auto bytes = Base64Decode(std::string_view(f->as_string()));
  if (!bytes.ok() || bytes->size() != 32) {
    return Status::InvalidArgument("key file: '" + std::string(field) +
                                   "' must be 32 bytes of base64");
  }
  return *bytes;
}

}  // namespace

Result<SigningKey> DecodePrivateKeyFile(std::string_view text) {
  std::string keyid;
  RF_ASSIGN_OR_RETURN(std::string seed, DecodeKeyField(text, "seed", &keyid));
  RF_ASSIGN_OR_RETURN(SigningKey k, SigningKey::FromSeed(seed));
  sodium_memzero(seed.data(), seed.size());
  if (k.KeyId() != keyid) {
    return Status::InvalidArgument("key file: keyid does not match the key (file is corrupt)");
  }
  return k;
}

Result<PublicKey> DecodePublicKeyFile(std::string_view text) {
  std::string keyid;
  RF_ASSIGN_OR_RETURN(std::string bytes, DecodeKeyField(text, "public", &keyid));
  PublicKey k;
  std::copy(bytes.begin(), bytes.end(), k.bytes.begin());
  if (k.KeyId() != keyid) {
    return Status::InvalidArgument("key file: keyid does not match the key (file is corrupt)");
  }
  return k;
}

}  // namespace rf::crypto
