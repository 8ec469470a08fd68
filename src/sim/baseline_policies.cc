#include "sim/baseline_policies.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include <boost/math/distributions/normal.hpp>

#include "sim/engine.h"

namespace rf::sim {
namespace {

constexpr int kCrash = static_cast<int>(FailureSignal::kCrash);
constexpr int kError = static_cast<int>(FailureSignal::kError);

// Raises every eligible class to `share` of its devices (rounded), counting what was sent before.
void DispatchShare(const SimContext& ctx, double share, std::vector<int64_t>& sent,
                   PolicyAction& action) {
  for (size_t c = 0; c < ctx.classes.size(); ++c) {
    if (!ctx.classes[c].eligible) continue;
    const auto target = std::min<int64_t>(
        ctx.classes[c].devices,
        static_cast<int64_t>(std::llround(share * static_cast<double>(ctx.classes[c].devices))));
    if (target > sent[c]) {
      action.dispatch[c] += target - sent[c];
      sent[c] = target;
    }
  }
}

std::string Percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", share * 100);
  return buf;
}

std::string Rate(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", r);
  return buf;
}

}  // namespace

// ----- all-at-once -----

Status AllAtOncePolicy::Start(const SimContext& ctx, PolicyAction& action) {
  std::vector<int64_t> sent(ctx.classes.size(), 0);
  DispatchShare(ctx, 1.0, sent, action);
  action.notes.push_back("dispatch 100% of eligible devices");
  return Status::Ok();
}

// ----- appconfig-canary -----

AppConfigCanaryPolicy::AppConfigCanaryPolicy(AppConfigCanaryOptions options)
    : options_(std::move(options)) {}

Status AppConfigCanaryPolicy::Start(const SimContext& ctx, PolicyAction& action) {
  if (!(options_.growth_factor > 0 && options_.growth_factor <= 1) ||
      options_.alarm_period_micros <= 0 || options_.deployment_micros < 0) {
    return Status::InvalidArgument("appconfig-canary: bad options");
  }
  ctx_ = ctx;
  sent_.assign(ctx.classes.size(), 0);
  // G·2^n until everyone: 10, 20, 40, 80, 100%.
  for (double s = options_.growth_factor; ; s *= 2) {
    steps_.push_back(std::min(1.0, s));
    if (s >= 1.0) break;
  }
  DispatchShare(ctx_, steps_[0], sent_, action);
  action.notes.push_back("deployment step 1: " + Percent(steps_[0]));
  next_step_ = 1;
  return Status::Ok();
}

Status AppConfigCanaryPolicy::OnTick(const Telemetry& t, PolicyAction& action) {
  if (done_) return Status::Ok();
  const int64_t now = t.now_micros;
  // Steps are spread evenly over the deployment.
  const auto n = static_cast<int64_t>(steps_.size());
  while (next_step_ < steps_.size() &&
         now >= static_cast<int64_t>(next_step_) * options_.deployment_micros / n) {
    DispatchShare(ctx_, steps_[next_step_], sent_, action);
    action.notes.push_back("deployment step " + std::to_string(next_step_ + 1) + ": " +
                           Percent(steps_[next_step_]));
    ++next_step_;
  }
  // The alarm: the application's error rate, fleet-wide (AppConfig knows no canary/control split).
  for (size_t c = 0; c < t.classes.size(); ++c) {
    if (!ctx_.classes[c].eligible) continue;
    for (const ArmTelemetry* arm : {&t.classes[c].treated, &t.classes[c].control}) {
      window_errors_ += static_cast<double>(arm->events[kCrash] + arm->events[kError]);
      window_checkins_ += arm->checkins;
    }
  }
  if (now - window_start_ >= options_.alarm_period_micros) {
    const double rate = window_checkins_ > 0 ? window_errors_ / window_checkins_ : 0;
    window_start_ = now;
    window_errors_ = window_checkins_ = 0;
    if (rate > options_.alarm_error_rate) {
      action.rollback = true;
      done_ = true;
      outcome_ = "rolled back: alarm, fleet error rate " + Rate(rate) + " > " +
                 Rate(options_.alarm_error_rate);
      action.notes.push_back("ALARM -> " + outcome_);
      return Status::Ok();
    }
  }
  if (now >= options_.deployment_micros + options_.bake_micros) {
    done_ = true;
    outcome_ = "completed";
    action.notes.push_back("bake over without alarm: deployment complete");
  }
  return Status::Ok();
}

