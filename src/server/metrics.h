// ServerMetrics: the counters behind GET /metrics (Prometheus text format 0.0.4).
//
//   ringfence_checkins_total                       accepted check-ins
//   ringfence_checkin_errors_total{code="..."}     refused agent requests by error code
//   ringfence_enrollments_total
//   ringfence_devices                              enrolled devices
//   ringfence_releases{state="..."}                active releases by phase
//   ringfence_gate_e_value{release,metric}         pooled e-value of each live gate test
//   ringfence_gate_threshold{release,metric}       its halt threshold
//   ringfence_http_request_duration_seconds        histogram of every request's handling time
//
// Thread-safe; the hot-path counters are relaxed atomics in per-thread slots.
#ifndef RINGFENCE_SERVER_METRICS_H_
#define RINGFENCE_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/controller.h"

namespace rf::server {

class ServerMetrics {
 public:
  static constexpr std::array<double, 14> kBucketsSeconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

  void CountCheckin() { MySlot().checkins.fetch_add(1, std::memory_order_relaxed); }
  void CountEnrollment() { enrollments_.fetch_add(1, std::memory_order_relaxed); }
  void CountAgentError(std::string_view code);
  void ObserveRequestMicros(int64_t micros);

  int64_t checkins() const;

  // The exposition text.
  std::string Render(const DispatchSnapshot& snapshot, const std::vector<GateMetric>& gates,
                     int64_t devices) const;

 private:
  // The per-request counters, one set per thread slot on its own cache lines, so that workers
  // never write the same line (Render sums the slots). Threads share a slot only beyond kSlots.
  static constexpr size_t kSlots = 16;
  struct alignas(64) Slot {
    std::atomic<int64_t> checkins{0};
    std::array<std::atomic<int64_t>, kBucketsSeconds.size() + 1> buckets{};
    std::atomic<int64_t> latency_sum_micros{0};
    std::atomic<int64_t> latency_count{0};
  };
  Slot& MySlot();
  int64_t Sum(std::atomic<int64_t> Slot::*counter) const;

  std::array<Slot, kSlots> slots_;
  std::atomic<int64_t> enrollments_{0};
  mutable std::mutex mu_;
  std::map<std::string, int64_t, std::less<>> errors_;  // GUARDED_BY(mu_)
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_METRICS_H_
