// Layer 2 end to end with real subprocesses: the example sensor (both integrations, both regex
// engines) and deliberately misbehaving consumers.
#include "dynamic/dynamic_check.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "crypto/crypto.h"
#include "dynamic/event_synth.h"
#include "testing/test_util.h"

namespace rf::dynamic {
namespace {

using rf::testing::SourcePath;

std::string Sensor() { return rf::testing::BinaryPath("examples/sensor/ringfence-sensor"); }

DynamicCheckOptions TestOptions() {
  DynamicCheckOptions o;
  o.limits.cpu_seconds = 1;
#if defined(__SANITIZE_ADDRESS__)
  o.limits.address_space_bytes = 0;  // ASan reserves terabytes of address space
#endif
  return o;
}

struct Loaded {
  ContentType type;
  Bundle bundle;
  std::string payload;
};

Loaded Load(const std::string& source_text) {
  Loaded l;
  auto type = ParseContentType(
      rf::testing::ReadFileOrDie(SourcePath("samples/content/ipc_rule.type.yaml")), "type");
  EXPECT_TRUE(type.ok());
  l.type = *type;
  std::vector<Finding> findings;
  auto b = DecodeBundleSource(source_text, "bundle", l.type, &findings);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(findings.empty());
  l.bundle = *b;
  l.payload = EncodeCanonicalPayload(l.bundle, l.type);
  return l;
}

Loaded Cf291() {
  return Load(rf::testing::ReadFileOrDie(SourcePath("samples/content/cf291.bundle.yaml")));
}

DynamicReport Check(const Loaded& l, std::vector<ConsumerSpec> consumers,
                    const DynamicCheckOptions& o = TestOptions(), std::string_view corpus = {}) {
  DynamicCheckInput in;
  in.type = &l.type;
  in.bundle = &l.bundle;
  in.payload = l.payload;
  in.corpus = corpus;
  in.consumers = std::move(consumers);
  auto r = RunDynamicChecks(in, o, PosixEnv());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : DynamicReport{};
}

const RunRecord* FindRun(const ConsumerReport& c, std::string_view scope) {
  for (const RunRecord& r : c.runs) {
    if (r.scope == scope) return &r;
  }
  return nullptr;
}

TEST(DynamicCheckTest, LegacySensorCrashesOnCf291NamingIpc0003) {
  const std::string corpus =
      rf::testing::ReadFileOrDie(SourcePath("examples/sensor/testdata/events.jsonl"));
  DynamicReport r = Check(Cf291(), {{"sensor 7.11", {Sensor(), "--integration", "legacy"}}},
                          TestOptions(), corpus);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.items, 3);
  EXPECT_EQ(r.corpus_events, 4);
  ASSERT_EQ(r.consumers.size(), 1u);
  const ConsumerReport& c = r.consumers[0];
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(c.failing_items, std::vector<std::string>{"ipc-0003"});
  EXPECT_NE(c.manifest.find("\"inputs\":20"), std::string::npos);
  const RunRecord* item = FindRun(c, "ipc-0003");
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->outcome, RunOutcome::kCrash);
  EXPECT_EQ(item->signal, "SIGSEGV");
  EXPECT_EQ(FindRun(c, "bundle")->outcome, RunOutcome::kCrash);
  EXPECT_EQ(FindRun(c, "ipc-0001")->outcome, RunOutcome::kPass);
  EXPECT_EQ(FindRun(c, "ipc-0002")->outcome, RunOutcome::kPass);
  const std::string text = DynamicReportText(r);
  EXPECT_NE(text.find("REJECTED"), std::string::npos);
  EXPECT_NE(text.find("failing items: ipc-0003"), std::string::npos) << text;
}

