// ChangeFeed: GET /v1/changes, the dashboard's long-poll (docs/dashboard.md "Live updates",
// docs/api/openapi.yaml). A sequence number advances whenever something the dashboard shows
// changes (an audited change: a release created, approved, started, steered, or moved by the
// controller; a history sample that differs from the one before); a request carrying the number
// the page last saw is answered as soon as it differs, or unchanged after `max_wait_micros`.
//
// It runs behind HttpServerOptions::defer: Handle() returns at once and the answer goes out
// through the Responder later, so a waiting page holds no thread (neither an event loop that
// answers check-ins nor an operator executor thread). Bounded: at most `max_waiters` requests
// wait at once (more are refused 503 too_many_waiters with Retry-After), each for at most
// `max_wait_micros`; Close() answers every wait at once (shutdown).
//
//   ChangeFeed changes(clock, authenticate, {});
//   changes.Start();                                 // the idle-timeout timer
//   options.defer = [](const HttpRequest& r) { return ChangeFeed::Handles(r.path); };
//   options.deferred = [&](const HttpRequest& r, Responder respond) { changes.Handle(r, respond); };
//   on every change: changes.Notify();
//   changes.Close();                                 // before HttpServer::Shutdown()
//
// Thread-safe.
#ifndef RINGFENCE_SERVER_UI_CHANGES_H_
#define RINGFENCE_SERVER_UI_CHANGES_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "platform/env.h"
#include "server/interfaces.h"
#include "server/ui_api.h"

namespace rf::server {

struct ChangeFeedOptions {
  size_t max_waiters = 64;               // requests waiting at once; more are refused 503
  int64_t max_wait_micros = 25'000'000;  // a wait is answered "unchanged" after this long
  int64_t timer_period_micros = 250'000;  // how often the timer thread looks for expired waits
};

class ChangeFeed {
 public:
  using Authenticator = UiAuthenticator;
  // Answers one request; called once, from whichever thread answers (HttpServer's Responder).
  using Responder = std::function<void(HttpResponse)>;

  // `clock` must outlive this object. The first sequence number is clock.NowUnixMicros(), so a
  // restarted server's number differs from the one a page kept (the page then reloads its data).
  ChangeFeed(Clock& clock, Authenticator authenticate, ChangeFeedOptions options = {});
  ~ChangeFeed();  // Close()
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Something the dashboard shows changed: the sequence advances and every waiting request is
  // answered. Takes only this object's leaf lock and calls Responders (which only post), so it
  // may be called from any thread, holding any lock (the service's audit hook, the sampler).
  void Notify();
  uint64_t seq() const;
  size_t waiting() const;

  // True for /v1/changes (any method: a wrong one is answered 405 by Handle).
  static bool Handles(std::string_view path);
  // Bearer token -> principal (401; agent tokens 403 forbidden_role); GET only (405); query
  // `after` (optional, the sequence number the page has; anything else 400). Answers now if
  // `after` is absent or differs from seq(), or when refused (400/401/403/405, 503 when closed
  // or full); otherwise when Notify() is called, at the latest after max_wait_micros. Answer:
  // {"seq":N,"changed":bool} with Cache-Control: no-store.
  void Handle(const HttpRequest& request, Responder respond);

  // Answers "unchanged" the waits older than max_wait_micros at clock.MonotonicMicros() (the timer
  // thread calls it).
  void ExpireNow();
  // Starts the timer thread. Idempotent.
  void Start();
  // Answers every wait (503 shutting_down), refuses new ones, stops the timer thread. Idempotent.
  void Close();

 private:
  struct Waiter {
    int64_t deadline = 0;  // clock_.MonotonicMicros() when it is answered unchanged
    Responder respond;
  };
  HttpResponse Answer(bool changed, uint64_t seq) const;

  Clock& clock_;
  const Authenticator authenticate_;
  const ChangeFeedOptions options_;

  mutable std::mutex mu_;  // leaf: nothing is called while it is held
  uint64_t seq_;                 // guarded by mu_
  bool closed_ = false;          // guarded by mu_
  std::vector<Waiter> waiters_;  // guarded by mu_

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;  // guarded by run_mu_
  std::thread thread_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_UI_CHANGES_H_
