// `ringfence server --store postgresql://...` end to end: the real binary on a real PostgreSQL
// (started by the test, testing/pg_test_server.h). What the operator API changes lands in the
// database, not in DATA/ringfence.db, and a restarted server (or a second one) serves it; the
// audit chain verifies across both. Fails, not skips, where PostgreSQL is not installed.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "server_harness.h"
#include "service/testing/fixtures.h"
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

// Two `ringfence server` processes on one database (docs/deploy.md "Several writers", "Controller
// election"): a change made through one is served by the other without a restart; one of them is
// the elected controller, and when it is killed (-9) the other takes over within the lease.
TEST(ServerOnPostgres, TwoServersShareChangesAndTheSurvivorTakesOverTheController) {
  auto uri = rf::testing::FreshPgTestDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  rf::testing::TempDir dir;
  const std::string data_a = dir.File("a"), data_b = dir.File("b");
  auto options = [&](const std::string& log) {
    ServerOptions o;
    o.stderr_path = log;
    o.extra_args = {"--store", *uri, "--lease-ms", "2000", "--lease-renew-ms", "500"};
    return o;
  };
  auto a = std::make_unique<ServerProcess>(data_a, options(dir.File("a.log")));
  ASSERT_NE(a->port(), 0);
  // The replicas share their secrets (docs/deploy.md "Secrets").
  std::filesystem::create_directories(data_b);
  std::filesystem::permissions(data_b, std::filesystem::perms::owner_all);
  for (const char* f : {"admin.token", "agent.token", "release.key", "session.secret"}) {
    std::filesystem::copy_file(data_a + "/" + f, data_b + "/" + f);
  }
  auto b = std::make_unique<ServerProcess>(data_b, options(dir.File("b.log")));
  ASSERT_NE(b->port(), 0);
  const std::string admin = Trim(ReadFileOrDie(data_a + "/admin.token"));
  auto log_has = [&](const char* name, const char* text) {
    return ReadFileOrDie(dir.File(name)).find(text) != std::string::npos;
  };
  auto wait = [](auto&& done) {
    for (int i = 0; i < 6000 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  };

  // A change through A reaches B.
  HttpConnection conn_a(a->port()), conn_b(b->port());
  CreatePrincipal(conn_a, admin, "bob", {"reviewer"}, /*with_key=*/true);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait([&] {
    Response r = conn_b.Do("GET", "/v1/principals", admin);
    return r.status == 200 && r.body.find("\"bob\"") != std::string::npos;
  }));
  const auto seen_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - t0).count();

  // One controller: A started first and was elected; B follows.
  ASSERT_TRUE(wait([&] { return log_has("a.log", "controller: elected"); }));
  EXPECT_TRUE(log_has("b.log", "controller: following"));
  EXPECT_FALSE(log_has("b.log", "controller: elected"));

  // kill -9 of the leader: B takes over within the lease (2 s) plus a renew interval (0.5 s).
  ASSERT_TRUE(a->KillNine());
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait([&] { return log_has("b.log", "controller: elected"); }));
  const auto failover_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(failover_ms, 10'000);
  // The survivor serves and the chain verifies.
  Response verify = conn_b.Do("GET", "/v1/audit/verify", admin);
  ASSERT_EQ(verify.status, 200) << verify.body;
  std::printf("change seen by the other server after %lld ms; failover after kill -9: %lld ms\n",
              static_cast<long long>(seen_ms), static_cast<long long>(failover_ms));
  EXPECT_EQ(b->Terminate(), 0);
}

// A check-in body that carries the device's whole profile (as the agent's do), so a server that
// never saw the device's enrollment can make its inventory record (docs/deploy.md "Device state
// across servers").
std::string CheckinWithProfile(SimDevice& d, const FleetStratum& s) {
  return R"({"device_id":")" + d.id + R"(","seq":)" + std::to_string(++d.seq) +
         R"(,"attrs":{"os":")" + s.os + R"(","agent_version":")" + s.agent_version +
         R"(","tenant":"acme","group":"prod"},"capabilities":{"ipc_rule":)" +
         R"({"schema_versions":[3],"inputs":)" + std::to_string(s.inputs) +
         R"(}},"health":{"crashes":0,"errors":0}})";
}

