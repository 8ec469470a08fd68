// A throwaway PostgreSQL server for tests (PgStore's, and later the cluster's): initdb in a fresh
// TempDir, then `postgres` listening only on a unix socket inside that directory (no TCP port, so
// parallel test binaries never collide), with fsync on like production.
//
//   auto pg = rf::testing::PgTestServer::Start();
//   ASSERT_TRUE(pg.ok()) << pg.status().ToString();
//   ASSERT_TRUE((*pg)->CreateDatabase("t1").ok());
//   auto store = store::PgStore::Open((*pg)->Uri("t1"));
//
// PostgreSQL refuses to run as root: when the test runs as root the server's commands run as the
// unprivileged user $RF_PG_TEST_USER (default "nobody") through setpriv(1), and the directory is
// handed to that user. Binaries come from $RF_PG_BINDIR or the newest /usr/lib/postgresql/*/bin
// (Debian's layout; scripts/install-deps.sh installs them). Missing binaries are an error, never a
// skip: the PostgreSQL tests fail where PostgreSQL is not installed.
//
// Waiting: pg_ctl -w with a deadline of several minutes (start-up under load is slow, not
// broken). Not thread-safe. If the test process dies without running the destructor, the server
// is left running in its (also left) directory.
#ifndef RINGFENCE_TESTING_PG_TEST_SERVER_H_
#define RINGFENCE_TESTING_PG_TEST_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "testing/test_util.h"

namespace rf::testing {

class PgTestServer {
 public:
  // Creates the cluster and starts the server. FailedPrecondition naming what is missing (the
  // binaries, the run-as user) or Internal with the failing command's output.
  static Result<std::unique_ptr<PgTestServer>> Start();
  // Stops the server (immediate mode) and removes its directory.
  ~PgTestServer();
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  // A libpq URI for database `db` on this server, as its superuser.
  std::string Uri(const std::string& db) const;
  // CREATE DATABASE `name` (createdb).
  Status CreateDatabase(const std::string& name);
  // Stops (fast shutdown: every session is disconnected) and starts the server again.
  Status Stop();
  Status Restart();
  bool running() const { return running_; }
  // The server's log so far (for failure messages).
  std::string Log() const;

  static constexpr char kSuperuser[] = "rftest";

 private:
  PgTestServer() = default;
  // `argv` run as the server's user (via setpriv when this process is root).
  CommandResult RunAsServerUser(std::vector<std::string> argv) const;
  Status Check(const CommandResult& r, const std::string& what) const;

  TempDir dir_;
  std::string bindir_;
  std::string user_;  // empty: not root, run directly
  std::string data_, socket_dir_, log_;
  bool running_ = false;
};

// One server per test process, started on first use and stopped at exit (so a test binary pays
// for initdb once), and a new empty database on it per call: returns that database's URI.
Result<std::string> FreshPgTestDatabase();
// The process's shared server (started if needed), e.g. to restart it.
Result<PgTestServer*> SharedPgTestServer();

}  // namespace rf::testing

#endif  // RINGFENCE_TESTING_PG_TEST_SERVER_H_
