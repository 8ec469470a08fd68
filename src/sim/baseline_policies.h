// Baseline rollout policies: what peers do, decided per tick from the same simulated telemetry as
// ringfence. Parameters are the peers' documented defaults where they exist; every choice and its
// source is listed in docs/simulator.md ("Baseline policies").
//
// None of them sees silence: they judge rates computed over devices that report, so a host that
// crashed and cannot report simply drops out of the denominator (Kayenta: "no data" passes).
#ifndef RINGFENCE_SIM_BASELINE_POLICIES_H_
#define RINGFENCE_SIM_BASELINE_POLICIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "sim/policy.h"

namespace rf::sim {

// Offers the release to every eligible device at once and never halts (Channel File 291, July 2024).
class AllAtOncePolicy final : public RolloutPolicy {
 public:
  std::string_view name() const override { return "all-at-once"; }
  Status Start(const SimContext& ctx, PolicyAction& action) override;
  Status OnTick(const Telemetry&, PolicyAction&) override { return Status::Ok(); }
  bool Finished() const override { return true; }
  std::string Outcome() const override { return "completed (no health check)"; }
};

// AWS AppConfig's predefined AppConfig.Canary10Percent20Minutes: exponential growth G·2^n with
// G = 10% (10, 20, 40, 80, 100%) spread over a 20-minute deployment, then a 10-minute bake; a
// CloudWatch alarm on a fixed, fleet-wide error-rate threshold rolls back while deploying or baking.
struct AppConfigCanaryOptions {
  double growth_factor = 0.10;               // G
  int64_t deployment_micros = 20 * 60'000'000LL;
  int64_t bake_micros = 10 * 60'000'000LL;
  // Alarm: (crash + error reports) / check-ins of all eligible devices over one period above this.
  double alarm_error_rate = 0.01;
  int64_t alarm_period_micros = 60'000'000;  // CloudWatch period; 1 of 1 datapoints alarms
};
class AppConfigCanaryPolicy final : public RolloutPolicy {
 public:
  explicit AppConfigCanaryPolicy(AppConfigCanaryOptions options = {});
  std::string_view name() const override { return "appconfig-canary"; }
  Status Start(const SimContext& ctx, PolicyAction& action) override;
  Status OnTick(const Telemetry& telemetry, PolicyAction& action) override;
  bool Finished() const override { return done_; }
  std::string Outcome() const override { return outcome_; }

 private:
  AppConfigCanaryOptions options_;
  SimContext ctx_;
  std::vector<double> steps_;  // cumulative shares
  size_t next_step_ = 0;
  std::vector<int64_t> sent_;
  double window_errors_ = 0;
  double window_checkins_ = 0;
  int64_t window_start_ = 0;
  bool done_ = false;
  std::string outcome_ = "running";
};

// Argo Rollouts canary with background analysis: setWeight 20/40/60/80 with 10-minute pauses, then
// 100%. An AnalysisTemplate measures the canary's success rate every minute (successCondition
// result >= 0.95); the rollout aborts (back to 0%) after `failure_limit` failed measurements, or
// after `consecutive_error_limit` measurements without data (Argo's default 4).
struct ArgoThresholdOptions {
  std::vector<double> weights = {0.2, 0.4, 0.6, 0.8, 1.0};
  int64_t pause_micros = 10 * 60'000'000LL;
  int64_t interval_micros = 60'000'000;
  double min_success_rate = 0.95;
  int failure_limit = 3;
  int consecutive_error_limit = 4;
};
class ArgoThresholdPolicy final : public RolloutPolicy {
 public:
  explicit ArgoThresholdPolicy(ArgoThresholdOptions options = {});
  std::string_view name() const override { return "argo-threshold"; }
  Status Start(const SimContext& ctx, PolicyAction& action) override;
  Status OnTick(const Telemetry& telemetry, PolicyAction& action) override;
  bool Finished() const override { return done_; }
  std::string Outcome() const override { return outcome_; }

