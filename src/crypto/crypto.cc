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

namespace {

// One table for both RFC 4648 alphabets: bits 0-5 hold a character's value, kStdOnly marks '+'
// and '/' (§4), kUrlOnly '-' and '_' (§5). Every other byte is kInvalid, which has both flags, so
// OR-ing the entries of a string sets both flags iff it holds an invalid byte or mixes alphabets.
constexpr uint8_t kStdOnly = 0x40, kUrlOnly = 0x80, kInvalid = 0xff;

const std::array<uint8_t, 256>& Base64Table() {
  static const std::array<uint8_t, 256> table = [] {
    std::array<uint8_t, 256> t;
    t.fill(kInvalid);
    const char* common = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (uint8_t i = 0; i < 62; ++i) t[static_cast<uint8_t>(common[i])] = i;
    t['+'] = 62 | kStdOnly;
    t['/'] = 63 | kStdOnly;
    t['-'] = 62 | kUrlOnly;
    t['_'] = 63 | kUrlOnly;
    return t;
  }();
  return table;
}

struct Base64Rules {
  bool url_safe = false;  // the URL-safe alphabet is accepted too (one alphabet per string)
  bool unpadded = false;  // '=' padding may be left out (but not half written)
};

std::string DescribeChar(char c) {
  const auto u = static_cast<uint8_t>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 15];
}

// The precise problem with `body` (text without its trailing '='), once the fast path saw one.
Status Base64CharacterProblem(std::string_view body, const Base64Rules& rules) {
  const auto& table = Base64Table();
  size_t std_at = body.size(), url_at = body.size();
  for (size_t i = 0; i < body.size(); ++i) {
    const uint8_t t = table[static_cast<uint8_t>(body[i])];
    const std::string at = " at offset " + std::to_string(i);
    if (t == kInvalid) {
      if (body[i] == '=') return Status::InvalidArgument("invalid base64: '=' before the end" + at);
      return Status::InvalidArgument("invalid base64 character " + DescribeChar(body[i]) + at);
    }
    if ((t & kUrlOnly) && !rules.url_safe) {
      return Status::InvalidArgument("invalid base64 character " + DescribeChar(body[i]) + at +
                                     " (URL-safe alphabet; standard base64 is required here)");
    }
    if ((t & kStdOnly) && std_at == body.size()) std_at = i;
    if ((t & kUrlOnly) && url_at == body.size()) url_at = i;
  }
  if (std_at < body.size() && url_at < body.size()) {
    return Status::InvalidArgument(
        "invalid base64: mixes the standard alphabet (" + DescribeChar(body[std_at]) +
        " at offset " + std::to_string(std_at) + ") and the URL-safe one (" +
        DescribeChar(body[url_at]) + " at offset " + std::to_string(url_at) + ")");
  }
  return Status::InvalidArgument("invalid base64");  // unreachable: the fast path saw a problem
}

// The one base64 decoder; `rules` say which RFC 4648 variants it takes. Always refused: bytes
// outside the alphabets (whitespace included), '=' anywhere but at the end, more than two '=',
// padding that does not complete the last group, a last group of one character, and non-zero
// unused bits in the last group, so every byte string has exactly one encoding per variant.
// Table-driven (libsodium's constant-time decoder is ~10x slower, and bundle payloads are public).
Result<std::string> DecodeBase64(std::string_view text, const Base64Rules& rules) {
  size_t pad = 0;
  while (pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  const std::string_view body = text.substr(0, text.size() - pad);
  if (pad > 2) return Status::InvalidArgument("invalid base64: more than two '=' at the end");
  if (pad > 0 && text.size() % 4 != 0) {
    return Status::InvalidArgument("invalid base64: padded length is not a multiple of 4");
  }
  if (pad == 0 && body.size() % 4 != 0 && !rules.unpadded) {
    return Status::InvalidArgument(
        "invalid base64: length is not a multiple of 4 (padding missing)");
  }
  const size_t rem = body.size() % 4;  // 0, 2 or 3 when well-formed
  if (rem == 1) {
    return Status::InvalidArgument("invalid base64: length leaves one character in the last group");
  }
  const auto& table = Base64Table();
  auto val = [&](size_t i) { return table[static_cast<uint8_t>(body[i])]; };
  std::string out(body.size() / 4 * 3 + (rem ? rem - 1 : 0), '\0');
  uint8_t seen = 0;  // OR of every table entry: flags say which alphabets (or kInvalid) occurred
  size_t o = 0;
  const size_t full = body.size() - rem;
  for (size_t i = 0; i < full; i += 4) {
    const uint8_t a = val(i), b = val(i + 1), c = val(i + 2), d = val(i + 3);
    seen |= a | b | c | d;
    const uint32_t v = (uint32_t(a & 63) << 18) | (uint32_t(b & 63) << 12) |
                       (uint32_t(c & 63) << 6) | uint32_t(d & 63);
    out[o++] = static_cast<char>(v >> 16);
    out[o++] = static_cast<char>(v >> 8);
    out[o++] = static_cast<char>(v);
  }
  bool nonzero_bits = false;
  if (rem) {
    const uint8_t a = val(full), b = val(full + 1), c = rem == 3 ? val(full + 2) : 0;
    seen |= a | b | c;
    const uint32_t v =
        (uint32_t(a & 63) << 18) | (uint32_t(b & 63) << 12) | (uint32_t(c & 63) << 6);
    nonzero_bits = rem == 2 ? (v & 0xffff) != 0 : (v & 0xff) != 0;
    out[o++] = static_cast<char>(v >> 16);
    if (rem == 3) out[o++] = static_cast<char>(v >> 8);
  }
  const bool bad_chars = (seen & (kStdOnly | kUrlOnly)) == (kStdOnly | kUrlOnly) ||
                         (!rules.url_safe && (seen & kUrlOnly));
  if (bad_chars) return Base64CharacterProblem(body, rules);
  if (nonzero_bits) return Status::InvalidArgument("invalid base64: non-zero padding bits");
  return out;
}

}  // namespace

Result<std::string> Base64Decode(std::string_view text) { return DecodeBase64(text, {}); }

Result<std::string> Base64DecodeAnyVariant(std::string_view text) {
  return DecodeBase64(text, {.url_safe = true, .unpadded = true});
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