TEST(DynamicCheckTest, CorrectSensorPassesCf291AndMatchesEveryItem) {
  DynamicReport r = Check(Cf291(), {{"", {Sensor(), "--integration", "correct"}}});
  EXPECT_TRUE(r.accepted) << DynamicReportText(r);
  const ConsumerReport& c = r.consumers[0];
  EXPECT_TRUE(c.failing_items.empty());
  EXPECT_EQ(c.name, Sensor() + " --integration correct");
  for (const char* id : {"ipc-0001", "ipc-0002", "ipc-0003"}) {
    const RunRecord* run = FindRun(c, id);
    ASSERT_NE(run, nullptr) << id;
    EXPECT_EQ(run->outcome, RunOutcome::kPass) << id << ": " << run->detail;
    EXPECT_EQ(run->matched_own_event, 1) << id << ": the generated event exercises every field";
    EXPECT_EQ(run->events_done, run->events);
    EXPECT_GT(run->max_rss_kb, 0);
  }
}

TEST(DynamicCheckTest, BisectionNamesTheItemInLargeBundles) {
  DynamicCheckOptions o = TestOptions();
  o.per_item_limit = 1;
  DynamicReport r = Check(Cf291(), {{"legacy", {Sensor(), "--integration", "legacy"}}}, o);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.consumers[0].failing_items, std::vector<std::string>{"ipc-0003"});
  // 3 items: ipc-0001 alone passes, items[1..3) fails and is split into ipc-0002 and ipc-0003.
  EXPECT_EQ(FindRun(r.consumers[0], "ipc-0001")->outcome, RunOutcome::kPass);
  EXPECT_EQ(FindRun(r.consumers[0], "items[1..3)")->outcome, RunOutcome::kCrash);
  EXPECT_EQ(FindRun(r.consumers[0], "ipc-0002")->outcome, RunOutcome::kPass);
}

const char* kCatastrophic =
    "channel: \"9\"\ncontent_type: ipc_rule\nschema_version: 3\nversion: 1\nitems:\n"
    "  - {id: ok-0001, pipe_name: \"^spool[0-9]+$\"}\n"
    "  - {id: redos-0002, pipe_name: \"^(a+)+$\"}\n";

TEST(DynamicCheckTest, CatastrophicBacktrackingHitsTheCpuBudget) {
  DynamicReport r = Check(Load(kCatastrophic),
                          {{"backtracking", {Sensor(), "--regex-engine", "backtracking"}},
                           {"re2", {Sensor(), "--regex-engine", "re2"}}});
  EXPECT_FALSE(r.accepted);
  const ConsumerReport& bt = r.consumers[0];
  EXPECT_FALSE(bt.passed);
  EXPECT_EQ(bt.failing_items, std::vector<std::string>{"redos-0002"});
  const RunRecord* run = FindRun(bt, "redos-0002");
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->outcome, RunOutcome::kCpuLimit) << run->signal << " " << run->detail;
  EXPECT_GE(run->cpu_ms, 900);
  EXPECT_EQ(FindRun(bt, "ok-0001")->outcome, RunOutcome::kPass);
  // The same content on a linear-time engine is fine.
  EXPECT_TRUE(r.consumers[1].passed) << DynamicReportText(r);
}

// Consumers that misbehave in every way the checker must survive (shell scripts; the protocol
// command arrives as $1).
ConsumerSpec Script(std::string name, std::string script) {
  return {std::move(name), {"/bin/sh", "-c", std::move(script), "sh"}};
}

