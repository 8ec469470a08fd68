#include "rollout/driver.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace rf::rollout {
namespace {

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

MetricSpec SpecFor(Signal s) {
  switch (s) {
    case Signal::kSilence:
      return MetricSpec::Silence();
    case Signal::kCrash:
      return MetricSpec::Crash();
    case Signal::kError:
      return MetricSpec::ErrorIncidence();
  }
  return MetricSpec::Silence();
}

bool Live(Phase p) {
  return p == Phase::kDispatching || p == Phase::kBaking || p == Phase::kPaused;
}

// Kullback-Leibler divergence of Bernoulli(q) from Bernoulli(p), 0 <= q < p < 1.
double BernoulliKl(double q, double p) {
  double kl = (1 - q) * std::log((1 - q) / (1 - p));
  if (q > 0) kl += q * std::log(q / p);
  return kl;
}

}  // namespace

std::string FormatDuration(int64_t micros) {
  const bool negative = micros < 0;
  const int64_t s = (negative ? -micros : micros) / 1'000'000;
  char buf[40];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%s%lld:%02lld:%02lld", negative ? "-" : "",
                  static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%s%02lld:%02lld", negative ? "-" : "",
                  static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buf;
}

Result<std::unique_ptr<ReleaseDriver>> ReleaseDriver::Create(const Plan& plan, Cohorts cohorts,
                                                             DriverOptions options) {
  std::vector<MetricSpec> metrics;
  std::array<int, kSignalCount> metric_of;
  metric_of.fill(-1);
  for (Signal s : plan.gate.signals) {
    metric_of[static_cast<int>(s)] = static_cast<int>(metrics.size());
    metrics.push_back(SpecFor(s));
  }
  GateOptions gate_options = options.gate;
  gate_options.alpha = plan.gate.alpha;
  const int strata = std::max(1, cohorts.stratum_count());
  RF_ASSIGN_OR_RETURN(SequentialGate gate,
                      SequentialGate::Create(std::move(metrics), strata, gate_options));
  return std::unique_ptr<ReleaseDriver>(
      new ReleaseDriver(plan, std::move(cohorts), std::move(options),
                        std::make_unique<SequentialGate>(std::move(gate)), metric_of));
}

ReleaseDriver::ReleaseDriver(Plan plan, Cohorts cohorts, DriverOptions options,
                             std::unique_ptr<SequentialGate> gate,
                             std::array<int, kSignalCount> metric_of)
    : plan_(std::move(plan)),
      cohorts_(std::move(cohorts)),
      options_(std::move(options)),
      gate_(std::move(gate)),
      metric_of_(metric_of) {
  for (int w = 0; w < WaveCount(plan_); ++w) {
    max_bake_micros_ = std::max(max_bake_micros_, WaveBakeMicros(plan_, w));
  }
}

std::string ReleaseDriver::StratumName(int stratum) const {
  if (stratum < 0 || stratum >= cohorts_.stratum_count()) return "pooled";
  const std::string& key = cohorts_.stratum_key(stratum);
  return key.empty() ? "(all)" : key;
}

std::string ReleaseDriver::PendingPromotionText() const {
  if (not_yet_count_ == 0) return "";
  return "promotion refused " + std::to_string(not_yet_count_) + " times: " + last_not_yet_;
}

bool ReleaseDriver::SampleRatioMismatch(std::span<const StratumTelemetry> strata) const {
  if (options_.srm_alpha <= 0 || strata.size() < 2) return false;
  int64_t treated = 0, applied = 0;
  for (const StratumTelemetry& t : strata) {
    treated += t.treated;
    applied += std::min(t.applied, t.treated);
  }
  const double level = std::log(static_cast<double>(strata.size()) / options_.srm_alpha);
  for (const StratumTelemetry& t : strata) {
    const int64_t rest_treated = treated - t.treated;
    if (t.treated < options_.srm_min_treated || rest_treated < options_.srm_min_treated) continue;
    const int64_t a = std::min(t.applied, t.treated);
    // The other strata's acknowledged share (smoothed: never 0 or 1), less the tolerance.
    const double p = (static_cast<double>(applied - a) + 0.5) / (static_cast<double>(rest_treated) + 1) -
                     options_.srm_tolerance;
    const double q = static_cast<double>(a) / static_cast<double>(t.treated);
    if (p <= 0 || q >= p) continue;
    // Chernoff: P(Binomial(n, p) <= n q) <= exp(-n KL(q || p)).
    if (static_cast<double>(t.treated) * BernoulliKl(q, p) > level) return true;
  }
  return false;
}

