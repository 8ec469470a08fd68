#include "protocol/agent_messages.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "crypto/device_auth.h"

namespace rf::protocol {
namespace {

const std::string kSha(64, 'a');

std::string Minimal() { return R"({"device_id":"d-1","seq":1})"; }

TEST(CheckinParser, AcceptsTheProtocolExample) {
  const std::string body = R"({"device_id": "d-000123", "seq": 17,
    "attrs": {"os": "windows", "agent_version": "7.11"},
    "capabilities": {"ipc_rule": {"schema_versions": [3], "inputs": 20, "max_items": 5000}},
    "channels": {"291": {"current": {"version": 42, "sha256": ")" + kSha + R"("},
                         "lkg": {"version": 41, "sha256": ")" + kSha + R"("}}},
    "health": {"crashes": 2, "errors": 1,
               "apply": [{"channel": "291", "version": 42, "sha256": ")" + kSha + R"(", "result": "applied"}],
               "quarantined": [{"channel": "291", "version": 43, "sha256": ")" + kSha + R"(", "reason": "3 unclean starts"}]}})";
  auto r = ParseCheckinRequest(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->device_id, "d-000123");
  EXPECT_EQ(r->seq, 17);
  ASSERT_TRUE(r->attrs.has_value());
  EXPECT_EQ(r->attrs->at("os"), "windows");
  ASSERT_TRUE(r->capabilities.has_value());
  EXPECT_EQ(r->capabilities->at("ipc_rule").inputs, 20);
  ASSERT_EQ(r->channels.size(), 1u);
  EXPECT_EQ(r->channels[0].current->version, 42);
  EXPECT_EQ(r->channels[0].lkg->version, 41);
  EXPECT_EQ(r->crashes, 2);
  EXPECT_EQ(r->errors, 1);
  ASSERT_EQ(r->apply.size(), 1u);
  EXPECT_EQ(r->apply[0].result, ApplyOutcome::kApplied);
  ASSERT_EQ(r->quarantined.size(), 1u);
  EXPECT_EQ(r->quarantined[0].reason, "3 unclean starts");
}

TEST(CheckinParser, MinimalIsEnough) {
  auto r = ParseCheckinRequest(Minimal());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->attrs.has_value());
  EXPECT_TRUE(r->channels.empty());
}

struct BadCase {
  std::string body;
  std::string expected;  // substring of the message
};

TEST(CheckinParser, RefusesBadInputNamingTheKey) {
  const std::vector<BadCase> cases = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[1]", "JSON object"},
      {R"({"seq":1})", "key 'device_id': missing"},
      {R"({"device_id":"d-1"})", "key 'seq': missing"},
      {R"({"device_id":"d-1","seq":0})", "key 'seq'"},
      {R"({"device_id":"d-1","seq":-4})", "key 'seq'"},
      {R"({"device_id":"d-1","seq":"7"})", "key 'seq'"},
      {R"({"device_id":"d-1","seq":1.5})", "key 'seq'"},
      {R"({"device_id":"d 1","seq":1})", "key 'device_id'"},
      {R"({"device_id":"","seq":1})", "key 'device_id'"},
      {R"({"device_id":7,"seq":1})", "key 'device_id'"},
      {R"({"device_id":"d-1","seq":1,"extra":true})", "key 'extra': unknown key"},
      {R"({"device_id":"d-1","seq":1,"attrs":{"OS":"x"}})", "key 'attrs.OS'"},
      {R"({"device_id":"d-1","seq":1,"attrs":{"os":""}})", "key 'attrs.os'"},
      {R"({"device_id":"d-1","seq":1,"attrs":{"os":3}})", "key 'attrs.os'"},
      {R"({"device_id":"d-1","seq":1,"capabilities":{"t":{"inputs":1}}})", "schema_versions"},
      {R"({"device_id":"d-1","seq":1,"capabilities":{"t":{"schema_versions":[1],"inputs":1,"x":1}}})",
       "unknown key"},
      {R"({"device_id":"d-1","seq":1,"channels":{"291":{"current":{"version":1}}}})",
       "key 'channels.291.current.sha256': missing"},
      {R"({"device_id":"d-1","seq":1,"channels":{"291":{"current":{"version":1,"sha256":"AB"}}}})",
       "channels.291.current.sha256"},
      {R"({"device_id":"d-1","seq":1,"channels":{"291":{"next":{}}}})", "channels.291.next"},
      {R"({"device_id":"d-1","seq":1,"health":{"crashes":-1}})", "key 'health.crashes'"},
      {R"({"device_id":"d-1","seq":1,"health":{"crash":1}})", "key 'health.crash': unknown key"},
      {R"({"device_id":"d-1","seq":1,"health":{"apply":[{"channel":"291","version":1,"sha256":")" +
           kSha + R"(","result":"exploded"}]}})",
       "key 'health.apply[0].result'"},
      {R"({"device_id":"d-1","seq":1,"health":{"apply":{}}})", "key 'health.apply'"},
  };
  for (const BadCase& c : cases) {
    auto r = ParseCheckinRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos)
        << c.body << " -> " << r.status().message();
  }
}

