// The server's data directory (docs/server.md "Data directory"): one process at a time, private
// permissions, and the secrets it holds.
//
//   RF_ASSIGN_OR_RETURN(DataDir dir, DataDir::Open(env, "/var/lib/ringfence", &log));
//   RF_ASSIGN_OR_RETURN(ServerSecrets secrets, dir.EnsureSecrets());
//   ... the server runs; the lock is held until `dir` is destroyed or the process ends ...
//
// Secrets (admin.token, agent.token, release.key) come only from crypto::SecretSource, never from
// the Env's Random: a seeded simulation generator whose state one leaked output reveals.
#ifndef RINGFENCE_SERVER_DATA_DIR_H_
#define RINGFENCE_SERVER_DATA_DIR_H_

#include <memory>
#include <ostream>
#include <string>

#include "core/status.h"
#include "crypto/crypto.h"
#include "platform/env.h"

namespace rf::server {

struct ServerSecrets {
  std::string admin_token;      // bearer token of the bootstrap principal "admin"
  std::string agent_token;      // the fleet token: enrolls devices
  crypto::SigningKey release_key;  // signs release statements (docs/protocol.md)

  // The trust root agents are provisioned with (docs/agent.md "Trust root").
  std::string TrustJson() const;
};

// Which secrets `ringfence server rotate-secrets` replaces.
struct RotateOptions {
  bool admin_token = true;
  bool agent_token = true;
  bool release_key = true;
};

class DataDir {
 public:
  // Creates `path` (0700) if missing and takes its exclusive lock (`path`/lock): a second server
  // or rotate-secrets on the same directory fails with FailedPrecondition naming the holder.
  // Tightens what a looser umask or an older version left readable by others: directories to 0700,
  // files to 0600 (one line per change on `log`).
  static Result<DataDir> Open(Env env, const std::string& path, std::ostream* log);

  // Reads the secrets, creating the missing ones from the OS CSPRNG (0600, written atomically).
  Result<ServerSecrets> EnsureSecrets();
  // Replaces the chosen secrets with new ones from the OS CSPRNG and returns the new set. The
  // server picks them up at its next start (token hashes of the principals "admin" and "agent"
  // are replaced then, audited); agents need the new trust root when the release key changes.
  Result<ServerSecrets> RotateSecrets(const RotateOptions& options);

  const std::string& path() const { return path_; }

 private:
  DataDir(Env env, std::string path, std::unique_ptr<FileLock> lock)
      : env_(env), path_(std::move(path)), lock_(std::move(lock)) {}
  Status WriteNewToken(const std::string& name);
  Status WriteNewReleaseKey();
  Result<std::string> ReadToken(const std::string& name);

  Env env_;
  std::string path_;
  std::unique_ptr<FileLock> lock_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_DATA_DIR_H_
