#include "ringfence/consumer.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <stdexcept>

#include "core/fleet.h"
#include "sdk/internal.h"

namespace {

using ringfence::Capability;
using ringfence::ConsumerHandle;
using ringfence::Health;
using ringfence::Outcome;

// A consumer whose behaviour the tests set.
class FakeConsumer : public ringfence::Consumer {
 public:
  std::vector<Capability> caps = {{"ipc_rule", {3, 2}, 20, 5000, 0}};
  bool throw_on_load = false;
  std::string loaded;

  std::vector<Capability> Capabilities() const override { return caps; }
  Outcome Validate(std::string_view payload) override {
    if (payload.empty()) return Outcome::Rejected("empty payload");
    return Outcome::Ok();
  }
  Outcome Load(std::string_view payload) override {
    if (throw_on_load) throw std::runtime_error("boom");
    loaded = payload;
    ReportHealth(Health::kOk, "loaded");
    return Outcome::Ok();
  }
  Outcome Match(std::string_view event, std::vector<std::string>* ids) override {
    if (event == "bad") return Outcome::Rejected("bad event");
    ids->push_back("r-1");
    ids->push_back("r-2");
    return Outcome::Ok();
  }
};

TEST(ManifestTest, CanonicalAndAcceptedByTheServerDecoder) {
  FakeConsumer c;
  c.caps.push_back({"a_type", {1}, 4, 0, 1024});
  const std::string m = c.Manifest();
  EXPECT_EQ(m,
            "{\"a_type\":{\"inputs\":4,\"max_bundle_bytes\":1024,\"schema_versions\":[1]},"
            "\"ipc_rule\":{\"inputs\":20,\"max_items\":5000,\"schema_versions\":[2,3]}}");
  auto decoded = rf::DecodeCapabilityManifest(boost::json::parse(m), "manifest");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->at("ipc_rule").inputs, 20);
  EXPECT_EQ(decoded->at("ipc_rule").max_items, 5000);
  EXPECT_EQ(decoded->at("a_type").max_bundle_bytes, 1024);
}

TEST(ManifestTest, SizeQueryAndSmallBuffer) {
  const int64_t versions[] = {3};
  const rf_capability caps[] = {{"ipc_rule", versions, 1, 21, 0, 0}};
  size_t needed = 0;
  EXPECT_EQ(rf_manifest_encode(caps, 1, nullptr, 0, &needed), RF_BUFFER_TOO_SMALL);
  const std::string expected = "{\"ipc_rule\":{\"inputs\":21,\"schema_versions\":[3]}}";
  EXPECT_EQ(needed, expected.size() + 1);
  std::string buf(needed - 1, 'x');
  EXPECT_EQ(rf_manifest_encode(caps, 1, buf.data(), buf.size(), &needed), RF_BUFFER_TOO_SMALL);
  buf.resize(needed);
  ASSERT_EQ(rf_manifest_encode(caps, 1, buf.data(), buf.size(), &needed), RF_OK);
  EXPECT_EQ(std::string(buf.c_str()), expected);
}

TEST(CreateTest, RefusesMalformedCapabilities) {
  struct Case {
    Capability cap;
    const char* why;
  } cases[] = {
      {{"IPC", {3}, 20, 0, 0}, "content_type"},
      {{"", {3}, 20, 0, 0}, "content_type"},
      {{"ipc_rule", {}, 20, 0, 0}, "schema version"},
      {{"ipc_rule", {3, 3}, 20, 0, 0}, "duplicate schema version"},
      {{"ipc_rule", {3}, -1, 0, 0}, ">= 0"},
      {{"ipc_rule", {3}, 20, -5, 0}, ">= 0"},
  };
  for (const Case& k : cases) {
    FakeConsumer c;
    c.caps = {k.cap};
    ConsumerHandle h;
    Outcome o = ConsumerHandle::Bind(c, &h);
    EXPECT_EQ(o.code(), RF_INVALID_ARGUMENT) << k.why;
    EXPECT_NE(o.message().find(k.why), std::string::npos) << o.message();
    EXPECT_EQ(c.Manifest(), "") << k.why;
  }
  FakeConsumer twice;
  twice.caps = {{"x", {1}, 1, 0, 0}, {"x", {2}, 1, 0, 0}};
  ConsumerHandle h;
  EXPECT_NE(ConsumerHandle::Bind(twice, &h).message().find("listed twice"), std::string::npos);
}

