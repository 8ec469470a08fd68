#include "store/schema_migrations.h"

#include <gtest/gtest.h>

namespace rf::store {
namespace {

constexpr SchemaMigration kSteps[] = {
    {1, "one", "CREATE TABLE a(x)"},
    {2, "two", "ALTER TABLE a ADD COLUMN y"},
    {3, "three", "CREATE TABLE b(x)"},
};

TEST(SchemaMigrations, RunsExactlyTheStepsAboveTheRecordedVersion) {
  EXPECT_EQ(LatestSchemaVersion(kSteps), 3);
  auto all = PendingMigrations(kSteps, 0, "db");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].version, 1);
  auto rest = PendingMigrations(kSteps, 2, "db");
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_STREQ((*rest)[0].what, "three");
  auto none = PendingMigrations(kSteps, 3, "db");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(SchemaMigrations, NewerDatabaseIsRefusedByName) {
  auto r = PendingMigrations(kSteps, 4, "ringfence.db");
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "ringfence.db: database schema version 4 is newer than this server's (3)");
  EXPECT_EQ(PendingMigrations(kSteps, -1, "db").status().code(), StatusCode::kDataLoss);
}

TEST(SchemaMigrations, MisnumberedListIsAProgrammingError) {
  constexpr SchemaMigration gap[] = {{1, "one", ""}, {3, "three", ""}};
  auto r = PendingMigrations(gap, 0, "db");
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("'three' is numbered 3, expected 2"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace rf::store
