// SequentialGate: the statistical gate of a staged rollout (layer 4), as specified, with a worked
// example, in docs/gate.md.
//
// For every metric the gate runs one anytime-valid e-process per stratum and one pooled over
// strata, comparing treated (exposed) with control (not yet exposed) devices of the same stratum
// over the same time:
//   * count metrics (silence, crash/boot-loop, error incidence, p99 exceedances): a stratified
//     conditional-Bernoulli mixture over hazard ratios r in a grid, null r <= r0
//     (docs/gate.md, "Count gate");
//   * sign-test metrics (latency, CPU, traffic): a sequential sign test on paired treated/control
//     values, mixture over win rates theta in a grid, null theta <= theta0
//     (docs/gate.md, "Sign test").
// Each e-process is a nonnegative supermartingale under its null, so by Ville's inequality the gate
// may look after every tick, across every wave, without inflating the false-halt rate. The alpha
// budget is split by weighted Bonferroni (docs/gate.md, "Multiplicity"): pooled tests fire at
// E >= 2M/alpha, per-stratum tests at E >= 2MS/alpha, so P(any false HALT during the whole
// release) <= alpha.
// PROMOTE departs from the specification (whose bound on raw treated failures stalls every healthy
// release on a noisy fleet; docs/gate.md, "Why the bound changed"): it bounds the excess of
// treated over concurrent-control failures, against a budget that grows with the next wave's own
// background, and a hold on it is bounded in time (ComputePromotionBound, BakeSummary;
// docs/gate.md, "Promotion").
//
// One SequentialGate lives for a whole release (all waves); never reset it between waves.
//
// Usage, once per tick (e.g. every 10 s of telemetry):
//
//   RF_ASSIGN_OR_RETURN(SequentialGate gate,
//                       SequentialGate::Create({MetricSpec::Silence(), MetricSpec::Crash()},
//                                              /*num_strata=*/10, GateOptions{}));
//   ...
//   for (int s = 0; s < 10; ++s) {
//     RF_RETURN_IF_ERROR(gate.SetAtRisk(s, treated_alive[s], control_alive[s]));  // before events
//     RF_RETURN_IF_ERROR(gate.AddCountEvents(kSilence, s, new_silent_treated[s],
//                                            new_silent_control[s]));
//   }
//   gate.Tick();
//   Decision d = gate.Decide(health);          // during a wave: kContinue, kHalt or kHold
//   Decision p = gate.DecideAtBakeEnd(health, bake);  // at bake end (again each tick while it
//                                                     // holds): kPromote, kHalt or kHold
//
// Pure: no I/O, no clock reads, no threads, no randomness (pairing treated with random control
// values for the sign test is the caller's job). Tick, Decide and DecideAtBakeEnd do not allocate;
// a tick costs O(S·M·G).
// Thread-safety: none; REQUIRES external synchronization.
#ifndef RINGFENCE_ROLLOUT_GATE_H_
#define RINGFENCE_ROLLOUT_GATE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace rf::rollout {

enum class MetricKind : uint8_t {
  kCount,     // events per device (incidence); conditional-Bernoulli mixture ("Count gate")
  kSignTest,  // paired continuous values; sequential sign test on CLES ("Sign test")
};

// One primary metric the gate watches. Use the factories for the defaults of docs/gate.md,
// "Defaults".
struct MetricSpec {
  std::string name;  // for reports, e.g. "silence"; unique within a gate
  MetricKind kind = MetricKind::kCount;
  // kCount: null tolerance r0 on the hazard ratio treated/control. H0: r <= r0. Every point of
  // GateOptions::count_grid must exceed it. 1 for crash/silence, 1.2 for error counts.
  double null_ratio = 1.0;
  // kSignTest: null bound theta0 on P(treated value > control value). H0: P <= theta0. Every point
  // of GateOptions::sign_grid must exceed it. 0.5; 0.52 for noisy metrics.
  double null_win_rate = 0.5;
  // kCount only: whether PROMOTE requires this metric's excess bound (the Poisson bound on treated
  // failures beyond the concurrent control's background; docs/gate.md, "The bound"): crash,
  // silence, boot-loop.
  bool promotion_bound = false;

