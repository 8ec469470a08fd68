#include "server/ui_api.h"

#include <gtest/gtest.h>

#include "server/ui_test_util.h"

namespace rf::server {
namespace {

TEST(UiApi, RefusesInOrderUnauthenticatedAgentsAndOtherMethods) {
  HttpRequest r = UiTestGet("/v1/fleet/summary", "nope");
  std::optional<HttpResponse> refused = RefuseUnlessOperatorGet(UiTestAuth, r);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);
  EXPECT_NE(refused->body.find("unauthenticated"), std::string::npos);
  r.method = "POST";  // unauthenticated comes first, whatever the method
  EXPECT_EQ(RefuseUnlessOperatorGet(UiTestAuth, r)->status, 401);

  r = UiTestGet("/v1/fleet/summary", "agent");
  refused = RefuseUnlessOperatorGet(UiTestAuth, r);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("forbidden_role"), std::string::npos);

  r = UiTestGet("/v1/fleet/summary", "rev");
  r.method = "DELETE";
  refused = RefuseUnlessOperatorGet(UiTestAuth, r);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 405);

  EXPECT_FALSE(RefuseUnlessOperatorGet(UiTestAuth, UiTestGet("/v1/fleet/summary", "rev")).has_value());
  EXPECT_FALSE(RefuseUnlessOperatorGet(UiTestAuth, UiTestGet("/v1/fleet/summary", "op")).has_value());
}

TEST(UiApi, ReleaseSubresourceIdTakesOneNonEmptySegment) {
  EXPECT_EQ(ReleaseSubresourceId("/v1/releases/r-1/history", "/history"), "r-1");
  EXPECT_EQ(ReleaseSubresourceId("/v1/releases/r-1/what-if", "/what-if"), "r-1");
  EXPECT_FALSE(ReleaseSubresourceId("/v1/releases/r-1/what-if", "/history"));
  EXPECT_FALSE(ReleaseSubresourceId("/v1/releases//history", "/history"));
  EXPECT_FALSE(ReleaseSubresourceId("/v1/releases/history", "/history"));
  EXPECT_FALSE(ReleaseSubresourceId("/v1/releases/a/b/history", "/history"));
  EXPECT_FALSE(ReleaseSubresourceId("/v1/bundles/r-1/history", "/history"));
  EXPECT_FALSE(ReleaseSubresourceId("/v1/releases/r-1/history/", "/history"));
}

}  // namespace
}  // namespace rf::server
