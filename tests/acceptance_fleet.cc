#include "acceptance_fleet.h"

#include <gtest/gtest.h>

#include <signal.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>

#include "agent/agent.h"
#include "agent/agent_state.h"
#include "core/finding.h"
#include "crypto/dsse.h"
#include "platform/env.h"
#include "server_harness.h"
#include "testing/test_util.h"

namespace rf::e2e {

namespace {

constexpr char kChannel[] = "291";

// The demo's strata (docs/demo.md): 35 % windows/7.11 and 35 % windows/7.15 on the legacy sensor
// (20 inputs: crashes on CF291), 30 % linux/7.16 on the correct one.
struct Stratum {
  const char* os;
  const char* agent_version;
  const char* integration;
  double share;
};
constexpr Stratum kStrata[] = {
    {"windows", "7.11", "legacy", 0.35},
    {"windows", "7.15", "legacy", 0.35},
    {"linux", "7.16", "correct", 0.30},
};

int64_t Mono() { return PosixEnv().clock->MonotonicMicros(); }

}  // namespace

struct Fleet::Host {
  std::string device_id;
  const Stratum* stratum = nullptr;
  std::string state_dir, log_path;
  demo::ChildProcess agent;
  int consecutive_crashes = 0;
  int crashes_with_bad = 0;
  bool down = false;
  int64_t next_boot_micros = 0;
};

Cf291Samples LoadCf291Samples() {
  Cf291Samples s;
  const std::string dir = testing::SourcePath("samples/content");
  s.type_yaml = testing::ReadFileOrDie(dir + "/ipc_rule.type.yaml");
  auto type = ParseContentType(s.type_yaml, dir + "/ipc_rule.type.yaml");
  if (!type.ok()) {
    ADD_FAILURE() << type.status().ToString();
    return s;
  }
  s.type = *type;
  std::vector<Finding> findings;
  auto bad = DecodeBundleSource(testing::ReadFileOrDie(dir + "/cf291.bundle.yaml"),
                                dir + "/cf291.bundle.yaml", s.type, &findings);
  if (!bad.ok()) {
    ADD_FAILURE() << bad.status().ToString();
    return s;
  }
  for (const auto& f : findings) EXPECT_NE(f.severity, Severity::kError) << f.message;
  s.bad = *bad;
  s.good = s.bad;
  for (auto& item : s.good.items) {
    for (size_t pos = 20; pos < item.values.size(); ++pos) {
      if (item.values[pos].IsConcrete()) {
        item.values[pos] = FieldValue();
        item.values[pos].kind = FieldValue::Kind::kWildcard;
      }
    }
  }
  return s;
}

std::string UploadBody(const Cf291Samples& s, Bundle b, int64_t version,
                       const crypto::SigningKey& author) {
  b.version = version;
  crypto::Envelope e;
  e.payload_type = std::string(crypto::kBundlePayloadType);
  e.payload = EncodeCanonicalPayload(b, s.type);
  crypto::SignEnvelope(&e, author);
  return "{\"envelope\":" + Quote(crypto::SerializeEnvelope(e)) + "}";
}

Fleet::Fleet(FleetOptions options) : o_(std::move(options)) {
  int made = 0;
  for (size_t si = 0; si < std::size(kStrata); ++si) {
    const Stratum& st = kStrata[si];
    const int n = si + 1 == std::size(kStrata) ? o_.agents - made
                                               : static_cast<int>(o_.agents * st.share + 0.5);
    for (int i = 0; i < n; ++i, ++made) {
      auto h = std::make_unique<Host>();
      char id[32];
      std::snprintf(id, sizeof id, "dev-%04d", made);
      h->device_id = id;
      h->stratum = &st;
      h->state_dir = o_.dir + "/" + h->device_id;
      h->log_path = h->state_dir + ".log";
      std::filesystem::create_directories(h->state_dir);
      std::filesystem::permissions(h->state_dir, std::filesystem::perms::owner_all);
      Boot(*h);
      hosts_.push_back(std::move(h));
    }
  }
}

Fleet::~Fleet() {
  for (auto& h : hosts_) h->agent.Signal(SIGKILL);
  hosts_.clear();  // ChildProcess reaps
}

void Fleet::Boot(Host& h) {
  const std::string poll = std::to_string(o_.poll_s);
  demo::ProcessSpec spec;
  spec.argv = {testing::BinaryPath("apps/ringfence-agent/ringfence-agent"),
               "--server", o_.server_url, "--token", o_.token_path, "--state", h.state_dir,
               "--trust", o_.trust_path, "--device-id", h.device_id,
               "--attr", std::string("os=") + h.stratum->os,
               "--attr", std::string("agent_version=") + h.stratum->agent_version,
               "--consumer",
               testing::BinaryPath("examples/sensor/ringfence-sensor") + " --integration " +
                   h.stratum->integration,
               "--consumer-run-args", "load {bundle}", "--consumer-oneshot",
               "--host-crash-on-consumer-crash",
               "--poll-min", poll, "--poll-max", std::to_string(o_.poll_s + 1),
               "--poll-default", poll, "--backoff-base-ms", "500", "--backoff-max-ms", "3000",
               // Layer 5 off: the staged rollout (layer 4) alone must contain CF291.
               "--no-preflight", "--max-unclean-starts", "0"};
  if (o_.sanitized) spec.argv.insert(spec.argv.end(), {"--preflight-mem-mb", "0"});
  spec.stderr_path = h.log_path;
  auto child = demo::ChildProcess::Spawn(spec);
  if (!child.ok()) {
    ADD_FAILURE() << h.device_id << ": " << child.status().ToString();
    h.next_boot_micros = Mono() + o_.reboot_delay_ms * 1000;
    return;
  }
  h.agent = std::move(*child);
}

namespace {

std::optional<int64_t> MarkerVersion(const std::string& state_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(state_dir + "/loading.json", ec)) return std::nullopt;
  auto text = PosixEnv().fs->ReadFile(state_dir + "/loading.json", 64 << 10);
  if (!text.ok()) return std::nullopt;
  boost::system::error_code jec;
  auto v = boost::json::parse(*text, jec);
  if (jec || !v.is_object()) return std::nullopt;
  const auto* b = v.as_object().if_contains("bundles");
  if (!b || !b->is_object()) return std::nullopt;
  const auto* ch = b->as_object().if_contains(kChannel);
  if (!ch || !ch->is_object()) return std::nullopt;
  return Int(ch->as_object(), "version");
}

std::optional<agent::AgentState> ReadState(const std::string& state_dir) {
  auto text = PosixEnv().fs->ReadFile(state_dir + "/state.json", 1 << 20);
  if (!text.ok()) return std::nullopt;
  auto st = agent::DecodeAgentState(*text);
  if (!st.ok()) return std::nullopt;
  return *st;
}

}  // namespace

