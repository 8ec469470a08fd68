// Versioned schema migrations, shared by the SQL stores (SqliteStore, PgStore): each store keeps
// an ordered list of steps, step i taking the database from version i to version i+1, and records
// the version it reached in the same transaction as the steps (SQLite: PRAGMA user_version;
// PostgreSQL: the schema_version table). Opening a database runs exactly the steps above its
// recorded version; a database newer than the code is refused, never written.
//
//   constexpr SchemaMigration kMigrations[] = {
//       {1, "initial tables", "CREATE TABLE ..."},
//       {2, "bundles.layer2_report_json", "ALTER TABLE bundles ADD COLUMN ..."},
//   };
//   RF_ASSIGN_OR_RETURN(auto steps, PendingMigrations(kMigrations, current, "ringfence.db"));
//   for (const SchemaMigration& m : steps) { run m.sql; record m.version; }
//
// Migrations are append-only: a released step is never edited, a change is a new step.
#ifndef RINGFENCE_STORE_SCHEMA_MIGRATIONS_H_
#define RINGFENCE_STORE_SCHEMA_MIGRATIONS_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"

namespace rf::store {

struct SchemaMigration {
  int64_t version;   // the schema version after this step: 1 for the first, then +1 each
  const char* what;  // one line naming the change (errors cite it)
  const char* sql;   // the statements of the step, run inside the migration transaction
};

// The steps of `all` to run on a database at version `current` (0: empty), in order.
// FailedPrecondition naming `where` if `current` is newer than the last step; Internal if `all`
// is not numbered 1, 2, 3, ... (a programming error caught by the stores' tests).
Result<std::span<const SchemaMigration>> PendingMigrations(std::span<const SchemaMigration> all,
                                                           int64_t current,
                                                           std::string_view where);

// The version `all` ends at (the code's schema version).
inline int64_t LatestSchemaVersion(std::span<const SchemaMigration> all) {
  return all.empty() ? 0 : all.back().version;
}

}  // namespace rf::store

#endif  // RINGFENCE_STORE_SCHEMA_MIGRATIONS_H_