Status ReleaseDriver::Observe(const DriverTick& tick) {
  const int strata = cohorts_.stratum_count();
  if (static_cast<int>(tick.strata.size()) != strata) {
    return Status::InvalidArgument("driver tick has " + std::to_string(tick.strata.size()) +
                                   " strata, the cohorts have " + std::to_string(strata));
  }
  if (tick.observed_micros > tick.now_micros) {
    return Status::InvalidArgument("driver tick observed after now");
  }
  int64_t treated = 0, applied = 0, silent = 0;
  for (const StratumTelemetry& t : tick.strata) {
    bool negative = t.treated_at_risk < 0 || t.control_at_risk < 0 || t.treated < 0 ||
                    t.applied < 0 || t.treated_silent < 0;
    for (int k = 0; k < kSignalCount; ++k) {
      negative |= t.treated_events[k] < 0 || t.control_events[k] < 0;
    }
    if (negative) return Status::InvalidArgument("driver tick has a negative count");
    treated += t.treated;
    applied += t.applied;
    silent += t.treated_silent;
  }
  for (int s = 0; s < strata; ++s) {
    const StratumTelemetry& t = tick.strata[s];
    RF_RETURN_IF_ERROR(gate_->SetAtRisk(s, t.treated_at_risk, t.control_at_risk));
    for (int k = 0; k < kSignalCount; ++k) {
      if (metric_of_[k] < 0) continue;
      RF_RETURN_IF_ERROR(gate_->AddCountEvents(metric_of_[k], s,
                                               std::min(t.treated_events[k], t.treated_at_risk),
                                               std::min(t.control_events[k], t.control_at_risk)));
    }
  }
  gate_->Tick();

  treated_ = treated;
  applied_ = applied;
  applied_history_.emplace_back(tick.observed_micros, applied);
  // Entries older than any bake can ask about (keeping the newest of those) are dropped.
  const int64_t oldest = tick.now_micros - 2 * max_bake_micros_ - 60'000'000;
  while (applied_history_.size() > 2 && applied_history_[1].first < oldest) {
    applied_history_.pop_front();
  }
  health_ = HealthSignals{};
  health_.telemetry_lag_seconds = tick.telemetry_lag_seconds;
  health_.treated_devices = treated;
  health_.treated_without_data = silent;
  health_.sample_ratio_mismatch = SampleRatioMismatch(tick.strata);
  return Status::Ok();
}

int64_t ReleaseDriver::BakedDevices(int64_t bake_micros, int64_t now) const {
  // Devices that had applied by (now - bake): watched for the whole bake.
  const int64_t until = now - bake_micros;
  for (auto it = applied_history_.rbegin(); it != applied_history_.rend(); ++it) {
    if (it->first <= until) return it->second;
  }
  return 0;
}

int64_t ReleaseDriver::MaxHoldMicros(int wave) const {
  if (wave < 0 || wave >= WaveCount(plan_)) return 0;
  return static_cast<int64_t>(std::llround(options_.max_promotion_hold_bakes *
                                           static_cast<double>(WaveBakeMicros(plan_, wave))));
}

Status ReleaseDriver::Apply(const Event& event, int64_t now, ReleaseState& state,
                            TransitionPort& port, DriverOutput* out) {
  RF_ASSIGN_OR_RETURN(TransitionResult r, port.Apply(event, now));
  state = r.state;
  // The clock of a gate hold (for its page): from the transition that set it until one clears it.
  if (state.gate_hold && gate_hold_since_ < 0) {
    gate_hold_since_ = now;
    gate_hold_paged_ = false;
  } else if (!state.gate_hold) {
    gate_hold_since_ = -1;
    gate_hold_paged_ = false;
  }
  std::vector<int> promotions;
  for (const Effect& e : r.effects) {
    if (e.kind == EffectKind::kRequestPromotion) promotions.push_back(e.wave);
  }
  out->transitions.push_back({event, std::move(r)});
  for (int wave : promotions) RF_RETURN_IF_ERROR(AnswerPromotion(wave, now, state, port, out));
  return Status::Ok();
}