TEST(DynamicCheckTest, CheckerSurvivesMisbehavingConsumers) {
  DynamicCheckOptions o = TestOptions();
  o.limits.processes = 0;  // the scripts fork
  o.wall_timeout_ms = 500;
  o.max_output_bytes = 64 << 10;
  Loaded l = Cf291();
  DynamicReport r =
      Check(l,
            {Script("garbage", "head -c 3000000 /dev/urandom; exit 0"),
             Script("hang", "sleep 30"),
             Script("refuses", "echo no way >&2; exit 1"),
             Script("half", "[ \"$1\" = manifest ] && echo '{}' && exit 0; "
                            "echo '{\"event\":1,\"matches\":[]}'; echo '{\"event\":2,\"matc'; exit 0"),
             Script("abort", "kill -ABRT $$")},
            o);
  EXPECT_FALSE(r.accepted);
  ASSERT_EQ(r.consumers.size(), 5u);
  EXPECT_EQ(FindRun(r.consumers[0], "manifest")->outcome, RunOutcome::kError);
  EXPECT_EQ(FindRun(r.consumers[0], "bundle")->outcome, RunOutcome::kError);
  EXPECT_EQ(FindRun(r.consumers[1], "ipc-0001")->outcome, RunOutcome::kTimeout);
  EXPECT_EQ(FindRun(r.consumers[2], "bundle")->outcome, RunOutcome::kRefused);
  EXPECT_EQ(FindRun(r.consumers[2], "bundle")->detail, "no way");
  EXPECT_EQ(FindRun(r.consumers[3], "manifest")->outcome, RunOutcome::kPass);
  const RunRecord* half = FindRun(r.consumers[3], "ipc-0002");
  EXPECT_EQ(half->outcome, RunOutcome::kError);
  EXPECT_EQ(half->events_done, 1);
  EXPECT_EQ(FindRun(r.consumers[4], "ipc-0003")->signal, "SIGABRT");
  for (const ConsumerReport& c : r.consumers) EXPECT_FALSE(c.passed) << c.name;
  // The report stays valid JSON whatever the consumers printed.
  boost::system::error_code ec;
  (void)boost::json::parse(DynamicReportJson(r), ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(DynamicCheckTest, UnusableInput) {
  Loaded l = Cf291();
  DynamicCheckInput in;
  in.type = &l.type;
  in.bundle = &l.bundle;
  in.payload = l.payload;
  EXPECT_EQ(RunDynamicChecks(in, {}, PosixEnv()).status().code(), StatusCode::kInvalidArgument);
  in.consumers = {{"x", {"/nonexistent/consumer"}}};
  auto r = RunDynamicChecks(in, {}, PosixEnv());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/consumer"), std::string::npos);
}

TEST(DynamicReportTest, CanonicalJsonAndSignedAttestation) {
  DynamicReport r = Check(Cf291(), {{"correct", {Sensor()}}});
  const std::string json = DynamicReportJson(r);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(json.rfind("{\"accepted\":true,\"bundle_sha256\":\"" + crypto::Sha256Hex(Cf291().payload), 0), 0u) << json;
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(v.at("limits").at("cpu_seconds").as_int64(), 1);
  EXPECT_EQ(v.at("consumers").at(0).at("runs").at(0).at("scope").as_string(), "manifest");
  // Keys are sorted in every object.
  std::function<void(const boost::json::value&)> sorted = [&](const boost::json::value& x) {
    if (x.is_object()) {
      std::string prev;
      for (const auto& [k, val] : x.get_object()) {
        EXPECT_LT(prev, std::string(k));
        prev = std::string(k);
        sorted(val);
      }
    } else if (x.is_array()) {
      for (const auto& e : x.get_array()) sorted(e);
    }
  };
  sorted(v);

  crypto::SigningKey key = crypto::SigningKey::Generate();
  crypto::Envelope env = MakeDynamicAttestation(json, &key);
  EXPECT_EQ(env.payload_type, "application/vnd.ringfence.dynamic-report+json");
  auto parsed = crypto::ParseEnvelope(crypto::SerializeEnvelope(env));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->payload, json);
  EXPECT_TRUE(crypto::VerifyEnvelope(*parsed, key.public_key()).ok());
  EXPECT_TRUE(MakeDynamicAttestation(json, nullptr).signatures.empty());
}

TEST(ConsumerSpecTest, FromACommandLine) {
  auto spec = ConsumerSpecFromCommandLine("  a  b\t'c d' \"e'f\" x\\ y ");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->argv, (std::vector<std::string>{"a", "b", "c d", "e'f", "x y"}));
  EXPECT_EQ(spec->name, "  a  b\t'c d' \"e'f\" x\\ y ");
  EXPECT_EQ(ConsumerSpecFromCommandLine("x ''")->argv, (std::vector<std::string>{"x", ""}));
  EXPECT_EQ(ConsumerSpecFromCommandLine("   ").status().message(), "--consumer is empty");
  EXPECT_EQ(ConsumerSpecFromCommandLine("a 'b").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rf::dynamic
