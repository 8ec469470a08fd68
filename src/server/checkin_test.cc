#include "server/checkin.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rf::server {
namespace {

const std::string kSha(64, 'a');

TEST(ProfileKey, RoundTripsAndIsCanonical) {
  rollout::Attributes attrs = {{"os", "windows"}, {"agent_version", "7.11"}};
  CapabilityManifest caps;
  caps["ipc_rule"] = ConsumerCapability{{2, 3}, 20, 5000, 0};
  const std::string key = EncodeProfileKey(attrs, caps);
  EXPECT_EQ(key,
            R"({"attrs":{"agent_version":"7.11","os":"windows"},"capabilities":{"ipc_rule":{"inputs":20,"max_items":5000,"schema_versions":[2,3]}}})");
  rollout::Attributes a2;
  CapabilityManifest c2;
  ASSERT_TRUE(ParseProfileKey(key, &a2, &c2).ok());
  EXPECT_EQ(a2, attrs);
  EXPECT_EQ(EncodeProfileKey(a2, c2), key);
}

TEST(InstalledKey, RoundTrips) {
  std::vector<ChannelReport> ch = {{"291", BundleRef{42, kSha}, BundleRef{41, kSha}},
                                   {"300", std::nullopt, BundleRef{1, kSha}}};
  const std::string key = EncodeInstalledKey(ch);
  auto back = ParseInstalledKey(key);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, ch);
  EXPECT_EQ(EncodeInstalledKey({}), "{}");
}

}  // namespace
}  // namespace rf::server