  static MetricSpec Count(std::string name, double null_ratio, bool promotion_bound);
  static MetricSpec SignTest(std::string name, double null_win_rate);
  static MetricSpec Silence();         // Count("silence", 1.0, true)
  static MetricSpec Crash();           // Count("crash", 1.0, true); crash and boot-loop
  static MetricSpec ErrorIncidence();  // Count("error", 1.2, false)
};

struct GateOptions {
  // Probability of any false HALT per release, covering all metrics, strata and waves.
  double alpha = 0.01;
  // Hazard-ratio alternatives r_g of count metrics, mixed with equal weights 1/G. Wider grids
  // cost ln(G) nats of evidence once, and O(G) work per test per tick.
  std::vector<double> count_grid = {1.5, 2, 3, 5, 10, 30, 100, 1e3, 1e4, 1e5};
  // Win-rate alternatives theta_g of sign-test metrics, mixed with equal weights 1/G.
  std::vector<double> sign_grid = {0.55, 0.6, 0.65, 0.7, 0.8, 0.9};
  // A test may HALT only when it has seen at least this many treated events (count metrics:
  // treated events; sign tests: pairs with the treated value higher). Guards against a single
  // odd device halting a release when a stratum's treated share is tiny.
  int64_t min_treated_events = 3;
  // alpha_p: confidence 1 - alpha_p of each Poisson bound used for PROMOTE (the upper bound on
  // treated events and the lower bound on their background; the excess bound has 1 - 2 alpha_p).
  double promotion_alpha = 0.05;
  // B: the absolute floor of the harm budget, in devices: the next wave may cause at most
  // B_eff = max(B, tau·b_next) excess failures given the bound (docs/gate.md, "Promotion").
  double harm_budget = 30;
  // tau: the harm budget relative to the background failures b_next the next wave will have anyway
  // over the same observation time. 3 = the next wave may, at worst and undetected, have up to
  // three times its background failure count in excess failures (4x its background in all).
  // 0 = the absolute budget B only. Why 3: docs/gate.md, "Measured in the simulator".
  double relative_harm_tolerance = 3.0;
  // HOLD when the newest complete telemetry is older than this.
  double max_telemetry_lag_seconds = 120;
  // HOLD when at least this share of treated devices has sent no telemetry since dispatch.
  double max_treated_without_data_fraction = 0.10;
  // HOLD when a metric's control event rate exceeds this multiple of its trailing 7-day rate
  // (an environmental incident: the comparison is still valid, but nobody should ship into it).
  double max_control_rate_ratio = 5.0;
};

// What the gate cannot see in event counts but must act on; filled by the caller before Decide.
struct HealthSignals {
  double telemetry_lag_seconds = 0;  // age of the newest complete telemetry (ingest lag)
  int64_t treated_devices = 0;       // treated devices that should by now have reported
  int64_t treated_without_data = 0;  // of those, devices with no telemetry since dispatch
  // Indexed by metric: current control event rate / trailing 7-day control rate. Empty, or a
  // value <= 0, means unknown (no HOLD). Must be empty or have exactly num_metrics() entries.
  std::span<const double> control_rate_ratio;
  bool sample_ratio_mismatch = false;  // the population check fired ("Sample-ratio mismatch")
};

