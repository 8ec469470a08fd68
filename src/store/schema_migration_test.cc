// SqliteStore schema versions: a version-1 file (no bundles.layer2_report_json) is migrated in
// place when opened, keeping every bundle; a file newer than the code is refused.
#include <sqlite3.h>

#include <gtest/gtest.h>

#include "store/sqlite_store.h"
#include "store/store_test_records.h"
#include "testing/test_util.h"

namespace rf::store {
namespace {

void Exec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

// The shared test bundle (store_test_records.h) with a layer-2 report.
BundleRecord Bundle(const std::string& sha, int64_t version, const std::string& layer2) {
  BundleRecord b = test_records::Bundle(sha, version);
  b.layer2_report_json = layer2;
  return b;
}

TEST(SchemaMigrationTest, VersionOneFileGainsTheLayerTwoColumnAndKeepsItsBundles) {
  rf::testing::TempDir dir;
  const std::string path = dir.File("ringfence.db");
  {
    auto s = SqliteStore::Open(path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    WriteBatch b;
    b.bundles.push_back(Bundle("aa", 1, ""));
    ASSERT_TRUE((*s)->Apply(std::move(b)).ok());
  }
  // Make it the version-1 file an older server wrote.
  Exec(path, "ALTER TABLE bundles DROP COLUMN layer2_report_json; PRAGMA user_version=1;");
  {
    auto s = SqliteStore::Open(path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    WriteBatch b;
    b.bundles.push_back(Bundle("bb", 2, "{\"accepted\":true}"));
    ASSERT_TRUE((*s)->Apply(std::move(b)).ok());
    auto c = (*s)->Load();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_EQ(c->bundles.size(), 2u);
    EXPECT_EQ(c->bundles[0].layer2_report_json, "");
    EXPECT_EQ(c->bundles[1].layer2_report_json, "{\"accepted\":true}");
  }
  Exec(path, "PRAGMA user_version=99;");
  EXPECT_EQ(SqliteStore::Open(path).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace rf::store
