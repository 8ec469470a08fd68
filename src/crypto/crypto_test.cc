#include "crypto/crypto.h"

#include <gtest/gtest.h>

#include "crypto/dsse.h"
#include "crypto/dsse_testing.h"

namespace rf::crypto {
namespace {

SigningKey KeyFromSeedByte(char b) { return *SigningKey::FromSeed(std::string(32, b)); }

TEST(CryptoTest, Sha256KnownAnswer) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, HexAndBase64RoundTrip) {
  std::string bytes("\x00\x01\xfe\xff", 4);
  EXPECT_EQ(ToHex(bytes), "0001feff");
  EXPECT_EQ(*FromHex("0001FEff"), bytes);
  EXPECT_FALSE(FromHex("abc").ok());
  EXPECT_FALSE(FromHex("zz").ok());
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(*Base64Decode("aGVsbG8="), "hello");
  EXPECT_FALSE(Base64Decode("aGVsbG8").ok());      // missing padding
  EXPECT_FALSE(Base64Decode("aGVs bG8=").ok());    // stray character
  EXPECT_FALSE(Base64Decode("aGVsbG8=x").ok());    // trailing garbage
  EXPECT_FALSE(Base64Decode("aGVsbG9=").ok());     // non-zero padding bits
  EXPECT_FALSE(Base64Decode("aG=sbG8=").ok());     // '=' in the middle
  EXPECT_FALSE(Base64Decode("====").ok());
  EXPECT_EQ(*Base64Decode(""), "");
  for (int n = 0; n < 300; ++n) {
    std::string data;
    for (int i = 0; i < n; ++i) data.push_back(static_cast<char>(i * 37 + n));
    auto back = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(back.ok()) << n;
    EXPECT_EQ(*back, data) << n;
  }
}

// RFC 4648 §10 test vectors, in all four variants DSSE envelopes may use.
TEST(CryptoTest, Base64AnyVariantDecodesRfc4648VectorsPaddedOrNot) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [bytes, text] : vectors) {
    EXPECT_EQ(Base64Encode(bytes), text);
    EXPECT_EQ(*Base64Decode(text), bytes);
    for (bool url : {false, true}) {
      for (bool padded : {false, true}) {
        auto back = Base64DecodeAnyVariant(testing::Rebase64(text, url, padded));
        ASSERT_TRUE(back.ok()) << text << " url=" << url << " padded=" << padded << ": "
                               << back.status().ToString();
        EXPECT_EQ(*back, bytes);
      }
    }
  }
  // 0xfb 0xff uses both alphabet-specific characters: "+/8=" standard, "-_8=" URL-safe.
  const std::string fbff("\xfb\xff", 2);
  EXPECT_EQ(Base64Encode(fbff), "+/8=");
  EXPECT_EQ(*Base64DecodeAnyVariant("+/8="), fbff);
  EXPECT_EQ(*Base64DecodeAnyVariant("+/8"), fbff);
  EXPECT_EQ(*Base64DecodeAnyVariant("-_8="), fbff);
  EXPECT_EQ(*Base64DecodeAnyVariant("-_8"), fbff);
  for (int n = 0; n < 300; ++n) {
    std::string data;
    for (int i = 0; i < n; ++i) data.push_back(static_cast<char>(i * 53 + n));
    for (bool url : {false, true}) {
      for (bool padded : {false, true}) {
        auto back = Base64DecodeAnyVariant(testing::Rebase64(Base64Encode(data), url, padded));
        ASSERT_TRUE(back.ok()) << n;
        EXPECT_EQ(*back, data) << n;
      }
    }
  }
}

