// TLS end to end (docs/server.md "TLS"): the real `ringfence server` with a certificate made here
// by the `openssl` command line, the real `ringfence-agent` and the CLI's HTTP client checking in
// and calling over HTTPS with --ca; a wrong CA refused; plain HTTP off loopback refused by the
// server, the agent and the CLI; SIGHUP swaps the certificate new connections get.
#include <signal.h>
#include <unistd.h>

#include <chrono>  // sleep_for
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "http/http_client.h"
#include "platform/env.h"
#include "server_harness.h"
#include "testing/test_util.h"

namespace rf {
namespace {

using e2e::ServerOptions;
using e2e::ServerProcess;
using e2e::Trim;
using testing::ReadFileOrDie;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteFileOrDie;

constexpr const char* kOpenssl = "/usr/bin/openssl";

std::string AgentBinary() { return testing::BinaryPath("apps/ringfence-agent/ringfence-agent"); }

// Runs the openssl command line; fails the test with its stderr if it does not exit 0.
void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kOpenssl};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << "openssl " << args[0] << ": " << r.err;
}

// A CA (NAME-ca.crt, NAME-ca.key) and a server certificate it signs for 127.0.0.1 and localhost
// (NAME.crt, NAME.key), all ECDSA P-256, in `dir`.
void MakeCaAndServerCert(const TempDir& dir, const std::string& name) {
  const std::string ca = dir.File(name + "-ca");
  const std::string leaf = dir.File(name);
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2", "-subj",
           "/CN=ringfence test CA " + name});
  Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
           leaf + ".key", "-out", leaf + ".csr", "-subj", "/CN=localhost"});
  WriteFileOrDie(leaf + ".ext",
                 "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
                 "extendedKeyUsage=serverAuth\n");
  Openssl({"x509", "-req", "-in", leaf + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
           "-CAcreateserial", "-out", leaf + ".crt", "-days", "2", "-extfile", leaf + ".ext"});
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kOpenssl, X_OK) != 0) GTEST_SKIP() << "no " << kOpenssl << " (package openssl)";
    MakeCaAndServerCert(dir_, "a");
    if (HasFatalFailure()) return;
    MakeCaAndServerCert(dir_, "b");
    if (HasFatalFailure()) return;
    // The server reads cert.pem / key.pem, which the reload test replaces.
    WriteFileOrDie(dir_.File("cert.pem"), ReadFileOrDie(dir_.File("a.crt")));
    WriteFileOrDie(dir_.File("key.pem"), ReadFileOrDie(dir_.File("a.key")));
    ServerOptions o;
    o.stderr_path = dir_.File("server.err");
    o.extra_args = {"--tls-cert", dir_.File("cert.pem"), "--tls-key", dir_.File("key.pem")};
    server_ = std::make_unique<ServerProcess>(dir_.File("data"), o);
    ASSERT_GT(server_->port(), 0) << ReadFileOrDie(dir_.File("server.err"));
    url_ = "https://127.0.0.1:" + std::to_string(server_->port());
    agent_token_ = Trim(ReadFileOrDie(dir_.File("data/agent.token")));
    admin_token_ = Trim(ReadFileOrDie(dir_.File("data/admin.token")));
  }

  // One request with the CLI's HTTP client, trusting `ca_file`.
  Result<http::HttpReply> Get(const std::string& path, const std::string& ca_file,
                              const std::string& token = "") {
    http::HttpClient c({.base_url = url_, .token = token, .ca_file = ca_file});
    return c.Send("GET", path, "");
  }

  // A trust root for the agent: the server's release key (GET /v1/trust), one publisher key of
  // our own (no bundles are published here), no reviewers.
  std::string WriteTrustRoot() {
    auto trust = Get("/v1/trust", dir_.File("a-ca.crt"), agent_token_);
    EXPECT_TRUE(trust.ok()) << trust.status().message();
    if (!trust.ok()) return "";
    e2e::Response r{static_cast<int>(trust->status), "", trust->body};
    auto keys = r.Object().at("release_keys").as_array();
    auto publisher = crypto::SigningKey::FromSeed(std::string(32, '\x07'));
    EXPECT_TRUE(publisher.ok());
    std::string pub = crypto::EncodePublicKeyFile(publisher->public_key());
    const std::string path = dir_.File("trust.json");
    WriteFileOrDie(path, "{\"format\":1,\"publishers\":{\"keys\":[" + pub +
                             "],\"threshold\":1},\"reviewers\":{\"keys\":[],\"threshold\":0},"
                             "\"release\":{\"keys\":[" +
                             std::string(keys.at(0).as_string()) + "]}}");
    return path;
  }

  testing::CommandResult RunAgentOnce(const std::vector<std::string>& extra,
                                      const std::string& server_url) {
    std::vector<std::string> argv = {AgentBinary(), "--server", server_url, "--token",
                                     dir_.File("data/agent.token"), "--state",
                                     dir_.File("state-" + std::to_string(++agents_)), "--trust",
                                     trust_path_, "--device-id", "d-tls-" + std::to_string(agents_),
                                     "--attr", "os=linux", "--attr", "agent_version=7.11",
                                     "--once"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv);
  }

  int64_t Metric(const std::string& name) {
    auto m = Get("/metrics", dir_.File("a-ca.crt"));
    if (!m.ok() || m->status != 200) return -1;
    const size_t p = m->body.find("\n" + name + " ");
    return p == std::string::npos ? -1 : std::stoll(m->body.substr(p + name.size() + 2));
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string url_, agent_token_, admin_token_, trust_path_;
  int agents_ = 0;
};