TEST(CheckinParser, EnforcesListLimits) {
  std::string apply = "[";
  for (int i = 0; i < 33; ++i) {
    if (i) apply += ",";
    apply += R"({"channel":"291","version":1,"sha256":")" + kSha + R"(","result":"applied"})";
  }
  apply += "]";
  auto r = ParseCheckinRequest(R"({"device_id":"d-1","seq":1,"health":{"apply":)" + apply + "}}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than 32"), std::string::npos);

  std::string attrs = "{";
  for (int i = 0; i < 17; ++i) attrs += (i ? "," : "") + std::string("\"a") + std::to_string(i) + "\":\"v\"";
  attrs += "}";
  r = ParseCheckinRequest(R"({"device_id":"d-1","seq":1,"attrs":)" + attrs + "}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than 16"), std::string::npos);
}

TEST(CheckinParser, OversizedBodyIsResourceExhausted) {
  std::string body = R"({"device_id":"d-1","seq":1,"attrs":{"os":")" + std::string(70000, 'x') + "\"}}";
  auto r = ParseCheckinRequest(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

// A well-formed credential part of an enrollment body (the values are not checked here).
const std::string kCred = R"j("public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","timestamp_s":1700000000,)j"
                          R"j("proof":")j" + std::string(86, 'A') + "==\"";

TEST(EnrollParser, RequiresAttrsCapabilitiesAndCredential) {
  auto ok = ParseEnrollRequest(R"j({"device_id":"d-1","attrs":{},"capabilities":{},)j" + kCred + "}");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->public_key.size(), 32u);
  EXPECT_EQ(ok->proof.size(), 64u);
  EXPECT_EQ(ok->timestamp_s, 1700000000);
  auto r = ParseEnrollRequest(R"j({"device_id":"d-1","attrs":{},)j" + kCred + "}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("capabilities"), std::string::npos);
  EXPECT_FALSE(ParseEnrollRequest(R"j({"device_id":"d-1","attrs":{},"capabilities":{},"seq":1,)j" + kCred + "}").ok());
  // Today's body without a credential: refused, naming the missing key.
  r = ParseEnrollRequest(R"j({"device_id":"d-1","attrs":{},"capabilities":{}})j");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("public_key"), std::string::npos);
}

