// rf_enroll_devices: enrolls devices dev-0000000 .. dev-(N-1) with the server over HTTP, each with
// its own Ed25519 key and proof of possession (docs/protocol.md "Device credentials"), and writes
// "DEVICE SESSION_TOKEN" lines in device order, for checkin.lua (wrk cannot sign). Four device
// profiles (os x agent_version), all consuming ipc_rule, as before the credentials existed.
//
//   rf_enroll_devices URL FLEET_TOKEN_FILE N OUT_FILE [CONNECTIONS]
//
// Re-running it is idempotent only with the same keys: the keys are not kept, so run it once per
// data directory (a second run gets 409 key_conflict for every device).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/http_client.h"
#include "agent/protocol_client.h"
#include "platform/env.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s URL FLEET_TOKEN_FILE N OUT_FILE [CONNECTIONS]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  rf::Env env = rf::PosixEnv();
  auto token = env.fs->ReadFile(argv[2], 4096);
  if (!token.ok()) {
    std::fprintf(stderr, "%s\n", token.status().ToString().c_str());
    return 2;
  }
  while (!token->empty() && (token->back() == '\n' || token->back() == ' ')) token->pop_back();
  const int n = std::atoi(argv[3]);
  const int conns = argc > 5 ? std::atoi(argv[5]) : 8;
  const char* oses[] = {"windows", "windows", "linux", "macos"};
  const char* versions[] = {"7.11", "7.15", "7.16", "7.16"};
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < conns; ++t) {
    threads.emplace_back([&] {
      rf::agent::CurlHttpClientOptions http_options;
      if (const char* ca = std::getenv("RF_CA")) http_options.ca_file = ca;  // https:// runs
      auto http = rf::agent::NewCurlHttpClient(http_options);
      rf::agent::ProtocolClient client(http.get(), url, *token, {});
      for (int d; (d = next.fetch_add(1)) < n;) {
        char id[32];
        std::snprintf(id, sizeof id, "dev-%07d", d);
        rf::agent::DeviceInfo info;
        info.device_id = id;
        info.attrs = {{"os", oses[d % 4]}, {"agent_version", versions[d % 4]}};
        info.capabilities_json = R"({"ipc_rule":{"schema_versions":[3],"inputs":20,"max_items":5000}})";
        const rf::crypto::SigningKey key = rf::crypto::SigningKey::Generate();
        auto s = client.Enroll(info, key, env.clock->NowUnixMicros() / 1'000'000);
        if (!s.ok()) {
          if (failed.fetch_add(1) < 5) std::fprintf(stderr, "%s: %s\n", id, s.status().ToString().c_str());
          continue;
        }
        tokens[static_cast<size_t>(d)] = s->token;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::ofstream out(argv[4]);
  for (int d = 0; d < n; ++d) {
    char id[32];
    std::snprintf(id, sizeof id, "dev-%07d", d);
    out << id << ' ' << tokens[static_cast<size_t>(d)] << '\n';
  }
  std::fprintf(stderr, "enrolled %d of %d devices\n", n - failed.load(), n);
  return failed.load() == 0 ? 0 : 1;
}
