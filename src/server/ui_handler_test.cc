#include "server/ui_handler.h"

#include <gtest/gtest.h>

#include <string>

namespace rf::server {
namespace {

const ui::Asset kAssets[] = {
    {"index.html", "text/html; charset=utf-8", "<!doctype html><p>hi</p>"},
    {"app.js", "text/javascript; charset=utf-8", "console.log(1)"},
};

HttpRequest Get(std::string path) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  return r;
}

std::string Header(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

void ExpectSecurityHeaders(const HttpResponse& r) {
  const std::string csp = Header(r, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
  EXPECT_EQ(Header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(r, "X-Frame-Options"), "DENY");
  EXPECT_EQ(Header(r, "Referrer-Policy"), "no-referrer");
}

TEST(UiHandler, HandlesOnlyUiPaths) {
  EXPECT_TRUE(UiHandler::Handles("/ui"));
  EXPECT_TRUE(UiHandler::Handles("/ui/"));
  EXPECT_TRUE(UiHandler::Handles("/ui/app.js"));
  EXPECT_FALSE(UiHandler::Handles("/uix"));
  EXPECT_FALSE(UiHandler::Handles("/v1/ui/"));
  EXPECT_FALSE(UiHandler::Handles("/"));
}

TEST(UiHandler, ServesIndexAndAssetsWithTheirTypesAndSecurityHeaders) {
  UiHandler ui(kAssets, true);
  HttpResponse idx = ui.Handle(Get("/ui/"));
  EXPECT_EQ(idx.status, 200);
  EXPECT_EQ(idx.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(idx.body, "<!doctype html><p>hi</p>");
  ExpectSecurityHeaders(idx);
  HttpResponse js = ui.Handle(Get("/ui/app.js"));
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  ExpectSecurityHeaders(js);
}

TEST(UiHandler, RedirectsUnknownMethodsAndNamesAreRefusedWithHeaders) {
  UiHandler ui(kAssets, true);
  HttpResponse redirect = ui.Handle(Get("/ui"));
  EXPECT_EQ(redirect.status, 308);
  EXPECT_EQ(Header(redirect, "Location"), "/ui/");
  HttpResponse missing = ui.Handle(Get("/ui/../../etc/passwd"));
  EXPECT_EQ(missing.status, 404);
  ExpectSecurityHeaders(missing);
  HttpRequest post = Get("/ui/");
  post.method = "POST";
  HttpResponse refused = ui.Handle(post);
  EXPECT_EQ(refused.status, 405);
  EXPECT_EQ(Header(refused, "Allow"), "GET, HEAD");
  HttpRequest head = Get("/ui/app.js");
  head.method = "HEAD";
  EXPECT_EQ(ui.Handle(head).status, 200);
}

TEST(UiHandler, WithoutBuiltAssetsEveryPageIs503NamingTheCause) {
  UiHandler ui({}, false);
  HttpResponse r = ui.Handle(Get("/ui/"));
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("node and npm were not found"), std::string::npos) << r.body;
  ExpectSecurityHeaders(r);
}

TEST(UiHandler, EmbeddedSetHasTheDashboardWhenBuilt) {
  if (!ui::AssetsBuilt()) GTEST_SKIP() << "built without node/npm (no dashboard assets)";
  for (const char* name : {"index.html", "app.js", "app.css", "sim.js"}) {
    const ui::Asset* a = ui::FindAsset(name);
    ASSERT_NE(a, nullptr) << name;
    EXPECT_FALSE(a->data.empty()) << name;
  }
  // No inline script or style in the page (the CSP would refuse them).
  const std::string_view index = ui::FindAsset("index.html")->data;
  EXPECT_EQ(index.find("<script>"), std::string_view::npos);
  EXPECT_EQ(index.find("<style"), std::string_view::npos);
  EXPECT_EQ(index.find("style="), std::string_view::npos);
  EXPECT_EQ(index.find(" on"), std::string_view::npos);  // no onclick= etc.
}

}  // namespace
}  // namespace rf::server
