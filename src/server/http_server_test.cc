#include "server/http_server.h"

#include <gtest/gtest.h>

namespace rf::server {
namespace {

TEST(HttpDateTest, FormatsImfFixdate) {
  EXPECT_EQ(FormatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  EXPECT_EQ(FormatHttpDate(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");  // 400-year leap day
  EXPECT_EQ(FormatHttpDate(4107542399), "Sun, 28 Feb 2100 23:59:59 GMT");  // 2100 is no leap year
  EXPECT_EQ(FormatHttpDate(4107542400), "Mon, 01 Mar 2100 00:00:00 GMT");
  EXPECT_EQ(FormatHttpDate(1796515199), "Sat, 05 Dec 2026 23:59:59 GMT");
  EXPECT_EQ(FormatHttpDate(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST(HttpServerTest, TlsNeedsBothFilesAndReadableOnes) {
  HttpServerOptions o;
  o.tls_cert_file = "/nonexistent/cert.pem";
  auto half = HttpServer::Start(o, [](const HttpRequest&) { return HttpResponse{}; });
  EXPECT_EQ(half.status().code(), StatusCode::kInvalidArgument);
  o.tls_key_file = "/nonexistent/key.pem";
  auto missing = HttpServer::Start(o, [](const HttpRequest&) { return HttpResponse{}; });
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("/nonexistent/cert.pem"), std::string::npos)
      << missing.status().message();
}

}  // namespace
}  // namespace rf::server
