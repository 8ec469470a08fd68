// `ringfence server --data DIR --listen HOST:PORT`: the control plane and agent endpoints in one
// process.
//
// First start creates DIR (0700), DIR/admin.token and DIR/agent.token (0600, bearer tokens from the
// OS CSPRNG), DIR/release.key (the Ed25519 key that signs release statements, 0600),
// DIR/session.secret (0600; the HMAC key of device session tokens) and, at the first enrollment,
// DIR/credentials.log (device keys, revocations, resets); the directory is locked for the
// server's life (src/server/data_dir.h).
// Then: fleet inventory (DIR/fleet/), release service on DIR/ringfence.db (when the control plane
// is built in), controller, operator + agent API behind one router, HTTP server. Prints
// "listening on HOST:PORT" on stdout once it accepts connections (PORT is the bound port, so
// --listen 127.0.0.1:0 works). SIGTERM or SIGINT: graceful shutdown, exit 0. With --tls-cert and
// --tls-key it serves HTTPS only; SIGHUP reloads them (docs/server.md "TLS"). Plain HTTP on a
// non-loopback address is refused unless --insecure-http.
//
// The composition root of the server: it wires src/server (runtime) and src/service (control
// plane) together, so it lives here in src/cli, above both (scripts/check-include-cycles.py).
#ifndef RINGFENCE_CLI_SERVER_COMMAND_H_
#define RINGFENCE_CLI_SERVER_COMMAND_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "platform/env.h"
#include "server/data_dir.h"

namespace rf::server {

struct ServerFlags {
  std::string data;
  // The control-plane store (store/open_store.h): "" for SQLite in `data`, or a PostgreSQL
  // connection URI "postgresql://...". `data` still holds the secrets, lock and inventory.
  std::string store;
  std::string listen = "127.0.0.1:8080";
  int threads = 2;                        // HTTP worker threads
  // Nice increment of the operator executor's threads and what they start (layer 2); 0 = none
  // (docs/server.md "Threads and locks").
  int operator_nice = 10;
  int64_t poll_after_s = 60;              // told to agents
  int64_t header_timeout_ms = 10'000;     // slow clients are disconnected after this
  int64_t body_timeout_ms = 30'000;
  int64_t tick_ms = 1'000;                // controller period
  int64_t flush_ms = 2'000;               // fleet inventory flush period
  std::string log_level = "info";         // stderr event log: debug, info, warn, error
  // Device credentials (docs/protocol.md "Device credentials"): enrollments adding a credential
  // per second and burst (429 beyond), and the lifetime of a device's session token.
  double enroll_rate = 20;
  double enroll_burst = 200;
  int64_t session_ttl_s = 3600;
  // Layer 2 on upload: consumer command lines (program + fixed flags), one per consumer build.
  std::vector<std::string> consumers;
  int64_t layer2_memory_mb = 1024;        // address-space limit per layer-2 run (0 = none)
  // Demonstration switches (ringfence demo), never in production: no layer 1 on upload and
  // start; channel policies of 0 approvals.
  bool skip_layer1 = false;
  bool allow_unreviewed = false;
  // TLS (docs/server.md "TLS"): PEM certificate chain and private key; both or neither.
  std::string tls_cert;
  std::string tls_key;
  bool insecure_http = false;  // allow plain HTTP on a non-loopback listen address
  // Several servers on one PostgreSQL store (docs/deploy.md): the controller lease's length and
  // renew interval, and the longest wait before a change another server made is looked for
  // (notifications normally bring it at once). Unused on SQLite.
  int64_t lease_ms = 6'000;
  int64_t lease_renew_ms = 2'000;
  int64_t change_poll_ms = 500;
};

void RegisterServerCommand(CLI::App& app, int* exit_code);

// Runs until SIGTERM/SIGINT. Returns the exit code (0 after a graceful shutdown, 2 if the server
// could not start).
int RunServer(const ServerFlags& flags, Env env, std::ostream& out, std::ostream& err);

// `ringfence server rotate-secrets --data DIR [--only admin-token,agent-token,release-key]`:
// replaces secrets of a data directory no server is running on (its lock is taken). Returns 0, or
// 2 with a message on `err`.
int RunRotateSecrets(const std::string& data, const RotateOptions& what, Env env,
                     std::ostream& out, std::ostream& err);

// `ringfence server copy-store --data DIR --store postgresql://...`: copies the device
// credentials and the control plane (store/store_copy.h) of a SQLite data directory no server is
// running on (its lock is taken) into a new PostgreSQL database. Returns 0, or 2 with a message on
// `err` (src/cli/copy_store_command.cc; docs/deploy.md "Moving from SQLite to PostgreSQL").
int RunCopyStore(const std::string& data, const std::string& target, Env env, std::ostream& out,
                 std::ostream& err);

}  // namespace rf::server

#endif  // RINGFENCE_CLI_SERVER_COMMAND_H_