// Device credentials in the shared store (docs/deploy.md "Device credentials"): a device enrolled
// through server A checks in through server B with A's session token, and a revoke through B is
// refused by A within the follower's interval (notification: milliseconds; poll: 0.5 s).
TEST(ServerOnPostgres, DeviceEnrolledOnOneServerChecksInOnTheOtherAndRevokeHoldsOnBoth) {
  auto uri = rf::testing::FreshPgTestDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  rf::testing::TempDir dir;
  const std::string data_a = dir.File("a"), data_b = dir.File("b");
  ServerOptions options;
  options.extra_args = {"--store", *uri};
  ServerProcess a(data_a, options);
  ASSERT_NE(a.port(), 0);
  std::filesystem::create_directories(data_b);
  std::filesystem::permissions(data_b, std::filesystem::perms::owner_all);
  for (const char* f : {"admin.token", "agent.token", "release.key", "session.secret"}) {
    std::filesystem::copy_file(data_a + "/" + f, data_b + "/" + f);
  }
  ServerProcess b(data_b, options);
  ASSERT_NE(b.port(), 0);
  const std::string admin = Trim(ReadFileOrDie(data_a + "/admin.token"));
  const std::string agent = Trim(ReadFileOrDie(data_a + "/agent.token"));
  HttpConnection conn_a(a.port()), conn_b(b.port());
  const FleetStratum stratum{"windows", "7.11", 20, 1};
  auto wait = [](auto&& done) {
    for (int i = 0; i < 6000 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  };

  SimDevice d("d-1");
  Response enrolled = conn_a.Do("POST", "/v1/agent/enroll", agent, EnrollBody(d, stratum));
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  ASSERT_TRUE(AdoptSession(d, enrolled));
  // B accepts A's session token (the credential is in the database; B's follower brought it).
  Response on_b;
  ASSERT_TRUE(wait([&] {
    on_b = conn_b.Do("POST", "/v1/agent/checkin", d.session, CheckinWithProfile(d, stratum));
    return on_b.status == 200;
  })) << on_b.status << " " << on_b.body;
  Response credential = conn_b.Do("GET", "/v1/fleet/devices/d-1/credential", admin);
  ASSERT_EQ(credential.status, 200) << credential.body;
  EXPECT_EQ(Str(credential.Object(), "state"), "active");
  // Its session request is answered by B too (signed with the device key registered through A).
  Response session = conn_b.Do("POST", "/v1/agent/session", "", SessionBody(d));
  EXPECT_EQ(session.status, 200) << session.body;
  Response on_a =
      conn_a.Do("POST", "/v1/agent/checkin", d.session, CheckinWithProfile(d, stratum));
  ASSERT_EQ(on_a.status, 200) << on_a.body;

  // Revoked through B: A refuses the device's check-ins, sessions and enrollment.
  Response revoked = conn_b.Do("POST", "/v1/fleet/devices/d-1/revoke", admin, "{}");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  const auto t0 = std::chrono::steady_clock::now();
  Response refused;
  ASSERT_TRUE(wait([&] {
    refused = conn_a.Do("POST", "/v1/agent/checkin", d.session, CheckinWithProfile(d, stratum));
    return refused.status == 401;
  })) << refused.status << " " << refused.body;
  const auto refused_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(refused.body.find("revoked"), std::string::npos) << refused.body;
  EXPECT_EQ(ErrorCode(conn_a.Do("POST", "/v1/agent/session", "", SessionBody(d))),
            "device_revoked");
  EXPECT_EQ(ErrorCode(conn_a.Do("POST", "/v1/agent/enroll", agent, EnrollBody(d, stratum))),
            "device_revoked");
  // Neither server journaled it in its data directory: the database holds it.
  EXPECT_FALSE(std::filesystem::exists(data_a + "/credentials.log"));
  EXPECT_FALSE(std::filesystem::exists(data_b + "/credentials.log"));
  std::printf("a revoke through one server refused by the other after %lld ms\n",
              static_cast<long long>(refused_ms));
  EXPECT_EQ(a.Terminate(), 0);
  EXPECT_EQ(b.Terminate(), 0);
}

// The upgrade from one server to a cluster (docs/deploy.md "Moving from SQLite to PostgreSQL"):
// a SQLite server's principals, audit chain and device credentials (a revoked device included)
// move into a new database with `ringfence server copy-store`; a server on that database serves
// them, the chain verifies with the same head, the revoked device stays refused and the other
// device's session still works. A second copy, or a copy while the server runs, changes nothing.
TEST(ServerOnPostgres, CopyStoreMovesASqliteServerIntoANewDatabase) {
  auto uri = rf::testing::FreshPgTestDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  rf::testing::TempDir dir;
  const std::string data = dir.File("data");
  const FleetStratum stratum{"windows", "7.11", 20, 1};
  SimDevice kept("d-kept"), revoked("d-revoked");
  std::string head;
  int64_t entries = 0;
  auto copy_store = [&] {
    return rf::testing::RunCommand({rf::testing::RingfenceBinary(), "server", "copy-store",
                                    "--data", data, "--store", *uri});
  };
  {
    ServerProcess sqlite_server(data);  // the embedded default
    ASSERT_NE(sqlite_server.port(), 0);
    const std::string admin = Trim(ReadFileOrDie(data + "/admin.token"));
    const std::string agent = Trim(ReadFileOrDie(data + "/agent.token"));
    HttpConnection conn(sqlite_server.port());
    CreatePrincipal(conn, admin, "bob", {"reviewer"}, /*with_key=*/true);
    for (SimDevice* d : {&kept, &revoked}) {
      Response enrolled = conn.Do("POST", "/v1/agent/enroll", agent, EnrollBody(*d, stratum));
      ASSERT_EQ(enrolled.status, 200) << enrolled.body;
      ASSERT_TRUE(AdoptSession(*d, enrolled));
    }
    ASSERT_EQ(conn.Do("POST", "/v1/fleet/devices/d-revoked/revoke", admin, "{}").status, 200);
    // The data directory is locked while its server runs: nothing is copied.
    testing::CommandResult busy = copy_store();
    EXPECT_EQ(busy.exit_code, 2) << busy.out << busy.err;
    Response verify = conn.Do("GET", "/v1/audit/verify", admin);
    ASSERT_EQ(verify.status, 200) << verify.body;
    entries = Int(verify.Object(), "entries");
    head = verify.body;
    EXPECT_EQ(sqlite_server.Terminate(), 0);
  }
  {
    auto store = store::PgStore::Open(*uri);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto c = (*store)->Load();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(c->principals.empty());  // the refused copy wrote nothing
    EXPECT_EQ(c->audit_head.seq, 0);
  }
  testing::CommandResult copied = copy_store();
  ASSERT_EQ(copied.exit_code, 0) << copied.out << copied.err;
  EXPECT_NE(copied.out.find("device credentials: 1 active, 1 revoked, 0 reset"), std::string::npos)
      << copied.out;
  EXPECT_NE(copied.out.find(std::to_string(entries) + " audit entries"), std::string::npos)
      << copied.out;
  testing::CommandResult again = copy_store();
  EXPECT_EQ(again.exit_code, 2) << again.out << again.err;
  EXPECT_NE(again.err.find("target store is not empty"), std::string::npos) << again.err;

  ServerOptions options;
  options.extra_args = {"--store", *uri};
  ServerProcess pg_server(data, options);
  ASSERT_NE(pg_server.port(), 0);
  const std::string admin = Trim(ReadFileOrDie(data + "/admin.token"));
  HttpConnection conn(pg_server.port());
  Response verify = conn.Do("GET", "/v1/audit/verify", admin);
  ASSERT_EQ(verify.status, 200) << verify.body;
  EXPECT_EQ(Int(verify.Object(), "entries"), entries);
  EXPECT_EQ(verify.body, head);  // same entries, same head hash
  Response principals = conn.Do("GET", "/v1/principals", admin);
  EXPECT_NE(principals.body.find("\"bob\""), std::string::npos) << principals.body;
  Response session = conn.Do("POST", "/v1/agent/session", "", SessionBody(kept));
  EXPECT_EQ(session.status, 200) << session.body;
  EXPECT_EQ(conn.Do("POST", "/v1/agent/checkin", kept.session, CheckinBody(kept)).status, 200);
  EXPECT_EQ(ErrorCode(conn.Do("POST", "/v1/agent/session", "", SessionBody(revoked))),
            "device_revoked");
  EXPECT_EQ(pg_server.Terminate(), 0);
}

// Layer 1 across replicas (docs/deploy.md "Layer 1 across replicas", issue 13): the legacy sensor
// (20 inputs) enrolls only on server A; Channel File 291 (a 21st field) uploaded through server B
// is refused naming it, as it is through A. (Before, B judged it on its own devices: accepted.)
TEST(ServerOnPostgres, LayerOneJudgesAnUploadThroughEitherServerOnBothServersDevices) {
  auto uri = rf::testing::FreshPgTestDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  rf::testing::TempDir dir;
  const std::string data_a = dir.File("a"), data_b = dir.File("b");
  ServerOptions options;
  options.extra_args = {"--store", *uri};
  ServerProcess a(data_a, options);
  ASSERT_NE(a.port(), 0);
  std::filesystem::create_directories(data_b);
  std::filesystem::permissions(data_b, std::filesystem::perms::owner_all);
  for (const char* f : {"admin.token", "agent.token", "release.key", "session.secret"}) {
    std::filesystem::copy_file(data_a + "/" + f, data_b + "/" + f);
  }
  ServerProcess b(data_b, options);
  ASSERT_NE(b.port(), 0);
  const std::string admin = Trim(ReadFileOrDie(data_a + "/admin.token"));
  const std::string agent = Trim(ReadFileOrDie(data_a + "/agent.token"));
  HttpConnection conn_a(a.port()), conn_b(b.port());
  SimDevice legacy("d-legacy"), current("d-current");
  Response e =
      conn_a.Do("POST", "/v1/agent/enroll", agent, EnrollBody(legacy, {"windows", "7.11", 20, 1}));
  ASSERT_EQ(e.status, 200) << e.body;
  e = conn_b.Do("POST", "/v1/agent/enroll", agent, EnrollBody(current, {"windows", "7.16", 21, 1}));
  ASSERT_EQ(e.status, 200) << e.body;
  Response type = conn_a.Do("POST", "/v1/content-types", admin,
                            "{\"yaml\":" + Quote(service::testing::TypeYaml()) + "}");
  ASSERT_EQ(type.status, 200) << type.body;
  const Principal alice = CreatePrincipal(conn_a, admin, "alice", {"author"}, false);
  // A publishes its profiles within its period (5 s); B has the type and alice once it reloaded.
  auto store = store::PgStore::Open(*uri);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE(rf::testing::WaitFor([&] {
    auto rows = (*store)->FleetProfiles();
    bool legacy_published = false;
    for (const auto& row : rows.ok() ? *rows : std::vector<store::FleetProfilesRow>{}) {
      legacy_published |= row.profiles.find("\"7.11\"") != std::string::npos;
    }
    return legacy_published &&
           conn_b.Do("GET", "/v1/content-types", alice.token).body.find("ipc_rule") !=
               std::string::npos;
  }));
  auto upload = [&](HttpConnection& conn, int64_t version, bool cf291) {
    const std::string envelope =
        service::testing::BuildEnvelope(service::testing::BundleSource(version, cf291));
    return conn.Do("POST", "/v1/bundles", alice.token, "{\"envelope\":" + Quote(envelope) + "}");
  };
  for (HttpConnection* conn : {&conn_b, &conn_a}) {
    Response refused = upload(*conn, 1291, true);
    EXPECT_EQ(refused.status, 400) << refused.body;
    EXPECT_NE(refused.body.find("layer 1 rejected"), std::string::npos) << refused.body;
    EXPECT_NE(refused.body.find("agent_version=7.11 group=prod os=windows tenant=acme (1 devices)"),
              std::string::npos)
        << refused.body;
  }
  Response good = upload(conn_b, 1292, false);
  EXPECT_LT(good.status, 300) << good.body;
  // GET /v1/fleet through either server is the whole fleet (before: each its own device).
  for (HttpConnection* conn : {&conn_a, &conn_b}) {
    EXPECT_TRUE(rf::testing::WaitFor([&] {
      return conn->Do("GET", "/v1/fleet", admin).body.find("{\"devices\":2,") == 0;
    })) << conn->Do("GET", "/v1/fleet", admin).body;
  }
  // The dashboard's fleet summary is the whole fleet's too, through either server (before: each
  // its own device).
  for (HttpConnection* conn : {&conn_a, &conn_b}) {
    Response summary = conn->Do("GET", "/v1/fleet/summary", admin);
    ASSERT_EQ(summary.status, 200) << summary.body;
    EXPECT_EQ(Int(summary.Object(), "devices"), 2) << summary.body;
  }
  // The dashboard's what-if simulates the whole fleet too, through either server (before: each
  // its own device). The release is created through A right after B acknowledged the upload.
  Response created = conn_a.Do("POST", "/v1/releases", alice.token,
                               "{\"bundle_sha256\":" + Quote(Str(good.Object(), "sha256")) +
                                   ",\"plan_yaml\":" + Quote(service::testing::PlanYaml()) + "}");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Str(created.Object(), "release_id");
  for (HttpConnection* conn : {&conn_a, &conn_b}) {
    Response what_if = conn->Do("GET", "/v1/releases/" + id + "/what-if", admin);
    ASSERT_EQ(what_if.status, 200) << what_if.body;
    EXPECT_EQ(Int(what_if.Object(), "devices"), 2) << what_if.body;
  }
  EXPECT_EQ(a.Terminate(), 0);
  EXPECT_EQ(b.Terminate(), 0);
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