// What DecideAtBakeEnd needs about the wave that just baked.
struct BakeSummary {
  int64_t baked_devices = 0;  // n_H: treated devices observed for the full bake, all waves so far
  int64_t min_baked_devices = 0;  // n_min(w): PROMOTE needs n_H >= this
  int64_t next_wave_devices = 0;  // n_{w+1}: new devices the next wave would expose; 0 = none
  // How long this wave's promotion has already been held for kPromotionBoundNotMet (time between
  // the first such answer and now, excluding time held for any other reason).
  int64_t promotion_hold_micros = 0;
  // Once promotion_hold_micros >= this (> 0), a bound that is still not met is waived: kPromote
  // with kPromotionBoundWaived, which the caller must page and audit. 0 = hold indefinitely.
  // The release driver passes half the wave's bake (DriverOptions::max_promotion_hold_bakes;
  // after dispatch has ended the bound can only be helped
  // by watching the same devices for longer, see docs/gate.md).
  int64_t max_promotion_hold_micros = 0;
};

enum class Verdict : uint8_t {
  kContinue,  // keep dispatching / baking
  kHalt,      // stop dispatch, revert, page
  kHold,      // pause dispatch; the e-processes keep running and stay valid
  kPromote,   // start the next wave (only from DecideAtBakeEnd)
};

enum class Reason : uint8_t {
  kNone,                  // kContinue
  kEvidence,              // kHalt: an e-value crossed its threshold with enough treated events
  kSampleRatioMismatch,   // kHold: HealthSignals::sample_ratio_mismatch
  kTelemetryLag,          // kHold: value = lag seconds, limit = max_telemetry_lag_seconds
  kTreatedWithoutData,    // kHold: value = share without data, limit = the option
  kControlRateSpike,      // kHold: metric, value = rate ratio, limit = max_control_rate_ratio
  kInsufficientExposure,  // kHold: value = n_H, limit = n_min
  kPromotionBoundNotMet,  // kHold: metric, value = p_ex, limit = B_eff / n_{w+1}, bound
  kPromotionBoundMet,     // kPromote: metric with the largest p_ex / limit (or -1), its values
  kPromotionBoundWaived,  // kPromote after holding max_promotion_hold_micros with the bound not
                          // met: as kPromotionBoundNotMet. The driver pages and audits
                          // it (rollout/driver.h, Event::page).
};

std::string_view VerdictName(Verdict v);
std::string_view ReasonName(Reason r);

// The PROMOTE bound of one count metric with promotion_bound, as computed by
// ComputePromotionBound (docs/gate.md, "Promotion"). All counts pooled over strata.
struct PromotionBound {
  int64_t treated_events = 0;     // x_T: cumulative treated events (all waves, all strata)
  int64_t control_events = 0;     // x_C: cumulative control events
  double treated_exposure = 0;    // E_T: at-risk treated device-ticks (Σ over ticks of R_T)
  double control_exposure = 0;    // E_C: at-risk control device-ticks
  int64_t baked_devices = 0;      // n_H
  int64_t next_wave_devices = 0;  // n_{w+1}
  double treated_ucb = 0;         // U = gamma_p_inv(x_T + 1, 1 − alpha_p)
  double background_lcb = 0;      // mu_L = gamma_p_inv(x_C, alpha_p)·E_T/E_C; 0 if x_C or E_C = 0
  double excess_rate_ucb = 0;     // p_ex = max(0, U − mu_L) / n_H, per baked device
  double background_next = 0;     // b_next = (x_C/E_C)·(E_T/n_H)·n_{w+1}; 0 if E_C = 0
  double budget = 0;              // B_eff = max(B, tau·b_next), in devices
  double limit = 0;               // B_eff / n_{w+1}; +inf when n_{w+1} = 0 (no next wave)
  bool met() const { return excess_rate_ucb <= limit; }
};

// The state of one e-process.
struct TestReport {
  int metric = -1;
  int stratum = -1;             // SequentialGate::kPooled for the pooled test
  double log_e_value = 0;       // ln E; E = 1 at the start
  double log_threshold = 0;     // ln of 2M/alpha (pooled) or 2MS/alpha (stratum)
  int64_t treated_events = 0;   // cumulative; sign tests: pairs with treated higher
  int64_t control_events = 0;   // cumulative; sign tests: pairs with control higher
  double treated_exposure = 0;  // count metrics: Σ over ticks of the treated at-risk count
  double control_exposure = 0;  // count metrics: Σ over ticks of the control at-risk count
  double e_value() const;       // exp(log_e_value); may be +inf for overwhelming evidence
  double threshold() const;     // exp(log_threshold)
};