TEST(EnrollParser, RefusesMalformedCredentials) {
  const std::string base = R"j({"device_id":"d-1","attrs":{},"capabilities":{},)j";
  for (const std::string& bad : {
           std::string(R"j("public_key":"AAAA","timestamp_s":1,"proof":")j") + std::string(86, 'A') + "==\"",
           std::string(R"j("public_key":"not base64!","timestamp_s":1,"proof":")j") + std::string(86, 'A') + "==\"",
           std::string(R"j("public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","timestamp_s":-1,"proof":")j") + std::string(86, 'A') + "==\"",
           std::string(R"j("public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","timestamp_s":"1","proof":")j") + std::string(86, 'A') + "==\"",
           std::string(R"j("public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","timestamp_s":1,"proof":"AAAA")j"),
       }) {
    auto r = ParseEnrollRequest(base + bad + "}");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(SessionParser, StrictKeysAndSizes) {
  const std::string sig = std::string(86, 'A') + "==";
  auto ok = ParseSessionRequest(R"j({"device_id":"d-1","timestamp_s":5,"signature":")j" + sig + "\"}");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->signature.size(), 64u);
  EXPECT_FALSE(ParseSessionRequest(R"j({"device_id":"d-1","timestamp_s":5})j").ok());
  EXPECT_FALSE(ParseSessionRequest(R"j({"device_id":"d 1","timestamp_s":5,"signature":")j" + sig + "\"}").ok());
  EXPECT_FALSE(ParseSessionRequest(R"j({"device_id":"d-1","timestamp_s":5,"signature":")j" + sig + R"j(","x":1})j").ok());
  EXPECT_FALSE(ParseSessionRequest("[]").ok());
}

}  // namespace
}  // namespace rf::protocol

namespace rf::protocol {
namespace {

// The fast path decodes exactly what the Boost.JSON decoder decodes wherever it accepts, and
// gives up (never refuses) on everything else.
void ExpectSameAsDom(const std::string& body) {
  auto fast = internal::ParseCheckinRequestFast(body);
  if (!fast) return;
  auto dom = internal::ParseCheckinRequestDom(body);
  ASSERT_TRUE(dom.ok()) << "fast path accepted what the DOM decoder refuses: " << body << "\n"
                        << dom.status().ToString();
  EXPECT_EQ(fast->device_id, dom->device_id) << body;
  EXPECT_EQ(fast->seq, dom->seq) << body;
  EXPECT_EQ(fast->channels, dom->channels) << body;
  EXPECT_EQ(fast->crashes, dom->crashes) << body;
  EXPECT_EQ(fast->errors, dom->errors) << body;
  EXPECT_FALSE(dom->attrs || dom->capabilities) << body;
  EXPECT_TRUE(dom->apply.empty() && dom->quarantined.empty()) << body;
  EXPECT_FALSE(fast->attrs || fast->capabilities);
}

const std::string kBenchBody =
    R"({"device_id":"dev-0000123","seq":1790000000001,"channels":{"291":{"current":{"version":42,"sha256":")" +
    kSha + R"("},"lkg":{"version":41,"sha256":")" + std::string(64, 'b') +
    R"("}}},"health":{"crashes":0,"errors":0}})";


TEST(CheckinFastPath, TakesTheCommonShapes) {
  for (const std::string& body :
       {kBenchBody, Minimal(), std::string(R"( { "seq" : 7 , "device_id" : "a:b.c_d-e" } )"),
        std::string(R"({"device_id":"d","seq":3,"channels":{},"health":{}})"),
        R"({"device_id":"d","seq":3,"channels":{"b":{},"a":{"lkg":{"sha256":")" + kSha +
            R"(","version":0}}},"health":{"errors":5}})"}) {
    ASSERT_TRUE(internal::ParseCheckinRequestFast(body).has_value()) << body;
    ExpectSameAsDom(body);
  }
  auto r = internal::ParseCheckinRequestFast(kBenchBody);
  EXPECT_EQ(r->device_id, "dev-0000123");
  EXPECT_EQ(r->seq, 1790000000001);
  ASSERT_EQ(r->channels.size(), 1u);
  EXPECT_EQ(r->channels[0].lkg->sha256, std::string(64, 'b'));
}

