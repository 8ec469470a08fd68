// The one translation unit that includes Boost.Beast / Asio / OpenSSL (they are heavy to compile).
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
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "platform/parallel.h"

namespace rf::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
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

// The JSON error body of docs/protocol.md with an explicit HTTP status (431 and 505 are not in
// the Status mapping).
HttpResponse HttpError(int status, std::string_view code, const std::string& message) {
  HttpResponse r = ErrorResponse(Status::InvalidArgument(message), code);
  r.status = status;
  return r;
}

HttpResponse BodyTooLarge(size_t limit) {
  return HttpError(413, "body_too_large", "request body exceeds " + std::to_string(limit) + " bytes");
}

// The answer to a request the parser refused, or nullopt when there is no one to answer
// (the peer closed, a timeout, a transport error).
std::optional<HttpResponse> ParseErrorResponse(const beast::error_code& ec, const HttpServerOptions& o) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return std::nullopt;
  switch (static_cast<http::error>(ec.value())) {
    case http::error::end_of_stream:
    case http::error::partial_message:
      return std::nullopt;
    case http::error::header_limit:
      return HttpError(431, "header_too_large",
                       "request header exceeds " + std::to_string(o.max_header_bytes) + " bytes");
    case http::error::body_limit:
      return HttpError(413, "body_too_large", "request body too large");
    default:
      return HttpError(400, "bad_request", "malformed HTTP request: " + ec.message());
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && beast::iequals(a, b);
}

// The checks RFC 9112 asks for once the header is parsed, before the body is read: the version,
// exactly one Host on HTTP/1.1 (at most one on 1.0), no transfer coding but chunked, a known
// expectation, a Content-Length within `limit`. The refusal, or nullopt if the request may go on.
std::optional<HttpResponse> CheckHeader(const http::request_parser<http::string_body>& parser,
                                        size_t limit) {
  const auto& h = parser.get();
  if (h.version() / 10 != 1) {
    return HttpError(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
  }
  const size_t hosts = h.count(http::field::host);
  if (hosts > 1 || (h.version() >= 11 && hosts == 0)) {
    return HttpError(400, "bad_request", "an HTTP/1.1 request needs exactly one Host header");
  }
  if (h.count(http::field::transfer_encoding) > 0 && !parser.chunked()) {
    return HttpError(400, "bad_request", "the only transfer coding accepted is chunked");
  }
  auto expect = h.find(http::field::expect);
  if (expect != h.end() &&
      !EqualsIgnoreCase(std::string_view(expect->value().data(), expect->value().size()),
                        "100-continue")) {
    return HttpError(417, "expectation_failed", "the only expectation supported is 100-continue");
  }
  if (parser.content_length() && *parser.content_length() > limit) return BodyTooLarge(limit);
  return std::nullopt;
}

HttpRequest ToRequest(http::request<http::string_body>&& msg) {
  HttpRequest req;
  req.method = std::string(msg.method_string());
  SplitTarget(std::string_view(msg.target().data(), msg.target().size()), &req);
  auto auth = msg.find(http::field::authorization);
  if (auth != msg.end()) {
    std::string_view v(auth->value().data(), auth->value().size());
    if (v.size() > 7 && EqualsIgnoreCase(v.substr(0, 7), "Bearer ")) {
      req.bearer_token = std::string(v.substr(7));
    }
  }
  req.body = std::move(msg.body());
  return req;
}

// Howard Hinnant's days -> civil date (proleptic Gregorian), days since 1970-01-01.
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

// Loads a TLS server context: TLS 1.2 minimum, the PEM chain and key, which must match.
Result<std::shared_ptr<ssl::context>> LoadTlsContext(const HttpServerOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (ec || SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return Status::Internal("cannot configure TLS: " + ec.message());
  }
  ctx->use_certificate_chain_file(o.tls_cert_file, ec);
  if (ec) {
    return Status::InvalidArgument("--tls-cert " + o.tls_cert_file +
                                   ": cannot load a PEM certificate chain: " + ec.message());
  }
  ctx->use_private_key_file(o.tls_key_file, ssl::context::pem, ec);
  if (ec) {
    return Status::InvalidArgument("--tls-key " + o.tls_key_file +
                                   ": cannot load a PEM private key: " + ec.message());
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return Status::InvalidArgument("--tls-key " + o.tls_key_file +
                                   " does not match the certificate in " + o.tls_cert_file);
  }
  return ctx;
}

}  // namespace

std::string FormatHttpDate(int64_t unix_seconds) {
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int64_t days = (unix_seconds >= 0 ? unix_seconds : unix_seconds - 86399) / 86400;
  const int64_t secs = unix_seconds - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02lld:%02lld:%02lld GMT",
                kDays[((days % 7) + 7) % 7], d, kMonths[m - 1], static_cast<long long>(y),
                static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60));
  return buf;
}

