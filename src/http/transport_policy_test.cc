#include "http/transport_policy.h"

#include <gtest/gtest.h>

namespace rf::http {
namespace {

TEST(TransportPolicyTest, LoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost",
                        "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1",
                        "localhost.example.com", "example.com", "", "[::1", "1.2.3.4.5"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

TEST(TransportPolicyTest, UrlHost) {
  EXPECT_EQ(*UrlHost("http://127.0.0.1:8080/v1/x"), "127.0.0.1");
  EXPECT_EQ(*UrlHost("https://fleet.example.com"), "fleet.example.com");
  EXPECT_EQ(*UrlHost("HTTP://[::1]:80/"), "::1");
  EXPECT_EQ(*UrlHost("http://user:pw@10.1.2.3:9/?q"), "10.1.2.3");
  EXPECT_FALSE(UrlHost("ftp://x/").ok());
  EXPECT_FALSE(UrlHost("http://").ok());
  EXPECT_FALSE(UrlHost("http://[::1/").ok());
  EXPECT_FALSE(UrlHost("127.0.0.1:8080").ok());
}

TEST(TransportPolicyTest, ClientsRefusePlainHttpOffLoopback) {
  EXPECT_TRUE(CheckClientUrl("https://fleet.example.com:8443", false).ok());
  EXPECT_TRUE(CheckClientUrl("http://127.0.0.1:8080", false).ok());
  EXPECT_TRUE(CheckClientUrl("http://localhost:8080/v1", false).ok());
  EXPECT_TRUE(CheckClientUrl("http://[::1]:8080", false).ok());
  // The host is taken after any userinfo: "127.0.0.1@" does not make a remote host loopback.
  const Status remote = CheckClientUrl("http://127.0.0.1@fleet.example.com/", false);
  EXPECT_EQ(remote.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(remote.message().find("refusing plain HTTP to fleet.example.com"), std::string::npos)
      << remote.message();
  EXPECT_NE(remote.message().find("--insecure-http"), std::string::npos);
  EXPECT_FALSE(CheckClientUrl("http://10.0.0.5:8080", false).ok());
  EXPECT_TRUE(CheckClientUrl("http://10.0.0.5:8080", true).ok());
  EXPECT_FALSE(CheckClientUrl("gopher://127.0.0.1", true).ok());
}

TEST(TransportPolicyTest, ServerRefusesPlainHttpOffLoopback) {
  EXPECT_TRUE(CheckListen("127.0.0.1", false, false).ok());
  EXPECT_TRUE(CheckListen("::1", false, false).ok());
  EXPECT_TRUE(CheckListen("0.0.0.0", true, false).ok());
  EXPECT_TRUE(CheckListen("0.0.0.0", false, true).ok());
  const Status st = CheckListen("0.0.0.0", false, false);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--tls-cert"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace rf::http
