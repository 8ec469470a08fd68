#include "sim/ringfence_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "sim/engine.h"
#include "sim/sampling.h"

namespace rf::sim {

using rollout::Event;
using rollout::Phase;
using rollout::Verdict;

// How many of a class's devices have a rank below a (non-decreasing) cutoff, without storing the
// class's ranks. Every rank was drawn (RankHasher) and given to the CohortAssigner; we keep only
// the K smallest non-holdback ranks (K > the plan's largest floor) and the number of holdback ranks.
// Given those, the other non-holdback ranks are i.i.d. uniform on (r_K, h) and the holdback ranks
// i.i.d. uniform on [h, 1), so counts below a rising cutoff are exact binomial increments. Floors
// need exact order statistics and get them: a floor cutoff lies at or below every class's r_K.
struct RingfencePolicy::ClassRanks {
  int stratum = -1;
  std::vector<double> smallest;  // max-heap while adding; ascending after Finish()
  size_t capacity = 0;           // K
  int64_t non_holdback = 0;
  int64_t holdback = 0;
  double h = 1.0;  // holdback cutoff

  int64_t middle = 0;  // non-holdback ranks above smallest.back()
  double middle_from = 0;
  int64_t middle_taken = 0;
  double holdback_from = 1.0;
  int64_t holdback_taken = 0;
  double last_cutoff = 0;
  int64_t counted = 0;

  void Add(double rank) {
    if (rank >= h) {
      ++holdback;
      return;
    }
    ++non_holdback;
    if (smallest.size() < capacity) {
      smallest.push_back(rank);
      std::push_heap(smallest.begin(), smallest.end());
    } else if (rank < smallest.front()) {
      std::pop_heap(smallest.begin(), smallest.end());
      smallest.back() = rank;
      std::push_heap(smallest.begin(), smallest.end());
    }
  }

  void Finish() {
    std::sort_heap(smallest.begin(), smallest.end());
    middle = non_holdback - static_cast<int64_t>(smallest.size());
    middle_from = smallest.empty() ? 0.0 : smallest.back();
    holdback_from = h;
  }

