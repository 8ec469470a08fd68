// ringfence-agent: layer 5, the on-device guard. Usage and behaviour: docs/agent.md.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "agent/agent.h"
#include "agent/consumer.h"
#include "agent/http_client.h"
#include "http/transport_policy.h"
#include "platform/env.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

int Fail(const std::string& m) {
  std::fprintf(stderr, "ringfence-agent: %s\n", m.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // First: a stop request at any moment ends the loop cleanly (the consumer is stopped with it).
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"ringfence-agent: verifies, pre-flights, applies and guards content on this device"};
  std::string server, token_file, state_dir, trust_file, consumer, manifest_file, device_id;
  std::string manifest_args = "manifest", load_args = "load {bundle}", run_args = "run {bundles}";
  std::vector<std::string> attrs;
  bool once = false, no_preflight = false, oneshot = false;
  rf::agent::AgentOptions o;
  int64_t preflight_mem_mb = 2048;
  app.add_option("--server", server,
                 "server base URL, e.g. https://fleet.example.com:8443 (omit: offline)");
  std::string ca_file;
  bool insecure_http = false;
  app.add_option("--ca", ca_file, "PEM CA certificate(s) the server's TLS certificate must chain to "
                                  "(default: the system's)");
  app.add_flag("--insecure-http", insecure_http,
               "allow plain http:// to a non-loopback server (the token travels unencrypted)");
  app.add_option("--token", token_file, "file holding the agent enrollment token");
  app.add_option("--state", state_dir, "state directory (slots, state.json)")->required();
  app.add_option("--trust", trust_file, "trust root (trust.json, docs/agent.md)")->required();
  app.add_option("--consumer", consumer, "consumer command line, e.g. 'ringfence-sensor --mode legacy'");
  app.add_option("--consumer-manifest-args", manifest_args, "arguments appended for the manifest")
      ->capture_default_str();
  app.add_option("--consumer-load-args", load_args, "arguments appended for pre-flight ({bundle})")
      ->capture_default_str();
  app.add_option("--consumer-run-args", run_args, "arguments appended to run it ({bundle}, {bundles})")
      ->capture_default_str();
  app.add_flag("--consumer-oneshot", oneshot,
               "the run command loads and exits (exit 0 = healthy), e.g. --consumer-run-args 'load {bundle}'");
  app.add_option("--manifest", manifest_file, "capability manifest JSON file (instead of asking the consumer)");
  app.add_option("--device-id", device_id, "device id ([A-Za-z0-9._:-], 1-128)");
  app.add_option("--attr", attrs, "device attribute k=v (repeatable)");
  app.add_flag("--once", once, "one check-in round, then exit (no supervision)");
  app.add_flag("--no-preflight", no_preflight, "apply without the pre-flight load");
  app.add_option("--poll-min", o.poll_min_s, "lower clamp on the server's poll_after_s (s)")->capture_default_str();
  app.add_option("--poll-max", o.poll_max_s, "upper clamp on the server's poll_after_s (s)")->capture_default_str();
  app.add_option("--poll-default", o.poll_default_s, "poll interval before the server says (s)")->capture_default_str();
  app.add_option("--backoff-base-ms", o.backoff_base_ms, "first retry window after a failure")->capture_default_str();
  app.add_option("--backoff-max-ms", o.backoff_max_ms, "largest retry window")->capture_default_str();
  app.add_option("--healthy-after-ms", o.healthy_after_ms,
                 "consumer uptime after which the host counts as up")->capture_default_str();
  app.add_option("--lkg-after-ms", o.lkg_after_ms,
                 "run time on new content before it becomes the last known good (clean restarts "
                 "included), when its install directive does not carry the plan's lkg_after_ms")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{7 * 86'400'000}));
  app.add_option("--max-unclean-starts", o.guard.max_unclean_starts,
                 "unclean starts before quarantine (0: the guard never reverts; demonstrations only)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1000}));
  app.add_flag("--host-crash-on-consumer-crash", o.host_crash_on_consumer_crash,
               "model a kernel-mode consumer: its crash takes the host down (exit 86 at once, no "
               "report); demonstrations and tests only");
  app.add_option("--restart-delay-ms", o.restart_delay_ms, "first consumer restart delay")->capture_default_str();
  app.add_option("--tick-ms", o.tick_ms, "supervision tick")->capture_default_str();
  app.add_option("--preflight-cpu-s", o.consumer.preflight_limits.cpu_seconds, "pre-flight CPU limit (0: none)")
      ->capture_default_str();
  app.add_option("--preflight-mem-mb", preflight_mem_mb, "pre-flight address-space limit (0: none)")
      ->capture_default_str();
  app.add_option("--preflight-timeout-ms", o.consumer.preflight_limits.wall_timeout_ms, "pre-flight wall time")
      ->capture_default_str();
  app.add_option("--max-bundle-bytes", o.limits.max_bundle_bytes, "largest bundle download")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!server.empty()) {
    if (rf::Status st = rf::http::CheckClientUrl(server, insecure_http); !st.ok()) {
      return Fail("--server: " + st.message());
    }
  }

  rf::Env env = rf::PosixEnv();
  auto trust_text = env.fs->ReadFile(trust_file, 1 << 20);
  if (!trust_text.ok()) return Fail(trust_text.status().ToString());
  auto trust = rf::agent::ParseTrustRoot(*trust_text);
  if (!trust.ok()) return Fail(trust_file + ": " + trust.status().message());
  o.trust = std::move(*trust);
  o.server_url = server;
  o.state_dir = state_dir;
  o.preflight = !no_preflight;
  o.consumer.preflight_limits.address_space_bytes = preflight_mem_mb << 20;
  if (!server.empty()) {
    if (token_file.empty()) return Fail("--server needs --token");
    if (device_id.empty()) return Fail("--server needs --device-id");
    auto tok = env.fs->ReadFile(token_file, 4096);
    if (!tok.ok()) return Fail(tok.status().ToString());
    o.token = *tok;
    while (!o.token.empty() && (o.token.back() == '\n' || o.token.back() == '\r' || o.token.back() == ' ')) {
      o.token.pop_back();
    }
  } else if (once) {
    return Fail("--once needs --server");
  }
  o.device.device_id = device_id;
  for (const auto& a : attrs) {
    auto eq = a.find('=');
    if (eq == std::string::npos) return Fail("--attr expects k=v, got '" + a + "'");
    o.device.attrs[a.substr(0, eq)] = a.substr(eq + 1);
  }
  if (!manifest_file.empty()) {
    auto m = env.fs->ReadFile(manifest_file, 64 << 10);
    if (!m.ok()) return Fail(m.status().ToString());
    o.device.capabilities_json = *m;
  }
  if (!consumer.empty()) {
    rf::Status s = rf::agent::SetConsumerCommandLines(consumer, manifest_args, load_args, run_args,
                                                      &o.consumer);
    if (!s.ok()) return Fail(s.ToString());
    if (oneshot) o.consumer.run_mode = rf::agent::RunMode::kOneShot;
  }

  rf::agent::FaultPoints faults;
  if (const char* k = std::getenv("RINGFENCE_AGENT_KILL_AT")) faults.KillAt(std::atoll(k));
  if (const char* t = std::getenv("RINGFENCE_AGENT_FAULT_TRACE")) faults.set_trace(t[0] == '1');
  rf::agent::CurlHttpClientOptions http_options;
  http_options.ca_file = ca_file;
  http_options.insecure_http = insecure_http;
  http_options.on_chunk = [&faults](size_t) { faults.Hit("download.chunk"); };
  std::unique_ptr<rf::agent::HttpClient> http;
  if (!server.empty()) http = rf::agent::NewCurlHttpClient(http_options);
  rf::agent::RealSleeper sleeper;

  rf::agent::Agent agent(std::move(o), env, &sleeper, http.get(), &faults);
  if (rf::Status s = agent.Open(); !s.ok()) return Fail(s.ToString());
  if (once) {
    rf::Status s = agent.CheckinRound();
    return s.ok() ? 0 : 1;
  }
  agent.Run(&g_stop);
  // The host-crash model's "host went down": a distinctive code for whoever plays the host.
  return agent.host_crashed() ? rf::agent::kHostCrashExitCode : 0;
}
