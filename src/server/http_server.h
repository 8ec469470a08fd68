// HttpServer: HTTP/1.1 over TCP (Boost.Beast) for `ringfence server`. The only code that includes
// Beast or Asio (http_server.cc), so the rest of the server is plain C++ behind HttpHandler.
//
//   HttpServerOptions o;  o.host = "127.0.0.1";  o.port = 0;  o.threads = 2;
//   RF_ASSIGN_OR_RETURN(auto server, HttpServer::Start(o, [&](const HttpRequest& r) {...}));
//   std::cout << "listening on " << server->address() << "\n";
//   ...
//   server->Shutdown();  // stop accepting, finish requests in flight, close idle connections
//
// Per connection: optional TLS (OpenSSL 3, TLS 1.2 minimum; cert and key reloadable with
// ReloadTls() while listening), a fresh request parser per request with a body limit chosen by
// path (413 body_too_large when exceeded), a deadline for the request header and one for the body
// (a slow client is disconnected), keep-alive, pipelined requests answered in order. HTTP/1.1 as
// RFC 9110/9112 asks of an origin server (docs/server.md "HTTP"): malformed requests get 400, an
// oversized header 431, a missing Host 400, `Expect: 100-continue` a 100 before the body is read,
// every response a Date, a HEAD the GET's Content-Length without the body. Each worker thread
// runs its own io_context; a connection stays on one worker for its life. The handler runs on the
// worker thread, so it must not block for long, except for requests that `offload` selects: those
// run on a separate pool of `offload_threads` threads (the operator executor, docs/server.md
// "Threads and locks"), and the connection's coroutine waits for the answer without holding its
// event loop, so slow operator work (an upload's layers 1 and 2) never delays the agent requests
// served by the same worker. Requests that `defer` selects (long-poll) are answered later through
// a Responder and hold no thread at all while they wait. Thread-safe.
#ifndef RINGFENCE_SERVER_HTTP_SERVER_H_
#define RINGFENCE_SERVER_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "platform/env.h"
#include "server/interfaces.h"

namespace rf::server {

// Answers a deferred request (HttpServerOptions::deferred): callable from any thread, at any time;
// the first call answers, later calls (and calls after the server answered it on Shutdown) do
// nothing. Copyable.
using Responder = std::function<void(HttpResponse)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // numeric IPv4/IPv6 address to listen on
  uint16_t port = 0;               // 0 = any free port (see HttpServer::port())
  int threads = 2;                 // worker threads (io_contexts)
  size_t max_body_bytes = 64u << 20;     // request bodies on any endpoint
  size_t agent_body_bytes = 64u << 10;   // request bodies under /v1/agent/ (docs/protocol.md)
  size_t max_header_bytes = 16u << 10;
  int64_t header_timeout_micros = 10'000'000;  // from waiting for a request to its full header
  int64_t body_timeout_micros = 30'000'000;    // from the header to the full body
  int64_t write_timeout_micros = 30'000'000;
  int64_t shutdown_grace_micros = 10'000'000;  // Shutdown() waits this long for requests in flight
  // The Date header of every response. Not owned; must outlive the server. nullptr: PosixEnv's.
  Clock* clock = nullptr;
  // Requests for which this returns true (e.g. the operator API) run on the offload pool instead
  // of the event loop that read them. Called on the worker thread with the parsed request; must
  // be quick and thread-safe. Empty: every request runs on its event loop.
  std::function<bool(const HttpRequest&)> offload;
  int offload_threads = 2;  // threads of the offload pool (used only when `offload` is set)
  // Nice increment (0-19; 0 = none) of the offload pool's threads and of everything they start
  // (layer 2's consumer runs, stage-1 compile threads): operator work yields the CPU to the event
  // loops, so check-ins keep their latency while an upload runs (docs/server.md "Threads and
  // locks"). If the OS refuses, the pool runs at the default priority.
  int offload_nice = 10;
  // Long-poll (docs/server.md "Threads and locks", docs/dashboard.md "Live updates"): a request for
  // which `defer` returns true (called on the worker thread; quick, thread-safe) goes to `deferred`
  // instead of the handler, on the offload pool (on the worker when there is no pool). `deferred`
  // must return quickly and make sure its Responder is called once, then or later. Meanwhile the
  // connection waits holding no thread: neither its event loop nor an offload thread. Shutdown()
  // answers the requests still waiting 503 `shutting_down` at once. Set both or neither.
  std::function<bool(const HttpRequest&)> defer;
  std::function<void(const HttpRequest&, Responder)> deferred;
  // TLS: both set = HTTPS only (PEM certificate chain, leaf first; PEM private key), TLS 1.2 or
  // newer. Both empty = plain HTTP. Read at Start() and again by ReloadTls().
  std::string tls_cert_file;
  std::string tls_key_file;
};

// `unix_seconds` as an HTTP date (RFC 9110 section 5.6.7, IMF-fixdate),
// e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string FormatHttpDate(int64_t unix_seconds);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Binds, listens and starts the worker threads. Unavailable if the address cannot be bound;
  // InvalidArgument if the TLS certificate or key cannot be loaded (the message names the file).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   Handler handler);
  ~HttpServer();  // Shutdown()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  std::string address() const;  // "127.0.0.1:PORT"
  bool tls() const;
  // Reads options.tls_cert_file and tls_key_file again: connections accepted afterwards use the
  // new certificate; open ones keep theirs; the listener stays open. On error (unreadable, not
  // PEM, key does not match the certificate) the old certificate stays in use and the error is
  // returned. FailedPrecondition for a plain-HTTP server. Thread-safe.
  Status ReloadTls();
  // Stops accepting, lets requests in flight finish (up to shutdown_grace_micros), closes idle
  // keep-alive connections, joins the threads. Idempotent.
  void Shutdown();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_HTTP_SERVER_H_
