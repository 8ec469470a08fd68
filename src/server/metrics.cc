#include "server/metrics.h"

#include <cstdio>

namespace rf::server {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// Prometheus label values escape backslash, double quote and newline.
std::string Label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void ServerMetrics::CountAgentError(std::string_view code) {
  std::lock_guard l(mu_);
  auto it = errors_.find(code);
  if (it == errors_.end()) {
    errors_.emplace(std::string(code), 1);
  } else {
    ++it->second;
  }
}

ServerMetrics::Slot& ServerMetrics::MySlot() {
  static std::atomic<size_t> next_thread{0};
  thread_local const size_t slot = next_thread.fetch_add(1, std::memory_order_relaxed) % kSlots;
  return slots_[slot];
}

int64_t ServerMetrics::Sum(std::atomic<int64_t> Slot::*counter) const {
  int64_t n = 0;
  for (const Slot& s : slots_) n += (s.*counter).load(std::memory_order_relaxed);
  return n;
}

int64_t ServerMetrics::checkins() const { return Sum(&Slot::checkins); }

void ServerMetrics::ObserveRequestMicros(int64_t micros) {
  const double s = static_cast<double>(micros) / 1e6;
  size_t b = 0;
  while (b < kBucketsSeconds.size() && s > kBucketsSeconds[b]) ++b;
  Slot& slot = MySlot();
  slot.buckets[b].fetch_add(1, std::memory_order_relaxed);
  slot.latency_sum_micros.fetch_add(micros, std::memory_order_relaxed);
  slot.latency_count.fetch_add(1, std::memory_order_relaxed);
}

std::string ServerMetrics::Render(const DispatchSnapshot& snapshot,
                                  const std::vector<GateMetric>& gates, int64_t devices) const {
  std::string out;
  out += "# HELP ringfence_checkins_total Accepted agent check-ins.\n";
  out += "# TYPE ringfence_checkins_total counter\n";
  out += "ringfence_checkins_total " + std::to_string(checkins()) + "\n";
  out += "# HELP ringfence_enrollments_total Accepted agent enrollments.\n";
  out += "# TYPE ringfence_enrollments_total counter\n";
  out += "ringfence_enrollments_total " + std::to_string(enrollments_.load()) + "\n";
  out += "# HELP ringfence_checkin_errors_total Refused agent requests by error code.\n";
  out += "# TYPE ringfence_checkin_errors_total counter\n";
  {
    std::lock_guard l(mu_);
    for (const auto& [code, n] : errors_) {
      out += "ringfence_checkin_errors_total{code=\"" + Label(code) + "\"} " + std::to_string(n) +
             "\n";
    }
  }
  out += "# HELP ringfence_devices Enrolled devices in the fleet inventory.\n";
  out += "# TYPE ringfence_devices gauge\n";
  out += "ringfence_devices " + std::to_string(devices) + "\n";
  out += "# HELP ringfence_releases Active releases by state.\n";
  out += "# TYPE ringfence_releases gauge\n";
  std::map<std::string, int64_t> by_state;
  for (rollout::Phase p :
       {rollout::Phase::kAwaitingApproval, rollout::Phase::kReady, rollout::Phase::kDispatching,
        rollout::Phase::kBaking, rollout::Phase::kPaused, rollout::Phase::kHalted,
        rollout::Phase::kRolledBack, rollout::Phase::kCompleted}) {
    by_state[std::string(rollout::PhaseName(p))] = 0;
  }
  for (const auto& [channel, list] : snapshot.channels) {
    for (const ReleaseDispatch& r : list) ++by_state[std::string(rollout::PhaseName(r.phase))];
  }
  for (const auto& [state, n] : by_state) {
    out += "ringfence_releases{state=\"" + Label(state) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP ringfence_gate_e_value Pooled e-value of each gate metric of a live release.\n";
  out += "# TYPE ringfence_gate_e_value gauge\n";
  for (const GateMetric& g : gates) {
    out += "ringfence_gate_e_value{release=\"" + Label(g.release_id) + "\",metric=\"" +
           Label(g.metric) + "\"} " + Num(g.e_value) + "\n";
  }
  out += "# HELP ringfence_gate_threshold Pooled halt threshold of each gate metric.\n";
  out += "# TYPE ringfence_gate_threshold gauge\n";
  for (const GateMetric& g : gates) {
    out += "ringfence_gate_threshold{release=\"" + Label(g.release_id) + "\",metric=\"" +
           Label(g.metric) + "\"} " + Num(g.threshold) + "\n";
  }
  out += "# HELP ringfence_http_request_duration_seconds Time to handle a request.\n";
  out += "# TYPE ringfence_http_request_duration_seconds histogram\n";
  int64_t cumulative = 0;
  for (size_t b = 0; b < kBucketsSeconds.size(); ++b) {
    for (const Slot& sl : slots_) cumulative += sl.buckets[b].load(std::memory_order_relaxed);
    out += "ringfence_http_request_duration_seconds_bucket{le=\"" + Num(kBucketsSeconds[b]) +
           "\"} " + std::to_string(cumulative) + "\n";
  }
  for (const Slot& sl : slots_) {
    cumulative += sl.buckets[kBucketsSeconds.size()].load(std::memory_order_relaxed);
  }
  out += "ringfence_http_request_duration_seconds_bucket{le=\"+Inf\"} " +
         std::to_string(cumulative) + "\n";
  out += "ringfence_http_request_duration_seconds_sum " +
         Num(static_cast<double>(Sum(&Slot::latency_sum_micros)) / 1e6) + "\n";
  out += "ringfence_http_request_duration_seconds_count " +
         std::to_string(Sum(&Slot::latency_count)) + "\n";
  return out;
}

}  // namespace rf::server
