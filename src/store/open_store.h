// The store `ringfence server` runs on, chosen by its --store flag (docs/deploy.md):
//   ""                    SqliteStore at DATA_DIR/ringfence.db (embedded; the default)
//   "postgresql://..."    PgStore on that database (also "postgres://...", libpq's URI form)
#ifndef RINGFENCE_STORE_OPEN_STORE_H_
#define RINGFENCE_STORE_OPEN_STORE_H_

#include <string>

#include "core/status.h"
#include "store/store.h"

namespace rf::store {

// Opens (creating or migrating the schema) the store `spec` names. InvalidArgument for any other
// spec; otherwise the chosen store's Open errors.
Result<StorePtr> OpenServerStore(const std::string& spec, const std::string& data_dir);

}  // namespace rf::store

#endif  // RINGFENCE_STORE_OPEN_STORE_H_