TEST(CryptoTest, Base64AnyVariantIsStrictOtherwise) {
  struct Case {
    std::string text, expect;
  } cases[] = {
      {"+_8=",
       "mixes the standard alphabet ('+' at offset 0) and the URL-safe one ('_' at offset 1)"},
      {"-/8", "mixes the standard alphabet"},
      {"Zg=", "padded length is not a multiple of 4"},  // padding begun but not completed
      {"Zg===", "more than two '='"},
      {"Z", "length leaves one character in the last group"},
      {"Zm9vY", "length leaves one character in the last group"},
      {"Zh==", "non-zero padding bits"},  // 'h' leaves bits set that "f" does not have
      {"Zh", "non-zero padding bits"},
      {"Zm9=", "non-zero padding bits"},
      {"Zm9", "non-zero padding bits"},
      {"Zm 9", "invalid base64 character byte 0x20 at offset 2"},
      {"Zm9v\nZm9", "invalid base64 character byte 0x0a at offset 4"},
      {"Zm.v", "invalid base64 character '.' at offset 2"},
      {"Z=9v", "'=' before the end at offset 1"},
      {"====", "more than two '='"},
      {"=", "padded length is not a multiple of 4"},
  };
  for (const auto& c : cases) {
    auto r = Base64DecodeAnyVariant(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.text << ": " << r.status().message();
  }
  // The strict decoder (key files) still takes only standard padded base64.
  EXPECT_NE(Base64Decode("-_8=").status().message().find("URL-safe alphabet"), std::string::npos);
  EXPECT_NE(Base64Decode("Zm8").status().message().find("padding missing"), std::string::npos);
}

TEST(CryptoTest, Ed25519RFC8032TestVector1) {
  auto seed = FromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto k = SigningKey::FromSeed(*seed);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(ToHex(std::string_view(reinterpret_cast<const char*>(k->public_key().bytes.data()), 32)),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(ToHex(k->Sign("")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
}

TEST(CryptoTest, SignVerifyAndTamper) {
  SigningKey k = SigningKey::Generate();
  std::string sig = k.Sign("payload");
  EXPECT_TRUE(Verify(k.public_key(), "payload", sig).ok());
  EXPECT_EQ(Verify(k.public_key(), "payloaD", sig).code(), StatusCode::kDataLoss);
  SigningKey other = SigningKey::Generate();
  EXPECT_FALSE(Verify(other.public_key(), "payload", sig).ok());
  EXPECT_FALSE(Verify(k.public_key(), "payload", sig.substr(0, 63)).ok());
}

TEST(CryptoTest, KeyFilesRoundTripAndRejectCorruption) {
  SigningKey k = SigningKey::Generate();
  auto back = DecodePrivateKeyFile(EncodePrivateKeyFile(k));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->KeyId(), k.KeyId());
  auto pub = DecodePublicKeyFile(EncodePublicKeyFile(k.public_key()));
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->KeyId(), k.KeyId());
  std::string f = EncodePublicKeyFile(k.public_key());
  f[f.find("\"keyid\":\"") + 9] ^= 1;  // wrong key id
  EXPECT_FALSE(DecodePublicKeyFile(f).ok());
  EXPECT_FALSE(DecodePublicKeyFile("{}").ok());
  EXPECT_FALSE(DecodePublicKeyFile("not json").ok());
  EXPECT_FALSE(DecodePrivateKeyFile(EncodePublicKeyFile(k.public_key())).ok());
}

TEST(DsseTest, PreAuthEncodingMatchesSpec) {
  EXPECT_EQ(PreAuthEncoding("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST(DsseTest, SignSerializeParseVerify) {
  SigningKey k = SigningKey::Generate();
  Envelope e{std::string(kBundlePayloadType), "{\"a\":1}", {}};
  EXPECT_EQ(VerifyEnvelope(e, k.public_key()).message(), "envelope is unsigned");
  SignEnvelope(&e, k);
  SignEnvelope(&e, k);  // re-signing replaces, never duplicates
  ASSERT_EQ(e.signatures.size(), 1u);
  auto parsed = ParseEnvelope(SerializeEnvelope(e));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->payload, e.payload);
  EXPECT_TRUE(VerifyEnvelope(*parsed, k.public_key()).ok());
}

TEST(DsseTest, TamperedWrongKeyAndTruncatedAreRefused) {
  SigningKey k = SigningKey::Generate();
  Envelope e{std::string(kBundlePayloadType), "{\"a\":1}", {}};
  SignEnvelope(&e, k);
  Envelope tampered = e;
  tampered.payload = "{\"a\":2}";
  Status st = VerifyEnvelope(tampered, k.public_key());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not verify"), std::string::npos);
  Envelope retyped = e;
  retyped.payload_type = "application/other";
  EXPECT_FALSE(VerifyEnvelope(retyped, k.public_key()).ok());  // type is signed too (PAE)
  SigningKey other = SigningKey::Generate();
  Status wrong = VerifyEnvelope(e, other.public_key());
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("no signature by key"), std::string::npos);
  std::string text = SerializeEnvelope(e);
  for (size_t cut : {size_t{0}, size_t{1}, text.size() / 2, text.size() - 3}) {
    auto p = ParseEnvelope(text.substr(0, cut));
    EXPECT_FALSE(p.ok()) << cut;
  }
}

// The DSSE spec's own test vector (protocol.md "Test Vectors"). Its signature is ECDSA P-256
// (raw r||s, 64 bytes), so only the parsing, encoding and PAE parts apply to Ed25519 verifiers.
constexpr char kSpecEnvelope[] =
    "{\"payload\": \"aGVsbG8gd29ybGQ=\",\n"
    " \"payloadType\": \"http://example.com/HelloWorld\",\n"
    " \"signatures\": [{\"sig\": "
    "\"A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==\"}]"
    "}";

TEST(DsseTest, SpecExampleEnvelopeParsesInEveryBase64Variant) {
  auto env = ParseEnvelope(kSpecEnvelope);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->payload_type, "http://example.com/HelloWorld");
  EXPECT_EQ(env->payload, "hello world");
  ASSERT_EQ(env->signatures.size(), 1u);
  EXPECT_EQ(env->signatures[0].keyid, "");  // no keyid in the spec's envelope
  EXPECT_EQ(env->signatures[0].sig.size(), 64u);
  EXPECT_EQ(PreAuthEncoding(env->payload_type, env->payload),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  // Written back: fixed key order, standard padded base64, no empty keyid.
  const std::string canonical =
      "{\"payloadType\":\"http://example.com/HelloWorld\",\"payload\":\"aGVsbG8gd29ybGQ=\","
      "\"signatures\":[{\"sig\":\"A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJ"
      "PcIAriEGAHTVeCUjW2JIZA==\"}]}\n";
  EXPECT_EQ(SerializeEnvelope(*env), canonical);
  for (bool url : {false, true}) {
    for (bool padded : {false, true}) {
      const std::string text = testing::ReencodeEnvelope(kSpecEnvelope, url, padded);
      auto other = ParseEnvelope(text);
      ASSERT_TRUE(other.ok()) << text << ": " << other.status().ToString();
      EXPECT_EQ(SerializeEnvelope(*other), canonical) << text;
    }
  }
  // An ECDSA signature is no Ed25519 signature.
  SigningKey k = SigningKey::Generate();
  EXPECT_NE(VerifyEnvelope(*env, k.public_key()).message().find("no signature by key"),
            std::string::npos);
}

TEST(DsseTest, UrlSafeAndUnpaddedEnvelopesVerify) {
  SigningKey k = SigningKey::Generate();
  // 0xfb 0xff bytes put '+' and '/' into the standard encoding of the payload.
  Envelope e{std::string(kBundlePayloadType), std::string("{\"a\":\"\xfb\xff\xfe\"}"), {}};
  SignEnvelope(&e, k);
  const std::string standard = SerializeEnvelope(e);
  for (bool url : {false, true}) {
    for (bool padded : {false, true}) {
      const std::string text = testing::ReencodeEnvelope(standard, url, padded);
      auto p = ParseEnvelope(text);
      ASSERT_TRUE(p.ok()) << text << ": " << p.status().ToString();
      EXPECT_EQ(p->payload, e.payload);
      EXPECT_TRUE(VerifyEnvelope(*p, k.public_key()).ok()) << text;
      EXPECT_EQ(SerializeEnvelope(*p), standard);  // writers keep standard padded base64
    }
  }
}

TEST(DsseTest, KeyIdIsOnlyAHint) {
  SigningKey a = KeyFromSeedByte(1), b = KeyFromSeedByte(2);
  Envelope e{std::string(kBundlePayloadType), "{\"a\":1}", {}};
  SignEnvelope(&e, a);
  const std::string text = SerializeEnvelope(e);
  const std::string b_id = b.KeyId();
  for (const char* keyid : {static_cast<const char*>(nullptr), "", "not-a-key-id", b_id.c_str()}) {
    const std::string relabelled = testing::WithKeyId(text, 0, keyid);
    auto p = ParseEnvelope(relabelled);
    ASSERT_TRUE(p.ok()) << relabelled << ": " << p.status().ToString();
    EXPECT_TRUE(VerifyEnvelope(*p, a.public_key()).ok()) << relabelled;
    const PublicKey both[] = {a.public_key(), b.public_key()};
    EXPECT_EQ(TrustedSigners(*p, both), std::vector<size_t>{0}) << relabelled;
  }
}

TEST(DsseTest, ThresholdsCountDistinctKeysAndOneKeyPerSignature) {
  SigningKey a = KeyFromSeedByte(1), b = KeyFromSeedByte(2), c = KeyFromSeedByte(3);
  Envelope e{std::string(kBundlePayloadType), "{\"a\":1}", {}};
  SignEnvelope(&e, a);
  // The same key listed twice counts once.
  const PublicKey aa[] = {a.public_key(), a.public_key()};
  EXPECT_EQ(TrustedSigners(e, aa), std::vector<size_t>{0});
  // a's signature twice, once labelled as b's: still one signer, and never b.
  Envelope twice = e;
  twice.signatures.push_back({b.KeyId(), e.signatures[0].sig});
  const PublicKey ab[] = {a.public_key(), b.public_key()};
  EXPECT_EQ(TrustedSigners(twice, ab), std::vector<size_t>{0});
  const PublicKey ba[] = {b.public_key(), a.public_key()};
  EXPECT_EQ(TrustedSigners(twice, ba), std::vector<size_t>{1});
  // Two real signers with swapped labels, a stranger's key trusted too: two signers.
  SignEnvelope(&e, b);
  std::swap(e.signatures[0].keyid, e.signatures[1].keyid);
  const PublicKey cba[] = {c.public_key(), b.public_key(), a.public_key(), b.public_key()};
  EXPECT_EQ(TrustedSigners(e, cba), (std::vector<size_t>{1, 2}));
  EXPECT_TRUE(TrustedSigners(e, {}).empty());
  EXPECT_TRUE(TrustedSigners(Envelope{"t", "p", {}}, ab).empty());
}

TEST(DsseTest, CheckDistinctKeysNamesTheRepeat) {
  SigningKey a = KeyFromSeedByte(1), b = KeyFromSeedByte(2);
  const PublicKey ok[] = {a.public_key(), b.public_key()};
  EXPECT_TRUE(CheckDistinctKeys(ok, "keys").ok());
  EXPECT_TRUE(CheckDistinctKeys({}, "keys").ok());
  const PublicKey dup[] = {a.public_key(), b.public_key(), a.public_key()};
  Status st = CheckDistinctKeys(dup, "keys");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "keys[2] repeats key " + a.KeyId() +
                              ", listed at [0] already (thresholds count distinct keys)");
}

TEST(DsseTest, ReSigningReplacesOnlyItsOwnSignature) {
  SigningKey a = KeyFromSeedByte(1), b = KeyFromSeedByte(2);
  Envelope e{std::string(kBundlePayloadType), "{\"a\":1}", {}};
  SignEnvelope(&e, a);
  e.signatures[0].keyid.clear();  // a signer that wrote no keyid
  SignEnvelope(&e, a);
  ASSERT_EQ(e.signatures.size(), 1u);
  EXPECT_EQ(e.signatures[0].keyid, a.KeyId());
  // b's signature mislabelled with a's keyid is b's, and stays.
  Envelope mine{std::string(kBundlePayloadType), "{\"a\":1}", {}};
  SignEnvelope(&mine, b);
  mine.signatures[0].keyid = a.KeyId();
  SignEnvelope(&mine, a);
  ASSERT_EQ(mine.signatures.size(), 2u);
  const PublicKey ab[] = {a.public_key(), b.public_key()};
  EXPECT_EQ(TrustedSigners(mine, ab), (std::vector<size_t>{0, 1}));
}

TEST(DsseTest, MalformedEnvelopesNameTheProblem) {
  struct Case {
    std::string json, expect;
  } cases[] = {
      {"[]", "not a JSON object"},
      {"{\"payload\":\"\",\"signatures\":[]}", "'payloadType' is missing"},
      {"{\"payloadType\":\"t\",\"signatures\":[]}", "'payload' is missing"},
      {"{\"payloadType\":\"t\",\"payload\":\"!!\",\"signatures\":[]}",
       "'payload' is not valid base64"},
      {"{\"payloadType\":\"t\",\"payload\":\"\"}", "'signatures' is missing"},
      {"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[],\"x\":1}", "unknown key 'x'"},
      {"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":\"k\",\"sig\":\"aGVsbG8="
       "\"}]}",
       "'sig' is 5 bytes, an Ed25519 signature is 64"},
      {"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":1,\"sig\":\"\"}]}",
       "'keyid' is not a string"},
      {"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":\"k\"}]}",
       "'sig' is missing"},
      {"{\"payloadType\":\"t\",\"payload\":\"+_8=\",\"signatures\":[]}",
       "'payload' is not valid base64 (invalid base64: mixes the standard alphabet"},
      {"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"sig\":\"Zh\"}]}",
       "signatures[0]: 'sig' is not valid base64 (invalid base64: non-zero padding bits)"},
  };
  for (const auto& c : cases) {
    auto p = ParseEnvelope(c.json);
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_NE(p.status().message().find(c.expect), std::string::npos) << p.status().message();
  }
  EnvelopeLimits small;
  small.max_envelope_bytes = 10;
  auto big = ParseEnvelope("{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[]}", small);
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace rf::crypto
