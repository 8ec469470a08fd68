// Integration tests of `ringfence server`: the real binary on 127.0.0.1, port 0, a fresh data
// directory per test, spoken to over plain sockets (tests/server_harness).
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "platform/env.h"
#include "server_harness.h"
#include "testing/test_util.h"

namespace rf {
namespace {

using e2e::ReadResponse;
using e2e::Response;
using e2e::ServerOptions;
using e2e::ServerProcess;
using e2e::Trim;
using testing::ReadFileOrDie;
using testing::TempDir;

int Connect(int port) { return e2e::ConnectLoopback(port, 10); }
void SendAll(int fd, const std::string& data) { (void)e2e::SendAllTo(fd, data); }

// The server's own defaults (poll 60 s, 1 s ticks, 2 s flush), plus `extra` flags.
ServerOptions Defaults(std::vector<std::string> extra = {}) {
  ServerOptions o;
  o.tick_ms = 1000;
  o.poll_after_s = 60;
  o.flush_ms = 2000;
  o.extra_args = std::move(extra);
  return o;
}

std::string Request(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body, bool keep_alive = false) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  if (!keep_alive) r += "Connection: close\r\n";
  if (!body.empty() || method == "POST") {
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

Response Call(int port, const std::string& method, const std::string& path,
              const std::string& token, const std::string& body = "") {
  int fd = Connect(port);
  if (fd < 0) return {};
  SendAll(fd, Request(method, path, token, body));
  std::string pending;
  Response r = ReadResponse(fd, &pending);
  close(fd);
  return r;
}

constexpr e2e::FleetStratum kStratum = {"windows", "7.11", 20, 1};

// A whole HTTP exchange on its own connection, as raw bytes (for response headers).
std::string RawCall(int port, const std::string& method, const std::string& path,
                    const std::string& token, const std::string& body) {
  int fd = Connect(port);
  if (fd < 0) return "";
  SendAll(fd, Request(method, path, token, body));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        dir_.File("data"), Defaults({"--header-timeout-ms", "500", "--body-timeout-ms", "500"}));
    ASSERT_GT(server_->port(), 0) << "server did not print its address";
    agent_ = Trim(ReadFileOrDie(dir_.File("data/agent.token")));
    admin_ = Trim(ReadFileOrDie(dir_.File("data/admin.token")));
  }
  void ExpectServing() {
    Response r = Call(server_->port(), "GET", "/healthz", "");
    EXPECT_EQ(r.status, 200);
  }
  // Enrolls `d` with the fleet token; keeps its session token.
  Response Enroll(e2e::SimDevice& d) {
    Response r = Call(server_->port(), "POST", "/v1/agent/enroll", agent_, e2e::EnrollBody(d, kStratum));
    if (r.status == 200) e2e::AdoptSession(d, r);
    return r;
  }
  Response Enroll() { return Enroll(d1_); }
  // A check-in with d1_'s session token.
  Response Checkin(const std::string& body) {
    return Call(server_->port(), "POST", "/v1/agent/checkin", d1_.session, body);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string agent_, admin_;
  e2e::SimDevice d1_{std::string("d-1")};
};

TEST_F(ServerTest, FirstStartCreatesPrivateTokensAndKey) {
  for (const char* f : {"admin.token", "agent.token", "release.key"}) {
    struct stat st;
    ASSERT_EQ(stat(dir_.File(std::string("data/") + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_GE(agent_.size(), 32u);
  EXPECT_NE(agent_, admin_);
  Response trust = Call(server_->port(), "GET", "/v1/trust", agent_);
  EXPECT_EQ(trust.status, 200);
  EXPECT_NE(trust.body.find("release_keys"), std::string::npos);
}

TEST_F(ServerTest, EnrollAndCheckinOverHttp) {
  Response e = Enroll();
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e2e::Str(e.Object(), "device_id"), "d-1");
  EXPECT_EQ(e2e::Int(e.Object(), "poll_after_s"), 60);
  EXPECT_EQ(d1_.session.rfind("rfs1~d-1~1~", 0), 0u) << e.body;
  Response c = Checkin(R"({"device_id":"d-1","seq":1,"health":{"crashes":0}})");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_NE(c.body.find(R"("channels":{})"), std::string::npos) << c.body;
  // Keep-alive: two requests on one connection.
  int fd = Connect(server_->port());
  SendAll(fd, Request("POST", "/v1/agent/checkin", d1_.session, R"({"device_id":"d-1","seq":2})", true) +
                  Request("POST", "/v1/agent/checkin", d1_.session, R"({"device_id":"d-1","seq":3})", true));
  std::string pending;
  EXPECT_EQ(ReadResponse(fd, &pending).status, 200);
  EXPECT_EQ(ReadResponse(fd, &pending).status, 200);
  close(fd);
  Response m = Call(server_->port(), "GET", "/metrics", "");
  EXPECT_NE(m.body.find("ringfence_checkins_total 3"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("ringfence_devices 1"), std::string::npos);
}

TEST_F(ServerTest, BadInputGetsClearErrorsAndChangesNothing) {
  ASSERT_EQ(Enroll().status, 200);
  struct Case {
    std::string body;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"{not json", 400, "invalid_request"},
      {R"({"device_id":"d-1","seq":5,"colour":"red"})", 400, "invalid_request"},
      {R"({"device_id":"d-1","seq":"5"})", 400, "invalid_request"},
      {R"({"device_id":"d-1","seq":5,"health":{"crashes":"many"}})", 400, "invalid_request"},
      {R"({"device_id":"nobody","seq":5})", 403, "forbidden_device"},
      {R"({"device_id":"d-1","seq":5,"attrs":{"os":"x"},"health":{"apply":[{}]}})", 400,
       "invalid_request"},
  };
  for (const Case& c : cases) {
    Response r = Checkin(c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_NE(r.body.find("\"code\":\"" + c.code + "\""), std::string::npos) << r.body;
  }
  // None of them was stored: seq 1 is still acceptable, then replays are 409.
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":1})").status, 200);
  Response replay = Checkin(R"({"device_id":"d-1","seq":1})");
  EXPECT_EQ(replay.status, 409);
  EXPECT_NE(replay.body.find("stale_checkin"), std::string::npos);
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":7})").status, 200);
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":6})").status, 409);  // out of order