Status ReleaseDriver::Step(const DriverTick& tick, ReleaseState state, TransitionPort& port,
                           DriverOutput* out) {
  RF_RETURN_IF_ERROR(Observe(tick));
  out->health = health_;
  if (!Live(state.phase)) return Status::Ok();
  const int64_t now = tick.now_micros;

  // Decisions during the wave: HALT > HOLD > CONTINUE.
  const Decision d = gate_->Decide(health_);
  out->gate_detail = DescribeDecision(d, gate_->metrics());
  if (d.verdict == Verdict::kHalt) {
    out->gate_state = "halt";
    std::string why = out->gate_detail;
    if (d.test.stratum >= 0) why += " [" + StratumName(d.test.stratum) + "]";
    out->notes.push_back(why);
    return Apply(Event::GateHalt(why), now, state, port, out);
  }
  if (d.verdict == Verdict::kHold) {
    out->gate_state = "hold";
    // Time held for another reason is not time held on the promotion bound.
    if (bound_hold_since_ >= 0) {
      bound_hold_micros_ += now - bound_hold_since_;
      bound_hold_since_ = -1;
    }
    if (!state.gate_hold) {
      out->notes.push_back(out->gate_detail);
      RF_RETURN_IF_ERROR(Apply(Event::GateHold(out->gate_detail), now, state, port, out));
    } else {
      if (gate_hold_since_ < 0) gate_hold_since_ = now;  // e.g. held before a restart
      const int64_t max_hold = MaxHoldMicros(state.wave);
      if (max_hold > 0 && !gate_hold_paged_ && now - gate_hold_since_ >= max_hold) {
        gate_hold_paged_ = true;
        Event page = Event::GateHold("held " + FormatDuration(now - gate_hold_since_) +
                                     " by the gate in wave " + std::to_string(state.wave) +
                                     " '" + WaveName(plan_, state.wave) + "': " + out->gate_detail);
        page.page = true;
        RF_RETURN_IF_ERROR(Apply(page, now, state, port, out));
      }
    }
  } else {
    out->gate_state = "watching";
    if (state.phase == Phase::kPaused && state.gate_hold) {
      // The cause of the hold is gone: a gate answer clears it.
      out->notes.push_back("hold cleared");
      RF_RETURN_IF_ERROR(Apply(Event::GatePromoteNotYet(state.wave), now, state, port, out));
    }
  }

  // Timers: dispatch window end, bake end (RequestPromotion, answered at once).
  if (!IsFinished(state)) {
    const std::optional<int64_t> due = NextDeadline(state);
    if (due && *due <= now) RF_RETURN_IF_ERROR(Apply(Event::Tick(), now, state, port, out));
  }
  return Status::Ok();
}

std::string ReleaseDriver::NotYetText(const Decision& d, const BakeSummary& bake) const {
  if (d.reason != Reason::kPromotionBoundNotMet && d.reason != Reason::kInsufficientExposure) {
    return DescribeDecision(d, gate_->metrics());
  }
  std::string why = std::string(ReasonName(d.reason)) + ": " +
                    (d.metric >= 0 ? gate_->metric(d.metric).name + " " : std::string()) +
                    Fmt("%.3g", d.value) + " vs limit " + Fmt("%.3g", d.limit) + " (n_H=" +
                    std::to_string(bake.baked_devices) + ", next wave " +
                    std::to_string(bake.next_wave_devices);
  if (d.reason == Reason::kPromotionBoundNotMet) {
    why += ", budget " + Fmt("%.3g", d.bound.budget) + ", " +
           std::to_string(d.bound.treated_events) + " treated events, background >= " +
           Fmt("%.3g", d.bound.background_lcb);
  }
  return why + ")";
}