struct HttpServer::Impl {
  HttpServerOptions options;
  Handler handler;
  Clock* clock = nullptr;
  // Declared before accept_context so they are destroyed after it: a pending accept holds a
  // socket bound to a worker context, and destroying that op after its worker context was gone
  // was a use-after-free at shutdown (ASan, ServerTest.SigtermExitsCleanlyAndKeepsTheFleet).
  std::vector<std::unique_ptr<asio::io_context>> workers;
  // The offload pool (HttpServerOptions::offload): one context run by offload_threads threads at
  // lowered priority; null when not used. Stopped and joined in Shutdown() after the workers it
  // answers to have stopped and before they are destroyed.
  std::unique_ptr<asio::io_context> offload_pool;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> offload_guard;
  std::vector<std::thread> offload_threads;
  asio::io_context accept_context{1};
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  tcp::acceptor acceptor{accept_context};
  uint16_t bound_port = 0;
  std::atomic<bool> stopping{false};
  bool shut_down = false;
  std::mutex shutdown_mu;

  // The TLS context new connections use (null: plain HTTP). Each connection holds its own
  // reference for its life, so a reload never pulls a context from under an open connection.
  std::mutex tls_mu;
  std::shared_ptr<ssl::context> tls;  // guarded by tls_mu
  bool tls_enabled = false;           // set once at Start

  std::shared_ptr<ssl::context> TlsContext() {
    std::lock_guard l(tls_mu);
    return tls;
  }

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

  // The Date header's value, formatted once per second per worker thread.
  std::string_view DateValue() {
    thread_local const Impl* owner = nullptr;
    thread_local int64_t second = INT64_MIN;
    thread_local std::string value;
    const int64_t now = clock->NowUnixMicros() / 1'000'000;
    if (owner != this || now != second) {
      owner = this;
      second = now;
      value = FormatHttpDate(now);
    }
    return value;
  }

  // A deferred request's answer (HttpServerOptions::deferred): `resume` resumes the connection's
  // coroutine on its worker; the first Answer() takes it, later ones find it empty.
  struct Pending {
    std::mutex mu;
    std::function<void(HttpResponse)> resume;  // guarded by mu; empty once answered
    void Answer(HttpResponse r) {
      std::function<void(HttpResponse)> f;
      {
        std::lock_guard l(mu);
        f.swap(resume);
      }
      if (f) f(std::move(r));
    }
  };
  std::mutex pending_mu;
  std::set<std::shared_ptr<Pending>> pending;  // guarded by pending_mu: deferred, not answered

  // Hands `req` to options.deferred and waits for its Responder without holding a thread.
  awaitable<HttpResponse> Defer(HttpRequest req) {
    auto p = std::make_shared<Pending>();
    // Shared: after Shutdown answered, the coroutine may be gone while `deferred` still reads it.
    auto request = std::make_shared<const HttpRequest>(std::move(req));
    // The initiation is a named local, not a temporary of the co_await expression: GCC 12
    // destroyed such a temporary lambda twice, releasing the shared_ptrs it captured once too
    // often, so `p` was freed while the Responder still held it (heap corruption seen by
    // valgrind in HttpServerTest.ShutdownAnswersWaitingDeferredRequests and as a server abort
    // in the dashboard's browser test).
    auto initiate = [this, p, request](auto completion) {
      auto ex = asio::get_associated_executor(completion);
      auto h = std::make_shared<decltype(completion)>(std::move(completion));
      p->resume = [ex, h](HttpResponse r) {
        asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
      };
      bool refuse;
      {
        std::lock_guard l(pending_mu);
        refuse = stopping.load();  // Shutdown() has answered the others already
        if (!refuse) pending.insert(p);
      }
      if (refuse) {
        p->Answer(HttpError(503, "shutting_down", "the server is shutting down"));
        return;
      }
      auto start = [this, p, request] {
        try {
          options.deferred(*request, [p](HttpResponse r) { p->Answer(std::move(r)); });
        } catch (const std::exception& e) {
          std::fprintf(stderr, "ringfence server: deferred handler threw: %s\n", e.what());
          p->Answer(HttpError(500, "internal", "internal error"));
        }
      };
      if (offload_pool != nullptr) {
        asio::post(*offload_pool, std::move(start));
      } else {
        start();
      }
    };
    HttpResponse res =
        co_await asio::async_initiate<decltype(use_awaitable), void(HttpResponse)>(initiate, use_awaitable);
    {
      std::lock_guard l(pending_mu);
      pending.erase(p);
    }
    co_return res;
  }

  // Answers every deferred request still waiting (Shutdown).
  void AnswerPending() {
    std::set<std::shared_ptr<Pending>> all;
    {
      std::lock_guard l(pending_mu);
      all.swap(pending);
    }
    for (const auto& p : all) p->Answer(HttpError(503, "shutting_down", "the server is shutting down"));
  }

