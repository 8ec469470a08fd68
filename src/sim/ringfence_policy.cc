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

// The driver changes the policy's own release state.
class RingfencePolicy::StatePort final : public rollout::TransitionPort {
 public:
  explicit StatePort(rollout::ReleaseState& state) : state_(state) {}
  Result<rollout::TransitionResult> Apply(const Event& event, int64_t now) override {
    RF_ASSIGN_OR_RETURN(rollout::TransitionResult r, rollout::Transition(state_, event, now));
    state_ = r.state;
    return r;
  }

 private:
  rollout::ReleaseState& state_;
};

RingfencePolicy::RingfencePolicy(rollout::Plan plan, RingfencePolicyOptions options)
    : plan_(std::move(plan)), options_(std::move(options)) {}

RingfencePolicy::~RingfencePolicy() = default;

bool RingfencePolicy::Finished() const { return rollout::IsFinished(state_); }

std::string RingfencePolicy::StratumName(int stratum) const {
  return driver_ ? driver_->StratumName(stratum) : "pooled";
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
    const bool given = c < ctx.device_ids.size();
    if (given && static_cast<int64_t>(ctx.device_ids[c].size()) != dc.devices) {
      return Status::InvalidArgument("class " + dc.label + ": " +
                                     std::to_string(ctx.device_ids[c].size()) + " device ids for " +
                                     std::to_string(dc.devices) + " devices");
    }
    for (int64_t i = 0; i < dc.devices; ++i) {
      // Device id: the given one, or 8 bytes with the class index in the high bits.
      const uint64_t id = (static_cast<uint64_t>(c) << 40) | static_cast<uint64_t>(i);
      char bytes[8];
      std::memcpy(bytes, &id, sizeof bytes);
      const double rank = given ? hasher.Rank(ctx.device_ids[c][static_cast<size_t>(i)])
                                : hasher.Rank(std::string_view(bytes, sizeof bytes));
      assigner.AddDevice(r->stratum, rank);
      r->Add(rank);
    }
    r->Finish();
    ranks_[c] = std::move(r);
  }
  RF_ASSIGN_OR_RETURN(rollout::Cohorts cohorts, assigner.Build());
  // The driver: the gate (one e-process per (metric, stratum) for the plan's signals) and every
  // rule of how the release advances.
  RF_ASSIGN_OR_RETURN(driver_, rollout::ReleaseDriver::Create(plan_, std::move(cohorts), options_));
  const rollout::Cohorts& co = driver_->cohorts();
  std::vector<int64_t> held(co.stratum_count(), 0);
  for (const auto& r : ranks_) {
    if (r) held[r->stratum] += r->holdback;
  }
  for (int s = 0; s < co.stratum_count(); ++s) {
    if (held[s] != co.held_back(s)) {
      return Status::Internal("simulator and cohort module disagree on the holdback of stratum " +
                              StratumName(s));
    }
    held_back_ += held[s];
  }

  sent_.assign(ctx.classes.size(), 0);
  state_ = rollout::NewRelease(plan_, ctx.release_id, 0);
  action.notes.push_back("plan '" + plan_.name + "': " + std::to_string(co.wave_count()) +
                         " waves, " + std::to_string(co.stratum_count()) +
                         " strata, holdback " + std::to_string(held_back_) + " devices");
  RF_RETURN_IF_ERROR(Handle(Event::Approved("sim"), 0, action));
  return Handle(Event::Start("sim"), 0, action);
}

void RingfencePolicy::CarryOut(const rollout::TransitionResult& result, PolicyAction& action) {
  for (const rollout::Effect& e : result.effects) {
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
        if (rollout::IsFinished(result.state)) {
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
      case rollout::EffectKind::kRequestPromotion:  // answered by the driver
        break;
      case rollout::EffectKind::kPage:
        action.notes.push_back("PAGE: " + e.text);
        break;
      case rollout::EffectKind::kRecordAudit:
        action.notes.push_back(e.text);
        break;
    }
  }
  if (result.state.phase == Phase::kHalted) action.stop_dispatch = true;
}

Status RingfencePolicy::Handle(const Event& event, int64_t now, PolicyAction& action) {
  RF_ASSIGN_OR_RETURN(rollout::TransitionResult r, rollout::Transition(state_, event, now));
  state_ = r.state;
  CarryOut(r, action);
  return Status::Ok();
}

rollout::DriverTick RingfencePolicy::DriverTickOf(const Telemetry& t) const {
  rollout::DriverTick tick;
  tick.now_micros = t.now_micros;
  tick.observed_micros = t.observed_micros;
  tick.telemetry_lag_seconds = static_cast<double>(t.lag_micros) / 1e6;
  tick.strata.resize(static_cast<size_t>(driver_->cohorts().stratum_count()));
  // Aggregated from device classes to the plan's strata.
  for (size_t c = 0; c < t.classes.size() && c < ranks_.size(); ++c) {
    if (!ranks_[c]) continue;
    rollout::StratumTelemetry& st = tick.strata[static_cast<size_t>(ranks_[c]->stratum)];
    const ClassTelemetry& ct = t.classes[c];
    st.treated_at_risk += ct.treated.at_risk;
    st.control_at_risk += ct.control.at_risk;
    for (rollout::Signal s : {rollout::Signal::kSilence, rollout::Signal::kCrash,
                              rollout::Signal::kError}) {
      const int e = static_cast<int>(EngineSignal(s));
      st.treated_events[static_cast<int>(s)] += ct.treated.events[e];
      st.control_events[static_cast<int>(s)] += ct.control.events[e];
    }
    st.treated += ct.applied;
    st.applied += ct.acknowledged;
    st.treated_silent += ct.silent_treated;
  }
  return tick;
}

Status RingfencePolicy::OnTick(const Telemetry& t, PolicyAction& action) {
  const int64_t now = t.now_micros;
  // 1-3. Telemetry into the driver: gate, health, holds, timers and promotions.
  rollout::DriverOutput& out = last_output_;
  out = rollout::DriverOutput{};
  StatePort port(state_);
  const Status st = driver_->Step(DriverTickOf(t), state_, port, &out);
  for (const std::string& note : out.notes) action.notes.push_back(note);
  for (const rollout::DriverTransition& x : out.transitions) CarryOut(x.result, action);
  RF_RETURN_IF_ERROR(st);

  // 4. Dispatch: every class up to its stratum's paced cutoff. A release that completed during
  // this tick (the holdback wave has no bake) still hands out the rest of its last window.
  const rollout::Cohorts& co = driver_->cohorts();
  const bool completed = state_.phase == Phase::kCompleted;
  if (completed || (dispatch_wave_ >= 0 && (state_.phase == Phase::kDispatching ||
                                            state_.phase == Phase::kBaking))) {
    const int64_t elapsed = rollout::DispatchElapsedMicros(state_, now);
    const int last_wave = co.wave_count() - 1;
    for (size_t c = 0; c < ranks_.size(); ++c) {
      if (!ranks_[c]) continue;
      const int s = ranks_[c]->stratum;
      const double cutoff = completed ? co.Cutoff(s, last_wave)
                                      : co.PacedCutoff(s, dispatch_wave_, elapsed);
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
  if (state_.wave >= 0 && driver_) {
    out += " in wave " + std::to_string(state_.wave) + " '" + rollout::WaveName(plan_, state_.wave) +
           "'";
  }
  if (!state_.reason.empty()) out += ": " + state_.reason;
  if (!rollout::IsFinished(state_) && driver_ && !driver_->PendingPromotionText().empty()) {
    out += " (" + driver_->PendingPromotionText() + ")";
  }
  return out;
}

}  // namespace rf::sim
