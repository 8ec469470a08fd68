#include "rollout/gate.h"

#include <algorithm>
#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <set>
#include <utility>

namespace rf::rollout {
namespace {

// Boost.Math reports errors through errno instead of exceptions: nothing throws out of core code.
// (With the arguments validated below no error is possible; this is belt and braces.)
using NoThrowPolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::errno_on_error>,
    boost::math::policies::pole_error<boost::math::policies::errno_on_error>,
    boost::math::policies::overflow_error<boost::math::policies::errno_on_error>,
    boost::math::policies::evaluation_error<boost::math::policies::errno_on_error>>;

constexpr double kInf = std::numeric_limits<double>::infinity();

bool Finite(double v) { return std::isfinite(v); }

std::string Fmt(const char* format, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, a);
  return buf;
}

// ln((1/n)·Σ exp(v_i)) over a raw array; the hot-path form of LogMeanExp.
double LogMeanExpRaw(const double* v, int n) {
  if (n <= 0) return -kInf;
  double hi = v[0];
  for (int i = 1; i < n; ++i) hi = std::max(hi, v[i]);
  if (hi == -kInf || hi == kInf) return hi;
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(v[i] - hi);
  return hi + std::log(sum / n);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Free functions.

double CountLogIncrement(double r, double r0, double rho, int64_t x, int64_t y) {
  const double n = static_cast<double>(x) + static_cast<double>(y);
  return static_cast<double>(x) * std::log(r / r0) +
         n * (std::log1p(rho * (r0 - 1)) - std::log1p(rho * (r - 1)));
}

double SignLogIncrement(double theta, double theta0, int64_t z1, int64_t z0) {
  return static_cast<double>(z1) * std::log(theta / theta0) +
         static_cast<double>(z0) * std::log((1 - theta) / (1 - theta0));
}

double LogMeanExp(std::span<const double> v) {
  return LogMeanExpRaw(v.data(), static_cast<int>(v.size()));
}

double PoissonRateUcb(int64_t events, double exposed, double alpha_p) {
  assert(exposed > 0 && events >= 0 && alpha_p > 0 && alpha_p < 1);
  // P(Pois(mu) <= x) = Q(x+1, mu), so the largest mu with P(Pois(mu) <= x) >= alpha_p solves
  // P(x+1, mu) = 1 - alpha_p.
  const double mu =
      boost::math::gamma_p_inv(static_cast<double>(events) + 1, 1 - alpha_p, NoThrowPolicy());
  return mu / exposed;
}

double PoissonMeanLcb(int64_t events, double alpha_p) {
  assert(events >= 0 && alpha_p > 0 && alpha_p < 1);
  if (events == 0) return 0;
  // P(Pois(mu) >= x) = P(x, mu) (regularized lower incomplete gamma), increasing in mu: the
  // smallest mu still consistent with x events at level alpha_p solves P(x, mu) = alpha_p.
  return boost::math::gamma_p_inv(static_cast<double>(events), alpha_p, NoThrowPolicy());
}

PromotionBound ComputePromotionBound(int64_t treated_events, double treated_exposure,
                                     int64_t control_events, double control_exposure,
                                     int64_t baked_devices, int64_t next_wave_devices,
                                     double alpha_p, double harm_budget, double tolerance) {
  assert(baked_devices > 0 && next_wave_devices >= 0 && treated_exposure >= 0 &&
         control_exposure >= 0 && harm_budget > 0 && tolerance >= 0);
  PromotionBound b;
  b.treated_events = treated_events;
  b.control_events = control_events;
  b.treated_exposure = treated_exposure;
  b.control_exposure = control_exposure;
  b.baked_devices = baked_devices;
  b.next_wave_devices = next_wave_devices;
  const double n_h = static_cast<double>(baked_devices);
  const double n_next = static_cast<double>(next_wave_devices);
  b.treated_ucb = PoissonRateUcb(treated_events, 1, alpha_p);
  if (control_exposure > 0) {
    const double exposure_ratio = treated_exposure / control_exposure;  // E_T / E_C
    b.background_lcb = PoissonMeanLcb(control_events, alpha_p) * exposure_ratio;
    // (x_C/E_C)·(E_T/n_H)·n_next, in this order so that huge exposures do not overflow.
    b.background_next = static_cast<double>(control_events) * exposure_ratio / n_h * n_next;
  }
  b.excess_rate_ucb = std::max(0.0, b.treated_ucb - b.background_lcb) / n_h;
  b.budget = std::max(harm_budget, tolerance * b.background_next);
  b.limit = next_wave_devices > 0 ? b.budget / n_next : kInf;
  return b;
}

double PooledThreshold(double alpha, int num_metrics) { return 2.0 * num_metrics / alpha; }

double StratumThreshold(double alpha, int num_metrics, int num_strata) {
  return 2.0 * num_metrics * num_strata / alpha;
}

std::vector<int> EBenjaminiHochberg(std::span<const double> e_values, double level) {
  const int n = static_cast<int>(e_values.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return e_values[a] > e_values[b]; });
  int k_star = 0;
  for (int k = 1; k <= n; ++k) {
    if (e_values[order[k - 1]] >= n / (level * k)) k_star = k;
  }
  std::vector<int> out(order.begin(), order.begin() + k_star);
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Names and descriptions.

MetricSpec MetricSpec::Count(std::string name, double null_ratio, bool promotion_bound) {
  MetricSpec m;
  m.name = std::move(name);
  m.kind = MetricKind::kCount;
  m.null_ratio = null_ratio;
  m.promotion_bound = promotion_bound;
  return m;
}

MetricSpec MetricSpec::SignTest(std::string name, double null_win_rate) {
  MetricSpec m;
  m.name = std::move(name);
  m.kind = MetricKind::kSignTest;
  m.null_win_rate = null_win_rate;
  return m;
}

MetricSpec MetricSpec::Silence() { return Count("silence", 1.0, true); }
MetricSpec MetricSpec::Crash() { return Count("crash", 1.0, true); }
MetricSpec MetricSpec::ErrorIncidence() { return Count("error", 1.2, false); }

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kContinue:
      return "CONTINUE";
    case Verdict::kHalt:
      return "HALT";
    case Verdict::kHold:
      return "HOLD";
    case Verdict::kPromote:
      return "PROMOTE";
  }
  return "UNKNOWN";
}

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kNone:
      return "none";
    case Reason::kEvidence:
      return "evidence";
    case Reason::kSampleRatioMismatch:
      return "sample_ratio_mismatch";
    case Reason::kTelemetryLag:
      return "telemetry_lag";
    case Reason::kTreatedWithoutData:
      return "treated_without_data";
    case Reason::kControlRateSpike:
      return "control_rate_spike";
    case Reason::kInsufficientExposure:
      return "insufficient_exposure";
    case Reason::kPromotionBoundNotMet:
      return "promotion_bound_not_met";
    case Reason::kPromotionBoundMet:
      return "promotion_bound_met";
    case Reason::kPromotionBoundWaived:
      return "promotion_bound_waived";
  }
  return "unknown";
}