struct Decision {
  Verdict verdict = Verdict::kContinue;
  Reason reason = Reason::kNone;
  // kHalt: the firing test with the largest E / threshold, and how many tests fired in total.
  TestReport test;
  int tests_fired = 0;
  // Hold/promote details, see Reason: the metric concerned (-1 if none) and the measured value
  // against its limit.
  int metric = -1;
  double value = 0;
  double limit = 0;
  // DecideAtBakeEnd past the exposure check: the promotion bound of `metric` (all zero if none).
  PromotionBound bound;
};

// One line for operators, e.g.
// "HALT: silence stratum 3: E=1.23e+04 >= 10000 (3 treated, 1 control events; 1 test fired)".
std::string DescribeDecision(const Decision& d, std::span<const MetricSpec> metrics);

class SequentialGate {
 public:
  static constexpr int kPooled = -1;

  // Validates everything once: non-empty metrics with unique names, num_strata >= 1,
  // 0 < alpha < 1, grids non-empty and above each metric's null, 0 < promotion_alpha < 1,
  // harm_budget > 0, relative_harm_tolerance >= 0 (finite), min_treated_events >= 0. Errors are
  // InvalidArgument.
  static Result<SequentialGate> Create(std::vector<MetricSpec> metrics, int num_strata,
                                       GateOptions options);

  int num_metrics() const { return static_cast<int>(metrics_.size()); }
  int num_strata() const { return num_strata_; }
  const MetricSpec& metric(int m) const { return metrics_[m]; }
  std::span<const MetricSpec> metrics() const { return metrics_; }
  const GateOptions& options() const { return options_; }
  // ln(2M/alpha) for kPooled, ln(2MS/alpha) for a stratum.
  double LogThreshold(int stratum) const;

  // --- Input for the current tick. Order per tick: SetAtRisk, Add*, then Tick.

  // Sets the devices currently at risk (alive) in each arm of `stratum`, for every count metric.
  // rho = treated / (treated + control) of the update is taken from these values at Tick, i.e.
  // just before this tick's events. After Tick the gate subtracts the tick's events from them
  // (docs/gate.md, "Count gate"), so a caller that does not set them again keeps consistent
  // counts; a caller that knows the true counts (devices join the treated arm during a wave) sets
  // them every tick.
  // InvalidArgument if a count is negative, or below the events already added this tick.
  Status SetAtRisk(int stratum, int64_t treated, int64_t control);
  // The same for one count metric only (e.g. when a metric's at-risk set differs).
  Status SetMetricAtRisk(int metric, int stratum, int64_t treated, int64_t control);

  // Adds new events of count metric `metric` in `stratum` for this tick (cumulative within the
  // tick). Recurrent events must be capped by the caller at kappa = 1 per device per tick.
  // InvalidArgument if the metric is not a count metric, an index is out of range, a count is
  // negative, or the tick's events would exceed the at-risk count of their arm.
  Status AddCountEvents(int metric, int stratum, int64_t treated, int64_t control);

  // Adds outcomes of fresh (treated, control) pairs of sign-test metric `metric` in `stratum`
  // (cumulative within the tick): Z = 1 pairs where the treated value is higher, Z = 0 pairs where
  // the control value is higher; ties carry no information and are only counted. Orient the metric
  // so that higher is worse (negate traffic if a drop is the failure). Each control value is used
  // in one pair only. InvalidArgument for a non-sign-test metric, bad index, negative count.
  Status AddSignPairs(int metric, int stratum, int64_t treated_higher, int64_t control_higher,
                      int64_t ties = 0);

  // Applies this tick's events to every e-process and clears them, and adds the at-risk counts
  // (before the events) to each count metric's treated and control exposure. No allocation.
  void Tick();

