#include "store/open_store.h"

#include "store/pg_store.h"
#include "store/sqlite_store.h"

namespace rf::store {

Result<StorePtr> OpenServerStore(const std::string& spec, const std::string& data_dir) {
  if (spec.empty()) {
    RF_ASSIGN_OR_RETURN(auto s, SqliteStore::Open(data_dir + "/" + kDatabaseFileName, {}));
    return StorePtr(std::move(s));
  }
  if (IsPostgresUri(spec)) {
    RF_ASSIGN_OR_RETURN(auto s, PgStore::Open(spec, {}));
    return StorePtr(std::move(s));
  }
  // The spec may hold a password: not echoed.
  return Status::InvalidArgument(
      "--store: expected a postgresql:// (or postgres://) connection URI, or no --store for "
      "SQLite in the data directory");
}

}  // namespace rf::store
