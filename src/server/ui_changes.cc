#include "server/ui_changes.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace rf::server {

namespace {

constexpr std::string_view kPath = "/v1/changes";

HttpResponse Unavailable(std::string_view code, const std::string& message) {
  HttpResponse r = ErrorResponse(Status::Unavailable(message), code);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace

ChangeFeed::ChangeFeed(Clock& clock, Authenticator authenticate, ChangeFeedOptions options)
    : clock_(clock), authenticate_(std::move(authenticate)), options_(options),
      seq_(static_cast<uint64_t>(std::max<int64_t>(1, clock.NowUnixMicros()))) {}

ChangeFeed::~ChangeFeed() { Close(); }

bool ChangeFeed::Handles(std::string_view path) { return path == kPath; }

HttpResponse ChangeFeed::Answer(bool changed, uint64_t seq) const {
  HttpResponse r = JsonResponse(200, "{\"seq\":" + std::to_string(seq) +
                                         ",\"changed\":" + (changed ? "true" : "false") + "}");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

void ChangeFeed::Notify() {
  std::vector<Waiter> woken;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> l(mu_);
    seq = ++seq_;
    woken.swap(waiters_);
  }
  for (Waiter& w : woken) w.respond(Answer(true, seq));
}

uint64_t ChangeFeed::seq() const {
  std::lock_guard<std::mutex> l(mu_);
  return seq_;
}

size_t ChangeFeed::waiting() const {
  std::lock_guard<std::mutex> l(mu_);
  return waiters_.size();
}

void ChangeFeed::Handle(const HttpRequest& req, Responder respond) {
  if (auto refused = RefuseUnlessOperatorGet(authenticate_, req)) return respond(std::move(*refused));
  std::optional<uint64_t> after;
  for (const auto& [k, v] : req.query) {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (k != "after") {
      return respond(ErrorResponse(Status::InvalidArgument("unknown query parameter '" + k + "'"),
                                   "invalid_request"));
    }
    if (ec != std::errc() || p != v.data() + v.size() || v.empty()) {
      return respond(ErrorResponse(
          Status::InvalidArgument("query parameter 'after': expected a non-negative integer"),
          "invalid_request"));
    }
    after = n;
  }
  HttpResponse now;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) {
      now = Unavailable("shutting_down", "the server is shutting down");
    } else if (!after || *after != seq_) {
      now = Answer(after.has_value(), seq_);
    } else if (waiters_.size() >= options_.max_waiters) {
      now = Unavailable("too_many_waiters",
                        std::to_string(options_.max_waiters) +
                            " requests already wait for changes; retry, or reload the page later");
    } else {
      waiters_.push_back({clock_.MonotonicMicros() + options_.max_wait_micros, std::move(respond)});
      return;
    }
  }
  respond(std::move(now));
}

void ChangeFeed::ExpireNow() {
  const int64_t now = clock_.MonotonicMicros();
  std::vector<Waiter> expired;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> l(mu_);
    seq = seq_;
    for (size_t i = 0; i < waiters_.size();) {
      if (waiters_[i].deadline <= now) {
        expired.push_back(std::move(waiters_[i]));
        waiters_[i] = std::move(waiters_.back());
        waiters_.pop_back();
      } else {
        ++i;
      }
    }
  }
  for (Waiter& w : expired) w.respond(Answer(false, seq));
}

void ChangeFeed::Start() {
  std::lock_guard<std::mutex> l(run_mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lk(run_mu_);
    while (!stop_) {
      run_cv_.wait_for(lk, std::chrono::microseconds(options_.timer_period_micros),
                       [this] { return stop_; });
      if (stop_) break;
      lk.unlock();
      ExpireNow();
      lk.lock();
    }
  });
}

void ChangeFeed::Close() {
  std::thread t;
  {
    std::lock_guard<std::mutex> l(run_mu_);
    stop_ = true;
    t = std::move(thread_);
  }
  run_cv_.notify_all();
  if (t.joinable()) t.join();
  std::vector<Waiter> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    all.swap(waiters_);
  }
  for (Waiter& w : all) w.respond(Unavailable("shutting_down", "the server is shutting down"));
}

}  // namespace rf::server
