// `ringfence server copy-store --data DIR --store postgresql://...`: moves a stopped SQLite
// server's control plane and device credentials into a new PostgreSQL database, the upgrade from
// one server to several (docs/deploy.md "Moving from SQLite to PostgreSQL").
#include <iomanip>
#include <memory>
#include <ostream>
#include <string>

#include "cli/common.h"
#include "cli/server_command.h"
#include "cluster/pg_credential_store.h"
#include "server/credential_copy.h"
#include "server/credential_journal.h"
#include "server/data_dir.h"
#include "store/open_store.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "store/store_copy.h"

namespace rf::server {
namespace {

constexpr char kCopyActor[] = "copy-store";

void PrintStoreStats(const store::StoreCopyStats& s, std::ostream& out) {
  out << "control plane: " << s.content_types << " content types, " << s.bundles << " bundles ("
      << s.bundle_bytes << " envelope bytes), " << s.releases << " releases, " << s.approvals
      << " approvals, " << s.principals << " principals, " << s.policies << " channel policies, "
      << s.controls << " customer controls, " << s.audit_entries << " audit entries";
  if (s.audit_entries > 0) {
    out << " (chain head seq " << s.audit_head.seq << " " << s.audit_head.hash
        << ", verified on the target)";
  }
  out << "\n";
}

Status CopyAll(const std::string& data, const std::string& target_spec, Env env,
               std::ostream& out) {
  const std::string db = data + "/" + store::kDatabaseFileName;
  if (!env.fs->Exists(db)) return Status::NotFound(db + ": no SQLite store to copy");
  RF_ASSIGN_OR_RETURN(auto source, store::SqliteStore::Open(db, {}));
  auto target = store::OpenServerStore(target_spec, data);
  if (!target.ok()) return target.status().WithPrefix("--store");
  auto* pg = dynamic_cast<store::PgStore*>(target->get());
  if (pg == nullptr) return Status::InvalidArgument("--store: the target must be postgresql://...");

  // Credentials first: a run that stops half-way is finished by running it again (a device
  // already copied is left alone); the control plane is then copied in one transaction.
  CredentialJournal journal(env.fs, data + "/credentials.log");
  cluster::PgCredentialStore shared(*pg);
  RF_ASSIGN_OR_RETURN(
      CredentialCopyStats creds,
      CopyCredentials(journal, shared, kCopyActor, env.clock->NowUnixMicros() / 1'000'000));
  out << "device credentials: " << creds.active << " active, " << creds.revoked << " revoked, "
      << creds.reset << " reset";
  if (creds.already_there > 0) out << " (" << creds.already_there << " already copied)";
  out << "\n";
  RF_ASSIGN_OR_RETURN(store::StoreCopyStats stats, store::CopyStore(*source, *pg));
  PrintStoreStats(stats, out);
  return Status::Ok();
}

}  // namespace

int RunCopyStore(const std::string& data, const std::string& target, Env env, std::ostream& out,
                 std::ostream& err) {
  auto fail = [&](const Status& st) {
    err << "ringfence server copy-store: " << st.message() << "\n";
    return cli::kExitUnusable;
  };
  if (data.empty()) return fail(Status::InvalidArgument("--data is required"));
  if (target.empty()) {
    return fail(Status::InvalidArgument("--store postgresql://... (the new database) is required"));
  }
  if (!env.fs->Exists(data)) return fail(Status::NotFound(data + ": no such data directory"));
  auto dir = DataDir::Open(env, data, &err);  // its lock: fails while a server runs on it
  if (!dir.ok()) return fail(dir.status());
  if (Status st = CopyAll(data, target, env, out); !st.ok()) return fail(st);
  out << "copied; start the servers with --store and copies of " << data
      << "'s secrets (docs/deploy.md \"Secrets\"); this directory's ringfence.db and "
         "credentials.log are no longer used by them\n";
  return cli::kExitOk;
}

}  // namespace rf::server