  // Oversized body: 413 (the header announces it; and a chunked one that grows past it).
  Response big = Checkin(R"({"device_id":"d-1","seq":9,"attrs":{"os":")" + std::string(70000, 'x') +
                         "\"}}");
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("body_too_large"), std::string::npos);

  // Tokens.
  EXPECT_EQ(Call(server_->port(), "POST", "/v1/agent/checkin", "", R"({"device_id":"d-1","seq":10})").status,
            401);
  EXPECT_EQ(Call(server_->port(), "POST", "/v1/agent/checkin", "wrong-token", R"({"device_id":"d-1","seq":10})").status,
            401);
  // The fleet token does not check in (it only enrolls).
  EXPECT_EQ(Call(server_->port(), "POST", "/v1/agent/checkin", agent_, R"({"device_id":"d-1","seq":10})").status,
            401);
  for (const char* path : {"/v1/releases", "/v1/bundles", "/v1/audit", "/v1/anything"}) {
    Response r = Call(server_->port(), "GET", path, agent_);
    EXPECT_EQ(r.status, 403) << path << " " << r.body;
    EXPECT_NE(r.body.find("forbidden_role"), std::string::npos);
  }
  EXPECT_EQ(Call(server_->port(), "GET", "/v1/bundles/" + std::string(64, 'a'), agent_).status, 404);
  ExpectServing();
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":10})").status, 200);
}

TEST_F(ServerTest, SlowClientIsDisconnectedAndOthersAreServed) {
  int slow = Connect(server_->port());
  ASSERT_GE(slow, 0);
  SendAll(slow, "POST /v1/agent/checkin HTTP/1.1\r\nHost: x\r\n");  // and then nothing
  ExpectServing();  // meanwhile others are served
  char buf[16];
  const ssize_t n = recv(slow, buf, sizeof buf, 0);  // header timeout is 500 ms
  EXPECT_LE(n, 0) << "the server should close a connection whose header never completes";
  close(slow);
  // A body that never arrives is cut off too.
  int slow_body = Connect(server_->port());
  SendAll(slow_body, "POST /v1/agent/checkin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + agent_ +
                         "\r\nContent-Length: 100\r\n\r\n{\"dev");
  ExpectServing();
  EXPECT_LE(recv(slow_body, buf, sizeof buf, 0), 0) << "a body that never completes is cut off";
  close(slow_body);
  ExpectServing();
}

