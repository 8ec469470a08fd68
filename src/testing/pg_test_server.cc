#include "testing/pg_test_server.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace rf::testing {
namespace {

// The socket file is SOCKET_DIR/.s.PGSQL.<port>; only the directory separates servers.
constexpr char kPort[] = "5432";

std::string FindBindir() {
  if (const char* e = std::getenv("RF_PG_BINDIR"); e && *e) return e;
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (std::filesystem::exists(d.path() / "bin" / "initdb")) found.push_back(d.path() / "bin");
  }
  if (found.empty()) return "";
  // Newest major version: compare numerically ("15" > "9").
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::atoi(a.parent_path().filename().c_str()) <
           std::atoi(b.parent_path().filename().c_str());
  });
  return found.back().string();
}

}  // namespace

Result<std::unique_ptr<PgTestServer>> PgTestServer::Start() {
  std::unique_ptr<PgTestServer> s(new PgTestServer());
  s->bindir_ = FindBindir();
  if (s->bindir_.empty() || !std::filesystem::exists(s->bindir_ + "/pg_ctl")) {
    return Status::FailedPrecondition(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or "
        "$RF_PG_BINDIR: run scripts/install-deps.sh");
  }
  s->data_ = s->dir_.File("data");
  s->socket_dir_ = s->dir_.File("sock");
  s->log_ = s->dir_.File("postgres.log");
  if (s->socket_dir_.size() + 20 > 107) {
    return Status::FailedPrecondition("unix socket path too long under " + s->dir_.path() +
                                      ": set TMPDIR to a shorter directory");
  }
  std::filesystem::create_directories(s->socket_dir_);
  if (::geteuid() == 0) {
    const char* u = std::getenv("RF_PG_TEST_USER");
    s->user_ = u && *u ? u : "nobody";
    const passwd* pw = ::getpwnam(s->user_.c_str());
    if (pw == nullptr) {
      return Status::FailedPrecondition("running as root, and the PostgreSQL test user '" +
                                        s->user_ + "' does not exist (set RF_PG_TEST_USER)");
    }
    // The server user owns everything it writes; the directory itself must be traversable.
    for (const std::string& p : {s->dir_.path(), s->socket_dir_}) {
      if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        return Status::Internal("chown " + p + " failed");
      }
    }
  }
  RF_RETURN_IF_ERROR(s->Check(
      s->RunAsServerUser({s->bindir_ + "/initdb", "-D", s->data_, "-U", kSuperuser,
                          "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"}),
      "initdb"));
  RF_RETURN_IF_ERROR(s->Restart());
  return s;
}

PgTestServer::~PgTestServer() {
  if (running_) {
    (void)RunAsServerUser({bindir_ + "/pg_ctl", "-D", data_, "-m", "immediate", "-w", "-t", "300",
                           "stop"});
  }
}

CommandResult PgTestServer::RunAsServerUser(std::vector<std::string> argv) const {
  if (!user_.empty()) {
    std::vector<std::string> wrapped = {"/usr/bin/setpriv", "--reuid=" + user_,
                                        "--regid=" + user_, "--clear-groups", "--"};
    // nobody's primary group is nogroup: use the user's own gid rather than a name.
    const passwd* pw = ::getpwnam(user_.c_str());
    if (pw != nullptr) wrapped[2] = "--regid=" + std::to_string(pw->pw_gid);
    wrapped.insert(wrapped.end(), argv.begin(), argv.end());
    argv = std::move(wrapped);
  }
  return RunCommand(argv);
}

Status PgTestServer::Check(const CommandResult& r, const std::string& what) const {
  if (r.exit_code == 0) return Status::Ok();
  return Status::Internal(what + " failed (exit " + std::to_string(r.exit_code) + "): " + r.err +
                          r.out + "\n--- server log ---\n" + Log());
}

std::string PgTestServer::Uri(const std::string& db) const {
  // host= a directory: the unix socket in it (libpq URI query parameters).
  return "postgresql:///" + db + "?host=" + socket_dir_ + "&port=" + kPort + "&user=" +
         kSuperuser;
}

Status PgTestServer::CreateDatabase(const std::string& name) {
  return Check(RunCommand({bindir_ + "/createdb", "-h", socket_dir_, "-p", kPort, "-U",
                           kSuperuser, name}),
               "createdb " + name);
}

Status PgTestServer::Stop() {
  if (!running_) return Status::Ok();
  RF_RETURN_IF_ERROR(Check(RunAsServerUser({bindir_ + "/pg_ctl", "-D", data_, "-m", "fast", "-w",
                                            "-t", "300", "stop"}),
                           "pg_ctl stop"));
  running_ = false;
  return Status::Ok();
}

Status PgTestServer::Restart() {
  RF_RETURN_IF_ERROR(Stop());
  // -w -t 300: wait until the server accepts connections, up to 5 minutes.
  RF_RETURN_IF_ERROR(Check(
      RunAsServerUser({bindir_ + "/pg_ctl", "-D", data_, "-l", log_, "-w", "-t", "300", "-o",
                       "-k " + socket_dir_ + " -p " + kPort + " -c listen_addresses='' -c fsync=on",
                       "start"}),
      "pg_ctl start"));
  running_ = true;
  return Status::Ok();
}

std::string PgTestServer::Log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<PgTestServer*> SharedPgTestServer() {
  // Started on first call; destroyed at exit, which stops the server.
  static Result<std::unique_ptr<PgTestServer>> shared = PgTestServer::Start();
  if (!shared.ok()) return shared.status();
  PgTestServer* s = shared.value().get();
  if (!s->running()) RF_RETURN_IF_ERROR(s->Restart());
  return s;
}

Result<std::string> FreshPgTestDatabase() {
  static int next = 0;
  RF_ASSIGN_OR_RETURN(PgTestServer * s, SharedPgTestServer());
  const std::string name = "t" + std::to_string(++next);
  RF_RETURN_IF_ERROR(s->CreateDatabase(name));
  return s->Uri(name);
}

}  // namespace rf::testing