TEST_F(TlsTest, AgentChecksInOverTlsWithItsCa) {
  trust_path_ = WriteTrustRoot();
  ASSERT_FALSE(trust_path_.empty());
  auto r = RunAgentOnce({"--ca", dir_.File("a-ca.crt")}, url_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Metric("ringfence_devices"), 1);
  EXPECT_GE(Metric("ringfence_checkins_total"), 1);
  // The host name is verified too: "localhost" is in the certificate, so it works as well.
  auto by_name = RunAgentOnce({"--ca", dir_.File("a-ca.crt")},
                              "https://localhost:" + std::to_string(server_->port()));
  EXPECT_EQ(by_name.exit_code, 0) << by_name.err;
  EXPECT_EQ(Metric("ringfence_devices"), 2);
}

TEST_F(TlsTest, AgentRefusesAServerItsCaDidNotSign) {
  trust_path_ = WriteTrustRoot();
  ASSERT_FALSE(trust_path_.empty());
  for (const std::vector<std::string>& ca :
       {std::vector<std::string>{"--ca", dir_.File("b-ca.crt")}, std::vector<std::string>{}}) {
    auto r = RunAgentOnce(ca, url_);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("certificate"), std::string::npos) << r.err;
  }
  EXPECT_EQ(Metric("ringfence_devices"), 0);
  // The CLI's client (remote verbs, demo) likewise.
  auto wrong = Get("/healthz", dir_.File("b-ca.crt"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("--ca FILE"), std::string::npos) << wrong.status().message();
  // And plain HTTP to the TLS port gets no answer a client would take as HTTP.
  http::HttpClient plain({.base_url = "http://127.0.0.1:" + std::to_string(server_->port())});
  auto p = plain.Send("GET", "/healthz", "");
  EXPECT_TRUE(!p.ok() || p->status != 200);
}

TEST_F(TlsTest, CliRemoteVerbsUseTheCaFromTheEnvironment) {
  setenv("RINGFENCE_CA", dir_.File("a-ca.crt").c_str(), 1);
  auto ok = RunCommand({testing::RingfenceBinary(), "--server", url_, "--token",
                        dir_.File("data/admin.token"), "fleet", "--json"});
  setenv("RINGFENCE_CA", dir_.File("b-ca.crt").c_str(), 1);
  auto wrong = RunCommand({testing::RingfenceBinary(), "--server", url_, "--token",
                           dir_.File("data/admin.token"), "fleet", "--json"});
  unsetenv("RINGFENCE_CA");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(wrong.exit_code, 2) << wrong.out;
  EXPECT_NE(wrong.err.find("certificate"), std::string::npos) << wrong.err;
}