  // --- Decisions (const, no allocation). Priority: HALT > HOLD > CONTINUE/PROMOTE.

  // During a wave: kHalt (evidence), kHold (health signals) or kContinue.
  // REQUIRES: health.control_rate_ratio is empty or has num_metrics() entries (else ignored).
  Decision Decide(const HealthSignals& health) const;

  // Once at the end of a wave's bake (and again at every tick while it answers kHold): as Decide,
  // then kHold (kInsufficientExposure) if n_H < n_min or n_H <= 0; then, for every metric with
  // promotion_bound, ComputePromotionBound over its pooled counts and exposures: if one is not
  // met, kHold (kPromotionBoundNotMet), or kPromote (kPromotionBoundWaived) once
  // bake.promotion_hold_micros >= bake.max_promotion_hold_micros > 0; otherwise kPromote
  // (kPromotionBoundMet). The Decision names the metric with the largest p_ex / limit.
  Decision DecideAtBakeEnd(const HealthSignals& health, const BakeSummary& bake) const;
  // The promotion bound of count metric `metric` now (ComputePromotionBound over its pooled counts
  // and exposures). REQUIRES: a valid count metric index, baked_devices > 0.
  PromotionBound Bound(int metric, int64_t baked_devices, int64_t next_wave_devices) const;

  // --- Reports.

  // The state of test (metric, stratum); stratum may be kPooled. REQUIRES: valid indices.
  TestReport Report(int metric, int stratum) const;
  // Strata of `metric` selected by e-BH at level alpha / (2M) (the metric's per-stratum budget):
  // a superset of those over the Bonferroni threshold. Ignores min_treated_events. Allocates.
  std::vector<int> EbhStrata(int metric) const;
  int64_t ties(int metric, int stratum) const;  // cumulative dropped ties of a sign test

  // --- Persistence (a restarted server continues its e-processes instead of starting fresh
  // ones: a fresh start would be an extra look at the data, spending alpha again, and would lose
  // the evidence gathered so far).

  // The evidence between ticks as text: every test's counters, exposures and at-risk counts and
  // every e-process's grid state, doubles in round-trip precision. Versioned ("rfgate 1 ...").
  std::string EncodeState() const;
  // Replaces the evidence with `text` from EncodeState() of a gate with the same metrics (names,
  // kinds, grids), strata count and thresholds. InvalidArgument naming the mismatch or the
  // malformed field; the gate is unchanged on error. REQUIRES: between ticks (no pending events).
  Status RestoreState(std::string_view text);

 private:
  struct Test {
    double log_e = 0;  // cached log-mean-exp of the test's grid state
    int64_t treated_events = 0;
    int64_t control_events = 0;
    int64_t ties = 0;
    double exposure_treated = 0;  // count metrics: Σ at-risk device-ticks (pooled: over strata)
    double exposure_control = 0;
    int64_t at_risk_treated = 0;  // count metrics, strata only
    int64_t at_risk_control = 0;
    int64_t pending_treated = 0;  // this tick's events / pair outcomes
    int64_t pending_control = 0;
  };
  struct MetricState {
    int grid_size = 0;
    size_t state_offset = 0;        // into log_lik_: (S + 1) * grid_size doubles, pooled first
    std::vector<double> log_ratio;  // count: ln(r_g / r0);      sign: ln(theta_g / theta0)
    std::vector<double> aux;        // count: r_g - 1;           sign: ln((1-theta_g)/(1-theta0))
  };

  SequentialGate(std::vector<MetricSpec> metrics, int num_strata, GateOptions options);
  Test& test(int m, int s) { return tests_[static_cast<size_t>(m) * (num_strata_ + 1) + (s + 1)]; }
  const Test& test(int m, int s) const {
    return tests_[static_cast<size_t>(m) * (num_strata_ + 1) + (s + 1)];
  }
  double* log_lik(int m, int s);
  Status CheckIndex(int metric, int stratum, MetricKind kind) const;
  void TickMetric(int m);