void Fleet::Tend(int64_t bad_version) {
  const int64_t now = Mono();
  for (auto& hp : hosts_) {
    Host& h = *hp;
    if (h.down) continue;
    if (h.agent.running()) {
      auto exit = h.agent.Poll();
      if (!exit) continue;
      if (exit->exit_code == agent::kHostCrashExitCode) {
        ++h.consecutive_crashes;
        if (MarkerVersion(h.state_dir) == bad_version) ++h.crashes_with_bad;
        if (h.consecutive_crashes >= o_.max_boot_crashes) {
          h.down = true;  // the recovery screen: it waits for a person
          continue;
        }
      } else {
        ADD_FAILURE() << h.device_id << ": agent exited ("
                      << (exit->signal ? "signal " + std::to_string(exit->signal)
                                       : "exit " + std::to_string(exit->exit_code))
                      << "); see " << h.log_path;
      }
      h.next_boot_micros = now + o_.reboot_delay_ms * 1000;
      continue;
    }
    if (now < h.next_boot_micros) continue;
    Boot(h);
    if (h.consecutive_crashes > 0 && !MarkerVersion(h.state_dir)) h.consecutive_crashes = 0;
  }
}

FleetFacts Fleet::Facts(int64_t bad_version) {
  FleetFacts f;
  for (auto& hp : hosts_) {
    const Host& h = *hp;
    ++f.devices;
    if (std::string_view(h.stratum->integration) == "legacy") ++f.affected;
    bool exposed = h.crashes_with_bad > 0;
    int64_t current = -1;
    if (auto st = ReadState(h.state_dir)) {
      if (auto it = st->channels.find(kChannel); it != st->channels.end() && it->second.current) {
        current = it->second.current->version;
      }
      for (const auto& q : st->quarantined) {
        if (q.channel == kChannel && q.version == bad_version) exposed = true;
      }
    }
    if (current == bad_version) exposed = true;
    f.exposed += exposed;
    f.harmed += h.crashes_with_bad > 0;
    if (h.down) {
      ++f.down;
    } else {
      ++f.by_version[current];
    }
  }
  return f;
}

bool Fleet::Settled() {
  for (auto& h : hosts_) {
    if (h->down) continue;
    if (!h->agent.running()) return false;  // rebooting
    if (MarkerVersion(h->state_dir)) return false;  // content on probation
  }
  return true;
}

}  // namespace rf::e2e
