// The remote verbs end to end: the real CLI (rf::cli::Main) and libcurl client against the real
// ReleaseService + OperatorApi on SQLite, behind a minimal loopback HTTP/1.1 listener (port 0).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "cli/cli.h"
#include "platform/sim_env.h"
#include "service/operator_api.h"
#include "service/testing/fixtures.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::cli {
namespace {

using server::HttpRequest;
using server::HttpResponse;

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// One connection at a time, Connection: close. Enough for a CLI test; not a server.
class LoopbackServer {
 public:
  explicit LoopbackServer(const service::OperatorApi& api) : api_(api) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t n = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] { Loop(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void Loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      Serve(c);
      ::close(c);
    }
  }
  void Serve(int c) {
    std::string in;
    char buf[65536];
    size_t header_end;
    while ((header_end = in.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
    HttpRequest req;
    const std::string head = in.substr(0, header_end);
    const size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
    req.method = head.substr(0, sp1);
    std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
    if (size_t q = target.find('?'); q != std::string::npos) {
      std::string_view qs = std::string_view(target).substr(q + 1);
      while (!qs.empty()) {
        size_t amp = qs.find('&');
        std::string_view kv = qs.substr(0, amp);
        size_t eq = kv.find('=');
        req.query[UrlDecode(kv.substr(0, eq))] = UrlDecode(kv.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        qs.remove_prefix(amp + 1);
      }
      target.resize(q);
    }
    req.path = target;
    size_t length = 0;
    for (size_t pos = head.find("\r\n"); pos != std::string::npos;) {
      size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      std::string lower = line;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (lower.rfind("content-length:", 0) == 0) length = std::stoul(line.substr(15));
      if (lower.rfind("authorization: bearer ", 0) == 0) req.bearer_token = line.substr(22);
      pos = next;
    }
    req.body = in.substr(header_end + 4);
    while (req.body.size() < length) {
      ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) return;
      req.body.append(buf, static_cast<size_t>(n));
    }
    HttpResponse r = api_.Handle(req);
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Type: " +
                      r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                      "\r\nConnection: close\r\n\r\n" + r.body;
    for (size_t off = 0; off < out.size();) {
      ssize_t n = ::write(c, out.data() + off, out.size() - off);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  const service::OperatorApi& api_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Out {
  int code;
  std::string out, err;
};

// `ringfence ARGS...` in this process, its exit code and what it printed.
Out RunCli(std::vector<std::string> args) {
  std::vector<std::string> argv = {"ringfence"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> p;
  for (auto& a : argv) p.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = Main(static_cast<int>(p.size()), p.data());
  return Out{code, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
}

class RemoteCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fleet_.Set(service::testing::TwoStrataFleet(21));
    ASSERT_TRUE(PosixEnv().fs->CreateDirs(dir_.File("data"), 0700).ok());
    store_ = std::move(*store::SqliteStore::Open(dir_.File("data/") + store::kDatabaseFileName));
    service_ = std::move(*service::ReleaseService::Open(*store_, fleet_, clock_));
    ASSERT_TRUE(service_->principals().Ensure("admin", {server::Role::kAdmin}, "admin-token-0123456789").ok());
    ASSERT_TRUE(service_->principals().Ensure("agent", {server::Role::kAgent}, "agent-token-0123456789").ok());
    rf::testing::WriteFileOrDie(dir_.File("admin.token"), "admin-token-0123456789\n");
    rf::testing::WriteFileOrDie(dir_.File("agent.token"), "agent-token-0123456789\n");
    api_ = std::make_unique<service::OperatorApi>(*service_, fleet_, nullptr);
    server_ = std::make_unique<LoopbackServer>(*api_);
  }

  // ringfence --server URL --token <who>.token ARGS...
  Out Run(const std::string& who, std::vector<std::string> args) {
    std::vector<std::string> argv;
    if (!who.empty()) {
      argv = {"--server", server_->url(), "--token", dir_.File(who + ".token")};
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCli(std::move(argv));
  }

  void AddPrincipal(const std::string& name, const std::string& role, bool with_key) {
    std::vector<std::string> args = {"principal", "add", name, "--role", role};
    if (with_key) {
      ASSERT_EQ(Run("", {"key", "gen", "-o", dir_.File(name)}).code, 0);
      args.insert(args.end(), {"--reviewer-key", dir_.File(name + ".pub")});
    }
    Out o = Run("admin", args);
    ASSERT_EQ(o.code, 0) << o.err;
    rf::testing::WriteFileOrDie(dir_.File(name + ".token"), o.out);
  }

  rf::testing::TempDir dir_;
  service::testing::FakeFleet fleet_;
  SimulatedClock clock_;
  store::StorePtr store_;
  std::unique_ptr<service::ReleaseService> service_;
  std::unique_ptr<service::OperatorApi> api_;
  std::unique_ptr<LoopbackServer> server_;
};

TEST_F(RemoteCommandTest, ReleaseFromUploadToHaltThroughTheCli) {
  AddPrincipal("alice", "author", false);
  AddPrincipal("bob", "reviewer", true);
  AddPrincipal("carol", "reviewer", true);
  AddPrincipal("oscar", "operator", false);
  rf::testing::WriteFileOrDie(dir_.File("type.yaml"), service::testing::TypeYaml());
  rf::testing::WriteFileOrDie(dir_.File("plan.yaml"), service::testing::PlanYaml());
  rf::testing::WriteFileOrDie(dir_.File("good.yaml"), service::testing::BundleSource(1300, false));
  rf::testing::WriteFileOrDie(dir_.File("cf291.yaml"), service::testing::BundleSource(1291, true));

  ASSERT_EQ(Run("admin", {"type", "add", dir_.File("type.yaml")}).code, 0);
  Out pol = Run("admin", {"policy", "set", "291", "--approvals", "2", "--role", "reviewer"});
  ASSERT_EQ(pol.code, 0) << pol.err;
  ASSERT_EQ(Run("", {"bundle", "build", dir_.File("good.yaml"), "--type", dir_.File("type.yaml"),
                     "-o", dir_.File("good.bundle")}).code, 0);
  Out up = Run("alice", {"bundle", "upload", dir_.File("good.bundle")});
  ASSERT_EQ(up.code, 0) << up.err;
  const std::string sha = up.out.substr(up.out.find("uploaded ") + 9, 64);

  // Channel File 291 against agents that supply 20 inputs: refused at upload, exit 1.
  fleet_.Set(service::testing::TwoStrataFleet(20));
  ASSERT_EQ(Run("", {"bundle", "build", dir_.File("cf291.yaml"), "--type", dir_.File("type.yaml"),
                     "-o", dir_.File("cf291.bundle")}).code, 0);
  Out cf = Run("alice", {"bundle", "upload", dir_.File("cf291.bundle")});
  EXPECT_EQ(cf.code, 1);
  EXPECT_NE(cf.err.find("bundle_rejected"), std::string::npos) << cf.err;
  EXPECT_NE(cf.out.find("peer_pipe_regex"), std::string::npos) << cf.out;
  fleet_.Set(service::testing::TwoStrataFleet(21));

  Out created = Run("alice", {"release", "create", "--bundle", sha, "--plan", dir_.File("plan.yaml")});
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_NE(created.out.find("r-1"), std::string::npos);
  // The author cannot approve (no key even), the operator cannot start without the quorum.
  Out early = Run("oscar", {"release", "start", "r-1"});
  EXPECT_EQ(early.code, 1);
  EXPECT_NE(early.err.find("quorum_missing"), std::string::npos) << early.err;
  Out a1 = Run("bob", {"release", "approve", "r-1", "--key", dir_.File("bob.key")});
  ASSERT_EQ(a1.code, 0) << a1.err;
  EXPECT_NE(a1.out.find("1 of 2 approvals"), std::string::npos) << a1.out;
  EXPECT_EQ(Run("bob", {"release", "approve", "r-1", "--key", dir_.File("bob.key")}).code, 1);
  // carol signing with bob's key is refused.
  EXPECT_EQ(Run("carol", {"release", "approve", "r-1", "--key", dir_.File("bob.key")}).code, 1);
  Out a2 = Run("carol", {"release", "approve", "r-1", "--key", dir_.File("carol.key")});
  ASSERT_EQ(a2.code, 0) << a2.err;
  EXPECT_NE(a2.out.find("now Ready"), std::string::npos) << a2.out;
  Out start = Run("oscar", {"release", "start", "r-1"});
  ASSERT_EQ(start.code, 0) << start.err;
  Out watch = Run("oscar", {"release", "watch", "r-1", "--once"});
  EXPECT_EQ(watch.code, 0);
  EXPECT_NE(watch.out.find("> canary"), std::string::npos) << watch.out;
  ASSERT_EQ(Run("oscar", {"release", "halt", "r-1", "--reason", "canary crashes"}).code, 0);
  // watch returns at once for a finished release: 1 because it was halted.
  EXPECT_EQ(Run("oscar", {"release", "watch", "r-1"}).code, 1);
  Out list = Run("oscar", {"release", "list"});
  EXPECT_NE(list.out.find("Halted"), std::string::npos) << list.out;

  EXPECT_EQ(Run("oscar", {"control", "set", "--channel", "291", "--tenant", "acme", "--delay", "2h"}).code, 0);
  EXPECT_EQ(service_->controls().List()[0].delay_s, 7200);
  Out fleet = Run("oscar", {"fleet"});
  EXPECT_NE(fleet.out.find("3,140,000 devices"), std::string::npos) << fleet.out;
  Out audit = Run("oscar", {"audit", "--limit", "500"});
  EXPECT_NE(audit.out.find("release.halt"), std::string::npos) << audit.out;
  Out verify = Run("oscar", {"audit", "verify"});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  Out offline = Run("", {"audit", "verify", "--data", dir_.File("data")});
  EXPECT_EQ(offline.code, 0) << offline.out << offline.err;
  EXPECT_NE(offline.out.find("audit log verified"), std::string::npos);

  // The agent token is refused; a missing token file is a usage error.
  EXPECT_EQ(Run("agent", {"release", "list"}).code, 1);
  EXPECT_EQ(Run("nobody", {"release", "list"}).code, 2);
}

// `audit verify` against a server fetches the entries (pages of 1000) and recomputes the chain
// here, up to the head the server reported.
TEST_F(RemoteCommandTest, RemoteVerifyRecomputesTheChainAcrossPages) {
  store::WriteBatch b;
  for (int i = 0; i < 1500; ++i) {
    b.audit.push_back({"x", "a", "s", "{ \"i\" : " + std::to_string(i) + " }", i});
  }
  ASSERT_TRUE(store_->Apply(b).ok());
  const int64_t head = store_->RecordedAuditHead()->seq;
  ASSERT_GT(head, 1500);
  Out v = Run("admin", {"audit", "verify"});
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find(std::to_string(head) + " entries, head seq " + std::to_string(head)),
            std::string::npos) << v.out;
  EXPECT_NE(v.out.find("chain recomputed locally"), std::string::npos) << v.out;
}

TEST_F(RemoteCommandTest, OfflineVerifyDetectsTampering) {
  store::WriteBatch b;
  b.audit.push_back({"x", "a", "s", "{}", 1});
  ASSERT_TRUE(store_->Apply(b).ok());
  ASSERT_EQ(Run("", {"audit", "verify", "--data", dir_.File("data")}).code, 0);
  server_.reset();
  api_.reset();
  service_.reset();
  store_.reset();
  // Rewrite an entry behind the store's back.
  const std::string db = dir_.File("data/") + store::kDatabaseFileName;
  Out before = Run("", {"audit", "verify", "--data", dir_.File("data")});
  ASSERT_EQ(before.code, 0);
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, "UPDATE audit SET actor = 'mallory' WHERE seq = 1", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  Out after = Run("", {"audit", "verify", "--data", dir_.File("data")});
  EXPECT_EQ(after.code, 1);
  EXPECT_NE(after.out.find("FAILED"), std::string::npos) << after.out;
}

}  // namespace
// `ringfence audit verify --store postgresql://...`: a cluster's chain checked offline, straight
// from the database (read-only); a rewritten entry fails it (exit 1), a bad URI is a usage error.
TEST(OfflineVerifyOnPostgres, VerifiesTheChainAndDetectsTampering) {
  auto uri = rf::testing::FreshPgTestDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  {
    auto s = store::PgStore::Open(*uri);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store::WriteBatch b;
    for (int i = 1; i <= 3; ++i) b.audit.push_back({"x", "a", "s", "{}", i});
    ASSERT_TRUE((*s)->Apply(b).ok());
  }
  auto verify = [&](const std::string& store_uri) {
    Out o = RunCli({"audit", "verify", "--store", store_uri});
    return std::make_pair(o.code, o.out + o.err);
  };
  auto ok = verify(*uri);
  EXPECT_EQ(ok.first, 0) << ok.second;
  EXPECT_NE(ok.second.find("audit log verified: 3 entries"), std::string::npos) << ok.second;
  PGconn* c = PQconnectdb(uri->c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, "UPDATE audit SET actor = 'mallory' WHERE seq = 2");
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  auto bad = verify(*uri);
  EXPECT_EQ(bad.first, 1) << bad.second;
  EXPECT_NE(bad.second.find("FAILED verification: audit entry 2"), std::string::npos) << bad.second;
  EXPECT_EQ(verify("sqlite:///tmp/x").first, 2);
}

}  // namespace rf::cli