  std::vector<MetricSpec> metrics_;
  int num_strata_ = 0;
  GateOptions options_;
  double log_threshold_pooled_ = 0;
  double log_threshold_stratum_ = 0;
  std::vector<MetricState> state_;
  std::vector<Test> tests_;      // per metric: pooled first, then strata 0..S-1
  std::vector<double> log_lik_;  // ell_{s,g} of every test
  std::vector<double> scratch_;  // per-metric grid increments for one stratum (size max G)
};

// --- The statistics as free functions (used by SequentialGate; exposed for tests and planning).

// Delta of docs/gate.md, "Count gate": the log-likelihood-ratio increment of hazard ratio r
// against r0 for one tick with x treated and y control events, when a fraction rho of the at-risk
// devices is treated:
//   x·ln(r/r0) + (x+y)·[log1p(rho·(r0−1)) − log1p(rho·(r−1))].
// REQUIRES: r, r0 > 0; 0 <= rho <= 1.
double CountLogIncrement(double r, double r0, double rho, int64_t x, int64_t y);

// The sign-test increment of docs/gate.md, "Sign test", for z1 pairs with Z = 1 and z0 with Z = 0:
//   z1·ln(theta/theta0) + z0·ln((1−theta)/(1−theta0)).   REQUIRES: 0 < theta, theta0 < 1.
double SignLogIncrement(double theta, double theta0, int64_t z1, int64_t z0);

// ln((1/n)·Σ exp(v_i)), computed without overflow (hand-written log-sum-exp). -inf if empty.
double LogMeanExp(std::span<const double> v);

// Upper (1 − alpha_p) confidence bound on a per-device failure probability after `events` failures
// among `exposed` devices: gamma_p_inv(events + 1, 1 − alpha_p) / exposed (Poisson, exact).
// With 0 events this is −ln(alpha_p)/exposed (the rule of three). REQUIRES: exposed > 0.
double PoissonRateUcb(int64_t events, double exposed, double alpha_p);

// Lower (1 − alpha_p) confidence bound on a Poisson mean after `events` events:
// gamma_p_inv(events, alpha_p), the mu with P(Pois(mu) >= events) = alpha_p; 0 for 0 events.
double PoissonMeanLcb(int64_t events, double alpha_p);

// The PROMOTE bound (docs/gate.md, "Promotion"): expected background among the treated
// mu = x_C·E_T/E_C, bounded below by mu_L = PoissonMeanLcb(x_C, alpha_p)·E_T/E_C; excess rate
// p_ex = max(0, PoissonRateUcb(x_T, 1, alpha_p) − mu_L) / n_H; budget B_eff = max(B, tau·b_next)
// with b_next = (x_C/E_C)·(E_T/n_H)·n_{w+1}; met iff p_ex <= B_eff / n_{w+1}. Without control
// exposure (E_C = 0) the background is taken as 0 and the budget is B.
// REQUIRES: n_H > 0, events and exposures >= 0, n_{w+1} >= 0, 0 < alpha_p < 1, B > 0, tau >= 0.
PromotionBound ComputePromotionBound(int64_t treated_events, double treated_exposure,
                                     int64_t control_events, double control_exposure,
                                     int64_t baked_devices, int64_t next_wave_devices,
                                     double alpha_p, double harm_budget, double tolerance);

// Bonferroni thresholds (docs/gate.md, "Multiplicity"): 2M/alpha (pooled) and 2MS/alpha (per
// stratum).
double PooledThreshold(double alpha, int num_metrics);
double StratumThreshold(double alpha, int num_metrics, int num_strata);

// e-BH (Wang & Ramdas): indices (ascending) of the hypotheses rejected at FDR level `level`, i.e.
// the k* largest e-values where k* = max{k : e_(k) >= n / (level·k)}. Allocates.
std::vector<int> EBenjaminiHochberg(std::span<const double> e_values, double level);

}  // namespace rf::rollout

#endif  // RINGFENCE_ROLLOUT_GATE_H_
