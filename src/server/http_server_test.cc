#include "server/http_server.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "http/http_client.h"

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

// A gate a handler waits on until the test opens it.
class Latch {
 public:
  void Open() {
    std::lock_guard l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// With one worker (one event loop for every connection), a slow offloaded request (an upload
// running layer 2) must not delay a quick request on another connection. Before the offload pool,
// the operator handler ran on the event loop and the quick request waited for it.
TEST(HttpServerTest, OffloadedSlowRequestDoesNotHoldTheEventLoop) {
  Latch release_slow;
  std::promise<void> slow_started;
  HttpServerOptions o;
  o.threads = 1;
  o.offload = [](const HttpRequest& r) { return r.path == "/slow"; };
  auto server = HttpServer::Start(o, [&](const HttpRequest& r) {
    HttpResponse res;
    res.status = 200;
    if (r.path == "/slow") {
      slow_started.set_value();
      release_slow.Wait();
      res.body = "slow";
    } else {
      res.body = "fast";
    }
    return res;
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string url = "http://" + (*server)->address();
  auto slow = std::async(std::launch::async, [&] {
    http::HttpClient c({.base_url = url, .timeout_ms = 120'000});
    return c.Send("GET", "/slow", "");
  });
  slow_started.get_future().wait();  // the slow request holds its handler now
  // The quick request is answered while the slow one still waits (the latch opens only after).
  http::HttpClient fast({.base_url = url, .timeout_ms = 120'000});
  auto r = fast.Send("GET", "/fast", "");
  release_slow.Open();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "fast");
  auto s = slow.get();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->body, "slow");
  (*server)->Shutdown();
}

TEST(HttpServerTest, OffloadedHandlerThatThrowsAnswers500) {
  HttpServerOptions o;
  o.threads = 1;
  o.offload = [](const HttpRequest&) { return true; };
  auto server = HttpServer::Start(o, [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("boom");
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  http::HttpClient c({.base_url = "http://" + (*server)->address(), .timeout_ms = 120'000});
  auto r = c.Send("GET", "/x", "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 500);
}

// A deferred request (long-poll) holds no thread while it waits: with one worker and one offload
// thread, both an event-loop request and an offloaded one are answered while it waits, and its
// Responder, called later from another thread, answers it.
TEST(HttpServerTest, DeferredRequestHoldsNoThreadAndIsAnsweredByItsResponder) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Responder> waiting;
  HttpServerOptions o;
  o.threads = 1;
  o.offload_threads = 1;
  o.offload = [](const HttpRequest& r) { return r.path == "/operator"; };
  o.defer = [](const HttpRequest& r) { return r.path == "/wait"; };
  o.deferred = [&](const HttpRequest& r, Responder respond) {
    EXPECT_EQ(r.path, "/wait");
    std::lock_guard l(mu);
    waiting.push_back(std::move(respond));
    cv.notify_all();
  };
  auto server = HttpServer::Start(o, [](const HttpRequest& r) {
    HttpResponse res;
    res.body = r.path;
    return res;
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string url = "http://" + (*server)->address();
  auto wait = std::async(std::launch::async, [&] {
    http::HttpClient c({.base_url = url, .timeout_ms = 120'000});
    return c.Send("GET", "/wait", "");
  });
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(120), [&] { return !waiting.empty(); }));
  }
  http::HttpClient c({.base_url = url, .timeout_ms = 120'000});
  auto agent = c.Send("GET", "/agent", "");
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  EXPECT_EQ(agent->body, "/agent");
  auto op = c.Send("GET", "/operator", "");
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  EXPECT_EQ(op->body, "/operator");
  EXPECT_EQ(wait.wait_for(std::chrono::seconds(0)), std::future_status::timeout);  // still waiting
  Responder respond;
  {
    std::lock_guard l(mu);
    respond = waiting[0];
  }
  std::thread([respond] {
    HttpResponse r;
    r.body = "changed";
    respond(r);
    r.body = "twice";
    respond(r);  // ignored
  }).join();
  auto w = wait.get();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->status, 200);
  EXPECT_EQ(w->body, "changed");
  (*server)->Shutdown();
}

// Shutdown answers a request still waiting at once (503), long before the grace period ends, and
// the handler's later answer does nothing.
TEST(HttpServerTest, ShutdownAnswersWaitingDeferredRequests) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Responder> waiting;
  HttpServerOptions o;
  o.threads = 1;
  o.shutdown_grace_micros = 600'000'000;  // a shutdown that waited for the request would hang
  o.offload = [](const HttpRequest&) { return true; };
  o.defer = [](const HttpRequest&) { return true; };
  o.deferred = [&](const HttpRequest&, Responder respond) {
    std::lock_guard l(mu);
    waiting.push_back(std::move(respond));
    cv.notify_all();
  };
  auto server = HttpServer::Start(o, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string url = "http://" + (*server)->address();
  auto wait = std::async(std::launch::async, [&] {
    http::HttpClient c({.base_url = url, .timeout_ms = 120'000});
    return c.Send("GET", "/wait", "");
  });
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(120), [&] { return !waiting.empty(); }));
  }
  (*server)->Shutdown();
  auto w = wait.get();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->status, 503);
  EXPECT_NE(w->body.find("shutting_down"), std::string::npos);
  waiting[0](HttpResponse{});  // after the server is gone: nothing happens
}

TEST(HttpServerTest, DeferNeedsDeferred) {
  HttpServerOptions o;
  o.defer = [](const HttpRequest&) { return true; };
  auto server = HttpServer::Start(o, [](const HttpRequest&) { return HttpResponse{}; });
  EXPECT_FALSE(server.ok());
}

}  // namespace
}  // namespace rf::server