TEST(CheckinFastPath, GivesUpOnEverythingElse) {
  for (const std::string& body : {
           std::string(R"({"device_id":"d","seq":1,"attrs":{"os":"x"}})"),
           std::string(R"({"device_id":"d","seq":1,"device_id":"e"})"),     // duplicate key
           std::string(R"({"device_id":"d\u0031","seq":1})"),               // escape
           std::string(R"({"device_id":"d","seq":1.0})"),
           std::string(R"({"device_id":"d","seq":01})"),
           std::string(R"({"device_id":"d","seq":1e3})"),
           std::string(R"({"device_id":"d","seq":0})"),
           std::string(R"({"device_id":"d","seq":-1})"),
           std::string(R"({"device_id":"d","seq":1234567890123456789})"),   // 19 digits
           std::string(R"({"device_id":"d","seq":1,})"),
           std::string(R"({"device_id":"d","seq":1} x)"),
           std::string(R"({"device_id":"d"})"),
           std::string(R"({"device_id":"d","seq":1,"channels":{"a":{},"a":{}}})"),
           std::string(R"({"device_id":"d","seq":1,"health":{"apply":[]}})"),
           std::string(R"({"device_id":"d","seq":1,"channels":{"a":{"current":{"version":1}}}})"),
       }) {
    EXPECT_FALSE(internal::ParseCheckinRequestFast(body).has_value()) << body;
    // The public parser still answers (the DOM decoder's verdict).
    EXPECT_EQ(ParseCheckinRequest(body).ok(), internal::ParseCheckinRequestDom(body).ok()) << body;
  }
}

// Seeded mutations of valid bodies (printed seed; deterministic): wherever the fast path accepts a
// mutant, the DOM decoder accepts it too and decodes the same request.
TEST(CheckinFastPath, AgreesWithTheDomDecoderOnMutants) {
  const uint64_t seed = 20261126;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  uint64_t state = seed;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  const std::string alphabet = "{}[]:,\" \t\n0123456789-.eE+abf\\/u";
  const std::vector<std::string> seeds = {
      kBenchBody, Minimal(),
      R"({"seq":2,"health":{"crashes":1,"errors":0},"device_id":"x","channels":{"9":{"lkg":{"version":7,"sha256":")" +
          kSha + R"("}}}})"};
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = seeds[next() % seeds.size()];
    const int edits = 1 + static_cast<int>(next() % 3);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = next() % body.size();
      switch (next() % 4) {
        case 0: body.erase(at, 1); break;
        case 1: body.insert(at, 1, alphabet[next() % alphabet.size()]); break;
        case 2: body[at] = alphabet[next() % alphabet.size()]; break;
        case 3: body.insert(at, body.substr(next() % body.size(), next() % 16)); break;
      }
    }
    if (internal::ParseCheckinRequestFast(body)) ++accepted;
    ExpectSameAsDom(body);
    if (HasFatalFailure() || HasNonfatalFailure()) break;
  }
  EXPECT_GT(accepted, 100) << "the mutants should exercise the fast path's accepting side too";
}


// ----- round trips: what one side encodes, the other side decodes -----

