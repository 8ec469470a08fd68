#include "store/schema_migrations.h"

#include <string>

namespace rf::store {

Result<std::span<const SchemaMigration>> PendingMigrations(std::span<const SchemaMigration> all,
                                                           int64_t current,
                                                           std::string_view where) {
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].version != static_cast<int64_t>(i) + 1) {
      return Status::Internal("schema migration '" + std::string(all[i].what) +
                              "' is numbered " + std::to_string(all[i].version) + ", expected " +
                              std::to_string(i + 1));
    }
  }
  const int64_t latest = LatestSchemaVersion(all);
  if (current < 0) {
    return Status::DataLoss(std::string(where) + ": database schema version " +
                            std::to_string(current) + " is not a version");
  }
  if (current > latest) {
    return Status::FailedPrecondition(std::string(where) + ": database schema version " +
                                      std::to_string(current) + " is newer than this server's (" +
                                      std::to_string(latest) + ")");
  }
  return all.subspan(static_cast<size_t>(current));
}

}  // namespace rf::store
