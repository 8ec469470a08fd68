#include "store/open_store.h"

#include <gtest/gtest.h>

#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "testing/pg_test_server.h"
#include "testing/test_util.h"

namespace rf::store {
namespace {

WriteBatch OneEntry() {
  WriteBatch b;
  b.audit.push_back({"alice", "x", "s", "{}", 1});
  return b;
}

TEST(OpenServerStore, DefaultIsSqliteInTheDataDirectory) {
  rf::testing::TempDir dir;
  auto s = OpenServerStore("", dir.path());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(dynamic_cast<SqliteStore*>(s->get()), nullptr);
  ASSERT_TRUE((*s)->Apply(OneEntry()).ok());
  EXPECT_TRUE(rf::testing::ReadFileOrDie(dir.File(kDatabaseFileName)).size() > 0);
}

TEST(OpenServerStore, PostgresUriOpensPgStore) {
  auto uri = rf::testing::FreshPgTestDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  rf::testing::TempDir dir;
  auto s = OpenServerStore(*uri, dir.path());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(dynamic_cast<PgStore*>(s->get()), nullptr);
  ASSERT_TRUE((*s)->Apply(OneEntry()).ok());
  EXPECT_EQ((*s)->RecordedAuditHead()->seq, 1);
}

TEST(OpenServerStore, OtherSpecsAreRefusedWithoutEchoingThem) {
  rf::testing::TempDir dir;
  auto s = OpenServerStore("mysql://root:hunter2@db/x", dir.path());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("postgresql://"), std::string::npos);
  EXPECT_EQ(s.status().message().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace rf::store