  // Devices with rank < cutoff. REQUIRES: called with non-decreasing cutoffs.
  int64_t CountBelow(double cutoff, Random& rng) {
    if (cutoff <= last_cutoff) return counted;
    last_cutoff = cutoff;
    int64_t n = std::lower_bound(smallest.begin(), smallest.end(), cutoff) - smallest.begin();
    if (middle > 0 && !smallest.empty() && cutoff > smallest.back()) {
      const double hi = std::min(cutoff, h);
      if (hi >= h) {
        middle_taken = middle;
      } else if (hi > middle_from) {
        const double p = (hi - middle_from) / (h - middle_from);
        middle_taken += SampleBinomial(rng, middle - middle_taken, p);
        middle_from = hi;
      }
      n += middle_taken;
    }
    if (cutoff > h && holdback > 0) {
      const double hi = std::min(cutoff, 1.0);
      if (hi >= 1.0) {
        holdback_taken = holdback;
      } else if (hi > holdback_from) {
        const double p = (hi - holdback_from) / (1.0 - holdback_from);
        holdback_taken += SampleBinomial(rng, holdback - holdback_taken, p);
        holdback_from = hi;
      }
      n += holdback_taken;
    }
    counted = std::max(counted, n);
    return counted;
  }
};

namespace {

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

rollout::MetricSpec SpecFor(rollout::Signal s) {
  switch (s) {
    case rollout::Signal::kSilence:
      return rollout::MetricSpec::Silence();
    case rollout::Signal::kCrash:
      return rollout::MetricSpec::Crash();
    case rollout::Signal::kError:
      return rollout::MetricSpec::ErrorIncidence();
  }
  return rollout::MetricSpec::Silence();
}

FailureSignal EngineSignal(rollout::Signal s) {
  switch (s) {
    case rollout::Signal::kSilence:
      return FailureSignal::kSilence;
    case rollout::Signal::kCrash:
      return FailureSignal::kCrash;
    case rollout::Signal::kError:
      return FailureSignal::kError;
  }
  return FailureSignal::kSilence;
}

}  // namespace

RingfencePolicy::RingfencePolicy(rollout::Plan plan, RingfencePolicyOptions options)
    : plan_(std::move(plan)), options_(std::move(options)) {}

RingfencePolicy::~RingfencePolicy() = default;

bool RingfencePolicy::Finished() const { return rollout::IsFinished(state_); }

std::string RingfencePolicy::StratumName(int stratum) const {
  if (!cohorts_ || stratum < 0 || stratum >= cohorts_->stratum_count()) return "pooled";
  const std::string& key = cohorts_->stratum_key(stratum);
  return key.empty() ? "(all)" : key;
}

Status RingfencePolicy::Start(const SimContext& ctx, PolicyAction& action) {
  ctx_ = ctx;
  rng_ = std::make_unique<SeededRandom>(ctx.seed * 0xD1B54A32D192ED03ull + 0x7F);
  rollout::LintOptions lint;
  lint.fleet_size = ctx.eligible_devices;
  RF_RETURN_IF_ERROR(rollout::CheckPlan(plan_, lint));

  // Cohorts: rank every eligible device, exactly as the server would rank real device ids.
  rollout::CohortAssigner assigner(plan_);
  const rollout::RankHasher hasher(ctx.release_id);
  size_t capacity = 1;
  for (const rollout::Wave& w : plan_.waves) {
    capacity = std::max(capacity, static_cast<size_t>(std::max<int64_t>(0, w.min_per_stratum)) + 1);
  }
  ranks_.resize(ctx.classes.size());
  for (size_t c = 0; c < ctx.classes.size(); ++c) {
    const DeviceClass& dc = ctx.classes[c];
    if (!dc.eligible) continue;
    auto r = std::make_unique<ClassRanks>();
    r->stratum = assigner.AddStratum(rollout::StratumKey(plan_.stratify, dc.attrs));
    r->capacity = capacity;
    r->h = 1.0 - plan_.gate.holdback;  // as CohortAssigner computes it; checked after Build
    r->smallest.reserve(capacity);
    for (int64_t i = 0; i < dc.devices; ++i) {
      // Device id: 8 bytes, class index in the high bits.
      const uint64_t id = (static_cast<uint64_t>(c) << 40) | static_cast<uint64_t>(i);
      char bytes[8];
      std::memcpy(bytes, &id, sizeof bytes);
      const double rank = hasher.Rank(std::string_view(bytes, sizeof bytes));
      assigner.AddDevice(r->stratum, rank);
      r->Add(rank);
    }
    r->Finish();
    ranks_[c] = std::move(r);
  }
  RF_ASSIGN_OR_RETURN(rollout::Cohorts cohorts, assigner.Build());
  cohorts_.emplace(std::move(cohorts));
  std::vector<int64_t> held(cohorts_->stratum_count(), 0);
  for (const auto& r : ranks_) {
    if (r) held[r->stratum] += r->holdback;
  }
  for (int s = 0; s < cohorts_->stratum_count(); ++s) {
    if (held[s] != cohorts_->held_back(s)) {
      return Status::Internal("simulator and cohort module disagree on the holdback of stratum " +
                              StratumName(s));
    }
    held_back_ += held[s];
  }

  // The gate: one e-process per (metric, stratum), for the plan's signals.
  std::vector<rollout::MetricSpec> metrics;
  gate_metric_.assign(kNumSignals, -1);
  for (rollout::Signal s : plan_.gate.signals) {
    gate_metric_[static_cast<int>(EngineSignal(s))] = static_cast<int>(metrics.size());
    metrics.push_back(SpecFor(s));
  }
  rollout::GateOptions gate_options = options_.gate;
  gate_options.alpha = plan_.gate.alpha;
  RF_ASSIGN_OR_RETURN(rollout::SequentialGate gate,
                      rollout::SequentialGate::Create(std::move(metrics),
                                                      cohorts_->stratum_count(), gate_options));
  gate_ = std::make_unique<rollout::SequentialGate>(std::move(gate));

  sent_.assign(ctx.classes.size(), 0);
  state_ = rollout::NewRelease(plan_, ctx.release_id, 0);
  action.notes.push_back("plan '" + plan_.name + "': " + std::to_string(cohorts_->wave_count()) +
                         " waves, " + std::to_string(cohorts_->stratum_count()) +
                         " strata, holdback " + std::to_string(held_back_) + " devices");
  RF_RETURN_IF_ERROR(Handle(Event::Approved("sim"), 0, action));
  return Handle(Event::Start("sim"), 0, action);
}

rollout::HealthSignals RingfencePolicy::Health() const {
  rollout::HealthSignals h;
  h.telemetry_lag_seconds = static_cast<double>(ctx_.telemetry_lag_micros) / 1e6;
  h.treated_devices = treated_;
  h.treated_without_data = treated_silent_;
  return h;
}

int64_t RingfencePolicy::BakedDevices(int64_t bake_micros, int64_t now) const {
  // Devices that had applied by (now - bake): observed for the whole bake.
  const int64_t until = now - bake_micros;
  int64_t n = 0;
  for (auto it = applied_history_.rbegin(); it != applied_history_.rend(); ++it) {
    if (it->first <= until) {
      n = it->second;
      break;
    }
  }
  return n;
}

int64_t RingfencePolicy::BoundHoldMicros(int wave, int64_t now) const {
  if (wave != bound_hold_wave_) return 0;
  return bound_hold_micros_ + (bound_hold_since_ >= 0 ? now - bound_hold_since_ : 0);
}

void RingfencePolicy::StopBoundHoldClock(int64_t now) {
  if (bound_hold_since_ >= 0) {
    bound_hold_micros_ += now - bound_hold_since_;
    bound_hold_since_ = -1;
  }
}

Status RingfencePolicy::AnswerPromotion(int wave, int64_t now, PolicyAction& action) {
  rollout::BakeSummary bake;
  const int64_t bake_micros = rollout::WaveBakeMicros(plan_, wave);
  bake.baked_devices = BakedDevices(bake_micros, now);
  double expected = 0;
  double next = 0;
  for (int s = 0; s < cohorts_->stratum_count(); ++s) {
    expected += cohorts_->ExpectedExposed(s, wave);
    if (wave + 1 < cohorts_->wave_count()) {
      next += cohorts_->ExpectedExposed(s, wave + 1) - cohorts_->ExpectedExposed(s, wave);
    }
  }
  bake.min_baked_devices = static_cast<int64_t>(std::ceil(options_.min_baked_share * expected));
  bake.next_wave_devices = static_cast<int64_t>(std::llround(next));
  bake.promotion_hold_micros = BoundHoldMicros(wave, now);
  bake.max_promotion_hold_micros = static_cast<int64_t>(
      std::llround(options_.max_promotion_hold_bakes * static_cast<double>(bake_micros)));
  const rollout::Decision d = gate_->DecideAtBakeEnd(Health(), bake);
  const std::string wave_name = rollout::WaveName(plan_, wave);

  // The hold clock of the promotion bound runs between consecutive "bound not met" answers.
  if (bound_hold_wave_ != wave) {
    bound_hold_wave_ = wave;
    bound_hold_micros_ = 0;
    bound_hold_since_ = -1;
  }
  if (d.reason == rollout::Reason::kPromotionBoundNotMet) {
    bound_hold_micros_ = bake.promotion_hold_micros;
    bound_hold_since_ = now;
  } else {
    StopBoundHoldClock(now);
  }
  if (d.reason != rollout::Reason::kInsufficientExposure) exposure_hold_since_ = -1;

  switch (d.verdict) {
    case Verdict::kPromote:
      if (not_yet_count_ > 0 && not_yet_wave_ == wave) {
        action.notes.push_back("promotion of '" + wave_name + "' was refused " +
                               std::to_string(not_yet_count_) + " times before");
      }
      not_yet_count_ = 0;
      if (d.reason == rollout::Reason::kPromotionBoundWaived) {
        // The state machine has no event that pages on a promotion: the adapter pages and audits
        // the waiver itself, before promoting (as the server controller must).
        const std::string text =
            "release " + ctx_.release_id + ": promotion of '" + wave_name + "' held " +
            FormatSimTime(bake.promotion_hold_micros) + " on the promotion bound, waived: " +
            rollout::DescribeDecision(d, gate_->metrics()) + " (n_H=" +
            std::to_string(bake.baked_devices) + ")";
        action.notes.push_back("PAGE: " + text);
        action.notes.push_back(text);
      }
      action.notes.push_back("PROMOTE '" + wave_name + "' (n_H=" +
                             std::to_string(bake.baked_devices) + ", next wave " +
                             std::to_string(bake.next_wave_devices) + " devices)" +
                             (d.reason == rollout::Reason::kPromotionBoundMet && d.metric >= 0
                                  ? ": " + rollout::DescribeDecision(d, gate_->metrics())
                                  : std::string()));
      return Handle(Event::GatePromoteOk(wave), now, action);
    case Verdict::kHalt:
      return Handle(Event::GateHalt(rollout::DescribeDecision(d, gate_->metrics()), wave), now,
                    action);
    case Verdict::kHold:
    case Verdict::kContinue: {
      // Not enough evidence to promote: the machine asks again at the next Tick.
      std::string why = rollout::DescribeDecision(d, gate_->metrics());
      if (d.reason == rollout::Reason::kPromotionBoundNotMet ||
          d.reason == rollout::Reason::kInsufficientExposure) {
        why = std::string(rollout::ReasonName(d.reason)) + ": " +
              (d.metric >= 0 ? gate_->metric(d.metric).name + " " : std::string()) +
              Fmt("%.3g", d.value) + " vs limit " + Fmt("%.3g", d.limit) + " (n_H=" +
              std::to_string(bake.baked_devices) + ", next wave " +
              std::to_string(bake.next_wave_devices);
        if (d.reason == rollout::Reason::kPromotionBoundNotMet) {
          why += ", budget " + Fmt("%.3g", d.bound.budget) + ", " +
                 std::to_string(d.bound.treated_events) + " treated events, background >= " +
                 Fmt("%.3g", d.bound.background_lcb);
        }
        why += ")";
      }
      if (not_yet_wave_ != wave) {
        not_yet_wave_ = wave;
        not_yet_count_ = 0;
        action.notes.push_back("promotion of '" + wave_name + "' not yet: " + why);
      }
      ++not_yet_count_;
      last_not_yet_ = why;
      if (d.reason == rollout::Reason::kInsufficientExposure) {
        // Not waived (docs/gate.md): n_H still grows as late devices finish their bake, and if it
        // does not, devices are not applying the release. After the maximum hold, page once.
        if (exposure_hold_since_ < 0) exposure_hold_since_ = now;
        if (bake.max_promotion_hold_micros > 0 && exposure_paged_wave_ != wave &&
            now - exposure_hold_since_ >= bake.max_promotion_hold_micros) {
          exposure_paged_wave_ = wave;
          action.notes.push_back("PAGE: release " + ctx_.release_id + ": promotion of '" +
                                 wave_name + "' held " +
                                 FormatSimTime(now - exposure_hold_since_) + " on " + why);
        }
      }
      if (d.verdict == Verdict::kHold && d.reason != rollout::Reason::kPromotionBoundNotMet &&
          d.reason != rollout::Reason::kInsufficientExposure) {
        return Handle(Event::GateHold(why, wave), now, action);
      }
      return Handle(Event::GatePromoteNotYet(wave), now, action);
    }
  }
  return Status::Ok();
}

Status RingfencePolicy::Handle(const Event& event, int64_t now, PolicyAction& action) {
  RF_ASSIGN_OR_RETURN(rollout::TransitionResult r, rollout::Transition(state_, event, now));
  state_ = std::move(r.state);
  for (const rollout::Effect& e : r.effects) {
    switch (e.kind) {
      case rollout::EffectKind::kDispatchWave:
        if (paused_) {
          paused_ = false;
          action.pause_dispatch = false;
          action.resume_dispatch = true;
        }
        dispatch_wave_ = e.wave;
        break;
      case rollout::EffectKind::kStopDispatch:
        dispatch_wave_ = -1;
        if (rollout::IsFinished(state_)) {
          action.stop_dispatch = true;
        } else {
          paused_ = true;
          action.resume_dispatch = false;
          action.pause_dispatch = true;
        }
        break;
      case rollout::EffectKind::kRollbackToLkg:
        action.rollback = true;
        break;
      case rollout::EffectKind::kRequestPromotion:
        RF_RETURN_IF_ERROR(AnswerPromotion(e.wave, now, action));
        break;
      case rollout::EffectKind::kPage:
        action.notes.push_back("PAGE: " + e.text);
        break;
      case rollout::EffectKind::kRecordAudit:
        action.notes.push_back(e.text);
        break;
    }
  }
  if (state_.phase == Phase::kHalted) action.stop_dispatch = true;
  return Status::Ok();
}

Status RingfencePolicy::OnTick(const Telemetry& t, PolicyAction& action) {
  const int64_t now = t.now_micros;
  // 1. Telemetry into the gate, aggregated from device classes to the plan's strata.
  const int strata = cohorts_->stratum_count();
  std::vector<std::array<int64_t, 2>> at_risk(strata, {0, 0});
  std::vector<std::array<int64_t, 2 * kNumSignals>> events(strata);
  int64_t applied = 0;
  treated_silent_ = 0;
  for (size_t c = 0; c < t.classes.size() && c < ranks_.size(); ++c) {
    if (!ranks_[c]) continue;
    const int s = ranks_[c]->stratum;
    const ClassTelemetry& ct = t.classes[c];
    at_risk[s][0] += ct.treated.at_risk;
    at_risk[s][1] += ct.control.at_risk;
    for (int m = 0; m < kNumSignals; ++m) {
      events[s][2 * m] += ct.treated.events[m];
      events[s][2 * m + 1] += ct.control.events[m];
    }
    applied += ct.applied;
    treated_silent_ += ct.silent_treated;
  }
  treated_ = applied;
  applied_history_.push_back({t.observed_micros, applied});
  for (int s = 0; s < strata; ++s) {
    RF_RETURN_IF_ERROR(gate_->SetAtRisk(s, at_risk[s][0], at_risk[s][1]));
    for (int m = 0; m < kNumSignals; ++m) {
      if (gate_metric_[m] < 0) continue;
      RF_RETURN_IF_ERROR(
          gate_->AddCountEvents(gate_metric_[m], s, events[s][2 * m], events[s][2 * m + 1]));
    }
  }
  gate_->Tick();

  if (rollout::IsFinished(state_)) return Status::Ok();  // dispatched its last wave already

  // 2. Decisions during the wave: HALT > HOLD > CONTINUE.
  const rollout::Decision d = gate_->Decide(Health());
  if (d.verdict == Verdict::kHalt) {
    std::string why = rollout::DescribeDecision(d, gate_->metrics());
    if (d.test.stratum >= 0) why += " [" + StratumName(d.test.stratum) + "]";
    action.notes.push_back(why);
    return Handle(Event::GateHalt(why), now, action);
  }
  if (d.verdict == Verdict::kHold) {
    StopBoundHoldClock(now);  // time held for another reason is not time held on the bound
    if (!state_.gate_hold) {
      const std::string why = rollout::DescribeDecision(d, gate_->metrics());
      action.notes.push_back(why);
      RF_RETURN_IF_ERROR(Handle(Event::GateHold(why), now, action));
    }
  } else if (state_.phase == Phase::kPaused && state_.gate_hold) {
    // The cause of the hold is gone: a gate answer clears it.
    action.notes.push_back("hold cleared");
    RF_RETURN_IF_ERROR(Handle(Event::GatePromoteNotYet(state_.wave), now, action));
  }

  // 3. Timers (dispatch window end, bake end -> promotion request, answered at once).
  RF_RETURN_IF_ERROR(Handle(Event::Tick(), now, action));

  // 4. Dispatch: every class up to its stratum's paced cutoff. A release that completed during
  // this tick (the holdback wave has no bake) still hands out the rest of its last window.
  const bool completed = state_.phase == Phase::kCompleted;
  if (completed || (dispatch_wave_ >= 0 && (state_.phase == Phase::kDispatching ||
                                            state_.phase == Phase::kBaking))) {
    const int64_t elapsed = rollout::DispatchElapsedMicros(state_, now);
    const int last_wave = cohorts_->wave_count() - 1;
    for (size_t c = 0; c < ranks_.size(); ++c) {
      if (!ranks_[c]) continue;
      const int s = ranks_[c]->stratum;
      const double cutoff = completed ? cohorts_->Cutoff(s, last_wave)
                                      : cohorts_->PacedCutoff(s, dispatch_wave_, elapsed);
      const int64_t target = ranks_[c]->CountBelow(cutoff, *rng_);
      if (target > sent_[c]) {
        action.dispatch[c] += target - sent_[c];
        sent_[c] = target;
      }
    }
  }
  return Status::Ok();
}

std::string RingfencePolicy::Outcome() const {
  std::string out(rollout::PhaseName(state_.phase));
  if (state_.wave >= 0 && cohorts_) {
    out += " in wave " + std::to_string(state_.wave) + " '" + rollout::WaveName(plan_, state_.wave) +
           "'";
  }
  if (!state_.reason.empty()) out += ": " + state_.reason;
  if (!rollout::IsFinished(state_) && not_yet_count_ > 0) {
    out += " (promotion refused " + std::to_string(not_yet_count_) + " times: " + last_not_yet_ +
           ")";
  }
  return out;
}

}  // namespace rf::sim