  // The handler, with an exception turned into a 500.
  HttpResponse Call(const HttpRequest& req) {
    try {
      return handler(req);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ringfence server: handler threw: %s\n", e.what());
      return HttpError(500, "internal", "internal error");
    }
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

  // Writes a response; false if that failed (the connection is unusable). The head is formatted by hand into
  // `head` (the session's buffer, reused: no allocation once it has grown) and sent with the body
  // in one gathered write; what Beast's serializer would send for the same message. `send_body`
  // false (HEAD): the same head, Content-Length included, and no body.
  template <class Stream>
  awaitable<bool> Write(Stream& stream, std::string& head, HttpResponse&& r, unsigned version,
                        bool keep_alive, bool send_body = true) {
    const std::string_view reason = http::obsolete_reason(static_cast<http::status>(r.status));
    char num[24];
    head.clear();
    head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head.append(num, std::to_chars(num, num + sizeof num, r.status).ptr);
    head += ' ';
    head.append(reason.data(), reason.size());
    head += "\r\nServer: ringfence\r\nDate: ";
    head += DateValue();
    head += "\r\nContent-Type: ";
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
    const std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(head), send_body ? asio::buffer(r.body) : asio::const_buffer()};
    beast::get_lowest_layer(stream).expires_after(
        std::chrono::microseconds(options.write_timeout_micros));
    auto [ec, n] = co_await asio::async_write(stream, buffers, kTuple);
    co_return !ec;
  }

  // Answers a request that is refused before its body was read (or while reading it), then
  // closes: the head says Connection: close, and the unread rest of the request is drained for a
  // moment first, so that closing with unread bytes does not reset the connection (RST) before
  // the client has read the answer (RFC 9112 section 9.6).
  template <class Stream>
  awaitable<void> Refuse(Stream& stream, std::string& head, HttpResponse&& r, unsigned version) {
    if (!co_await Write(stream, head, std::move(r), version, false)) co_return;
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    constexpr size_t kDrainBytes = 1u << 20;
    constexpr auto kDrainTime = std::chrono::seconds(2);
    lowest.expires_after(kDrainTime);
    std::array<char, 16384> sink;
    for (size_t drained = 0; drained < kDrainBytes;) {
      auto [ec, n] = co_await lowest.async_read_some(asio::buffer(sink), kTuple);
      if (ec) break;
      drained += n;
    }
  }

