#include "protocol/identifiers.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rf::protocol {
namespace {

TEST(Identifiers, OneRuleForChannelsAndDeviceIds) {
  for (const std::string& ok : std::vector<std::string>{"291", "a", "a.b", "...", ".a", "a..", "A-Z_0:9", std::string(128, 'x')}) {
    EXPECT_TRUE(IsValidId(ok)) << ok;
    EXPECT_TRUE(IsValidChannel(ok)) << ok;
    EXPECT_TRUE(IsValidDeviceId(ok)) << ok;
  }
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a/b", "../x", "a b", "ä", std::string(129, 'x'),
                                std::string("a\0b", 3)}) {
    EXPECT_FALSE(IsValidId(bad)) << bad;
    EXPECT_FALSE(IsValidChannel(bad)) << bad;
    EXPECT_FALSE(IsValidDeviceId(bad)) << bad;
  }
}

TEST(Identifiers, PrincipalNames) {
  EXPECT_TRUE(IsValidPrincipalName("bob"));
  EXPECT_TRUE(IsValidPrincipalName("ci.bot-2_x"));
  EXPECT_TRUE(IsValidPrincipalName(std::string(64, 'a')));
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "Bob", "a b", "a:b",
                                                        std::string(65, 'a')}) {
    EXPECT_FALSE(IsValidPrincipalName(bad)) << bad;
  }
}

TEST(Identifiers, Sha256Hex) {
  EXPECT_TRUE(IsSha256Hex(std::string(64, 'a')));
  EXPECT_TRUE(IsSha256Hex("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(65, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "g"));
}

TEST(Identifiers, CheckChannelNamesTheProblem) {
  EXPECT_TRUE(CheckChannel("291").ok());
  Status s = CheckChannel("..", "bundle payload: channel");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "bundle payload: channel '..' is not a valid channel name (1-128 characters of "
            "[A-Za-z0-9._:-], not '.' or '..')");
  // Unprintable bytes are escaped and long names cut in the message.
  s = CheckChannel(std::string("a\nb'", 4));
  EXPECT_NE(s.message().find("'a\\x0ab\\x27'"), std::string::npos) << s.message();
  s = CheckChannel(std::string(300, '/'));
  EXPECT_LT(s.message().size(), 200u) << s.message();
}

}  // namespace
}  // namespace rf::protocol
