// The data directory of a real `ringfence server`: one server per directory, every file private,
// and `ringfence server rotate-secrets` (src/server/data_dir.h, docs/server.md).
#include <sys/stat.h>

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server_harness.h"
#include "testing/test_util.h"

namespace rf {
namespace {

using e2e::HttpConnection;
using e2e::Response;
using e2e::ServerProcess;
using e2e::Trim;
using testing::ReadFileOrDie;
using testing::RunCommand;
using testing::TempDir;

// Every path under `dir` (itself included) with its permission bits.
void Walk(const std::string& dir, const std::function<void(const std::string&, bool, int)>& f) {
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0) << dir;
  f(dir, true, static_cast<int>(st.st_mode & 07777));
  auto listing = RunCommand({"/usr/bin/find", dir, "-mindepth", "1"});
  ASSERT_EQ(listing.exit_code, 0) << listing.err;
  size_t pos = 0;
  while (pos < listing.out.size()) {
    size_t nl = listing.out.find('\n', pos);
    if (nl == std::string::npos) nl = listing.out.size();
    const std::string p = listing.out.substr(pos, nl - pos);
    pos = nl + 1;
    if (p.empty() || stat(p.c_str(), &st) != 0) continue;  // a WAL file may come and go
    f(p, S_ISDIR(st.st_mode), static_cast<int>(st.st_mode & 07777));
  }
}

TEST(ServerDataDir, SecondServerOnOneDirectoryExitsWithAClearError) {
  TempDir dir;
  ServerProcess first(dir.File("data"));
  ASSERT_GT(first.port(), 0);
  auto second = RunCommand({testing::RingfenceBinary(), "server", "--data", dir.File("data"),
                            "--listen", "127.0.0.1:0"});
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_NE(second.err.find("is in use"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("pid " + std::to_string(first.pid())), std::string::npos)
      << second.err;
  HttpConnection conn(first.port());
  EXPECT_EQ(conn.Do("GET", "/healthz", "").status, 200);  // the first one is unharmed
  EXPECT_EQ(first.Terminate(), 0);
  // Once it is gone, the directory is free again (also after kill -9: the OS drops the lock).
  ServerProcess third(dir.File("data"));
  ASSERT_GT(third.port(), 0);
  EXPECT_TRUE(third.KillNine());
  ServerProcess fourth(dir.File("data"));
  EXPECT_GT(fourth.port(), 0);
}

TEST(ServerDataDir, EveryFileIsPrivateEvenUnderALooseUmask) {
  TempDir dir;
  ::mkdir(dir.File("data").c_str(), 0755);
  testing::WriteFileOrDie(dir.File("data/leftover.txt"), "an older version's file\n");
  ::chmod(dir.File("data/leftover.txt").c_str(), 0644);
  const mode_t old_umask = ::umask(022);  // inherited by the server process
  ServerProcess server(dir.File("data"));
  ::umask(old_umask);
  ASSERT_GT(server.port(), 0);
  HttpConnection conn(server.port());
  const std::string admin = Trim(ReadFileOrDie(dir.File("data/admin.token")));
  // A write through the operator API, so SQLite's database and WAL exist.
  Response r = conn.Do("POST", "/v1/principals", admin, R"({"name":"bob","roles":["reviewer"]})");
  EXPECT_EQ(r.status, 201) << r.body;
  int seen = 0;
  Walk(dir.File("data"), [&](const std::string& p, bool is_dir, int mode) {
    ++seen;
    EXPECT_EQ(mode, is_dir ? 0700 : 0600) << p;
  });
  EXPECT_GE(seen, 6);  // dir, tokens, key, lock, database
}

TEST(ServerDataDir, RotateSecretsReplacesTokensAndReleaseKey) {
  TempDir dir;
  const std::string data = dir.File("data");
  std::string old_admin, old_agent, old_trust;
  {
    ServerProcess server(data);
    ASSERT_GT(server.port(), 0);
    old_admin = Trim(ReadFileOrDie(data + "/admin.token"));
    old_agent = Trim(ReadFileOrDie(data + "/agent.token"));
    HttpConnection conn(server.port());
    old_trust = conn.Do("GET", "/v1/trust", old_agent).body;
    // Not while the server runs.
    auto busy = RunCommand({testing::RingfenceBinary(), "server", "rotate-secrets", "--data", data});
    EXPECT_EQ(busy.exit_code, 2);
    EXPECT_NE(busy.err.find("is in use"), std::string::npos) << busy.err;
    EXPECT_EQ(Trim(ReadFileOrDie(data + "/admin.token")), old_admin);
    EXPECT_EQ(server.Terminate(), 0);
  }
  auto rotated = RunCommand({testing::RingfenceBinary(), "server", "rotate-secrets", "--data", data});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_NE(rotated.out.find("release_keys"), std::string::npos) << rotated.out;
  const std::string new_admin = Trim(ReadFileOrDie(data + "/admin.token"));
  const std::string new_agent = Trim(ReadFileOrDie(data + "/agent.token"));
  EXPECT_NE(new_admin, old_admin);
  EXPECT_NE(new_agent, old_agent);
  EXPECT_EQ(rotated.out.find(new_admin), std::string::npos) << "a token printed to stdout";

  ServerProcess server(data);
  ASSERT_GT(server.port(), 0);
  HttpConnection conn(server.port());
  EXPECT_EQ(conn.Do("GET", "/v1/principals", old_admin).status, 401);
  EXPECT_EQ(conn.Do("GET", "/v1/principals", new_admin).status, 200);
  Response trust = conn.Do("GET", "/v1/trust", new_agent);
  EXPECT_EQ(trust.status, 200);
  EXPECT_NE(trust.body, old_trust);
  EXPECT_NE(rotated.out.find(trust.body), std::string::npos) << "printed trust root differs";

  // --only: just the admin token.
  EXPECT_EQ(server.Terminate(), 0);
  auto only = RunCommand({testing::RingfenceBinary(), "server", "rotate-secrets", "--data", data,
                          "--only", "admin-token"});
  ASSERT_EQ(only.exit_code, 0) << only.err;
  EXPECT_NE(Trim(ReadFileOrDie(data + "/admin.token")), new_admin);
  EXPECT_EQ(Trim(ReadFileOrDie(data + "/agent.token")), new_agent);
}

}  // namespace
}  // namespace rf
