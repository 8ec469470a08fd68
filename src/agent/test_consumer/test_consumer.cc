// agent_test_consumer: a tiny consumer for the agent's tests and benchmark. It speaks the consumer
// process protocol (docs/sdk.md) for the made-up content type `test_rule`, and misbehaves when a
// bundle item asks it to:
//   {"id": "...", "crash_on": "load"|"run"}   SIGSEGV in `load`, or shortly after starting `run`
//   {"id": "...", "crash_after_ms": "N"}      SIGSEGV N ms after `run` started (a late crash)
//   {"id": "...", "hang_on": "load"}          spin on the CPU in `load`
//   {"id": "...", "oom_on": "load"}           allocate and touch memory until stopped in `load`
//   {"id": "...", "health": "degraded"|"failed"}  push that health report once `run` started
//   {"id": "...", "connect_port": "N"}        `load` exits 3 if it can connect to 127.0.0.1:N
// Usage: agent_test_consumer [--log FILE] [--run-delay-ms N] manifest | load FILE | run FILE...
//   --log FILE: append "<command> <channel>:<version> ..." per start (tests count restarts).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "crypto/dsse.h"

// Under AddressSanitizer, let a requested SIGSEGV kill the process as in every other build, instead
// of ASan's report-and-exit(1).
extern "C" const char* __asan_default_options() { return "handle_segv=0:handle_sigbus=0"; }

namespace {

volatile sig_atomic_t g_stop = 0;
void OnTerm(int) { g_stop = 1; }

struct Loaded {
  std::string label;  // channel:version
  bool crash_load = false, crash_run = false, hang_load = false, oom_load = false;
  std::string health;  // "degraded" or "failed": pushed as a health report once `run` started
  int64_t crash_after_ms = -1;  // `run` crashes this long after it started (-1: never)
  int connect_port = 0;  // `load` tries TCP 127.0.0.1:port and fails (exit 3) if it connects
};

bool LoadFile(const std::string& path, Loaded* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  auto env = rf::crypto::ParseEnvelope(ss.str());
  if (!env.ok()) return false;
  boost::system::error_code ec;
  auto v = boost::json::parse(env->payload, ec);
  if (ec || !v.is_object()) return false;
  const auto& o = v.get_object();
  const auto* ch = o.if_contains("channel");
  const auto* ver = o.if_contains("version");
  const auto* items = o.if_contains("items");
  if (!ch || !ch->is_string() || !ver || !ver->is_int64() || !items || !items->is_array()) return false;
  out->label = std::string(ch->get_string()) + ":" + std::to_string(ver->get_int64());
  for (const auto& it : items->get_array()) {
    if (!it.is_object()) return false;
    const auto& io = it.get_object();
    auto is = [&](const char* key, const char* value) {
      const auto* x = io.if_contains(key);
      return x && x->is_string() && x->get_string() == value;
    };
    out->crash_load |= is("crash_on", "load");
    out->crash_run |= is("crash_on", "run");
    out->hang_load |= is("hang_on", "load");
    out->oom_load |= is("oom_on", "load");
    if (is("health", "degraded") && out->health.empty()) out->health = "degraded";
    if (is("health", "failed")) out->health = "failed";
    if (const auto* p = io.if_contains("crash_after_ms"); p && p->is_string()) {
      out->crash_after_ms = std::atoll(std::string(p->get_string()).c_str());
    }
    if (const auto* p = io.if_contains("connect_port"); p && p->is_string()) {
      out->connect_port = std::atoi(std::string(p->get_string()).c_str());
    }
  }
  return true;
}

void AppendLog(const std::string& log, const std::string& line) {
  if (log.empty()) return;
  FILE* f = std::fopen(log.c_str(), "a");
  if (!f) return;
  std::fprintf(f, "%s\n", line.c_str());
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string log;
  if (args.size() >= 2 && args[0] == "--log") {
    log = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  int run_delay_ms = 0;  // a slow start: `run` waits this long before reading its files
  if (args.size() >= 2 && args[0] == "--run-delay-ms") {
    run_delay_ms = std::atoi(args[1].c_str());
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.empty()) {
    std::fprintf(stderr, "usage: agent_test_consumer [--log FILE] manifest | load FILE | run FILE...\n");
    return 2;
  }
  if (args[0] == "manifest") {
    std::printf("{\"test_rule\":{\"inputs\":4,\"schema_versions\":[1]}}\n");
    return 0;
  }
  if (args[0] == "load" && args.size() == 2) {
    Loaded l;
    if (!LoadFile(args[1], &l)) {
      std::fprintf(stderr, "cannot load %s\n", args[1].c_str());
      return 1;
    }
    AppendLog(log, "load " + l.label);
    if (l.crash_load) ::raise(SIGSEGV);
    if (l.connect_port > 0) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(l.connect_port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool connected =
          fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
      if (fd >= 0) ::close(fd);
      if (connected) {
        std::fprintf(stderr, "network reachable from load: 127.0.0.1:%d\n", l.connect_port);
        return 3;
      }
    }
    if (l.hang_load) {
      volatile uint64_t x = 0;
      while (true) x = x + 1;
    }
    if (l.oom_load) {
      std::vector<char*> blocks;
      while (true) {
        char* p = static_cast<char*>(std::malloc(64 << 20));
        if (!p) {
          std::fprintf(stderr, "out of memory\n");
          return 1;
        }
        std::memset(p, 1, 64 << 20);
        blocks.push_back(p);
      }
    }
    return 0;
  }
  if (args[0] == "run" && args.size() >= 2) {
    if (run_delay_ms > 0) ::usleep(static_cast<useconds_t>(run_delay_ms) * 1000);
    std::string labels, health;
    bool crash = false;
    int64_t crash_after_ms = -1;
    for (size_t i = 1; i < args.size(); ++i) {
      Loaded l;
      if (!LoadFile(args[i], &l)) {
        std::fprintf(stderr, "cannot load %s\n", args[i].c_str());
        return 1;
      }
      labels += " " + l.label;
      crash |= l.crash_run;
      if (l.crash_after_ms >= 0) crash_after_ms = l.crash_after_ms;
      if (health != "failed" && !l.health.empty()) health = l.health;
    }
    AppendLog(log, "run" + labels);
    std::printf("running%s\n", labels.c_str());
    std::fflush(stdout);
    if (!health.empty()) {
      // The SDK's format for a pushed health report (docs/sdk.md).
      std::fprintf(stderr, "health: %s: test content asked for it\n", health.c_str());
      std::fflush(stderr);
    }
    signal(SIGTERM, OnTerm);
    if (crash) {
      ::usleep(20'000);
      ::raise(SIGSEGV);
    }
    struct timespec start;
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    while (!g_stop) {
      ::usleep(10'000);
      if (crash_after_ms < 0) continue;
      struct timespec t;
      ::clock_gettime(CLOCK_MONOTONIC, &t);
      const int64_t ms = (t.tv_sec - start.tv_sec) * 1000 + (t.tv_nsec - start.tv_nsec) / 1'000'000;
      if (ms >= crash_after_ms) ::raise(SIGSEGV);
    }
    return 0;
  }
  std::fprintf(stderr, "unknown command '%s'\n", args[0].c_str());
  return 2;
}
