// What the end-to-end tests of `ringfence server` share: the real server binary as a child
// process, a minimal keep-alive HTTP/1.1 client, JSON accessors, principals with real Ed25519
// reviewer keys, and signed approval statements. Used by release_flow_test.cc and
// server_durability_test.cc (both in integration_test).
//
//   ServerProcess server(data_dir);            // 127.0.0.1:0, fast ticks; waits for the address
//   HttpConnection conn(server.port());
//   Response r = conn.Do("GET", "/v1/releases/r-1", token);
//   std::string phase = Str(r.Object(), "phase");
#ifndef RINGFENCE_TESTS_SERVER_HARNESS_H_
#define RINGFENCE_TESTS_SERVER_HARNESS_H_

#include <sys/types.h>

#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/crypto.h"

namespace rf::e2e {

namespace json = boost::json;

// Without trailing newlines.
std::string Trim(std::string s);
// `s` as a JSON string literal.
std::string Quote(std::string_view s);

struct ServerOptions {
  // Controller period, agents' poll interval and inventory flush period (fast for tests).
  int tick_ms = 100;
  int poll_after_s = 1;
  int flush_ms = 500;
  int threads = 2;
  // The enrollment rate limit (--enroll-rate, --enroll-burst): generous, so that test fleets
  // enroll at once; a test of the limit sets its own.
  double enroll_rate = 1000;
  double enroll_burst = 100000;
  // Where the server's stderr goes; empty: the test's own stderr.
  std::string stderr_path;
  // --listen (a fixed port for a replica that is restarted behind a balancer).
  std::string listen = "127.0.0.1:0";
  // More flags, appended (e.g. {"--header-timeout-ms", "500"}).
  std::vector<std::string> extra_args;
};

// `ringfence server --data DATA --listen 127.0.0.1:0 ...` as a child process (killed with
// SIGKILL if the test dies). The constructor returns once the server printed its address
// (port() is 0 if it never did). Destruction kills a still-running server with SIGKILL.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& data, const ServerOptions& options = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  // The child's pid while it has not been reaped; -1 after.
  pid_t pid() const { return pid_; }
  // SIGTERM and wait; the exit status (-1 if killed by a signal).
  int Terminate();
  // SIGKILL (kill -9) and wait; true if the process died of that SIGKILL (false if it had already
  // exited on its own, which a test should report).
  bool KillNine();
  // Waits for a process that was sent SIGKILL by someone else (e.g. a timer thread); as KillNine.
  bool ReapKilled();

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  FILE* out_ = nullptr;
};

struct Response {
  int status = 0;  // 0: transport failure (e.g. the server died)
  std::string head;  // status line and header fields, without the final CRLF CRLF
  std::string body;
  // The body as a JSON object (empty if it is not one).
  json::object Object() const;
  // The value of header `name` (case-insensitive), or "" if absent.
  std::string Header(std::string_view name) const;
};

// Raw sockets, for tests that speak HTTP badly on purpose (and for HttpConnection):
// a connection to 127.0.0.1:port with a receive timeout (-1 if it cannot connect); every byte
// of `data` sent (false if the peer is gone); one Content-Length framed response read from `fd`,
// keeping bytes past it in *pending (status 0 if the connection closed first). `no_body`: the
// answer to a HEAD request (Content-Length is the GET's, no body follows).
int ConnectLoopback(int port, int recv_timeout_s);
bool SendAllTo(int fd, std::string_view data);
Response ReadResponse(int fd, std::string* pending, bool no_body = false);

// One keep-alive HTTP/1.1 connection to 127.0.0.1:port (Content-Length framing, which is what the
// server sends). Reconnects once if the kept-alive connection was closed. Not thread-safe.
class HttpConnection {
 public:
  explicit HttpConnection(int port) : port_(port) {}
  ~HttpConnection() { Close(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  Response Do(const std::string& method, const std::string& path, const std::string& token,
              const std::string& body = "");

 private:
  bool Open();
  void Close();

  int port_;
  int fd_ = -1;
  std::string buf_;
};

// ----- Simulated devices (what an agent would report; no agent process) -----

struct FleetStratum {
  const char* os;
  const char* agent_version;
  int inputs;   // what the device's ipc_rule consumer supplies
  int devices;  // how many devices of this stratum the test's fleet has
};

struct SimDevice {
  explicit SimDevice(std::string device_id = "") : id(std::move(device_id)) {}
  std::string id;
  crypto::SigningKey key = crypto::SigningKey::Generate();  // the device's credential
  std::string session;                                     // its session token (check-ins)
  int stratum = 0;
  int64_t seq = 0;
  std::optional<std::pair<int64_t, std::string>> current;  // version, sha256 on channel 291
  std::optional<std::pair<int64_t, std::string>> applied;  // to report at the next check-in
  int installs = 0;                                        // install directives received
};

// The POST /v1/agent/enroll body of device `d` of stratum `s`: attrs os, agent_version, tenant
// "acme", group "prod"; an ipc_rule consumer of schema 3 supplying `s.inputs` inputs; d.key's
// public key and proof of possession (docs/protocol.md "Device credentials"), signed now.
std::string EnrollBody(const SimDevice& d, const FleetStratum& s);
// The POST /v1/agent/session body of `d`, signed now with d.key.
std::string SessionBody(const SimDevice& d);
// Keeps the session token of an enroll or session answer in d.session; false if it has none.
bool AdoptSession(SimDevice& d, const Response& r);
// The next POST /v1/agent/checkin body of `d` (increments d.seq): what it runs on channel 291,
// zero crashes and errors, and its unreported apply result (d.applied is left to the caller).
std::string CheckinBody(SimDevice& d);

// o[key] if it is a string / an int64, else "" / -1.
std::string Str(const json::object& o, std::string_view key);
int64_t Int(const json::object& o, std::string_view key);
// The `error.code` of an error response ("" if none).
std::string ErrorCode(const Response& r);

struct Principal {
  std::string name;
  std::string token;
  std::optional<crypto::SigningKey> key;  // a registered reviewer key, if any
};

// POST /v1/principals as `admin_token` (with a fresh reviewer key if `with_key`); EXPECTs 201.
Principal CreatePrincipal(HttpConnection& conn, const std::string& admin_token,
                          const std::string& name, const std::vector<std::string>& roles,
                          bool with_key);

// The body of POST /v1/releases/{id}/approvals: the approval statement of docs/protocol.md over
// `release` (a GET /v1/releases/{id} answer; reports_sha256 recomputed from the report texts it
// serves, as the reviewer's CLI does), signed with `p.key` for role "reviewer".
std::string SignedApprovalBody(const json::object& release, const Principal& p);

}  // namespace rf::e2e

#endif  // RINGFENCE_TESTS_SERVER_HARNESS_H_