double TestReport::e_value() const { return std::exp(log_e_value); }
double TestReport::threshold() const { return std::exp(log_threshold); }

std::string DescribeDecision(const Decision& d, std::span<const MetricSpec> metrics) {
  auto metric_name = [&](int m) -> std::string {
    if (m >= 0 && m < static_cast<int>(metrics.size())) return metrics[m].name;
    return "metric " + std::to_string(m);
  };
  // "excess p_UCB 0.00431 > 0.003 (budget 30 / next wave 10000; 1 treated events, background
  // >= 0)": the excess failure rate bound against B_eff / n_{w+1}, and what it is made of.
  auto bound_text = [&](const char* op) {
    const PromotionBound& b = d.bound;
    return "excess p_UCB " + Fmt("%.3g", d.value) + op + Fmt("%.3g", d.limit) + " (budget " +
           Fmt("%.3g", b.budget) + " / next wave " + std::to_string(b.next_wave_devices) + "; " +
           std::to_string(b.treated_events) +
           " treated events, background >= " + Fmt("%.3g", b.background_lcb) + ")";
  };
  std::string out(VerdictName(d.verdict));
  switch (d.reason) {
    case Reason::kNone:
      return out;
    case Reason::kEvidence: {
      const TestReport& t = d.test;
      out += ": " + metric_name(t.metric) +
             (t.stratum == SequentialGate::kPooled ? std::string(" pooled")
                                                   : " stratum " + std::to_string(t.stratum));
      out += ": E=" + Fmt("%.3g", t.e_value()) + " >= " + Fmt("%.6g", t.threshold());
      out += " (" + std::to_string(t.treated_events) + " treated, " +
             std::to_string(t.control_events) + " control events; " +
             std::to_string(d.tests_fired) + (d.tests_fired == 1 ? " test" : " tests") + " fired)";
      return out;
    }
    case Reason::kSampleRatioMismatch:
      return out + ": sample ratio mismatch (dispatched vs acknowledged)";
    case Reason::kTelemetryLag:
      return out + ": telemetry lag " + Fmt("%.0f", d.value) + " s > " + Fmt("%.0f", d.limit) +
             " s";
    case Reason::kTreatedWithoutData:
      return out + ": " + Fmt("%.1f", 100 * d.value) +
             "% of treated devices without data >= " + Fmt("%.1f", 100 * d.limit) + "%";
    case Reason::kControlRateSpike:
      return out + ": " + metric_name(d.metric) + " control event rate " + Fmt("%.2f", d.value) +
             "x its trailing rate > " + Fmt("%.2f", d.limit) + "x";
    case Reason::kInsufficientExposure:
      return out + ": " + Fmt("%.0f", d.value) + " devices baked < " + Fmt("%.0f", d.limit) +
             " required";
    case Reason::kPromotionBoundNotMet:
      return out + ": " + metric_name(d.metric) + " " + bound_text(" > ");
    case Reason::kPromotionBoundWaived:
      return out + ": " + metric_name(d.metric) +
             " bound waived after the maximum hold: " + bound_text(" > ");
    case Reason::kPromotionBoundMet:
      if (d.metric < 0) return out;
      if (d.bound.next_wave_devices <= 0) return out + ": no next wave";
      return out + ": " + metric_name(d.metric) + " " + bound_text(" <= ");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SequentialGate.

Result<SequentialGate> SequentialGate::Create(std::vector<MetricSpec> metrics, int num_strata,
                                              GateOptions options) {
  if (metrics.empty()) return Status::InvalidArgument("gate: no metrics");
  if (num_strata < 1) return Status::InvalidArgument("gate: num_strata must be >= 1");
  const GateOptions& o = options;
  if (!(o.alpha > 0 && o.alpha < 1))
    return Status::InvalidArgument("gate: alpha must be in (0, 1)");
  if (!(o.promotion_alpha > 0 && o.promotion_alpha < 1)) {
    return Status::InvalidArgument("gate: promotion_alpha must be in (0, 1)");
  }
  if (!(o.harm_budget > 0) || !Finite(o.harm_budget)) {
    return Status::InvalidArgument("gate: harm_budget must be > 0");
  }
  if (!(o.relative_harm_tolerance >= 0) || !Finite(o.relative_harm_tolerance)) {
    return Status::InvalidArgument("gate: relative_harm_tolerance must be >= 0");
  }
  if (o.min_treated_events < 0) {
    return Status::InvalidArgument("gate: min_treated_events must be >= 0");
  }
  if (!(o.max_telemetry_lag_seconds >= 0) || !(o.max_treated_without_data_fraction >= 0) ||
      !(o.max_control_rate_ratio > 0)) {
    return Status::InvalidArgument("gate: HOLD limits must be non-negative (rate ratio > 0)");
  }
  std::set<std::string> names;
  for (const MetricSpec& m : metrics) {
    const std::string where = "gate: metric '" + m.name + "'";
    if (m.name.empty()) return Status::InvalidArgument("gate: metric without a name");
    if (!names.insert(m.name).second) return Status::InvalidArgument(where + " appears twice");
    if (m.kind == MetricKind::kCount) {
      if (!(m.null_ratio > 0) || !Finite(m.null_ratio)) {
        return Status::InvalidArgument(where + ": null_ratio must be > 0");
      }
      if (o.count_grid.empty()) return Status::InvalidArgument("gate: count_grid is empty");
      for (double r : o.count_grid) {
        if (!Finite(r) || !(r > m.null_ratio)) {
          return Status::InvalidArgument(where + ": every count_grid point must be finite and > " +
                                         "null_ratio " + Fmt("%g", m.null_ratio));
        }
      }
    } else {
      if (m.promotion_bound) {
        return Status::InvalidArgument(where + ": promotion_bound applies to count metrics only");
      }
      if (!(m.null_win_rate > 0 && m.null_win_rate < 1)) {
        return Status::InvalidArgument(where + ": null_win_rate must be in (0, 1)");
      }
      if (o.sign_grid.empty()) return Status::InvalidArgument("gate: sign_grid is empty");
      for (double t : o.sign_grid) {
        if (!(t > m.null_win_rate && t < 1)) {
          return Status::InvalidArgument(where + ": every sign_grid point must be in (" +
                                         Fmt("%g", m.null_win_rate) + ", 1)");
        }
      }
    }
  }
  return SequentialGate(std::move(metrics), num_strata, std::move(options));
}

SequentialGate::SequentialGate(std::vector<MetricSpec> metrics, int num_strata, GateOptions options)
    : metrics_(std::move(metrics)), num_strata_(num_strata), options_(std::move(options)) {
  const int m_count = num_metrics();
  log_threshold_pooled_ = std::log(PooledThreshold(options_.alpha, m_count));
  log_threshold_stratum_ = std::log(StratumThreshold(options_.alpha, m_count, num_strata_));
  state_.resize(m_count);
  size_t offset = 0;
  int max_grid = 0;
  for (int m = 0; m < m_count; ++m) {
    const MetricSpec& spec = metrics_[m];
    MetricState& st = state_[m];
    const std::vector<double>& grid =
        spec.kind == MetricKind::kCount ? options_.count_grid : options_.sign_grid;
    st.grid_size = static_cast<int>(grid.size());
    st.state_offset = offset;
    offset += static_cast<size_t>(num_strata_ + 1) * st.grid_size;
    max_grid = std::max(max_grid, st.grid_size);
    for (double p : grid) {
      if (spec.kind == MetricKind::kCount) {
        st.log_ratio.push_back(std::log(p / spec.null_ratio));
        st.aux.push_back(p - 1);
      } else {
        st.log_ratio.push_back(std::log(p / spec.null_win_rate));
        st.aux.push_back(std::log((1 - p) / (1 - spec.null_win_rate)));
      }
    }
  }
  log_lik_.assign(offset, 0.0);
  tests_.assign(static_cast<size_t>(m_count) * (num_strata_ + 1), Test{});
  scratch_.assign(max_grid, 0.0);
}

double* SequentialGate::log_lik(int m, int s) {
  return &log_lik_[state_[m].state_offset + static_cast<size_t>(s + 1) * state_[m].grid_size];
}

double SequentialGate::LogThreshold(int stratum) const {
  return stratum == kPooled ? log_threshold_pooled_ : log_threshold_stratum_;
}

Status SequentialGate::CheckIndex(int metric, int stratum, MetricKind kind) const {
  if (metric < 0 || metric >= num_metrics()) {
    return Status::InvalidArgument("gate: metric index " + std::to_string(metric) +
                                   " out of range");
  }
  if (stratum < 0 || stratum >= num_strata_) {
    return Status::InvalidArgument("gate: stratum index " + std::to_string(stratum) +
                                   " out of range");
  }
  if (metrics_[metric].kind != kind) {
    return Status::InvalidArgument("gate: metric '" + metrics_[metric].name + "' is not a " +
                                   (kind == MetricKind::kCount ? "count" : "sign-test") +
                                   " metric");
  }
  return Status::Ok();
}

Status SequentialGate::SetAtRisk(int stratum, int64_t treated, int64_t control) {
  if (stratum < 0 || stratum >= num_strata_) {
    return Status::InvalidArgument("gate: stratum index " + std::to_string(stratum) +
                                   " out of range");
  }
  if (treated < 0 || control < 0) return Status::InvalidArgument("gate: negative at-risk count");
  // Validate against every count metric first, so a rejected call changes nothing.
  for (int m = 0; m < num_metrics(); ++m) {
    if (metrics_[m].kind != MetricKind::kCount) continue;
    const Test& t = test(m, stratum);
    if (treated < t.pending_treated || control < t.pending_control) {
      return Status::InvalidArgument("gate: at-risk counts of stratum " + std::to_string(stratum) +
                                     " below this tick's events of '" + metrics_[m].name + "'");
    }
  }
  for (int m = 0; m < num_metrics(); ++m) {
    if (metrics_[m].kind != MetricKind::kCount) continue;
    test(m, stratum).at_risk_treated = treated;
    test(m, stratum).at_risk_control = control;
  }
  return Status::Ok();
}

Status SequentialGate::SetMetricAtRisk(int metric, int stratum, int64_t treated, int64_t control) {
  RF_RETURN_IF_ERROR(CheckIndex(metric, stratum, MetricKind::kCount));
  if (treated < 0 || control < 0) {
    return Status::InvalidArgument("gate: negative at-risk count");
  }
  Test& t = test(metric, stratum);
  if (treated < t.pending_treated || control < t.pending_control) {
    return Status::InvalidArgument("gate: at-risk counts below this tick's events");
  }
  t.at_risk_treated = treated;
  t.at_risk_control = control;
  return Status::Ok();
}

Status SequentialGate::AddCountEvents(int metric, int stratum, int64_t treated, int64_t control) {
  RF_RETURN_IF_ERROR(CheckIndex(metric, stratum, MetricKind::kCount));
  if (treated < 0 || control < 0) return Status::InvalidArgument("gate: negative event count");
  Test& t = test(metric, stratum);
  if (treated > t.at_risk_treated - t.pending_treated ||
      control > t.at_risk_control - t.pending_control) {
    return Status::InvalidArgument(
        "gate: '" + metrics_[metric].name + "' stratum " + std::to_string(stratum) +
        ": more events this tick than devices at risk (treated " +
        std::to_string(t.pending_treated + treated) + "/" + std::to_string(t.at_risk_treated) +
        ", control " + std::to_string(t.pending_control + control) + "/" +
        std::to_string(t.at_risk_control) + ")");
  }
  t.pending_treated += treated;
  t.pending_control += control;
  return Status::Ok();
}

Status SequentialGate::AddSignPairs(int metric, int stratum, int64_t treated_higher,
                                    int64_t control_higher, int64_t ties) {
  RF_RETURN_IF_ERROR(CheckIndex(metric, stratum, MetricKind::kSignTest));
  if (treated_higher < 0 || control_higher < 0 || ties < 0) {
    return Status::InvalidArgument("gate: negative pair count");
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 4;
  Test& t = test(metric, stratum);
  if (treated_higher > kMax - t.pending_treated || control_higher > kMax - t.pending_control ||
      ties > kMax - t.ties) {
    return Status::InvalidArgument("gate: pair count overflow");
  }
  t.pending_treated += treated_higher;
  t.pending_control += control_higher;
  t.ties += ties;
  test(metric, kPooled).ties += ties;
  return Status::Ok();
}

void SequentialGate::TickMetric(int m) {
  const MetricSpec& spec = metrics_[m];
  const MetricState& st = state_[m];
  const int g_count = st.grid_size;
  const double* log_ratio = st.log_ratio.data();
  const double* aux = st.aux.data();
  double* delta = scratch_.data();
  double* pooled = log_lik(m, kPooled);
  Test& pooled_test = test(m, kPooled);
  bool pooled_changed = false;
  for (int s = 0; s < num_strata_; ++s) {
    Test& t = test(m, s);
    if (spec.kind == MetricKind::kCount) {
      // Exposure: the devices at risk during this tick, before its events remove any.
      const double rt = static_cast<double>(t.at_risk_treated);
      const double rc = static_cast<double>(t.at_risk_control);
      t.exposure_treated += rt;
      t.exposure_control += rc;
      pooled_test.exposure_treated += rt;
      pooled_test.exposure_control += rc;
    }
    const int64_t x = t.pending_treated;
    const int64_t y = t.pending_control;
    if (x == 0 && y == 0) continue;
    const double xd = static_cast<double>(x);
    const double yd = static_cast<double>(y);
    if (spec.kind == MetricKind::kCount) {
      // rho from the at-risk counts just before this tick. AddCountEvents guarantees
      // x <= R_T and y <= R_C, so R_T + R_C >= x + y > 0.
      const double rho =
          static_cast<double>(t.at_risk_treated) /
          (static_cast<double>(t.at_risk_treated) + static_cast<double>(t.at_risk_control));
      const double n = xd + yd;
      const double null_term = std::log1p(rho * (spec.null_ratio - 1));
      for (int g = 0; g < g_count; ++g) {
        delta[g] = xd * log_ratio[g] + n * (null_term - std::log1p(rho * aux[g]));
      }
      t.at_risk_treated -= x;
      t.at_risk_control -= y;
    } else {
      for (int g = 0; g < g_count; ++g) delta[g] = xd * log_ratio[g] + yd * aux[g];
    }
    double* ell = log_lik(m, s);
    for (int g = 0; g < g_count; ++g) {
      ell[g] += delta[g];
      pooled[g] += delta[g];
    }
    t.log_e = LogMeanExpRaw(ell, g_count);
    t.treated_events += x;
    t.control_events += y;
    t.pending_treated = 0;
    t.pending_control = 0;
    pooled_test.treated_events += x;
    pooled_test.control_events += y;
    pooled_changed = true;
  }
  if (pooled_changed) pooled_test.log_e = LogMeanExpRaw(pooled, g_count);
}

void SequentialGate::Tick() {
  for (int m = 0; m < num_metrics(); ++m) TickMetric(m);
}

namespace {

void AppendDouble(std::string& out, double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, " %.17g", v);
  out += buf;
}

// Whitespace-separated tokens of a state text.
class Tokens {
 public:
  explicit Tokens(std::string_view text) : text_(text) {}
  bool Next(std::string_view* token) {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    if (pos_ >= text_.size()) return false;
    const size_t start = pos_;
    while (pos_ < text_.size() && !std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    *token = text_.substr(start, pos_ - start);
    return true;
  }
  bool Int(int64_t* v) {
    std::string_view t;
    if (!Next(&t)) return false;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), *v);
    return ec == std::errc() && p == t.data() + t.size();
  }
  bool Double(double* v) {
    std::string_view t;
    if (!Next(&t) || t.size() > 40) return false;
    const std::string copy(t);
    char* end = nullptr;
    *v = std::strtod(copy.c_str(), &end);
    return end == copy.c_str() + copy.size() && std::isfinite(*v);
  }
  bool AtEnd() {
    std::string_view t;
    return !Next(&t);
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// A fingerprint of what the state is only meaningful for: metric names, kinds, nulls and grids.
std::string GateShape(std::span<const MetricSpec> metrics, int num_strata) {
  std::string shape = std::to_string(num_strata);
  for (const MetricSpec& m : metrics) {
    shape += "|" + m.name + ":" + std::to_string(static_cast<int>(m.kind));
    AppendDouble(shape, m.kind == MetricKind::kCount ? m.null_ratio : m.null_win_rate);
  }
  return shape;
}

// FNV-1a, 32 bits: stable across builds (std::hash is not).
int64_t ShapeHash(std::span<const MetricSpec> metrics, int num_strata) {
  uint32_t h = 2166136261u;
  for (char c : GateShape(metrics, num_strata)) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return h;
}

}  // namespace

std::string SequentialGate::EncodeState() const {
  std::string out = "rfgate 1 " + std::to_string(num_metrics()) + " " + std::to_string(num_strata_) +
                    " " + std::to_string(tests_.size()) + " " + std::to_string(log_lik_.size());
  AppendDouble(out, log_threshold_pooled_);
  AppendDouble(out, log_threshold_stratum_);
  out += " " + std::to_string(ShapeHash(metrics_, num_strata_));
  out += "\n";
  for (const Test& t : tests_) {
    out += std::to_string(t.treated_events) + " " + std::to_string(t.control_events) + " " +
           std::to_string(t.ties) + " " + std::to_string(t.at_risk_treated) + " " +
           std::to_string(t.at_risk_control);
    AppendDouble(out, t.exposure_treated);
    AppendDouble(out, t.exposure_control);
    AppendDouble(out, t.log_e);
    out += "\n";
  }
  for (size_t i = 0; i < log_lik_.size(); ++i) {
    AppendDouble(out, log_lik_[i]);
    if (i % 10 == 9) out += "\n";
  }
  out += "\n";
  return out;
}

Status SequentialGate::RestoreState(std::string_view text) {
  Tokens in(text);
  std::string_view magic;
  int64_t version = 0, metrics = 0, strata = 0, tests = 0, cells = 0, shape = 0;
  double th_pooled = 0, th_stratum = 0;
  if (!in.Next(&magic) || magic != "rfgate") return Status::InvalidArgument("gate state: not a gate state");
  if (!in.Int(&version) || version != 1) {
    return Status::InvalidArgument("gate state: unsupported version");
  }
  if (!in.Int(&metrics) || !in.Int(&strata) || !in.Int(&tests) || !in.Int(&cells) ||
      !in.Double(&th_pooled) || !in.Double(&th_stratum) || !in.Int(&shape)) {
    return Status::InvalidArgument("gate state: malformed header");
  }
  if (metrics != num_metrics() || strata != num_strata_ ||
      tests != static_cast<int64_t>(tests_.size()) ||
      cells != static_cast<int64_t>(log_lik_.size()) ||
      shape != ShapeHash(metrics_, num_strata_)) {
    return Status::InvalidArgument("gate state: saved for other metrics or strata (" +
                                   std::to_string(metrics) + " metrics, " +
                                   std::to_string(strata) + " strata)");
  }
  if (th_pooled != log_threshold_pooled_ || th_stratum != log_threshold_stratum_) {
    return Status::InvalidArgument("gate state: saved with other thresholds (alpha changed)");
  }
  std::vector<Test> t(tests_.size());
  for (size_t i = 0; i < t.size(); ++i) {
    Test& x = t[i];
    if (!in.Int(&x.treated_events) || !in.Int(&x.control_events) || !in.Int(&x.ties) ||
        !in.Int(&x.at_risk_treated) || !in.Int(&x.at_risk_control) ||
        !in.Double(&x.exposure_treated) || !in.Double(&x.exposure_control) ||
        !in.Double(&x.log_e)) {
      return Status::InvalidArgument("gate state: malformed test " + std::to_string(i));
    }
    constexpr int64_t kMaxCount = int64_t{1} << 50;  // far above any fleet; no overflow later
    for (int64_t c : {x.treated_events, x.control_events, x.ties, x.at_risk_treated, x.at_risk_control}) {
      if (c < 0 || c > kMaxCount) {
        return Status::InvalidArgument("gate state: count out of range in test " + std::to_string(i));
      }
    }
    if (x.exposure_treated < 0 || x.exposure_control < 0) {
      return Status::InvalidArgument("gate state: negative exposure in test " + std::to_string(i));
    }
  }
  std::vector<double> lik(log_lik_.size());
  for (size_t i = 0; i < lik.size(); ++i) {
    if (!in.Double(&lik[i])) {
      return Status::InvalidArgument("gate state: malformed e-process cell " + std::to_string(i));
    }
  }
  if (!in.AtEnd()) return Status::InvalidArgument("gate state: trailing data");
  tests_ = std::move(t);
  log_lik_ = std::move(lik);
  // log_e is a cache of the grid state: recomputed, never taken from the text.
  for (int m = 0; m < num_metrics(); ++m) {
    for (int s = kPooled; s < num_strata_; ++s) {
      test(m, s).log_e = LogMeanExpRaw(log_lik(m, s), state_[static_cast<size_t>(m)].grid_size);
    }
  }
  return Status::Ok();
}

TestReport SequentialGate::Report(int metric, int stratum) const {
  assert(metric >= 0 && metric < num_metrics() && stratum >= kPooled && stratum < num_strata_);
  const Test& t = test(metric, stratum);
  TestReport r;
  r.metric = metric;
  r.stratum = stratum;
  r.log_e_value = t.log_e;
  r.log_threshold = LogThreshold(stratum);
  r.treated_events = t.treated_events;
  r.control_events = t.control_events;
  r.treated_exposure = t.exposure_treated;
  r.control_exposure = t.exposure_control;
  return r;
}

int64_t SequentialGate::ties(int metric, int stratum) const {
  assert(metric >= 0 && metric < num_metrics() && stratum >= kPooled && stratum < num_strata_);
  return test(metric, stratum).ties;
}

std::vector<int> SequentialGate::EbhStrata(int metric) const {
  assert(metric >= 0 && metric < num_metrics());
  std::vector<double> e(num_strata_);
  for (int s = 0; s < num_strata_; ++s) e[s] = std::exp(test(metric, s).log_e);
  return EBenjaminiHochberg(e, options_.alpha / (2.0 * num_metrics()));
}

Decision SequentialGate::Decide(const HealthSignals& health) const {
  Decision d;
  // HALT: every test, pooled and per stratum, against its own threshold.
  double best_margin = -kInf;
  for (int m = 0; m < num_metrics(); ++m) {
    for (int s = kPooled; s < num_strata_; ++s) {
      const Test& t = test(m, s);
      const double margin = t.log_e - LogThreshold(s);
      if (margin >= 0 && t.treated_events >= options_.min_treated_events) {
        ++d.tests_fired;
        if (margin > best_margin) {
          best_margin = margin;
          d.test = Report(m, s);
        }
      }
    }
  }
  if (d.tests_fired > 0) {
    d.verdict = Verdict::kHalt;
    d.reason = Reason::kEvidence;
    return d;
  }
  // HOLD: what the gate is told about the health of the comparison itself.
  auto hold = [&](Reason reason, int metric, double value, double limit) {
    d.verdict = Verdict::kHold;
    d.reason = reason;
    d.metric = metric;
    d.value = value;
    d.limit = limit;
    return d;
  };
  if (health.sample_ratio_mismatch) return hold(Reason::kSampleRatioMismatch, -1, 1, 0);
  if (health.telemetry_lag_seconds > options_.max_telemetry_lag_seconds) {
    return hold(Reason::kTelemetryLag, -1, health.telemetry_lag_seconds,
                options_.max_telemetry_lag_seconds);
  }
  if (health.treated_devices > 0) {
    const double share = static_cast<double>(health.treated_without_data) /
                         static_cast<double>(health.treated_devices);
    if (share >= options_.max_treated_without_data_fraction) {
      return hold(Reason::kTreatedWithoutData, -1, share,
                  options_.max_treated_without_data_fraction);
    }
  }
  assert(health.control_rate_ratio.empty() ||
         static_cast<int>(health.control_rate_ratio.size()) == num_metrics());
  if (static_cast<int>(health.control_rate_ratio.size()) == num_metrics()) {
    int worst = -1;
    for (int m = 0; m < num_metrics(); ++m) {
      const double ratio = health.control_rate_ratio[m];
      if (ratio > options_.max_control_rate_ratio &&
          (worst < 0 || ratio > health.control_rate_ratio[worst])) {
        worst = m;
      }
    }
    if (worst >= 0) {
      return hold(Reason::kControlRateSpike, worst, health.control_rate_ratio[worst],
                  options_.max_control_rate_ratio);
    }
  }
  return d;
}

Decision SequentialGate::DecideAtBakeEnd(const HealthSignals& health,
                                         const BakeSummary& bake) const {
  Decision d = Decide(health);
  if (d.verdict != Verdict::kContinue) return d;
  if (bake.baked_devices < bake.min_baked_devices || bake.baked_devices <= 0) {
    d.verdict = Verdict::kHold;
    d.reason = Reason::kInsufficientExposure;
    d.value = static_cast<double>(bake.baked_devices);
    d.limit = static_cast<double>(std::max<int64_t>(bake.min_baked_devices, 1));
    return d;
  }
  // The metric closest to (or furthest over) its bound is the one worth reporting.
  int worst = -1;
  double worst_ratio = -kInf;
  for (int m = 0; m < num_metrics(); ++m) {
    if (!metrics_[m].promotion_bound) continue;
    const PromotionBound b = Bound(m, bake.baked_devices, bake.next_wave_devices);
    const double ratio = b.excess_rate_ucb / b.limit;  // 0 when limit = +inf (no next wave)
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = m;
      d.bound = b;
    }
  }
  d.metric = worst;
  d.value = worst >= 0 ? d.bound.excess_rate_ucb : 0;
  d.limit = worst >= 0 ? d.bound.limit : 0;
  if (worst >= 0 && !d.bound.met()) {
    const bool waive = bake.max_promotion_hold_micros > 0 &&
                       bake.promotion_hold_micros >= bake.max_promotion_hold_micros;
    d.verdict = waive ? Verdict::kPromote : Verdict::kHold;
    d.reason = waive ? Reason::kPromotionBoundWaived : Reason::kPromotionBoundNotMet;
  } else {
    d.verdict = Verdict::kPromote;
    d.reason = Reason::kPromotionBoundMet;
  }
  return d;
}

PromotionBound SequentialGate::Bound(int metric, int64_t baked_devices,
                                     int64_t next_wave_devices) const {
  assert(metric >= 0 && metric < num_metrics() && metrics_[metric].kind == MetricKind::kCount);
  const Test& t = test(metric, kPooled);
  return ComputePromotionBound(t.treated_events, t.exposure_treated, t.control_events,
                               t.exposure_control, baked_devices, next_wave_devices,
                               options_.promotion_alpha, options_.harm_budget,
                               options_.relative_harm_tolerance);
}

}  // namespace rf::rollout