// Server-encode -> agent-decode: every directive the server can write is read back exactly.
TEST(CheckinResponse, ServerEncodeAgentDecodeRoundTrip) {
  const std::string statement = "{\"payloadType\":\"x\",\"payload\":\"e30=\",\"signatures\":[]}";
  CheckinResponseWriter w(60, 1790000000);
  w.Install("291", 43, kSha, statement, /*lkg_after_ms=*/600'000);
  w.Revert("a.b:c-d_e", 7, std::string(64, 'b'), "release r-7 Halted: \"crash\" loop\n", statement);
  w.Revert("300", 1, std::string(64, 'c'), "", statement);
  w.Install("301", 2, std::string(64, 'd'), statement, /*lkg_after_ms=*/-1);  // not sent
  w.ConfirmAfter(10'000);
  const std::string body = std::move(w).Finish();
  auto r = DecodeCheckinResponse(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << body;
  EXPECT_EQ(r->poll_after_s, 60);
  EXPECT_EQ(r->server_time_s, 1790000000);
  EXPECT_EQ(r->confirm_after_ms, 10'000);
  EXPECT_TRUE(r->rejected.empty());
  ASSERT_EQ(r->directives.size(), 4u);
  Directive install{"291", "install", 43, kSha, "/v1/bundles/" + kSha,
                    "/v1/bundles/" + kSha + "/approvals", statement, "", 600'000};
  EXPECT_EQ(r->directives[0], install);
  EXPECT_EQ(r->directives[3].lkg_after_ms, -1);
  EXPECT_EQ(body.find("\"lkg_after_ms\":-1"), std::string::npos);
  Directive revert{"a.b:c-d_e", "revert", 7, std::string(64, 'b'), "", "", statement,
                   "release r-7 Halted: \"crash\" loop\n"};
  EXPECT_EQ(r->directives[1], revert);
  EXPECT_EQ(r->directives[2].reason, "");
  EXPECT_EQ(r->directives[2].action, "revert");
  // "Keep what you have": no directives at all.
  auto keep = DecodeCheckinResponse(CheckinResponseWriter(30, 5).Finish());
  ASSERT_TRUE(keep.ok());
  EXPECT_TRUE(keep->directives.empty());
  EXPECT_EQ(keep->poll_after_s, 30);
  EXPECT_EQ(keep->confirm_after_ms, 0);  // no confirmation owed
}

// The plan-set windows of issue 11 (docs/protocol.md "Post-apply confirmation", `lkg_after_ms`):
// out-of-range values are refused with the key named, a bad confirm_after_ms as a whole (it is
// part of the frame), a bad lkg_after_ms costs only its directive.
TEST(CheckinResponse, ConfirmAfterAndLkgAfterAreBounded) {
  const std::string install = R"("291":{"action":"install","version":3,"sha256":")" + kSha +
                              R"(","bundle_url":"/b","approvals_url":"/a","release":"{}")";
  for (const std::string bad : {"-1", "3600001", "\"10\"", "1.5"}) {
    auto r = DecodeCheckinResponse(R"({"poll_after_s":60,"confirm_after_ms":)" + bad +
                                   R"(,"channels":{}})");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("confirm_after_ms"), std::string::npos) << r.status().ToString();
  }
  auto max = DecodeCheckinResponse(R"({"poll_after_s":60,"confirm_after_ms":3600000,"channels":{}})");
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_EQ(max->confirm_after_ms, 3'600'000);
  for (const std::string bad : {"-1", "604800001", "\"600000\"", "null"}) {
    auto r = DecodeCheckinResponse(R"({"poll_after_s":60,"channels":{)" + install +
                                   R"(,"lkg_after_ms":)" + bad + "}}}");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->directives.empty()) << bad;
    ASSERT_EQ(r->rejected.size(), 1u) << bad;
    EXPECT_NE(r->rejected[0].error.message().find("lkg_after_ms"), std::string::npos)
        << r->rejected[0].error.ToString();
  }
  auto ok = DecodeCheckinResponse(R"({"poll_after_s":60,"channels":{)" + install +
                                  R"(,"lkg_after_ms":0}}})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->directives.size(), 1u);
  EXPECT_EQ(ok->directives[0].lkg_after_ms, 0);
  // Only install directives carry it.
  auto revert = DecodeCheckinResponse(R"({"poll_after_s":60,"channels":{"291":{"action":"revert","version":3,"sha256":")" +
                                      kSha + R"(","release":"{}","lkg_after_ms":5}}})");
  ASSERT_TRUE(revert.ok());
  EXPECT_EQ(revert->rejected.size(), 1u);
}

