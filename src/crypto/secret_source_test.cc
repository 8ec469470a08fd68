#include <set>
#include <string>

#include <gtest/gtest.h>

#include "crypto/crypto.h"

namespace rf::crypto {
namespace {

TEST(SecretSource, BearerTokensAreLongHexAndNeverRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string t = SecretSource::BearerToken();
    ASSERT_EQ(t.size(), 67u);
    EXPECT_EQ(t.substr(0, 3), "rf_");
    EXPECT_EQ(t.find_first_not_of("0123456789abcdef", 3), std::string::npos) << t;
    EXPECT_TRUE(seen.insert(t).second) << "repeated token " << t;
  }
}

TEST(SecretSource, BytesHaveTheAskedLengthAndDiffer) {
  EXPECT_EQ(SecretSource::Bytes(0).size(), 0u);
  const std::string a = SecretSource::Bytes(32), b = SecretSource::Bytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace rf::crypto