Status ReleaseDriver::AnswerPromotion(int wave, int64_t now, ReleaseState& state,
                                      TransitionPort& port, DriverOutput* out) {
  BakeSummary bake;
  bake.baked_devices = BakedDevices(WaveBakeMicros(plan_, wave), now);
  double expected = 0, next = 0;
  for (int s = 0; s < cohorts_.stratum_count(); ++s) {
    expected += cohorts_.ExpectedExposed(s, wave);
    if (wave + 1 < cohorts_.wave_count()) {
      next += cohorts_.ExpectedExposed(s, wave + 1) - cohorts_.ExpectedExposed(s, wave);
    }
  }
  bake.min_baked_devices = static_cast<int64_t>(std::ceil(options_.min_baked_share * expected));
  bake.next_wave_devices = static_cast<int64_t>(std::llround(next));
  // The hold clock of the promotion bound runs between consecutive "bound not met" answers.
  if (bound_hold_wave_ != wave) {
    bound_hold_wave_ = wave;
    bound_hold_micros_ = 0;
    bound_hold_since_ = -1;
  }
  bake.promotion_hold_micros =
      bound_hold_micros_ + (bound_hold_since_ >= 0 ? now - bound_hold_since_ : 0);
  bake.max_promotion_hold_micros = MaxHoldMicros(wave);
  const Decision d = gate_->DecideAtBakeEnd(health_, bake);
  if (d.reason == Reason::kPromotionBoundNotMet) {
    bound_hold_micros_ = bake.promotion_hold_micros;
    bound_hold_since_ = now;
  } else if (bound_hold_since_ >= 0) {
    bound_hold_micros_ += now - bound_hold_since_;
    bound_hold_since_ = -1;
  }
  if (d.reason != Reason::kInsufficientExposure) exposure_hold_since_ = -1;
  const std::string wave_name = WaveName(plan_, wave);
  const std::string described = DescribeDecision(d, gate_->metrics());
  out->gate_detail = described;

  switch (d.verdict) {
    case Verdict::kPromote: {
      out->gate_state = "promote";
      if (not_yet_count_ > 0 && not_yet_wave_ == wave) {
        out->notes.push_back("promotion of '" + wave_name + "' was refused " +
                             std::to_string(not_yet_count_) + " times before");
      }
      not_yet_count_ = 0;
      out->notes.push_back("PROMOTE '" + wave_name + "' (n_H=" +
                           std::to_string(bake.baked_devices) + ", next wave " +
                           std::to_string(bake.next_wave_devices) + " devices)" +
                           (d.reason == Reason::kPromotionBoundMet && d.metric >= 0
                                ? ": " + described
                                : std::string()));
      Event promote = Event::GatePromoteOk(wave);
      if (d.reason == Reason::kPromotionBoundWaived) {
        // Paged and audited by the transition (Event::page).
        promote.reason = "promotion of '" + wave_name + "' held " +
                         FormatDuration(bake.promotion_hold_micros) +
                         " on the promotion bound, waived: " + described + " (n_H=" +
                         std::to_string(bake.baked_devices) + ")";
        promote.page = true;
      }
      return Apply(promote, now, state, port, out);
    }
    case Verdict::kHalt:
      out->gate_state = "halt";
      return Apply(Event::GateHalt(described, wave), now, state, port, out);
    case Verdict::kHold:
    case Verdict::kContinue:
      break;
  }
  // Not enough evidence to promote: the release asks again at the next Tick.
  out->gate_state = "hold";
  const std::string why = NotYetText(d, bake);
  if (not_yet_wave_ != wave) {
    not_yet_wave_ = wave;
    not_yet_count_ = 0;
    out->notes.push_back("promotion of '" + wave_name + "' not yet: " + why);
  }
  ++not_yet_count_;
  last_not_yet_ = why;
  if (d.verdict == Verdict::kHold && d.reason != Reason::kPromotionBoundNotMet &&
      d.reason != Reason::kInsufficientExposure) {
    return Apply(Event::GateHold(why, wave), now, state, port, out);
  }
  Event not_yet = Event::GatePromoteNotYet(wave);
  if (d.reason == Reason::kInsufficientExposure) {
    // Not waived (docs/gate.md): n_H still grows as late devices finish their bake, and if it
    // does not, devices are not applying the release. After the maximum hold, page once.
    if (exposure_hold_since_ < 0) exposure_hold_since_ = now;
    if (bake.max_promotion_hold_micros > 0 && exposure_paged_wave_ != wave &&
        now - exposure_hold_since_ >= bake.max_promotion_hold_micros) {
      exposure_paged_wave_ = wave;
      not_yet.reason = "promotion of '" + wave_name + "' held " +
                       FormatDuration(now - exposure_hold_since_) + " on " + why;
      not_yet.page = true;
    }
  }
  return Apply(not_yet, now, state, port, out);
}

DriverMemory ReleaseDriver::Memory(int64_t now) const {
  DriverMemory m;
  m.applied_history.assign(applied_history_.begin(), applied_history_.end());
  m.bound_hold_wave = bound_hold_wave_;
  m.bound_hold_micros = bound_hold_micros_ + (bound_hold_since_ >= 0 ? now - bound_hold_since_ : 0);
  m.bound_hold_running = bound_hold_since_ >= 0;
  m.exposure_hold_since = exposure_hold_since_;
  m.exposure_paged_wave = exposure_paged_wave_;
  m.gate_hold_since = gate_hold_since_;
  m.gate_hold_paged = gate_hold_paged_;
  return m;
}

Status ReleaseDriver::Restore(std::string_view gate_text, const DriverMemory& m, int64_t now) {
  RF_RETURN_IF_ERROR(gate_->RestoreState(gate_text));
  applied_history_.assign(m.applied_history.begin(), m.applied_history.end());
  applied_ = applied_history_.empty() ? 0 : applied_history_.back().second;
  bound_hold_wave_ = m.bound_hold_wave;
  bound_hold_micros_ = m.bound_hold_micros;
  bound_hold_since_ = m.bound_hold_running ? now : -1;
  exposure_hold_since_ = m.exposure_hold_since;
  exposure_paged_wave_ = m.exposure_paged_wave;
  gate_hold_since_ = m.gate_hold_since;
  gate_hold_paged_ = m.gate_hold_paged;
  return Status::Ok();
}

}  // namespace rf::rollout