  awaitable<void> Session(tcp::socket socket) {
    if (!tls_enabled) {
      beast::tcp_stream stream(std::move(socket));
      co_await Serve(stream);
      co_return;
    }
    const std::shared_ptr<ssl::context> ctx = TlsContext();  // kept for the connection's life
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *ctx);
    co_await Serve(stream);
  }

  template <class Stream>
  awaitable<void> Serve(Stream& stream) {
    constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    Conn conn{&lowest, true};
    Register(&conn);
    struct Unreg {
      Impl* impl;
      Conn* c;
      ~Unreg() { impl->Unregister(c); }
    } unreg{this, &conn};

    bool open = true;
    if constexpr (kTls) {
      lowest.expires_after(std::chrono::microseconds(options.header_timeout_micros));
      auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
      open = !ec;
    }
    if (open) open = co_await ServeRequests(stream, conn);
    if constexpr (kTls) {
      if (open) {  // close_notify, briefly: a peer that does not answer it is not waited for
        lowest.expires_after(std::chrono::seconds(1));
        auto [ec] = co_await stream.async_shutdown(kTuple);
      }
    }
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest.close();
  }

  // Requests on one connection until it is to be closed. True if the connection is still usable
  // for an orderly close (TLS close_notify), false after a transport error or a refusal.
  template <class Stream>
  awaitable<bool> ServeRequests(Stream& stream, Conn& conn) {
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    std::string head;  // response head, reused
    for (;;) {
      if (stopping.load()) co_return true;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
      parser.body_limit(options.max_body_bytes);
      lowest.expires_after(std::chrono::microseconds(options.header_timeout_micros));
      conn.idle = buffer.size() == 0;
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kTuple);
      conn.idle = false;
      if (ec) {
        if (auto r = ParseErrorResponse(ec, options)) co_await Refuse(stream, head, std::move(*r), 11);
        co_return false;  // EOF, timeout (slow client), shutdown: close
      }
      const std::string_view target(parser.get().target().data(), parser.get().target().size());
      const size_t limit =
          target.starts_with("/v1/agent/") ? options.agent_body_bytes : options.max_body_bytes;
      const unsigned version = parser.get().version();
      if (auto refusal = CheckHeader(parser, limit)) {
        co_await Refuse(stream, head, std::move(*refusal), version);
        co_return false;
      }
      parser.body_limit(limit);
      if (!parser.is_done()) {
        if (version >= 11 && parser.get().count(http::field::expect) > 0) {
          // Expect: 100-continue (the only expectation CheckHeader lets through).
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          lowest.expires_after(std::chrono::microseconds(options.write_timeout_micros));
          auto [ec1, n1] = co_await asio::async_write(stream, asio::buffer(kContinue), kTuple);
          if (ec1) co_return false;
        }
        lowest.expires_after(std::chrono::microseconds(options.body_timeout_micros));
        auto [ec2, n2] = co_await http::async_read(stream, buffer, parser, kTuple);
        if (ec2) {
          if (auto r = ParseErrorResponse(ec2, options)) {
            if (ec2 == http::error::body_limit) r = BodyTooLarge(limit);
            co_await Refuse(stream, head, std::move(*r), version);
          }
          co_return false;
        }
      }
      bool keep = parser.get().keep_alive();
      HttpRequest req = ToRequest(parser.release());
      // HEAD is GET without the body (RFC 9110 section 9.3.2), on every path: handlers see GET.
      const bool head_only = req.method == "HEAD";
      if (head_only) req.method = "GET";
      HttpResponse res;
      if (options.defer && options.defer(req)) {
        res = co_await Defer(std::move(req));
      } else if (offload_pool != nullptr && options.offload(req)) {
        // Runs on the pool; this coroutine resumes on its own worker with the answer, and the
        // worker serves its other connections meanwhile.
        res = co_await asio::co_spawn(
            offload_pool->get_executor(),
            [this, &req]() -> awaitable<HttpResponse> { co_return Call(req); }, use_awaitable);
      } else {
        res = Call(req);
      }
      keep = keep && !stopping.load();  // read after the answer: a long-poll may outlast it
      if (!co_await Write(stream, head, std::move(res), version, keep, !head_only)) {
        co_return false;
      }
      if (!keep) co_return true;
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      Handler handler) {
  if (options.threads < 1) return Status::InvalidArgument("threads must be >= 1");
  if (options.offload && options.offload_threads < 1) {
    return Status::InvalidArgument("offload_threads must be >= 1");
  }
  if (static_cast<bool>(options.defer) != static_cast<bool>(options.deferred)) {
    return Status::InvalidArgument("defer and deferred go together");
  }
  if (options.offload_nice < 0 || options.offload_nice > 19) {
    return Status::InvalidArgument("offload_nice must be 0-19");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate and a key file");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  impl->clock = options.clock != nullptr ? options.clock : PosixEnv().clock;
  if (!options.tls_cert_file.empty()) {
    RF_ASSIGN_OR_RETURN(impl->tls, LoadTlsContext(options));
    impl->tls_enabled = true;
  }
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
  if (options.offload) {
    raw->offload_pool = std::make_unique<asio::io_context>(options.offload_threads);
    raw->offload_guard.emplace(asio::make_work_guard(*raw->offload_pool));
    for (int i = 0; i < options.offload_threads; ++i) {
      raw->offload_threads.emplace_back([raw] {
        // Best effort: when the OS refuses, operator work runs at the event loops' priority.
        if (raw->options.offload_nice > 0) (void)LowerThreadPriority(raw->options.offload_nice);
        raw->offload_pool->run();
      });
    }
  }
  asio::co_spawn(raw->accept_context, raw->Accept(), asio::detached);
  raw->threads.emplace_back([raw] { raw->accept_context.run(); });
  for (int i = 0; i < options.threads; ++i) {
    raw->threads.emplace_back([raw, i] { raw->workers[i]->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() { Shutdown(); }

bool HttpServer::tls() const { return impl_->tls_enabled; }

Status HttpServer::ReloadTls() {
  if (!impl_->tls_enabled) return Status::FailedPrecondition("the server does not serve TLS");
  RF_ASSIGN_OR_RETURN(std::shared_ptr<ssl::context> ctx, LoadTlsContext(impl_->options));
  std::lock_guard l(impl_->tls_mu);
  impl_->tls = std::move(ctx);
  return Status::Ok();
}

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
  //    Long-polls are answered now (503): they would otherwise hold their connections until
  //    their own timeout, past the grace period.
  im.AnswerPending();
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
  // 4. Stop the loops (abandons connections still open after the grace period) and join. The
  //    offload pool is joined too (a job in flight finishes; its answer is posted to a stopped
  //    worker and dropped with it), before anything it could post to is destroyed.
  im.guards.clear();
  for (auto& w : im.workers) w->stop();
  im.accept_context.stop();
  for (std::thread& t : im.threads) t.join();
  im.threads.clear();
  if (im.offload_pool != nullptr) {
    im.offload_guard.reset();
    im.offload_pool->stop();
    for (std::thread& t : im.offload_threads) t.join();
    im.offload_threads.clear();
  }
}

}  // namespace rf::server
