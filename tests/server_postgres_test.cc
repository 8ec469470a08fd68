// `ringfence server --store postgresql://...` end to end: the real binary on a real PostgreSQL
// (started by the test, testing/pg_test_server.h). What the operator API changes lands in the
// database, not in DATA/ringfence.db, and a restarted server (or a second one) serves it; the
// audit chain verifies across both. Fails, not skips, where PostgreSQL is not installed.
#include <gtest/gtest.h>

#include <filesystem>

#include "server_harness.h"
#include "store/pg_store.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::e2e {
namespace {

using rf::testing::ReadFileOrDie;

TEST(ServerOnPostgres, OperatorChangesLiveInTheDatabaseAcrossRestarts) {
  auto uri = rf::testing::FreshPgTestDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  rf::testing::TempDir dir;
  const std::string data = dir.File("data");
  ServerOptions options;
  options.extra_args = {"--store", *uri};
  int64_t entries = 0;
  {
    ServerProcess server(data, options);
    ASSERT_NE(server.port(), 0);
    const std::string admin = Trim(ReadFileOrDie(data + "/admin.token"));
    HttpConnection conn(server.port());
    CreatePrincipal(conn, admin, "bob", {"reviewer"}, /*with_key=*/true);
    Response verify = conn.Do("GET", "/v1/audit/verify", admin);
    ASSERT_EQ(verify.status, 200) << verify.body;
    entries = Int(verify.Object(), "entries");
    EXPECT_GE(entries, 1);
    EXPECT_EQ(server.Terminate(), 0);
  }
  EXPECT_FALSE(std::filesystem::exists(data + "/ringfence.db"));  // SQLite not used
  {
    auto store = store::PgStore::Open(*uri);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto c = (*store)->Load();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    std::vector<std::string> names;
    for (const auto& p : c->principals) names.push_back(p.name);
    EXPECT_EQ(names, (std::vector<std::string>{"admin", "agent", "bob"}));
    EXPECT_EQ(c->audit_head.seq, entries);
  }
  // Restarted on the same data directory and database: bob is still there and can act.
  ServerProcess again(data, options);
  ASSERT_NE(again.port(), 0);
  const std::string admin = Trim(ReadFileOrDie(data + "/admin.token"));
  HttpConnection conn(again.port());
  Response principals = conn.Do("GET", "/v1/principals", admin);
  ASSERT_EQ(principals.status, 200) << principals.body;
  EXPECT_NE(principals.body.find("\"bob\""), std::string::npos) << principals.body;
  CreatePrincipal(conn, admin, "carol", {"operator"}, /*with_key=*/false);
  Response verify = conn.Do("GET", "/v1/audit/verify", admin);
  ASSERT_EQ(verify.status, 200) << verify.body;
  EXPECT_GT(Int(verify.Object(), "entries"), entries);
  EXPECT_EQ(again.Terminate(), 0);
}

TEST(ServerOnPostgres, UnreachableDatabaseExitsTwoNamingIt) {
  rf::testing::TempDir dir;  // nothing listens on a socket in here
  testing::CommandResult r = rf::testing::RunCommand(
      {rf::testing::RingfenceBinary(), "server", "--data", dir.File("data"), "--listen",
       "127.0.0.1:0", "--store", "postgresql:///x?host=" + dir.path() + "&connect_timeout=5"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("postgresql: cannot connect"), std::string::npos) << r.err;
}

TEST(ServerOnPostgres, NotAPostgresUriIsRefused) {
  rf::testing::TempDir dir;
  testing::CommandResult r = rf::testing::RunCommand(
      {rf::testing::RingfenceBinary(), "server", "--data", dir.File("data"), "--listen",
       "127.0.0.1:0", "--store", "mysql://db/x"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--store: expected a postgresql://"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rf::e2e
