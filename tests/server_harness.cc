#include "server_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "crypto/device_auth.h"
#include "crypto/dsse.h"
#include "protocol/statements.h"
#include "platform/env.h"
#include "service/release_service.h"
#include "testing/test_util.h"

namespace rf::e2e {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string Quote(std::string_view s) { return json::serialize(json::string(s)); }

// ----- ServerProcess -----

ServerProcess::ServerProcess(const std::string& data, const ServerOptions& options) {
  int out[2];
  if (pipe(out) != 0) std::abort();
  std::vector<std::string> args = {testing::RingfenceBinary(),
                                   "server",
                                   "--data",
                                   data,
                                   "--listen",
                                   options.listen,
                                   "--threads",
                                   std::to_string(options.threads),
                                   "--poll-after",
                                   std::to_string(options.poll_after_s),
                                   "--tick-ms",
                                   std::to_string(options.tick_ms),
                                   "--flush-ms",
                                   std::to_string(options.flush_ms),
                                   "--enroll-rate",
                                   std::to_string(options.enroll_rate),
                                   "--enroll-burst",
                                   std::to_string(options.enroll_burst)};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    if (!options.stderr_path.empty()) {
      const int err = open(options.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (err >= 0) {
        dup2(err, 2);
        close(err);
      }
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  out_ = fdopen(out[0], "r");
  char line[256] = {0};
  if (fgets(line, sizeof line, out_) != nullptr) {
    const std::string s = Trim(line);
    const std::string prefix = "listening on 127.0.0.1:";
    if (s.rfind(prefix, 0) == 0) port_ = std::stoi(s.substr(prefix.size()));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) KillNine();
  if (out_) fclose(out_);
}

int ServerProcess::Terminate() {
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ServerProcess::KillNine() {
  if (pid_ <= 0) return false;
  kill(pid_, SIGKILL);
  return ReapKilled();
}

bool ServerProcess::ReapKilled() {
  if (pid_ <= 0) return false;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// ----- HttpConnection -----

json::object Response::Object() const {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  return !ec && v.is_object() ? v.as_object() : json::object();
}

Response HttpConnection::Do(const std::string& method, const std::string& path,
                            const std::string& token, const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {  // once more if an idle connection was closed
    if (fd_ < 0 && !Open()) return {};
    std::string r = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n";
    if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
    if (method != "GET" || !body.empty()) {  // a GET body without framing would desync the stream
      r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
    }
    r += "\r\n" + body;
    if (SendAllTo(fd_, r)) {
      Response resp = ReadResponse(fd_, &buf_);
      if (resp.status != 0) return resp;
    }
    Close();
  }
  return {};
}

bool HttpConnection::Open() {
  fd_ = ConnectLoopback(port_, 20);
  buf_.clear();
  return fd_ >= 0;
}

void HttpConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

int ConnectLoopback(int port, int recv_timeout_s) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{recv_timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool SendAllTo(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string Response::Header(std::string_view name) const {
  size_t line = head.find("\r\n");
  while (line != std::string::npos) {
    const size_t start = line + 2;
    const size_t end = std::min(head.find("\r\n", start), head.size());
    const std::string_view field(head.data() + start, end - start);
    const size_t colon = field.find(':');
    if (colon == name.size() && strncasecmp(field.data(), name.data(), name.size()) == 0) {
      std::string_view v = field.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return std::string(v);
    }
    line = end < head.size() ? end : std::string::npos;
  }
  return "";
}

Response ReadResponse(int fd, std::string* pending, bool no_body) {
  std::string& buf = *pending;
  char chunk[65536];
  for (;;) {
    const size_t hdr_end = buf.find("\r\n\r\n");
    if (hdr_end != std::string::npos) {
      Response r;
      r.head = buf.substr(0, hdr_end);
      const std::string cl_text = r.Header("Content-Length");
      const size_t cl = no_body || cl_text.empty() ? 0 : std::stoul(cl_text);
      if (buf.size() >= hdr_end + 4 + cl) {
        r.status = std::stoi(r.head.substr(9, 3));
        r.body = buf.substr(hdr_end + 4, cl);
        buf.erase(0, hdr_end + 4 + cl);
        return r;
      }
    }
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return {};
    buf.append(chunk, static_cast<size_t>(n));
  }
}

// ----- Simulated devices -----

namespace {
int64_t NowS() { return PosixEnv().clock->NowUnixMicros() / 1'000'000; }
}  // namespace

std::string EnrollBody(const SimDevice& d, const FleetStratum& s) {
  const int64_t now_s = NowS();
  const std::string pub = crypto::Base64Encode(
      std::string_view(reinterpret_cast<const char*>(d.key.public_key().bytes.data()), 32));
  const std::string proof =
      crypto::Base64Encode(d.key.Sign(crypto::EnrollProofMessage(d.id, pub, now_s)));
  return R"({"device_id":")" + d.id + R"(","attrs":{"os":")" + s.os +
         R"(","agent_version":")" + s.agent_version +
         R"(","tenant":"acme","group":"prod"},"capabilities":{"ipc_rule":)" +
         R"({"schema_versions":[3],"inputs":)" + std::to_string(s.inputs) + "}}," +
         R"("public_key":")" + pub + R"(","timestamp_s":)" + std::to_string(now_s) +
         R"(,"proof":")" + proof + "\"}";
}

std::string SessionBody(const SimDevice& d) {
  const int64_t now_s = NowS();
  return R"({"device_id":")" + d.id + R"(","timestamp_s":)" + std::to_string(now_s) +
         R"(,"signature":")" +
         crypto::Base64Encode(d.key.Sign(crypto::SessionRequestMessage(d.id, now_s))) + "\"}";
}

bool AdoptSession(SimDevice& d, const Response& r) {
  const std::string token = Str(r.Object(), "session_token");
  if (token.empty()) return false;
  d.session = token;
  return true;
}

std::string CheckinBody(SimDevice& d) {
  std::string body = R"({"device_id":")" + d.id + R"(","seq":)" + std::to_string(++d.seq);
  if (d.current) {
    body += R"(,"channels":{"291":{"current":{"version":)" + std::to_string(d.current->first) +
            R"(,"sha256":")" + d.current->second + R"("}}})";
  }
  body += R"(,"health":{"crashes":0,"errors":0)";
  if (d.applied) {
    body += R"(,"apply":[{"channel":"291","version":)" + std::to_string(d.applied->first) +
            R"(,"sha256":")" + d.applied->second + R"(","result":"applied"}])";
  }
  return body + "}}";
}

// ----- JSON -----

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : -1;
}

std::string ErrorCode(const Response& r) {
  json::object o = r.Object();
  const json::value* e = o.if_contains("error");
  return e && e->is_object() ? Str(e->as_object(), "code") : std::string();
}

// ----- principals and approvals -----

Principal CreatePrincipal(HttpConnection& conn, const std::string& admin_token,
                          const std::string& name, const std::vector<std::string>& roles,
                          bool with_key) {
  Principal p{name, "", std::nullopt};
  std::string body = "{\"name\":" + Quote(name) + ",\"roles\":[";
  for (size_t i = 0; i < roles.size(); ++i) body += (i ? "," : "") + Quote(roles[i]);
  body += "]";
  if (with_key) {
    p.key = crypto::SigningKey::Generate();
    body += ",\"reviewer_public_key\":" + Quote(crypto::EncodePublicKeyFile(p.key->public_key()));
  }
  body += "}";
  Response r = conn.Do("POST", "/v1/principals", admin_token, body);
  EXPECT_EQ(r.status, 201) << r.body;
  p.token = Str(r.Object(), "token");
  EXPECT_FALSE(p.token.empty()) << r.body;
  return p;
}

std::string SignedApprovalBody(const json::object& release, const Principal& p) {
  const json::value* reports_v = release.if_contains("reports");
  const json::object reports =
      reports_v && reports_v->is_object() ? reports_v->as_object() : json::object();
  const std::string digest = crypto::Sha256Hex(Str(reports, "layer1") + Str(reports, "layer2"));
  EXPECT_EQ(digest, Str(release, "reports_sha256"));
  protocol::ApprovalStatement s;
  s.bundle_sha256 = Str(release, "bundle_sha256");
  s.channel = Str(release, "channel");
  s.release_id = Str(release, "release_id");
  s.reports_sha256 = digest;
  s.reviewer = p.name;
  s.role = "reviewer";
  s.version = Int(release, "version");
  crypto::Envelope e;
  e.payload_type = std::string(protocol::kApprovalPayloadType);
  e.payload = protocol::EncodeApprovalStatement(s);
  crypto::SignEnvelope(&e, *p.key);
  return "{\"envelope\":" + Quote(crypto::SerializeEnvelope(e)) + "}";
}

}  // namespace rf::e2e
