// rf_enroll_devices: enrolls devices dev-0000000 .. dev-(N-1) with the server over HTTP, each with
// its own Ed25519 key and proof of possession (docs/protocol.md "Device credentials"), and writes
// "DEVICE SESSION_TOKEN" lines in device order, for checkin.lua (wrk cannot sign). Four device
// profiles (os x agent_version), all consuming ipc_rule, as before the credentials existed.
//
//   rf_enroll_devices URL FLEET_TOKEN_FILE N OUT_FILE [CONNECTIONS]
//
// Re-running it is idempotent only with the same keys: by default each key is random and not
// kept, so run it once per data directory (a second run gets 409 key_conflict for every device).
// With RF_KEY_SEED set, device d's key is derived from the seed and its id (SHA-256 of both, as
// the Ed25519 seed): the same on every run, so enrolling again is answered from the server's
// memory (the same key: 200, no change written). Benchmark keys only: anyone with the seed text
// has every key.
//
//   RF_KEY_SEED=S rf_enroll_devices --write-credentials journal|pg FIRST N OUT_FILE
//
// writes the credentials of devices FIRST .. N-1 (keys from RF_KEY_SEED, epoch 1, active) without
// a server, so that a benchmark can start with a large enrolled fleet without waiting for a
// million durable enrollments: `journal`, the lines of a SQLite server's DATA/credentials.log
// (src/server/credential_journal.h), header included; `pg`, rows of the PostgreSQL table
// device_credentials (docs/deploy.md "Device credentials") for COPY ... FROM (text format), with
// seq 1 .. N-FIRST. Not an operator tool: the server writes these through the API (enrollment);
// bench/cluster_load/run.sh measures that path on a sample and seeds the rest with this.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/http_client.h"
#include "crypto/crypto.h"
#include "agent/protocol_client.h"
#include "platform/env.h"

namespace {

// Device `id`'s key: derived from RF_KEY_SEED when set, else random.
rf::crypto::SigningKey DeviceKey(const char* seed, const char* id) {
  if (seed == nullptr) return rf::crypto::SigningKey::Generate();
  const rf::crypto::Sha256Digest d =
      rf::crypto::Sha256(std::string("rf-bench-device-key:") + seed + ":" + id);
  auto key = rf::crypto::SigningKey::FromSeed(
      std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
  return *key;  // a 32-byte seed always makes a key
}

int WriteCredentials(int argc, char** argv, int64_t now_s) {
  const char* seed = std::getenv("RF_KEY_SEED");
  if (argc < 6 || seed == nullptr) {
    std::fprintf(stderr, "usage: RF_KEY_SEED=S %s --write-credentials journal|pg FIRST N OUT_FILE\n",
                 argv[0]);
    return 2;
  }
  const std::string format = argv[2];
  if (format != "journal" && format != "pg") {
    std::fprintf(stderr, "unknown format '%s' (journal or pg)\n", format.c_str());
    return 2;
  }
  const int first = std::atoi(argv[3]), n = std::atoi(argv[4]);
  std::ofstream out(argv[5]);
  if (format == "journal") out << "ringfence-credentials v1\n";
  for (int d = first; d < n; ++d) {
    char id[32];
    std::snprintf(id, sizeof id, "dev-%07d", d);
    const rf::crypto::SigningKey key = DeviceKey(seed, id);
    const std::string hex = rf::crypto::ToHex(std::string_view(
        reinterpret_cast<const char*>(key.public_key().bytes.data()), 32));
    if (format == "journal") {
      out << "K " << id << ' ' << hex << " 1 " << now_s << '\n';
    } else {  // device_id public_key epoch state seq changed_by changed_s
      out << id << '\t' << hex << "\t1\tactive\t" << (d - first + 1) << "\tbench-seed\t" << now_s
          << '\n';
    }
  }
  out.close();
  if (!out) {
    std::fprintf(stderr, "could not write %s\n", argv[5]);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  rf::Env env = rf::PosixEnv();
  if (argc > 1 && std::string(argv[1]) == "--write-credentials") {
    return WriteCredentials(argc, argv, env.clock->NowUnixMicros() / 1'000'000);
  }
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s URL FLEET_TOKEN_FILE N OUT_FILE [CONNECTIONS]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  const char* seed = std::getenv("RF_KEY_SEED");
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
        const rf::crypto::SigningKey key = DeviceKey(seed, id);
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
