// The one translation unit that includes Boost.Beast / Asio (they are heavy to compile).
#include "server/http_server.h"

#include <array>
#include <atomic>
// g++ 12 with -fsanitize=address at -O2 reports -Wmismatched-new-delete inside Asio's awaitable
// frame allocator (aligned_alloc in operator new, paired with Asio's own operator delete, which
// frees it correctly); a known false positive once the frame allocation is inlined.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace rf::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
constexpr auto kTuple = asio::experimental::as_tuple(use_awaitable);

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

void SplitTarget(std::string_view target, HttpRequest* req) {
  const size_t q = target.find('?');
  req->path = PercentDecode(target.substr(0, q), false);
  if (q == std::string_view::npos) return;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    const size_t eq = kv.find('=');
    if (!kv.empty()) {
      req->query[PercentDecode(kv.substr(0, eq), true)] =
          eq == std::string_view::npos ? std::string() : PercentDecode(kv.substr(eq + 1), true);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  return "{\"error\":{\"code\":\"" + std::string(code) + "\",\"message\":\"" +
         std::string(message) + "\"}}";
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  Handler handler;
  // Declared before accept_context so they are destroyed after it: a pending accept holds a
  // socket bound to a worker context, and destroying that op after its worker context was gone
  // was a use-after-free at shutdown (ASan, ServerTest.SigtermExitsCleanlyAndKeepsTheFleet).
  std::vector<std::unique_ptr<asio::io_context>> workers;
  asio::io_context accept_context{1};
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  tcp::acceptor acceptor{accept_context};
  uint16_t bound_port = 0;
  std::atomic<bool> stopping{false};
  bool shut_down = false;
  std::mutex shutdown_mu;

  // Live connections, for a graceful shutdown.
  struct Conn {
    beast::tcp_stream* stream;
    bool idle;  // waiting for a request with no bytes of it received
  };
  std::mutex mu;
  std::condition_variable cv;
  std::set<Conn*> conns;

  void Register(Conn* c) {
    std::lock_guard l(mu);
    conns.insert(c);
  }
  void Unregister(Conn* c) {
    std::lock_guard l(mu);
    conns.erase(c);
    cv.notify_all();
  }

  awaitable<void> Accept() {
    size_t next = 0;
    for (;;) {
      asio::io_context& worker = *workers[next++ % workers.size()];
      auto [ec, socket] = co_await acceptor.async_accept(worker, kTuple);
      if (stopping.load()) co_return;
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;  // e.g. EMFILE: keep accepting
      }
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      asio::co_spawn(worker, Session(std::move(socket)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::fprintf(stderr, "ringfence server: connection failed: %s\n", ex.what());
        }
      });
    }
  }

  // Writes a response; false if the connection must close. The head is formatted by hand into
  // `head` (the session's buffer, reused: no allocation once it has grown) and sent with the body
  // in one gathered write; what Beast's serializer would send for the same message.
  awaitable<bool> Write(beast::tcp_stream& stream, std::string& head, HttpResponse&& r,
                        unsigned version, bool keep_alive) {
    const std::string_view reason = http::obsolete_reason(static_cast<http::status>(r.status));
    char num[24];
    head.clear();
    head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head.append(num, std::to_chars(num, num + sizeof num, r.status).ptr);
    head += ' ';
    head.append(reason.data(), reason.size());
    head += "\r\nServer: ringfence\r\nContent-Type: ";
    head += r.content_type;
    head += "\r\n";
    for (const auto& [k, v] : r.headers) {
      head += k;
      head += ": ";
      head += v;
      head += "\r\n";
    }
    head += "Content-Length: ";
    head.append(num, std::to_chars(num, num + sizeof num, r.body.size()).ptr);
    if (!keep_alive) {
      head += "\r\nConnection: close";
    } else if (version == 10) {
      head += "\r\nConnection: keep-alive";
    }
    head += "\r\n\r\n";
    const std::array<asio::const_buffer, 2> buffers = {asio::buffer(head), asio::buffer(r.body)};
    stream.expires_after(std::chrono::microseconds(options.write_timeout_micros));
    auto [ec, n] = co_await asio::async_write(stream, buffers, kTuple);
    co_return !ec && keep_alive;
  }
  awaitable<bool> Write(beast::tcp_stream& stream, HttpResponse&& r, unsigned version,
                        bool keep_alive) {
    std::string head;
    co_return co_await Write(stream, head, std::move(r), version, keep_alive);
  }

  awaitable<void> Session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    Conn conn{&stream, true};
    Register(&conn);
    struct Unreg {
      Impl* impl;
      Conn* c;
      ~Unreg() { impl->Unregister(c); }
    } unreg{this, &conn};

    beast::flat_buffer buffer;
    std::string head;  // response head, reused
    for (;;) {
      if (stopping.load()) break;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
      parser.body_limit(options.max_body_bytes);
      stream.expires_after(std::chrono::microseconds(options.header_timeout_micros));
      conn.idle = buffer.size() == 0;
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kTuple);
      conn.idle = false;
      if (ec == http::error::body_limit) {
        co_await Write(stream, JsonResponse(413, ErrorBody("body_too_large", "request body too large")),
                       11, false);
        break;
      }
      if (ec) break;  // EOF, timeout (slow client), malformed header, shutdown: close
      const std::string_view target(parser.get().target().data(), parser.get().target().size());
      const size_t limit =
          target.starts_with("/v1/agent/") ? options.agent_body_bytes : options.max_body_bytes;
      const unsigned version = parser.get().version();
      if (parser.content_length() && *parser.content_length() > limit) {
        co_await Write(stream,
                       JsonResponse(413, ErrorBody("body_too_large", "request body exceeds " +
                                                                         std::to_string(limit) +
                                                                         " bytes")),
                       version, false);
        break;
      }
      parser.body_limit(limit);
      if (!parser.is_done()) {
        stream.expires_after(std::chrono::microseconds(options.body_timeout_micros));
        auto [ec2, n2] = co_await http::async_read(stream, buffer, parser, kTuple);
        if (ec2 == http::error::body_limit) {
          co_await Write(stream,
                         JsonResponse(413, ErrorBody("body_too_large", "request body exceeds " +
                                                                           std::to_string(limit) +
                                                                           " bytes")),
                         version, false);
          break;
        }
        if (ec2) break;
      }
      http::request<http::string_body> msg = parser.release();
      HttpRequest req;
      req.method = std::string(msg.method_string());
      SplitTarget(std::string_view(msg.target().data(), msg.target().size()), &req);
      auto auth = msg.find(http::field::authorization);
      if (auth != msg.end()) {
        std::string_view v(auth->value().data(), auth->value().size());
        if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
          req.bearer_token = std::string(v.substr(7));
        }
      }
      req.body = std::move(msg.body());
      HttpResponse res;
      try {
        res = handler(req);
      } catch (const std::exception& e) {
        res = JsonResponse(500, ErrorBody("internal", "internal error"));
        std::fprintf(stderr, "ringfence server: handler threw: %s\n", e.what());
      }
      if (req.method == "HEAD") res.body.clear();
      const bool keep = msg.keep_alive() && !stopping.load();
      if (!co_await Write(stream, head, std::move(res), version, keep)) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      Handler handler) {
  if (options.threads < 1) return Status::InvalidArgument("threads must be >= 1");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  boost::system::error_code ec;
  const asio::ip::address addr = asio::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("listen address '" + options.host + "': " + ec.message());
  const tcp::endpoint ep(addr, options.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + options.host + ":" +
                               std::to_string(options.port) + ": " + ec.message());
  }
  impl->bound_port = impl->acceptor.local_endpoint().port();
  for (int i = 0; i < options.threads; ++i) {
    impl->workers.push_back(std::make_unique<asio::io_context>(1));
    impl->guards.push_back(asio::make_work_guard(*impl->workers.back()));
  }
  Impl* raw = impl.get();
  asio::co_spawn(raw->accept_context, raw->Accept(), asio::detached);
  raw->threads.emplace_back([raw] { raw->accept_context.run(); });
  for (int i = 0; i < options.threads; ++i) {
    raw->threads.emplace_back([raw, i] { raw->workers[i]->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() { Shutdown(); }

uint16_t HttpServer::port() const { return impl_->bound_port; }

std::string HttpServer::address() const {
  return impl_->options.host + ":" + std::to_string(impl_->bound_port);
}

void HttpServer::Shutdown() {
  Impl& im = *impl_;
  std::lock_guard sl(im.shutdown_mu);
  if (im.shut_down) return;
  im.shut_down = true;
  im.stopping.store(true);
  // 1. Stop accepting.
  asio::post(im.accept_context, [&im] {
    boost::system::error_code ignored;
    im.acceptor.close(ignored);
  });
  // 2. Close idle connections (on their own worker, serialized with their coroutine); busy ones
  //    finish their request and close because `stopping` turns keep-alive off.
  auto close_idle = [&im] {
    std::lock_guard l(im.mu);
    for (Impl::Conn* c : im.conns) {
      beast::tcp_stream* s = c->stream;
      asio::post(s->get_executor(), [&im, c] {
        std::lock_guard l2(im.mu);
        if (im.conns.count(c) && c->idle) {
          boost::system::error_code ignored;
          c->stream->socket().close(ignored);
        }
      });
    }
  };
  close_idle();
  // 3. Wait for connections to drain (re-closing idle ones: a request may have just finished).
  //    Bounded by shutdown_grace_micros, in 50 ms steps (no clock is read here).
  {
    constexpr int64_t kStepMicros = 50'000;
    std::unique_lock l(im.mu);
    for (int64_t waited = 0; !im.conns.empty() && waited < im.options.shutdown_grace_micros;
         waited += kStepMicros) {
      im.cv.wait_for(l, std::chrono::microseconds(kStepMicros));
      l.unlock();
      close_idle();
      l.lock();
    }
  }
  // 4. Stop the loops (abandons connections still open after the grace period) and join.
  im.guards.clear();
  for (auto& w : im.workers) w->stop();
  im.accept_context.stop();
  for (std::thread& t : im.threads) t.join();
  im.threads.clear();
}

}  // namespace rf::server