TEST_F(ServerTest, GarbageDoesNotStopTheServer) {
  int fd = Connect(server_->port());
  // A TLS ClientHello's first bytes (with a NUL), then text. Regression: the length was a hand
  // count (30) past the end of this 25-byte literal; ASan caught the over-read.
  static constexpr char kGarbage[] = "\x16\x03\x01\x02\x00 not http at all\r\n\r\n";
  SendAll(fd, std::string(kGarbage, sizeof kGarbage - 1));
  char buf[256];
  (void)recv(fd, buf, sizeof buf, 0);
  close(fd);
  fd = Connect(server_->port());
  SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n" + std::string(20000, 'a') + "\r\n\r\n");
  (void)recv(fd, buf, sizeof buf, 0);
  close(fd);
  ExpectServing();
}

// ----- HTTP/1.1 conformance (RFC 9110 / 9112), each case on a raw socket -----

// Sends `raw` on a new connection and reads one response (`no_body`: the answer to a HEAD).
Response Raw(int port, const std::string& raw, bool no_body = false) {
  int fd = Connect(port);
  if (fd < 0) return {};
  SendAll(fd, raw);
  std::string pending;
  Response r = ReadResponse(fd, &pending, no_body);
  close(fd);
  return r;
}

// True if the server closes `fd` (reads until EOF; false on a timeout or further data).
bool ClosedByServer(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0) return false;
  }
}

TEST_F(ServerTest, GarbageRequestLineGets400AndClose) {
  int fd = Connect(server_->port());
  SendAll(fd, "\x16\x03\x01\x02 not http at all\r\n\r\n");
  std::string pending;
  Response r = ReadResponse(fd, &pending);
  EXPECT_EQ(r.status, 400) << r.head;
  EXPECT_EQ(e2e::ErrorCode(r), "bad_request") << r.body;
  EXPECT_EQ(r.Header("Connection"), "close");
  EXPECT_TRUE(ClosedByServer(fd));
  close(fd);
  ExpectServing();
}

