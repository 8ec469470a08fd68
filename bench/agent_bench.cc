// ringfence-agent on loopback (docs/agent.md "Performance"): CPU per check-in, time from a bundle
// being available to it being applied (download, verify, pre-flight, atomic apply), and the idle
// RSS of the real agent process. The server is the agent tests' loopback fake (one thread).
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <benchmark/benchmark.h>

#include "agent/agent.h"
#include "agent/agent_test_fixtures.h"
#include "platform/env.h"
#include "platform/process.h"

namespace rf::agent {
namespace {

using testing::FakeFleetServer;
using testing::Keys;
using testing::MakeRelease;

std::string BuildDir() {
  return std::filesystem::canonical("/proc/self/exe").parent_path().parent_path().string();
}

struct Bench {
  Env env = PosixEnv();
  Keys keys;
  FakeFleetServer server;
  std::string dir;
  std::unique_ptr<HttpClient> http = NewCurlHttpClient({});
  RealSleeper sleeper;
  std::unique_ptr<Agent> agent;
  int64_t now_s = env.clock->NowUnixMicros() / 1'000'000;

  explicit Bench(bool consumer) {
    char tmpl[] = "/tmp/agent-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
    AgentOptions o;
    o.server_url = server.url();
    o.token = "test-token";
    o.state_dir = dir + "/state";
    o.trust = keys.Trust(2);
    o.device.device_id = "bench-1";
    if (consumer) o.consumer.argv = {BuildDir() + "/src/agent/agent_test_consumer"};
    agent = std::make_unique<Agent>(std::move(o), env, &sleeper, http.get(), nullptr);
    agent->set_log(nullptr);
    if (!agent->Open().ok()) std::abort();
  }
  ~Bench() { std::filesystem::remove_all(dir); }
};

std::vector<boost::json::object> Items(int n) {
  std::vector<boost::json::object> items;
  for (int i = 0; i < n; ++i) {
    items.push_back({{"pipe_name", "^msagent_" + std::to_string(i) + "_[0-9a-f]{2}$"},
                     {"image_path", "*"},
                     {"severity", "high"}});
  }
  return items;
}

// A check-in with nothing to do: the steady state of a fleet.
void BM_CheckinNoChange(benchmark::State& state) {
  Bench b(false);
  for (auto _ : state) {
    if (!b.agent->CheckinRound().ok()) state.SkipWithError("check-in failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CheckinNoChange)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Bundle available (the check-in that offers it) -> applied: download bundle and approvals, verify
// (release statement, publisher signature, 2 approvals, anti-rollback), stage, pre-flight in a child
// process (arg 1: with the test consumer), atomic apply with LKG, state.json.
void BM_BundleAvailableToApplied(benchmark::State& state) {
  Bench b(state.range(0) == 1);
  const int items = static_cast<int>(state.range(1));
  int64_t version = 1;
  for (auto _ : state) {
    state.PauseTiming();
    b.server.Offer(MakeRelease(b.keys, "291", version, b.now_s, Items(items)));
    state.ResumeTiming();
    if (!b.agent->CheckinRound().ok() || b.agent->state().channels.at("291").current->version != version) {
      state.SkipWithError("not applied");
    }
    ++version;
  }
  state.counters["items"] = items;
}
BENCHMARK(BM_BundleAvailableToApplied)
    ->ArgsProduct({{0, 1}, {10, 1000, 10000}})
    ->ArgNames({"preflight", "items"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

int64_t RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// The real ringfence-agent process, enrolled, supervising the test consumer, between check-ins.
void BM_AgentIdleRss(benchmark::State& state) {
  Keys keys;
  FakeFleetServer server;
  char tmpl[] = "/tmp/agent-bench-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  { std::ofstream(dir + "/trust.json") << EncodeTrustRoot(keys.Trust(2)); }
  { std::ofstream(dir + "/token") << "test-token\n"; }
  const int64_t now_s = PosixEnv().clock->NowUnixMicros() / 1'000'000;
  server.Offer(MakeRelease(keys, "291", 1, now_s, Items(1000)));
  int64_t rss = 0;
  for (auto _ : state) {
    std::vector<std::string> args = {BuildDir() + "/apps/ringfence-agent/ringfence-agent", "--server",
                                     server.url(), "--token", dir + "/token", "--state", dir + "/state",
                                     "--trust", dir + "/trust.json", "--device-id", "bench-rss",
                                     "--consumer", BuildDir() + "/src/agent/agent_test_consumer"};
    ProcessOptions o;  // stdout and stderr to /dev/null
    o.argv = args;
    o.env = std::nullopt;
    Result<Process> agent = Process::Start(o);
    if (!agent.ok()) {
      state.SkipWithError(agent.status().ToString().c_str());
      break;
    }
    ::sleep(2);  // enrolled, applied, consumer started, idle until the next poll (60 s)
    rss = RssKb(agent->pid());
    agent->Stop(10'000);
  }
  state.counters["rss_kb"] = static_cast<double>(rss);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AgentIdleRss)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace rf::agent

BENCHMARK_MAIN();
