#include "core/identifiers.h"

#include <string>

#include <gtest/gtest.h>

namespace rf {
namespace {

TEST(CoreIdentifiers, TheOneRule) {
  for (std::string_view ok : {"291", "a", "...", ".a", "a..b", "x:y-z_1.2", "AZaz09"}) {
    EXPECT_TRUE(IsValidId(ok)) << ok;
    EXPECT_TRUE(IsValidItemId(ok)) << ok;
  }
  EXPECT_TRUE(IsValidId(std::string(kMaxIdBytes, 'a')));
  for (std::string_view bad : {"", ".", "..", "a/b", "a b", "é"}) {
    EXPECT_FALSE(IsValidId(bad)) << bad;
    EXPECT_FALSE(IsValidItemId(bad)) << bad;
  }
  EXPECT_FALSE(IsValidId(std::string(kMaxIdBytes + 1, 'a')));
}

}  // namespace
}  // namespace rf