// ----- argo-threshold -----

ArgoThresholdPolicy::ArgoThresholdPolicy(ArgoThresholdOptions options)
    : options_(std::move(options)) {}

Status ArgoThresholdPolicy::Start(const SimContext& ctx, PolicyAction& action) {
  if (options_.weights.empty() || options_.weights.back() != 1.0 ||
      options_.interval_micros <= 0) {
    return Status::InvalidArgument("argo-threshold: weights must end at 1.0, interval > 0");
  }
  ctx_ = ctx;
  sent_.assign(ctx.classes.size(), 0);
  DispatchShare(ctx_, options_.weights[0], sent_, action);
  action.notes.push_back("setWeight " + Percent(options_.weights[0]));
  step_ = 1;
  if (options_.weights.size() == 1) {
    done_ = true;
    outcome_ = "completed";
  }
  return Status::Ok();
}

Status ArgoThresholdPolicy::OnTick(const Telemetry& t, PolicyAction& action) {
  if (done_) return Status::Ok();
  const int64_t now = t.now_micros;
  // Background analysis of the canary (exposed devices) only.
  for (size_t c = 0; c < t.classes.size(); ++c) {
    if (!ctx_.classes[c].eligible) continue;
    const ArmTelemetry& arm = t.classes[c].treated;
    window_errors_ += static_cast<double>(arm.events[kCrash] + arm.events[kError]);
    window_checkins_ += arm.checkins;
  }
  if (now - window_start_ >= options_.interval_micros) {
    const bool no_data = window_checkins_ <= 0;
    const double success = no_data ? 0 : 1 - window_errors_ / window_checkins_;
    window_start_ = now;
    window_errors_ = window_checkins_ = 0;
    if (no_data) {
      if (++consecutive_errors_ >= options_.consecutive_error_limit) {
        action.rollback = true;
        done_ = true;
        outcome_ = "aborted: " + std::to_string(consecutive_errors_) +
                   " consecutive measurements without data";
        action.notes.push_back(outcome_);
        return Status::Ok();
      }
    } else {
      consecutive_errors_ = 0;
      if (success < options_.min_success_rate) {
        ++failures_;
        action.notes.push_back("measurement failed: success rate " + Rate(success));
        if (failures_ >= options_.failure_limit) {
          action.rollback = true;
          done_ = true;
          outcome_ = "aborted: " + std::to_string(failures_) + " failed measurements";
          action.notes.push_back(outcome_);
          return Status::Ok();
        }
      }
    }
  }
  if (step_ < options_.weights.size() &&
      now >= static_cast<int64_t>(step_) * options_.pause_micros) {
    DispatchShare(ctx_, options_.weights[step_], sent_, action);
    action.notes.push_back("setWeight " + Percent(options_.weights[step_]));
    if (++step_ == options_.weights.size()) {
      done_ = true;
      outcome_ = "completed";
    }
  }
  return Status::Ok();
}

// ----- kayenta -----

bool MannWhitneyHigh(const std::vector<double>& experiment, const std::vector<double>& control,
                     double confidence, double fraction) {
  if (experiment.empty() || control.empty() || experiment == control) return false;
  std::vector<double> diffs;
  diffs.reserve(experiment.size() * control.size());
  for (double x : experiment) {
    for (double y : control) diffs.push_back(x - y);
  }
  std::sort(diffs.begin(), diffs.end());
  const size_t nm = diffs.size();
  const double estimate =
      nm % 2 == 1 ? diffs[nm / 2] : 0.5 * (diffs[nm / 2 - 1] + diffs[nm / 2]);
  const double n = static_cast<double>(experiment.size());
  const double m = static_cast<double>(control.size());
  const double z = boost::math::quantile(boost::math::normal(), 0.5 + confidence / 2);
  const double k = std::floor(n * m / 2 - z * std::sqrt(n * m * (n + m + 1) / 12));
  if (k < 1) return false;  // too few points for an interval at this confidence
  const double lower = diffs[static_cast<size_t>(k) - 1];
  return lower > fraction * std::fabs(estimate);
}