TEST_F(ServerTest, OversizedHeaderGets431) {
  Response r = Raw(server_->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                        std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(r.status, 431) << r.head;
  EXPECT_EQ(e2e::ErrorCode(r), "header_too_large") << r.body;
  EXPECT_EQ(r.Header("Connection"), "close");
  ExpectServing();
}

TEST_F(ServerTest, ContentLengthWithChunkedGets400AndIsNotProcessed) {
  const std::string enroll = e2e::EnrollBody(d1_, kStratum);
  const std::string chunk = [&enroll] {
    char n[16];
    std::snprintf(n, sizeof n, "%zx", enroll.size());
    return std::string(n) + "\r\n" + enroll + "\r\n0\r\n\r\n";
  }();
  Response r = Raw(server_->port(),
                   "POST /v1/agent/enroll HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + agent_ +
                       "\r\nContent-Length: " + std::to_string(chunk.size()) +
                       "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk);
  EXPECT_EQ(r.status, 400) << r.head;
  EXPECT_EQ(e2e::ErrorCode(r), "bad_request") << r.body;
  // Nothing was enrolled: the device has no credential.
  Response c = Call(server_->port(), "GET", "/v1/fleet/devices/d-1/credential", admin_);
  EXPECT_EQ(c.status, 404) << c.body;
}

TEST_F(ServerTest, MissingHostOnHttp11Gets400) {
  Response r = Raw(server_->port(), "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.head;
  EXPECT_NE(r.body.find("Host"), std::string::npos) << r.body;
  Response twice = Raw(server_->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  EXPECT_EQ(twice.status, 400) << twice.head;
  // HTTP/1.0 has no Host requirement.
  EXPECT_EQ(Raw(server_->port(), "GET /healthz HTTP/1.0\r\n\r\n").status, 200);
}

TEST_F(ServerTest, MethodNotAllowedNamesTheAllowedMethods) {
  struct Case {
    std::string method, path, allow;
  };
  const std::vector<Case> cases = {
      {"GET", "/v1/agent/checkin", "POST"},
      {"PUT", "/v1/agent/enroll", "POST"},
      {"DELETE", "/v1/trust", "GET, HEAD"},
      {"POST", "/v1/bundles/" + std::string(64, 'a'), "GET, HEAD"},
      {"POST", "/healthz", "GET, HEAD"},
      {"PUT", "/metrics", "GET, HEAD"},
  };
  for (const Case& c : cases) {
    Response r = Call(server_->port(), c.method, c.path, agent_, c.method == "GET" ? "" : "{}");
    EXPECT_EQ(r.status, 405) << c.method << " " << c.path << " " << r.body;
    EXPECT_EQ(r.Header("Allow"), c.allow) << c.method << " " << c.path;
    EXPECT_EQ(e2e::ErrorCode(r), "method_not_allowed");
  }
}

TEST_F(ServerTest, UnauthenticatedAnswersCarryWwwAuthenticate) {
  for (const auto& [path, token] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/agent/checkin", ""}, {"/v1/agent/checkin", "wrong"}, {"/v1/releases", ""},
           {"/v1/releases", "wrong"}}) {
    Response r = Call(server_->port(), path == "/v1/releases" ? "GET" : "POST", path, token,
                      path == "/v1/releases" ? "" : "{}");
    EXPECT_EQ(r.status, 401) << path << " " << r.body;
    EXPECT_EQ(r.Header("WWW-Authenticate"), "Bearer realm=\"ringfence\"") << path << "\n" << r.head;
  }
}

// Every response, including the ones the HTTP layer makes itself, has an IMF-fixdate Date close
// to now.
TEST_F(ServerTest, EveryResponseHasADate) {
  const std::vector<Response> responses = {
      Call(server_->port(), "GET", "/healthz", ""),
      Call(server_->port(), "GET", "/nowhere", admin_),
      Call(server_->port(), "POST", "/v1/agent/checkin", "", "{}"),
      Raw(server_->port(), "BAD REQUEST LINE\r\n\r\n"),
  };
  const int64_t now_s = PosixEnv().clock->NowUnixMicros() / 1'000'000;
  for (const Response& r : responses) {
    ASSERT_NE(r.status, 0);
    const std::string date = r.Header("Date");
    struct tm tm {};
    const char* end = strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ASSERT_TRUE(end != nullptr && *end == '\0') << "not an IMF-fixdate: '" << date << "'\n" << r.head;
    EXPECT_EQ(date.size(), 29u) << date;
    EXPECT_LE(std::llabs(static_cast<long long>(timegm(&tm)) - now_s), 3600) << date;
  }
}

TEST_F(ServerTest, HeadGivesTheGetsLengthWithoutABody) {
  Response get = Call(server_->port(), "GET", "/v1/trust", agent_);
  ASSERT_EQ(get.status, 200);
  ASSERT_FALSE(get.body.empty());
  // HEAD then GET on one keep-alive connection: had the HEAD answer carried a body, the second
  // response would be read from the middle of it.
  int fd = Connect(server_->port());
  SendAll(fd, Request("HEAD", "/v1/trust", agent_, "", true) +
                  Request("GET", "/healthz", "", "", true));
  std::string pending;
  Response head = ReadResponse(fd, &pending, /*no_body=*/true);
  EXPECT_EQ(head.status, 200) << head.head;
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(get.body.size()));
  Response next = ReadResponse(fd, &pending);
  EXPECT_EQ(next.status, 200) << next.head;
  EXPECT_EQ(next.body, "{\"status\":\"ok\"}");
  close(fd);
}

// The operator API's route table used to answer HEAD with 405: HEAD is served as GET everywhere.
TEST_F(ServerTest, HeadOnAnOperatorPathHasTheGetsLength) {
  Response get = Call(server_->port(), "GET", "/v1/principals", admin_);
  ASSERT_EQ(get.status, 200) << get.body;
  int fd = Connect(server_->port());
  SendAll(fd, Request("HEAD", "/v1/principals", admin_, "", true) +
                  Request("GET", "/healthz", "", "", true));
  std::string pending;
  Response head = ReadResponse(fd, &pending, /*no_body=*/true);
  EXPECT_EQ(head.status, 200) << head.head;
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(get.body.size()));
  Response next = ReadResponse(fd, &pending);
  EXPECT_EQ(next.body, "{\"status\":\"ok\"}");
  close(fd);
}

TEST_F(ServerTest, ExpectContinueGets100BeforeTheBodyIsSent) {
  ASSERT_EQ(Enroll().status, 200);
  const std::string body = R"({"device_id":"d-1","seq":1})";
  int fd = Connect(server_->port());
  SendAll(fd, "POST /v1/agent/checkin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + d1_.session +
                  "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\n\r\n");
  std::string pending;
  Response interim = ReadResponse(fd, &pending);  // the body has not been sent yet
  EXPECT_EQ(interim.status, 100) << interim.head;
  SendAll(fd, body);
  Response final_response = ReadResponse(fd, &pending);
  EXPECT_EQ(final_response.status, 200) << final_response.body;
  close(fd);
  // Refused on the header alone: the final status, no 100, and the body is never read.
  Response big = Raw(server_->port(), "POST /v1/agent/checkin HTTP/1.1\r\nHost: x\r\nExpect: "
                                      "100-continue\r\nContent-Length: 10000000\r\n\r\n");
  EXPECT_EQ(big.status, 413) << big.head;
  Response odd = Raw(server_->port(), "POST /v1/agent/checkin HTTP/1.1\r\nHost: x\r\nExpect: "
                                      "something-else\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(odd.status, 417) << odd.head;
}

// The same, seen by an independent client: curl prints the interim response it received.
TEST_F(ServerTest, CurlSeesContinueAndTheFinalAnswer) {
  if (access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/curl";
  ASSERT_EQ(Enroll().status, 200);
  auto r = testing::RunCommand(
      {"/usr/bin/curl", "-sS", "-v", "--http1.1", "--max-time", "60", "-X", "POST", "-H",
       "Expect: 100-continue", "-H", "Authorization: Bearer " + d1_.session, "-H",
       "Content-Type: application/json", "--data-binary", R"({"device_id":"d-1","seq":2})",
       "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1/agent/checkin"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("< HTTP/1.1 100 Continue"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("< HTTP/1.1 200 OK"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("\"channels\""), std::string::npos) << r.out;
}

TEST_F(ServerTest, SigtermExitsCleanlyAndKeepsTheFleet) {
  ASSERT_EQ(Enroll().status, 200);
  ASSERT_EQ(Checkin(R"({"device_id":"d-1","seq":4})").status, 200);
  // An idle keep-alive connection must not hold up the shutdown.
  int idle = Connect(server_->port());
  EXPECT_EQ(server_->Terminate(), 0);
  close(idle);
  // Restart on the same data: same tokens, the device and its seq survived (flushed at shutdown).
  server_ = std::make_unique<ServerProcess>(dir_.File("data"), Defaults());
  ASSERT_GT(server_->port(), 0);
  EXPECT_EQ(Trim(ReadFileOrDie(dir_.File("data/agent.token"))), agent_);
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":4})").status, 409);
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":5})").status, 200);
  EXPECT_EQ(server_->Terminate(), 0);
}

// Issue 10, item 2: a credential per device. Forged check-ins, a second key for an enrolled id,
// revocation (through the CLI) and its durability across kill -9.
TEST_F(ServerTest, EachDeviceChecksInOnlyAsItselfAndRevocationIsDurable) {
  e2e::SimDevice d2("d-2");
  ASSERT_EQ(Enroll().status, 200);
  ASSERT_EQ(Enroll(d2).status, 200);
  ASSERT_EQ(Checkin(R"({"device_id":"d-1","seq":1})").status, 200);
  // d-1 reports crashes as d-2: refused.
  Response forged = Checkin(R"({"device_id":"d-2","seq":1,"health":{"crashes":5}})");
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_EQ(e2e::ErrorCode(forged), "forbidden_device");
  // Someone with the fleet token enrolls d-1 again with another key: refused, d-1 unaffected.
  e2e::SimDevice impostor("d-1");
  Response conflict = Enroll(impostor);
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_EQ(e2e::ErrorCode(conflict), "key_conflict");
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":2})").status, 200);

  // An operator revokes d-1 with the CLI.
  testing::WriteFileOrDie(dir_.File("admin.tok"), admin_ + "\n");
  const std::string url = "http://127.0.0.1:" + std::to_string(server_->port());
  auto cli = testing::RunCommand({testing::RingfenceBinary(), "--server", url, "--token",
                                  dir_.File("admin.tok"), "fleet", "revoke", "d-1"});
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_NE(cli.out.find("credential revoked"), std::string::npos) << cli.out;
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":3})").status, 401);
  EXPECT_EQ(Enroll().status, 403);
  // The agent token cannot revoke.
  testing::WriteFileOrDie(dir_.File("agent.tok"), agent_ + "\n");
  cli = testing::RunCommand({testing::RingfenceBinary(), "--server", url, "--token",
                             dir_.File("agent.tok"), "fleet", "revoke", "d-2"});
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;

  // kill -9 and restart: the revocation, d-2's key and its session token all survived.
  ASSERT_TRUE(server_->KillNine());
  server_ = std::make_unique<ServerProcess>(dir_.File("data"), Defaults());
  ASSERT_GT(server_->port(), 0);
  struct stat st;
  for (const char* f : {"session.secret", "credentials.log"}) {
    ASSERT_EQ(stat(dir_.File(std::string("data/") + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_EQ(Checkin(R"({"device_id":"d-1","seq":4})").status, 401);
  Response r2 = Call(server_->port(), "POST", "/v1/agent/checkin", d2.session,
                     R"({"device_id":"d-2","seq":1})");
  EXPECT_TRUE(r2.status == 200 || e2e::ErrorCode(r2) == "unknown_device") << r2.body;
  EXPECT_EQ(Enroll(impostor).status, 403);  // still revoked (not free for another key)
  // Reset: d-1 may enroll with a new key.
  cli = testing::RunCommand({testing::RingfenceBinary(), "--server", url.substr(0, url.rfind(':') + 1) +
                                 std::to_string(server_->port()), "--token", dir_.File("admin.tok"),
                             "fleet", "reset", "d-1"});
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  ASSERT_EQ(Enroll(impostor).status, 200);
  EXPECT_EQ(Call(server_->port(), "POST", "/v1/agent/checkin", impostor.session,
                 R"({"device_id":"d-1","seq":10})").status, 200);
}

TEST_F(ServerTest, EnrollmentRateLimitIs429WithRetryAfter) {
  server_.reset();
  ServerOptions o = Defaults();
  o.enroll_rate = 0.01;  // one per 100 s
  o.enroll_burst = 2;
  server_ = std::make_unique<ServerProcess>(dir_.File("data"), o);
  ASSERT_GT(server_->port(), 0);
  std::vector<e2e::SimDevice> d;
  for (int i = 0; i < 3; ++i) d.push_back(e2e::SimDevice("dev-" + std::to_string(i)));
  ASSERT_EQ(Enroll(d[0]).status, 200);
  ASSERT_EQ(Enroll(d[1]).status, 200);
  const std::string raw =
      RawCall(server_->port(), "POST", "/v1/agent/enroll", agent_, e2e::EnrollBody(d[2], kStratum));
  EXPECT_EQ(raw.rfind("HTTP/1.1 429", 0), 0u) << raw;
  EXPECT_NE(raw.find("Retry-After: "), std::string::npos) << raw;
  EXPECT_NE(raw.find("rate_limited"), std::string::npos) << raw;
  // Re-enrolling an enrolled device with its own key is not limited (agents recovering).
  EXPECT_EQ(Enroll(d[0]).status, 200);
  Response m = Call(server_->port(), "GET", "/metrics", "");
  EXPECT_NE(m.body.find("ringfence_devices 2"), std::string::npos) << m.body;
}

}  // namespace
}  // namespace rf
