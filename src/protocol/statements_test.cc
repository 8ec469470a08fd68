#include "protocol/statements.h"

#include <string>

#include <gtest/gtest.h>

#include "protocol/canonical_json.h"

namespace rf::protocol {
namespace {

const std::string kA(64, 'a');
const std::string kB(64, 'b');

TEST(ReleaseStatement, RoundTripsCanonically) {
  const ReleaseStatement s{"install", kA, "291", 1790003600, 1790000000, "r-7", 43};
  const std::string p = EncodeReleaseStatement(s);
  EXPECT_EQ(p, "{\"action\":\"install\",\"bundle_sha256\":\"" + kA +
                   "\",\"channel\":\"291\",\"expires_s\":1790003600,\"issued_s\":1790000000,"
                   "\"release_id\":\"r-7\",\"version\":43}");
  auto d = DecodeReleaseStatement(p);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, s);
  const ReleaseStatement revert{"revert", kB, "a.b", 2, 1, "r-\"1\"", 1};
  EXPECT_EQ(*DecodeReleaseStatement(EncodeReleaseStatement(revert)), revert);
}

TEST(ReleaseStatement, StrictDecoding) {
  const ReleaseStatement good{"install", kA, "291", 2, 1, "r-1", 1};
  auto with = [&](ReleaseStatement s) { return DecodeReleaseStatement(EncodeReleaseStatement(s)); };
  ReleaseStatement s = good;
  s.action = "delete";
  EXPECT_NE(with(s).status().message().find("unknown action"), std::string::npos);
  s = good;
  s.channel = "..";
  EXPECT_NE(with(s).status().message().find("'channel'"), std::string::npos);
  s = good;
  s.bundle_sha256 = std::string(64, 'A');
  EXPECT_NE(with(s).status().message().find("bundle_sha256"), std::string::npos);
  s = good;
  s.version = 0;
  EXPECT_NE(with(s).status().message().find("'version'"), std::string::npos);
  const std::string p = EncodeReleaseStatement(good);
  EXPECT_NE(DecodeReleaseStatement(" " + p).status().message().find("canonical form"),
            std::string::npos);
  std::string extra = p;
  extra.insert(extra.size() - 1, ",\"zz\":1");
  EXPECT_NE(DecodeReleaseStatement(extra).status().message().find("unknown key 'zz'"),
            std::string::npos);
  EXPECT_FALSE(DecodeReleaseStatement("[]").ok());
}

// The one approval codec: `ringfence approve` and the demo encode it, the server's layer 3 and the
// agent's layer 5 decode it.
TEST(ApprovalStatement, CanonicalRoundTripAndStrictDecoding) {
  const ApprovalStatement s{kA, "291", "r-7", kB, "bob", "reviewer", 43};
  const std::string p = EncodeApprovalStatement(s);
  EXPECT_EQ(p.find(' '), std::string::npos);
  EXPECT_LT(p.find("bundle_sha256"), p.find("channel"));
  auto d = DecodeApprovalStatement(p);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, s);
  std::string extra = p;
  extra.insert(extra.size() - 1, ",\"zz\":1");
  EXPECT_NE(DecodeApprovalStatement(extra).status().message().find("unknown key 'zz'"),
            std::string::npos);
  std::string wrong = p;
  wrong.replace(wrong.find("43"), 2, "\"43\"");
  EXPECT_NE(DecodeApprovalStatement(wrong).status().message().find("'version'"),
            std::string::npos);
  std::string missing = p;
  missing.replace(missing.find(",\"role\":\"reviewer\""), 18, "");
  EXPECT_NE(DecodeApprovalStatement(missing).status().message().find("'role'"), std::string::npos);
  EXPECT_NE(DecodeApprovalStatement(" " + p).status().message().find("canonical form"),
            std::string::npos);
  // Escapes: a name with a quote survives the round trip.
  ApprovalStatement q = s;
  q.reviewer = "o\"brien\n";
  EXPECT_EQ(*DecodeApprovalStatement(EncodeApprovalStatement(q)), q);
}

TEST(BundleHeader, DecodesTheHeaderOfACanonicalPayload) {
  auto h = DecodeBundleHeader(
      "{\"channel\":\"291\",\"content_type\":\"ipc_rule\",\"items\":[{},{}],\"schema_version\":3,"
      "\"version\":9}");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->channel, "291");
  EXPECT_EQ(h->items, 2u);
  EXPECT_EQ(h->version, 9);
  EXPECT_FALSE(DecodeBundleHeader(
                   "{\"channel\":\"291\",\"content_type\":\"ipc_rule\",\"items\":[1],"
                   "\"schema_version\":3,\"version\":9}")
                   .ok());
  EXPECT_FALSE(DecodeBundleHeader(
                   "{\"channel\":\"291\",\"content_type\":\"ipc_rule\",\"items\":[],"
                   "\"schema_version\":3,\"version\":0}")
                   .ok());
}

TEST(CanonicalJson, RefusesNonCanonicalForms) {
  EXPECT_TRUE(ParseCanonicalJson("{\"a\":1,\"b\":[true,null]}").ok());
  for (const char* bad : {"{\"b\":1,\"a\":1}", "{\"a\": 1}", "{\"a\":1.5}", "{\"a\":1,\"a\":1}",
                          "{\"a\":\"\\u0041\"}", "{\"a\":1}\n"}) {
    EXPECT_FALSE(ParseCanonicalJson(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace rf::protocol