// One malformed directive costs only its own channel: the others, a revert included, are still
// returned, and the bad one is named with its reason.
TEST(CheckinResponse, OneBadDirectiveDoesNotDropTheOthers) {
  const std::string revert = R"("291":{"action":"revert","version":2,"sha256":")" + kSha +
                             R"(","reason":"halted","release":"{}"})";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"("..":{"action":"install","version":3,"sha256":")" + kSha +
           R"(","bundle_url":"/b","approvals_url":"/a","release":"{}"})",
       "not a valid channel name"},
      {R"("300":{"action":"explode","version":3,"sha256":")" + kSha + R"(","release":"{}"})",
       "unknown action 'explode'"},
      {R"("300":{"action":"install","version":3,"sha256":"XYZ","bundle_url":"/b","approvals_url":"/a","release":"{}"})",
       "'sha256'"},
      {R"("300":{"action":"revert","version":0,"sha256":")" + kSha + R"(","release":"{}"})",
       "'version'"},
      {R"("300":{"action":"revert","version":3,"sha256":")" + kSha + R"(","release":"{}","x":1})",
       "unknown key 'x'"},
      {R"("300":[1,2])", "is not an object"},
      {R"("300":{"action":"install","version":3,"sha256":")" + kSha + R"(","release":"{}"})",
       "'bundle_url'"},
  };
  for (const auto& [directive, why] : bad) {
    for (const std::string& body :
         {R"({"poll_after_s":60,"channels":{)" + directive + "," + revert + "}}",
          R"({"poll_after_s":60,"channels":{)" + revert + "," + directive + "}}"}) {
      auto r = DecodeCheckinResponse(body);
      ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << body;
      ASSERT_EQ(r->directives.size(), 1u) << body;
      EXPECT_EQ(r->directives[0].channel, "291");
      EXPECT_EQ(r->directives[0].action, "revert");
      ASSERT_EQ(r->rejected.size(), 1u) << body;
      EXPECT_EQ(r->rejected[0].error.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r->rejected[0].error.message().find(why), std::string::npos)
          << r->rejected[0].error.message();
    }
  }
  // What decoded of a rejected directive is kept, so the agent can report it.
  auto r = DecodeCheckinResponse(R"({"poll_after_s":60,"channels":{)" + bad[1].first + "}}");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->rejected.size(), 1u);
  EXPECT_EQ(r->rejected[0].directive.channel, "300");
  EXPECT_EQ(r->rejected[0].directive.version, 3);
  EXPECT_EQ(r->rejected[0].directive.sha256, kSha);
}

// The frame itself is still all-or-nothing.
TEST(CheckinResponse, BadFrameIsRefusedAsAWhole) {
  for (const std::string& body :
       std::vector<std::string>{"", "[]", R"({"channels":{}})", R"({"poll_after_s":-1})", R"({"poll_after_s":"60"})",
        R"({"poll_after_s":60,"channels":[]})", R"({"poll_after_s":60,"extra":1})"}) {
    EXPECT_EQ(DecodeCheckinResponse(body).status().code(), StatusCode::kInvalidArgument) << body;
  }
  std::string many = R"({"poll_after_s":60,"channels":{)";
  for (int i = 0; i <= 128; ++i) many += (i ? "," : "") + ("\"c" + std::to_string(i) + "\":{}");
  EXPECT_NE(DecodeCheckinResponse(many + "}}").status().message().find("more than 128"),
            std::string::npos);
}