 private:
  ArgoThresholdOptions options_;
  SimContext ctx_;
  size_t step_ = 0;
  std::vector<int64_t> sent_;
  double window_errors_ = 0;
  double window_checkins_ = 0;
  int64_t window_start_ = 0;
  int failures_ = 0;
  int consecutive_errors_ = 0;
  bool done_ = false;
  std::string outcome_ = "running";
};

// Spinnaker/Kayenta canary analysis: a canary cohort is judged against unexposed devices at fixed
// intervals by the NetflixACAJudge: per metric (crash rate, error rate, one point per minute per
// arm) a Mann-Whitney confidence interval for the shift (confidence 0.98); "High" when its lower
// bound exceeds `effect_fraction` x |Hodges-Lehmann estimate|. Both metrics are critical, so any High
// fails the judgement and rolls the canary back. A metric with no data passes. After
// `lifetime_micros` of passing judgements the release goes to 100%.
struct KayentaOptions {
  double canary_share = 0.01;
  int64_t interval_micros = 20 * 60'000'000LL;
  int64_t lifetime_micros = 60 * 60'000'000LL;
  int64_t point_micros = 60'000'000;  // one time-series point per arm per minute
  double confidence = 0.98;
  double effect_fraction = 0.25;
};
class KayentaPolicy final : public RolloutPolicy {
 public:
  explicit KayentaPolicy(KayentaOptions options = {});
  std::string_view name() const override { return "kayenta"; }
  Status Start(const SimContext& ctx, PolicyAction& action) override;
  Status OnTick(const Telemetry& telemetry, PolicyAction& action) override;
  bool Finished() const override { return done_; }
  std::string Outcome() const override { return outcome_; }

 private:
  struct Point {
    double events = 0;
    double checkins = 0;
  };
  KayentaOptions options_;
  SimContext ctx_;
  std::vector<int64_t> sent_;
  // Per metric (crash, error) and arm (0 = canary, 1 = baseline): the current point and the
  // interval's finished points (rates).
  Point current_[2][2];
  std::vector<double> points_[2][2];
  int64_t point_start_ = 0;
  int64_t interval_start_ = 0;
  bool promoted_ = false;
  bool done_ = false;
  std::string outcome_ = "running";
};

// Apple App Store phased release for automatic updates: 1, 2, 5, 10, 20, 50, 100% of the fleet on
// days 1 to 7. No automatic halt (a person may pause it; the simulator has no person).
struct PhasedReleaseOptions {
  std::vector<double> shares = {0.01, 0.02, 0.05, 0.10, 0.20, 0.50, 1.0};
  int64_t step_micros = 24 * 3600'000'000LL;
};
class PhasedReleasePolicy final : public RolloutPolicy {
 public:
  explicit PhasedReleasePolicy(PhasedReleaseOptions options = {});
  std::string_view name() const override { return "phased-7day"; }
  Status Start(const SimContext& ctx, PolicyAction& action) override;
  Status OnTick(const Telemetry& telemetry, PolicyAction& action) override;
  bool Finished() const override { return next_step_ >= options_.shares.size(); }
  std::string Outcome() const override { return "completed (no automatic halt)"; }

 private:
  PhasedReleaseOptions options_;
  SimContext ctx_;
  size_t next_step_ = 0;
  std::vector<int64_t> sent_;
};

// Kayenta's classification of one metric, exposed for tests: Mann-Whitney confidence interval of
// the location shift experiment - control (Hodges-Lehmann, normal approximation for the order
// statistic) at `confidence`; true ("High") when its lower bound exceeds fraction x |estimate|.
// Empty inputs, identical inputs, or too few points for the interval classify as not High.
bool MannWhitneyHigh(const std::vector<double>& experiment, const std::vector<double>& control,
                     double confidence, double fraction);

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_BASELINE_POLICIES_H_