TEST(CreateTest, RefusesBadOps) {
  char msg[128];
  rf_consumer* c = nullptr;
  EXPECT_EQ(rf_consumer_create(nullptr, nullptr, nullptr, 0, &c, msg, sizeof msg),
            RF_INVALID_ARGUMENT);
  rf_consumer_ops ops = {RF_SDK_ABI_VERSION + 1, nullptr, nullptr, nullptr, nullptr};
  EXPECT_EQ(rf_consumer_create(&ops, nullptr, nullptr, 0, &c, msg, sizeof msg),
            RF_INVALID_ARGUMENT);
  EXPECT_NE(std::string(msg).find("abi_version"), std::string::npos);
  ops.abi_version = RF_SDK_ABI_VERSION;
  EXPECT_EQ(rf_consumer_create(&ops, nullptr, nullptr, 0, &c, msg, sizeof msg),
            RF_INVALID_ARGUMENT);
  EXPECT_EQ(c, nullptr);
  // Tiny message buffers are truncated, never overflowed.
  char tiny[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(rf_consumer_create(nullptr, nullptr, nullptr, 0, &c, tiny, sizeof tiny),
            RF_INVALID_ARGUMENT);
  EXPECT_EQ(std::string(tiny), "ops");
  // NULL handles everywhere are refused, not dereferenced.
  EXPECT_EQ(rf_consumer_load(nullptr, nullptr, 0, nullptr, 0), RF_INVALID_ARGUMENT);
  EXPECT_EQ(rf_consumer_manifest(nullptr, nullptr, 0, nullptr), RF_INVALID_ARGUMENT);
  EXPECT_EQ(rf_consumer_health(nullptr, nullptr, 0), RF_HEALTH_FAILED);
  rf_consumer_destroy(nullptr);
}

TEST(HandleTest, ForwardsThroughTheCAbi) {
  FakeConsumer c;
  ConsumerHandle h;
  ASSERT_TRUE(ConsumerHandle::Bind(c, &h).ok());
  EXPECT_EQ(h.Manifest(), c.Manifest());
  EXPECT_TRUE(h.Validate("{}").ok());
  Outcome rejected = h.Validate("");
  EXPECT_EQ(rejected.code(), RF_REJECTED);
  EXPECT_EQ(rejected.message(), "empty payload");
  EXPECT_TRUE(h.Load("payload").ok());
  EXPECT_EQ(c.loaded, "payload");
  std::vector<std::string> ids;
  EXPECT_TRUE(h.Match("{}", &ids).ok());
  EXPECT_EQ(ids, (std::vector<std::string>{"r-1", "r-2"}));
  EXPECT_EQ(h.Match("bad", &ids).code(), RF_REJECTED);
}

TEST(HandleTest, ExceptionsBecomeInternal) {
  FakeConsumer c;
  c.throw_on_load = true;
  ConsumerHandle h;
  ASSERT_TRUE(ConsumerHandle::Bind(c, &h).ok());
  Outcome o = h.Load("x");
  EXPECT_EQ(o.code(), RF_INTERNAL);
  EXPECT_NE(o.message().find("boom"), std::string::npos);
}

TEST(HandleTest, HealthIsPushedAndPolled) {
  FakeConsumer c;
  ConsumerHandle h;
  ASSERT_TRUE(ConsumerHandle::Bind(c, &h).ok());
  std::vector<std::pair<Health, std::string>> seen;
  h.SetHealthCallback([&](Health s, std::string_view d) { seen.emplace_back(s, std::string(d)); });
  ASSERT_TRUE(h.Load("p").ok());
  c.ReportHealth(Health::kDegraded, "3 rules disabled");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].first, Health::kDegraded);
  EXPECT_EQ(seen[1].second, "3 rules disabled");
  EXPECT_EQ(h.Health().state, Health::kDegraded);
  EXPECT_EQ(h.Health().detail, "3 rules disabled");
  // Moving the handle keeps the callback; resetting the callback stops reports.
  ConsumerHandle moved = std::move(h);
  c.ReportHealth(Health::kFailed, "x");
  EXPECT_EQ(seen.size(), 3u);
  moved.SetHealthCallback(nullptr);
  c.ReportHealth(Health::kOk, "y");
  EXPECT_EQ(seen.size(), 3u);
}

TEST(HandleTest, UnimplementedMatch) {
  struct Minimal : ringfence::Consumer {
    std::vector<Capability> Capabilities() const override { return {{"t", {1}, 1, 0, 0}}; }
    Outcome Validate(std::string_view) override { return Outcome::Ok(); }
    Outcome Load(std::string_view) override { return Outcome::Ok(); }
  } m;
  ConsumerHandle h;
  ASSERT_TRUE(ConsumerHandle::Bind(m, &h).ok());
  std::vector<std::string> ids;
  EXPECT_EQ(h.Match("{}", &ids).code(), RF_UNIMPLEMENTED);
  EXPECT_EQ(h.Health().state, Health::kOk);
}

TEST(ExtractPayloadTest, PlainPayloadOrEnvelope) {
  std::string payload;
  EXPECT_EQ(rf::sdk::ExtractPayload("{\"channel\":\"1\"}", &payload), "");
  EXPECT_EQ(payload, "{\"channel\":\"1\"}");
  // {"channel":"1"} in base64
  EXPECT_EQ(rf::sdk::ExtractPayload("{\"payloadType\":\"application/vnd.ringfence.bundle+json\","
                                    "\"payload\":\"eyJjaGFubmVsIjoiMSJ9\",\"signatures\":[]}",
                                    &payload),
            "");
  EXPECT_EQ(payload, "{\"channel\":\"1\"}");
  EXPECT_NE(rf::sdk::ExtractPayload("{\"payloadType\":\"other\",\"payload\":\"eyJ9\","
                                    "\"signatures\":[]}",
                                    &payload),
            "");
}

}  // namespace
