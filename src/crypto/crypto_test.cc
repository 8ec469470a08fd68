#include "crypto/crypto.h"

#include <gtest/gtest.h>

#include "crypto/dsse.h"

namespace rf::crypto {
namespace {

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

TEST(DsseTest, MalformedEnvelopesNameTheProblem) {
  struct Case {
    std::string json, expect;
  } cases[] = {
      {"[]", "not a JSON object"},
      {"{\"payload\":\"\",\"signatures\":[]}", "'payloadType' is missing"},
      {"{\"payloadType\":\"t\",\"signatures\":[]}", "'payload' is missing"},
      {"{\"payloadType\":\"t\",\"payload\":\"!!\",\"signatures\":[]}", "'payload' is not valid base64"},
      {"{\"payloadType\":\"t\",\"payload\":\"\"}", "'signatures' is missing"},
      {"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[],\"x\":1}", "unknown key 'x'"},
      {"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":\"k\",\"sig\":\"aGVsbG8=\"}]}",
       "'sig' is 5 bytes, an Ed25519 signature is 64"},
      {"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"sig\":\"\"}]}", "'keyid' is missing"},
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