// Agent-encode -> server-decode.
TEST(CheckinRequest, AgentEncodeServerDecodeRoundTrip) {
  DeviceInfo device{"d-1", {{"os", "windows"}, {"tenant", "acme"}},
                    R"({"ipc_rule":{"schema_versions":[3],"inputs":20}})"};
  std::vector<ChannelReport> channels = {{"291", BundleRef{42, kSha}, BundleRef{41, kSha}},
                                         {"300", std::nullopt, BundleRef{1, kSha}}};
  std::vector<ApplyResult> apply = {{"291", 42, kSha, ApplyOutcome::kApplied, ""},
                                    {"291", 43, kSha, ApplyOutcome::kRefused, "bad signature"}};
  std::vector<QuarantinedVersion> quarantined = {{"300", 2, kSha, "3 unclean starts"}};
  const std::string body = EncodeCheckinRequest(device, 17, channels, 2, 1, apply, quarantined);
  auto r = ParseCheckinRequest(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << body;
  EXPECT_EQ(r->device_id, "d-1");
  EXPECT_EQ(r->seq, 17);
  EXPECT_EQ(r->attrs->at("tenant"), "acme");
  EXPECT_EQ(r->capabilities->at("ipc_rule").inputs, 20);
  EXPECT_EQ(r->channels, channels);
  EXPECT_EQ(r->crashes, 2);
  EXPECT_EQ(r->errors, 1);
  ASSERT_EQ(r->apply.size(), 2u);
  EXPECT_EQ(r->apply[1].result, ApplyOutcome::kRefused);
  EXPECT_EQ(r->apply[1].reason, "bad signature");
  ASSERT_EQ(r->quarantined.size(), 1u);
  EXPECT_EQ(r->quarantined[0].reason, "3 unclean starts");
}

// Regression: the agent cut reasons at 512 bytes while the server refuses more than 256, so one
// long refusal reason made the server refuse every later check-in of the device (the report
// stays pending until a check-in succeeds).
TEST(CheckinRequest, LongReasonsAreCutToWhatTheServerAccepts) {
  DeviceInfo device{"d-1", {}, "{}"};
  std::string reason(251, 'r');
  reason += "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4";  // a two-byte character across the cut
  reason += std::string(400, 's');
  const std::string body =
      EncodeCheckinRequest(device, 1, {}, 0, 0, {{"291", 1, kSha, ApplyOutcome::kRefused, reason}},
                           {{"291", 1, kSha, reason}});
  auto r = ParseCheckinRequest(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LE(r->apply[0].reason.size(), kMaxReasonBytes);
  EXPECT_EQ(r->apply[0].reason, std::string(251, 'r') + "\xc3\xa4\xc3\xa4");  // whole characters
  EXPECT_EQ(r->quarantined[0].reason, r->apply[0].reason);
}

TEST(ApprovalsResponse, ServerEncodeAgentDecodeRoundTrip) {
  const std::vector<std::string> envelopes = {"{\"payloadType\":\"a\"}", "x\"y\\z\n", ""};
  auto back = DecodeApprovalsResponse(EncodeApprovalsResponse(envelopes));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, envelopes);
  EXPECT_TRUE(DecodeApprovalsResponse(EncodeApprovalsResponse({}))->empty());
  EXPECT_FALSE(DecodeApprovalsResponse(R"({"approvals":[1]})").ok());
  EXPECT_FALSE(DecodeApprovalsResponse(R"({"approvals":[],"x":1})").ok());
  EXPECT_FALSE(DecodeApprovalsResponse(R"({})").ok());
}

TEST(SessionResponse, ServerEncodeAgentDecodeRoundTrip) {
  const std::string body = EncodeSessionResponse("d-1", 60, "rfs1~d-1~1~1790003600~abc", 1790003600);
  auto s = DecodeSessionResponse(body);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->token, "rfs1~d-1~1~1790003600~abc");
  EXPECT_EQ(s->expires_s, 1790003600);
  EXPECT_EQ(s->poll_after_s, 60);
  EXPECT_FALSE(DecodeSessionResponse(EncodeSessionResponse("d-1", 60, "", 5)).ok());
  EXPECT_FALSE(DecodeSessionResponse(EncodeSessionResponse("d-1", 60, "a b", 5)).ok());
}

TEST(EnrollRequest, AgentEncodeServerDecodeRoundTrip) {
  auto key = crypto::SigningKey::FromSeed(std::string(32, '\x07'));
  ASSERT_TRUE(key.ok());
  DeviceInfo device{"d-9", {{"os", "linux"}}, R"({"ipc_rule":{"schema_versions":[3],"inputs":21}})"};
  ASSERT_TRUE(ValidateDeviceInfo(device).ok());
  auto e = ParseEnrollRequest(EncodeEnrollRequest(device, *key, 1790000000));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->device_id, "d-9");
  EXPECT_EQ(e->timestamp_s, 1790000000);
  EXPECT_EQ(e->public_key.size(), 32u);
  EXPECT_TRUE(crypto::Verify(key->public_key(),
                             crypto::EnrollProofMessage("d-9", e->public_key_b64, 1790000000),
                             e->proof)
                  .ok());
  auto s = ParseSessionRequest(EncodeSessionRequest("d-9", *key, 1790000001));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->timestamp_s, 1790000001);
  // The device id rule is the protocol's: the agent refuses what the server would refuse.
  for (const std::string& bad : std::vector<std::string>{"..", ".", "", "a/b"}) {
    DeviceInfo d = device;
    d.device_id = bad;
    EXPECT_FALSE(ValidateDeviceInfo(d).ok()) << bad;
  }
}

}  // namespace
}  // namespace rf::protocol