TEST_F(TlsTest, SighupReloadsTheCertificateForNewConnections) {
  ASSERT_TRUE(Get("/healthz", dir_.File("a-ca.crt")).ok());
  ASSERT_FALSE(Get("/healthz", dir_.File("b-ca.crt")).ok());
  // A broken replacement: the server says so and keeps serving the old certificate.
  WriteFileOrDie(dir_.File("cert.pem"), "not a certificate\n");
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  Clock& clock = *PosixEnv().clock;
  int64_t deadline = clock.MonotonicMicros() + 60'000'000;
  while (ReadFileOrDie(dir_.File("server.err")).find("TLS reload failed") == std::string::npos &&
         clock.MonotonicMicros() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string log = ReadFileOrDie(dir_.File("server.err"));
  EXPECT_NE(log.find("TLS reload failed, keeping the old certificate"), std::string::npos) << log;
  EXPECT_NE(log.find("cert.pem"), std::string::npos) << log;
  EXPECT_TRUE(Get("/healthz", dir_.File("a-ca.crt")).ok());
  // A good one (a different CA): new connections get it; the listener never closed.
  WriteFileOrDie(dir_.File("cert.pem"), ReadFileOrDie(dir_.File("b.crt")));
  WriteFileOrDie(dir_.File("key.pem"), ReadFileOrDie(dir_.File("b.key")));
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  bool switched = false;
  deadline = clock.MonotonicMicros() + 60'000'000;
  while (!switched && clock.MonotonicMicros() < deadline) {
    switched = Get("/healthz", dir_.File("b-ca.crt")).ok();
    if (!switched) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(switched) << ReadFileOrDie(dir_.File("server.err"));
  EXPECT_FALSE(Get("/healthz", dir_.File("a-ca.crt")).ok());
  EXPECT_EQ(server_->Terminate(), 0);
}

// Plain HTTP off loopback is refused by the server and both clients before anything is sent.
TEST(PlainHttpTest, RefusedOffLoopbackUnlessInsecureHttp) {
  TempDir dir;
  auto server = RunCommand({testing::RingfenceBinary(), "server", "--data", dir.File("data"),
                            "--listen", "0.0.0.0:0"});
  EXPECT_EQ(server.exit_code, 2);
  EXPECT_NE(server.err.find("refusing to serve plain HTTP on 0.0.0.0"), std::string::npos)
      << server.err;
  WriteFileOrDie(dir.File("token"), "0123456789abcdef0123456789abcdef\n");
  WriteFileOrDie(dir.File("trust.json"), "{}");
  // 192.0.2.1 (TEST-NET-1) is never reachable: a client that tried would time out, not refuse.
  auto agent = RunCommand({AgentBinary(), "--server", "http://192.0.2.1:8080", "--token",
                           dir.File("token"), "--state", dir.File("state"), "--trust",
                           dir.File("trust.json"), "--device-id", "d-1", "--once"});
  EXPECT_EQ(agent.exit_code, 2);
  EXPECT_NE(agent.err.find("refusing plain HTTP to 192.0.2.1"), std::string::npos) << agent.err;
  auto cli = RunCommand({testing::RingfenceBinary(), "--server", "http://192.0.2.1:8080", "--token",
                         dir.File("token"), "fleet"});
  EXPECT_EQ(cli.exit_code, 2);
  EXPECT_NE(cli.err.find("refusing plain HTTP to 192.0.2.1"), std::string::npos) << cli.err;
  http::HttpClient client({.base_url = "http://192.0.2.1:8080", .connect_timeout_ms = 100});
  auto r = client.Send("GET", "/healthz", "");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().message();
}

}  // namespace
}  // namespace rf