KayentaPolicy::KayentaPolicy(KayentaOptions options) : options_(std::move(options)) {}

Status KayentaPolicy::Start(const SimContext& ctx, PolicyAction& action) {
  if (!(options_.canary_share > 0 && options_.canary_share < 1) || options_.interval_micros <= 0 ||
      options_.point_micros <= 0) {
    return Status::InvalidArgument("kayenta: bad options");
  }
  ctx_ = ctx;
  sent_.assign(ctx.classes.size(), 0);
  DispatchShare(ctx_, options_.canary_share, sent_, action);
  action.notes.push_back("canary " + Percent(options_.canary_share));
  return Status::Ok();
}

Status KayentaPolicy::OnTick(const Telemetry& t, PolicyAction& action) {
  if (done_) return Status::Ok();
  const int64_t now = t.now_micros;
  const int metrics[2] = {kCrash, kError};
  for (size_t c = 0; c < t.classes.size(); ++c) {
    if (!ctx_.classes[c].eligible) continue;
    for (int m = 0; m < 2; ++m) {
      current_[m][0].events += static_cast<double>(t.classes[c].treated.events[metrics[m]]);
      current_[m][0].checkins += t.classes[c].treated.checkins;
      current_[m][1].events += static_cast<double>(t.classes[c].control.events[metrics[m]]);
      current_[m][1].checkins += t.classes[c].control.checkins;
    }
  }
  if (now - point_start_ >= options_.point_micros) {
    point_start_ = now;
    for (int m = 0; m < 2; ++m) {
      for (int arm = 0; arm < 2; ++arm) {
        // A series with no reports has no point: no data.
        if (current_[m][arm].checkins > 0) {
          points_[m][arm].push_back(current_[m][arm].events / current_[m][arm].checkins);
        }
        current_[m][arm] = {};
      }
    }
  }
  if (now - interval_start_ >= options_.interval_micros) {
    interval_start_ = now;
    const char* names[2] = {"crash rate", "error rate"};
    for (int m = 0; m < 2; ++m) {
      const bool high = MannWhitneyHigh(points_[m][0], points_[m][1], options_.confidence,
                                        options_.effect_fraction);
      if (high) {
        action.rollback = true;
        done_ = true;
        outcome_ = std::string("rolled back: judgement failed, critical metric '") + names[m] +
                   "' High";
        action.notes.push_back(outcome_);
        return Status::Ok();
      }
    }
    action.notes.push_back("judgement passed (" + std::to_string(points_[0][0].size()) +
                           " canary points)");
    for (auto& metric : points_) {
      for (auto& arm : metric) arm.clear();
    }
    if (now >= options_.lifetime_micros) {
      DispatchShare(ctx_, 1.0, sent_, action);
      action.notes.push_back("canary passed: dispatch 100%");
      done_ = true;
      outcome_ = "completed";
    }
  }
  return Status::Ok();
}

// ----- phased-7day -----

PhasedReleasePolicy::PhasedReleasePolicy(PhasedReleaseOptions options)
    : options_(std::move(options)) {}

Status PhasedReleasePolicy::Start(const SimContext& ctx, PolicyAction& action) {
  if (options_.shares.empty() || options_.shares.back() != 1.0 || options_.step_micros <= 0) {
    return Status::InvalidArgument("phased-7day: shares must end at 1.0, step > 0");
  }
  ctx_ = ctx;
  sent_.assign(ctx.classes.size(), 0);
  return OnTick(Telemetry{}, action);
}

Status PhasedReleasePolicy::OnTick(const Telemetry& t, PolicyAction& action) {
  while (next_step_ < options_.shares.size() &&
         t.now_micros >= static_cast<int64_t>(next_step_) * options_.step_micros) {
    DispatchShare(ctx_, options_.shares[next_step_], sent_, action);
    action.notes.push_back("day " + std::to_string(next_step_ + 1) + ": " +
                           Percent(options_.shares[next_step_]));
    ++next_step_;
  }
  return Status::Ok();
}

}  // namespace rf::sim
