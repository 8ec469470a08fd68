#include "sim/engine.h"

#include <array>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <utility>

#include "platform/sim_env.h"
#include "rollout/confirmation.h"
#include "rollout/driver.h"
#include "sim/sampling.h"

namespace rf::sim {
namespace {

constexpr double kMicrosPerDay = 86400e6;
constexpr double kReachShare = 0.99;

// Something that happens to a group of devices of one class at a future tick.
enum class EntryKind : uint8_t {
  kApply,          // offered devices that were online check in and apply the release
  kFail,           // applied devices fail (failure rule `rule`)
  kSilenceDetect,  // failed-silent devices are declared silent
  kFirstReport,    // failed devices report their first crash / error at a check-in
  kReturn,         // devices that crashed once (no boot loop) are back
};

struct Entry {
  EntryKind kind;
  bool from_silent = false;  // kReturn: the devices had already been declared silent
  int klass = 0;
  int rule = -1;             // kFail, kFirstReport
  int64_t count = 0;
  int64_t apply_bucket = 0;  // tick in which the devices applied (kFail)
};

// Counters of one device class. Every device of the class is in exactly one of: not offered
// (including revoked), offline_pending, in_flight, cancelled, or applied (= healthy +
// awaiting_report + silent_pending + silent + looping + erroring).
struct ClassState {
  int64_t devices = 0;
  bool eligible = false;
  std::vector<int> rules;  // failure rules matching the class, in scenario order
  int64_t dispatched = 0;
  int64_t offline_pending = 0;  // offered while offline; apply when they come back
  int64_t in_flight = 0;        // offered while online; apply at their next check-in
  int64_t cancelled = 0;        // offered, but the release was halted before they applied
  int64_t revoked = 0;          // offered, then paused before they applied; re-offered on resume
  int64_t applied = 0;
  int64_t healthy = 0;          // applied, not (currently) failing
  int64_t awaiting_report = 0;  // failed with crash/error; first report at the next check-in
  int64_t silent_pending = 0;   // failed silent; not yet declared silent
  int64_t silent = 0;           // declared silent
  int64_t looping = 0;          // crash loop: reports a crash at every check-in
  int64_t erroring = 0;         // reports errors at every check-in
  // looping / erroring by check-in phase (tick mod ticks-per-poll): each reports exactly once per
  // poll interval, at the tick of its phase.
  std::vector<int64_t> looping_by_phase;
  std::vector<int64_t> erroring_by_phase;
  int64_t harmed = 0;
  std::optional<int64_t> full_dispatch_micros;
};

struct ConfirmationSplit;

class Engine {
 public:
  Engine(const Scenario& scenario, RolloutPolicy& policy, const SimulationOptions& options,
         uint64_t seed)
      : scenario_(scenario),
        policy_(policy),
        options_(options),
        seed_(seed),
        rng_(seed * 0x9E3779B97F4A7C15ull + 0x51u),
        dt_(options.tick_micros),
        poll_(scenario.fleet.poll_interval_micros),
        online_(scenario.fleet.online),
        phases_(std::max<int64_t>(1, (poll_ + dt_ / 2) / std::max<int64_t>(1, dt_))) {}

  Result<SimResult> Run();

 private:
  double BucketStart(int64_t b) const { return static_cast<double>(b) * static_cast<double>(dt_); }
  void Schedule(int64_t bucket, const Entry& e);
  // Schedules `e` for devices that applied during tick `apply_bucket` (apply time uniform within
  // it), `delay` after their apply.
  // Never earlier than `min_bucket`.
  void ScheduleAfterApply(const Entry& e, int64_t apply_bucket, double delay, int64_t min_bucket);
  void ProcessEntry(const Entry& e, int64_t bucket);
  void Apply(int c, int64_t n, int64_t bucket);
  void Fail(const Entry& e, int64_t bucket);
  ConfirmationSplit SplitByConfirmation(int64_t count, int64_t after);
  void ScheduleSilence(const Entry& e, const FailureRule& rule, int64_t count,
                       int64_t confirm_delay, int64_t bucket);
  rollout::GateSettings Gate() const;
  void FirstReport(const Entry& e, int64_t bucket);
  void Dispatch(int c, int64_t n, int64_t now);
  void StopDispatch();
  void PauseDispatch();
  void ResumeDispatch(int64_t now);
  bool InFlight() const;
  ClassTelemetry StartOfTick(int c) const;
  void Note(int64_t now, const std::vector<std::string>& notes);
  Status ApplyAction(const PolicyAction& action, int64_t now);

  // Run(), step by step.
  // Per-tick probabilities, fixed for a run.
  struct TickHazards {
    std::array<double, kNumSignals> baseline{};  // a healthy device's chance of each signal
    double come_online = 0;                      // an offline device's chance of coming back
  };
  // A class as a tick starts: healthy devices online, crash loops and erroring devices whose
  // check-in phase this tick is.
  struct TickStart {
    int64_t healthy_online = 0;
    int64_t looping = 0;
    int64_t erroring = 0;
  };
  Status CheckOptions() const;
  void InitClasses(const SimContext& ctx);  // result_'s header, classes_, tick_
  void SizeBuckets(int64_t max_ticks);
  TickHazards Hazards() const;
  std::deque<Telemetry> EmptyTransit() const;  // the telemetry lag, filled with empty ticks
  // One tick of the fleet (steps 1-6 of the loop in Run()).
  void SimulateTick(int64_t b, int64_t now, const TickHazards& hazards);
  std::vector<TickStart> OpenTick(size_t phase);
  void ReturnOfflineDevices(int64_t b, double come_online);
  void ProcessBucket(int64_t b);
  void ReportRepeatingFailures(const std::vector<TickStart>& start, size_t phase);
  void AddBaselineNoise(const std::vector<TickStart>& start, const TickHazards& hazards);
  void RecordProgress(int64_t now);
  // The tick's telemetry goes in transit; the policy decides on what arrives (step 7).
  Status Decide(int64_t now, std::deque<Telemetry>& in_transit, PolicyAction& action);
  void Summarize(const SimContext& ctx, int64_t now);

  const Scenario& scenario_;
  RolloutPolicy& policy_;
  const SimulationOptions options_;
  const uint64_t seed_;
  SeededRandom rng_;
  const int64_t dt_;
  const int64_t poll_;
  const double online_;
  const int64_t phases_;  // ticks per poll interval (>= 1)

  std::vector<ClassState> classes_;
  std::vector<ClassTelemetry> tick_;  // telemetry of the tick being simulated
  std::vector<std::vector<Entry>> buckets_;
  int64_t pending_entries_ = 0;
  bool halted_ = false;
  bool paused_ = false;
  bool rollback_ = false;
  int64_t rollback_micros_ = 0;
  SimResult result_;
};

void Engine::Schedule(int64_t bucket, const Entry& e) {
  if (e.count <= 0) return;
  if (bucket >= static_cast<int64_t>(buckets_.size())) {
    // Beyond the horizon: it can never be observed.
    return;
  }
  buckets_[bucket].push_back(e);
  ++pending_entries_;
}

void Engine::ScheduleAfterApply(const Entry& e, int64_t apply_bucket, double delay,
                                int64_t min_bucket) {
  const double lo = BucketStart(apply_bucket) + delay;
  SplitUniform(rng_, e.count, lo, lo + static_cast<double>(dt_), static_cast<double>(dt_),
               [&](int64_t bin, int64_t k) {
                 Entry part = e;
                 part.count = k;
                 Schedule(std::max(bin, min_bucket), part);
               });
}

void Engine::Dispatch(int c, int64_t n, int64_t now) {
  ClassState& cs = classes_[c];
  if (halted_ || !cs.eligible) return;
  n = std::min(n, cs.devices - cs.dispatched - cs.revoked);
  if (n <= 0) return;
  if (paused_) {  // offered during a pause: they wait for the resume like the revoked ones
    cs.revoked += n;
    return;
  }
  cs.dispatched += n;
  if (cs.dispatched == cs.devices) cs.full_dispatch_micros = now;
  const int64_t online = SampleBinomial(rng_, n, online_);
  cs.offline_pending += n - online;
  cs.in_flight += online;
  // An online device picks the release up at its next check-in: uniform over one poll interval
  // (check-in phases are uniform; the jitter of real agents keeps them so).
  Entry e{EntryKind::kApply};
  e.klass = c;
  SplitUniform(rng_, online, static_cast<double>(now), static_cast<double>(now + poll_),
               static_cast<double>(dt_), [&](int64_t bin, int64_t k) {
                 Entry part = e;
                 part.count = k;
                 Schedule(bin, part);
               });
  if (!result_.full_dispatch_micros) {
    int64_t total = 0;
    for (const ClassState& s : classes_) total += s.dispatched;
    if (total >= result_.eligible) result_.full_dispatch_micros = now;
  }
}

void Engine::StopDispatch() {
  if (halted_) return;
  halted_ = true;
  for (ClassState& cs : classes_) {
    cs.cancelled += cs.offline_pending;
    cs.offline_pending = 0;
  }
}

void Engine::PauseDispatch() {
  if (halted_ || paused_) return;
  paused_ = true;
  for (ClassState& cs : classes_) {
    cs.revoked += cs.offline_pending;
    cs.dispatched -= cs.offline_pending;
    cs.offline_pending = 0;
  }
}

void Engine::ResumeDispatch(int64_t now) {
  if (!paused_) return;
  paused_ = false;
  for (size_t c = 0; c < classes_.size(); ++c) {
    const int64_t n = classes_[c].revoked;
    classes_[c].revoked = 0;
    Dispatch(static_cast<int>(c), n, now);
  }
}

void Engine::Apply(int c, int64_t n, int64_t bucket) {
  if (n <= 0) return;
  ClassState& cs = classes_[c];
  if (halted_) {
    // The server answers this check-in with the halt: nothing new is applied.
    cs.cancelled += n;
    return;
  }
  if (paused_) {
    // Paused: "not now"; the device is offered the release again on resume.
    cs.revoked += n;
    cs.dispatched -= n;
    return;
  }
  cs.applied += n;
  cs.healthy += n;
  int64_t remaining = n;
  for (int r : cs.rules) {
    const FailureRule& rule = scenario_.release.failures[r];
    const int64_t failing = SampleBinomial(rng_, remaining, rule.p);
    remaining -= failing;
    Entry e{EntryKind::kFail};
    e.klass = c;
    e.rule = r;
    e.count = failing;
    e.apply_bucket = bucket;
    ScheduleAfterApply(e, bucket, static_cast<double>(rule.after_micros), bucket);
  }
}

// Devices that applied together but confirm at different times (rollout/confirmation.h: the
// confirmation is jittered uniformly over [c, 1.25 c]): those whose confirmation comes after
// `after` (their failure) and the rest, each with the midpoint of its confirmation times.
struct ConfirmationSplit {
  struct Part {
    int64_t count = 0;
    int64_t confirm_delay = 0;
  };
  std::array<Part, 2> parts;  // [0]: confirm after the failure, [1]: before (or at) it
};

ConfirmationSplit Engine::SplitByConfirmation(int64_t count, int64_t after) {
  ConfirmationSplit split;
  const int64_t c = options_.confirm_after_micros;
  if (c <= 0) {
    split.parts[1] = {count, 0};
    return split;
  }
  const double lo = static_cast<double>(rollout::ConfirmationDelayMicros(c, 0.0));
  const double hi = static_cast<double>(c) * (1 + rollout::kConfirmJitter);
  const double a = static_cast<double>(after);
  const double p_later = std::clamp((hi - a) / (hi - lo), 0.0, 1.0);
  const int64_t later = SampleBinomial(rng_, count, p_later);
  split.parts[0] = {later, static_cast<int64_t>((std::max(lo, a) + hi) / 2)};
  split.parts[1] = {count - later, static_cast<int64_t>((lo + std::min(hi, std::max(lo, a))) / 2)};
  return split;
}

rollout::GateSettings Engine::Gate() const {
  rollout::GateSettings g;
  g.silence_after_micros = options_.silence_after_micros;
  g.confirm_after_micros = options_.confirm_after_micros;
  return g;
}

void Engine::Fail(const Entry& e, int64_t bucket) {
  ClassState& cs = classes_[e.klass];
  const FailureRule& rule = scenario_.release.failures[e.rule];
  const double poll = static_cast<double>(poll_);
  const double after = static_cast<double>(rule.after_micros);
  if (rollback_) {
    // Rolled back in time? The device's check-ins follow its apply every poll interval; the first
    // one after the rollback started returns it to last-known-good content. If that check-in comes
    // before the failure, the device never fails.
    const double apply_time = BucketStart(e.apply_bucket) + 0.5 * static_cast<double>(dt_);
    const double since = static_cast<double>(rollback_micros_) - apply_time;
    const double k = since < 0 ? 1 : std::floor(since / poll) + 1;
    if (apply_time + k * poll < apply_time + after) return;
  }
  cs.harmed += e.count;
  cs.healthy -= e.count;
  const rollout::GateSettings gate = Gate();
  const ConfirmationSplit split = SplitByConfirmation(e.count, rule.after_micros);
  switch (rule.signal) {
    case FailureSignal::kSilence: {
      cs.silent_pending += e.count;
      for (const ConfirmationSplit::Part& part : split.parts) {
        if (part.count > 0) ScheduleSilence(e, rule, part.count, part.confirm_delay, bucket);
      }
      break;
    }
    case FailureSignal::kCrash:
    case FailureSignal::kError: {
      cs.awaiting_report += e.count;
      for (const ConfirmationSplit::Part& part : split.parts) {
        if (part.count <= 0) continue;
        Entry report{EntryKind::kFirstReport};
        report.klass = e.klass;
        report.rule = e.rule;
        report.count = part.count;
        // First check-in strictly after the failure (the confirmation, or a poll).
        const double delay = static_cast<double>(
            rollout::NextCheckinDelay(gate, poll_, part.confirm_delay, rule.after_micros));
        const double lo = BucketStart(e.apply_bucket) + delay;
        SplitUniform(rng_, part.count, lo, lo + static_cast<double>(dt_), static_cast<double>(dt_),
                     [&](int64_t bin, int64_t k) {
                       Entry p = report;
                       p.count = k;
                       Schedule(std::max(bin, bucket + 1), p);
                     });
      }
      break;
    }
  }
}

void Engine::ScheduleSilence(const Entry& e, const FailureRule& rule, int64_t count,
                             int64_t confirm_delay, int64_t bucket) {
  // Last heartbeat: the last check-in at or before the failure; silent silence_after later, or
  // at the confirmation deadline if the failure came before the confirmation.
  const double detect_delay = static_cast<double>(
      rollout::SilenceDetectionDelay(Gate(), poll_, confirm_delay, rule.after_micros));
  const double back_delay =
      static_cast<double>(rule.after_micros) + static_cast<double>(options_.reboot_micros);
  if (!rule.repeats_on_boot && back_delay < detect_delay) {
    Entry back{EntryKind::kReturn};
    back.klass = e.klass;
    back.count = count;
    back.from_silent = false;
    ScheduleAfterApply(back, e.apply_bucket, back_delay, bucket + 1);
    return;
  }
  Entry detect{EntryKind::kSilenceDetect};
  detect.klass = e.klass;
  detect.count = count;
  const double lo = BucketStart(e.apply_bucket) + detect_delay;
  SplitUniform(rng_, count, lo, lo + static_cast<double>(dt_), static_cast<double>(dt_),
               [&](int64_t bin, int64_t k) {
                 Entry part = detect;
                 part.count = k;
                 const int64_t at = std::max(bin, bucket + 1);
                 Schedule(at, part);
                 if (!rule.repeats_on_boot) {
                   Entry back{EntryKind::kReturn};
                   back.klass = e.klass;
                   back.count = k;
                   back.from_silent = true;
                   const double wait = back_delay - detect_delay;
                   Schedule(at + 1 + static_cast<int64_t>(wait / static_cast<double>(dt_)), back);
                 }
               });
}

void Engine::ProcessEntry(const Entry& e, int64_t bucket) {
  ClassState& cs = classes_[e.klass];
  switch (e.kind) {
    case EntryKind::kApply:
      cs.in_flight -= e.count;
      Apply(e.klass, e.count, bucket);
      break;
    case EntryKind::kFail:
      Fail(e, bucket);
      break;
    case EntryKind::kSilenceDetect:
      cs.silent_pending -= e.count;
      cs.silent += e.count;
      tick_[e.klass].treated.events[static_cast<int>(FailureSignal::kSilence)] += e.count;
      break;
    case EntryKind::kFirstReport:
      FirstReport(e, bucket);
      break;
    case EntryKind::kReturn:
      // A crashed host that comes back reports the crash at boot (docs/protocol.md).
      tick_[e.klass].treated.events[static_cast<int>(FailureSignal::kCrash)] += e.count;
      if (e.from_silent) {
        cs.silent -= e.count;
      } else {
        cs.silent_pending -= e.count;
      }
      cs.healthy += e.count;
      break;
  }
}

void Engine::FirstReport(const Entry& e, int64_t bucket) {
  ClassState& cs = classes_[e.klass];
  const FailureRule& rule = scenario_.release.failures[e.rule];
  cs.awaiting_report -= e.count;
  tick_[e.klass].treated.events[static_cast<int>(rule.signal)] += e.count;
  if (rollback_) {
    cs.healthy += e.count;  // this check-in also brings the last-known-good content
  } else if (rule.signal == FailureSignal::kError) {
    cs.erroring += e.count;
    cs.erroring_by_phase[static_cast<size_t>(bucket % phases_)] += e.count;
  } else if (rule.repeats_on_boot) {
    cs.looping += e.count;
    cs.looping_by_phase[static_cast<size_t>(bucket % phases_)] += e.count;
  } else {
    cs.healthy += e.count;  // a one-off crash
  }
}

bool Engine::InFlight() const {
  if (pending_entries_ > 0) return true;
  for (const ClassState& cs : classes_) {
    if (cs.in_flight > 0 || cs.offline_pending > 0) return true;
  }
  return false;
}

// At-risk counts at the start of a tick. Healthy devices are online with probability `online`
// (offline is graceful: censored, not at risk); failing devices just applied, so they are online.
ClassTelemetry Engine::StartOfTick(int c) const {
  const ClassState& cs = classes_[c];
  ClassTelemetry t;
  const auto healthy_online = static_cast<int64_t>(std::llround(online_ * static_cast<double>(cs.healthy)));
  t.treated.at_risk = healthy_online + cs.awaiting_report + cs.silent_pending + cs.looping + cs.erroring;
  t.control.at_risk =
      static_cast<int64_t>(std::llround(online_ * static_cast<double>(cs.devices - cs.dispatched)));
  const double per_tick = static_cast<double>(dt_) / static_cast<double>(poll_);
  t.treated.checkins =
      static_cast<double>(healthy_online + cs.awaiting_report + cs.looping + cs.erroring) * per_tick;
  t.control.checkins = static_cast<double>(t.control.at_risk) * per_tick;
  return t;
}

void Engine::Note(int64_t now, const std::vector<std::string>& notes) {
  for (const std::string& n : notes) result_.log.push_back(FormatSimTime(now) + " " + n);
}

Status Engine::ApplyAction(const PolicyAction& action, int64_t now) {
  Note(now, action.notes);
  if (action.dispatch.size() != classes_.size()) {
    return Status::Internal("policy returned " + std::to_string(action.dispatch.size()) +
                            " dispatch counts for " + std::to_string(classes_.size()) + " classes");
  }
  if (action.stop_dispatch || action.rollback) {
    if (!halted_) {
      result_.halted = true;
      result_.halt_micros = now;
    }
    StopDispatch();
  }
  if (action.pause_dispatch) PauseDispatch();
  if (action.resume_dispatch) ResumeDispatch(now);
  if (action.rollback && !rollback_) {
    rollback_ = true;
    rollback_micros_ = now;
  }
  for (size_t c = 0; c < classes_.size(); ++c) {
    if (action.dispatch[c] < 0) {
      return Status::Internal("policy asked to dispatch a negative number of devices");
    }
    Dispatch(static_cast<int>(c), action.dispatch[c], now);
  }
  return Status::Ok();
}

Status Engine::CheckOptions() const {
  if (dt_ <= 0) return Status::InvalidArgument("tick must be positive");
  if (poll_ < dt_) {
    return Status::InvalidArgument("poll_interval (" + FormatSimTime(poll_) +
                                   ") is shorter than the simulator tick (" + FormatSimTime(dt_) +
                                   ")");
  }
  if (options_.telemetry_lag_micros < 0 || options_.max_duration_micros <= 0) {
    return Status::InvalidArgument("telemetry lag must be >= 0 and max duration > 0");
  }
  return Status::Ok();
}

void Engine::InitClasses(const SimContext& ctx) {
  result_.scenario = scenario_.name;
  result_.policy = std::string(policy_.name());
  result_.seed = seed_;
  result_.devices = scenario_.fleet.devices;
  result_.eligible = ctx.eligible_devices;
  for (size_t c = 0; c < scenario_.fleet.strata.size(); ++c) {
    const ScenarioStratum& st = scenario_.fleet.strata[c];
    ClassState cs;
    cs.devices = st.devices;
    cs.eligible = ctx.classes[c].eligible;
    cs.looping_by_phase.assign(static_cast<size_t>(phases_), 0);
    cs.erroring_by_phase.assign(static_cast<size_t>(phases_), 0);
    for (size_t r = 0; r < scenario_.release.failures.size(); ++r) {
      if (scenario_.release.failures[r].Matches(st.attrs)) cs.rules.push_back(static_cast<int>(r));
    }
    classes_.push_back(std::move(cs));
  }
  tick_.resize(classes_.size());
}

void Engine::SizeBuckets(int64_t max_ticks) {
  // Buckets cover the whole run plus the longest delay anything can be scheduled ahead.
  int64_t max_after = 0;
  for (const FailureRule& r : scenario_.release.failures) max_after = std::max(max_after, r.after_micros);
  const int64_t max_delay = max_after + 2 * poll_ + options_.silence_after_micros +
                            options_.reboot_micros + 4 * dt_;
  buckets_.resize(static_cast<size_t>(max_ticks + max_delay / dt_ + 4));
}

Engine::TickHazards Engine::Hazards() const {
  TickHazards h;
  const double p_tick = static_cast<double>(dt_) / kMicrosPerDay;
  for (int s = 0; s < kNumSignals; ++s) {
    h.baseline[s] = -std::expm1(-scenario_.fleet.baseline.PerDay(static_cast<FailureSignal>(s)) * p_tick);
  }
  // A scenario built in code may leave the spell unset (0): one poll interval, as the parser does.
  const int64_t spell = scenario_.fleet.offline_spell_micros > 0
                            ? scenario_.fleet.offline_spell_micros
                            : scenario_.fleet.poll_interval_micros;
  h.come_online = -std::expm1(-static_cast<double>(dt_) / static_cast<double>(spell));
  return h;
}

std::deque<Telemetry> Engine::EmptyTransit() const {
  // Telemetry in transit: the controller sees tick b's telemetry lag_ticks ticks later.
  const int64_t lag_ticks = (options_.telemetry_lag_micros + dt_ - 1) / dt_;
  std::deque<Telemetry> in_transit;
  Telemetry empty;
  for (size_t c = 0; c < classes_.size(); ++c) empty.classes.push_back(StartOfTick(static_cast<int>(c)));
  for (int64_t i = 0; i < lag_ticks; ++i) {
    empty.observed_micros = (i - lag_ticks + 1) * dt_;
    in_transit.push_back(empty);
  }
  return in_transit;
}

std::vector<Engine::TickStart> Engine::OpenTick(size_t phase) {
  std::vector<TickStart> start(classes_.size());
  for (size_t c = 0; c < classes_.size(); ++c) {
    tick_[c] = StartOfTick(static_cast<int>(c));
    const ClassState& cs = classes_[c];
    start[c] = {static_cast<int64_t>(std::llround(online_ * static_cast<double>(cs.healthy))),
                cs.looping_by_phase[phase], cs.erroring_by_phase[phase]};
  }
  return start;
}

void Engine::ReturnOfflineDevices(int64_t b, double come_online) {
  for (size_t c = 0; c < classes_.size(); ++c) {
    ClassState& cs = classes_[c];
    if (cs.offline_pending == 0) continue;
    const int64_t back = SampleBinomial(rng_, cs.offline_pending, come_online);
    cs.offline_pending -= back;
    Apply(static_cast<int>(c), back, b);
  }
}

void Engine::ProcessBucket(int64_t b) {
  // The vector may grow while we walk it, so each entry is copied first.
  for (size_t i = 0; i < buckets_[b].size(); ++i) {
    const Entry e = buckets_[b][i];
    --pending_entries_;
    ProcessEntry(e, b);
  }
  std::vector<Entry>().swap(buckets_[b]);
}

void Engine::ReportRepeatingFailures(const std::vector<TickStart>& start, size_t phase) {
  for (size_t c = 0; c < classes_.size(); ++c) {
    ClassState& cs = classes_[c];
    const int64_t crashes = start[c].looping;
    const int64_t errors = start[c].erroring;
    tick_[c].treated.events[static_cast<int>(FailureSignal::kCrash)] += crashes;
    tick_[c].treated.events[static_cast<int>(FailureSignal::kError)] += errors;
    if (rollback_) {
      cs.looping_by_phase[phase] -= crashes;
      cs.erroring_by_phase[phase] -= errors;
      cs.looping -= crashes;
      cs.erroring -= errors;
      cs.healthy += crashes + errors;
    }
  }
}

void Engine::AddBaselineNoise(const std::vector<TickStart>& start, const TickHazards& hazards) {
  for (size_t c = 0; c < classes_.size(); ++c) {
    if (!classes_[c].eligible) continue;
    for (int s = 0; s < kNumSignals; ++s) {
      if (hazards.baseline[s] <= 0) continue;
      tick_[c].treated.events[s] += SampleBinomial(rng_, start[c].healthy_online, hazards.baseline[s]);
      tick_[c].control.events[s] += SampleBinomial(rng_, tick_[c].control.at_risk, hazards.baseline[s]);
    }
  }
}

void Engine::RecordProgress(int64_t now) {
  int64_t applied = 0, harmed = 0;
  for (size_t c = 0; c < classes_.size(); ++c) {
    const ClassState& cs = classes_[c];
    tick_[c].applied = cs.applied;
    tick_[c].acknowledged = cs.applied;
    tick_[c].dispatched = cs.dispatched;
    tick_[c].silent_treated = cs.silent;
    applied += cs.applied;
    harmed += cs.harmed;
  }
  auto& tl = result_.timeline;
  if (tl.empty()) tl.push_back({0, 0, 0});
  if (tl.back().exposed != applied || tl.back().harmed != harmed) tl.push_back({now, applied, harmed});
  const double eligible = static_cast<double>(result_.eligible);
  if (!result_.reach_99_micros && static_cast<double>(applied) >= kReachShare * eligible) {
    result_.reach_99_micros = now;
  }
  const double outside = eligible - static_cast<double>(policy_.HeldBackDevices());
  if (!result_.reach_99_outside_holdback_micros &&
      static_cast<double>(applied) >= kReachShare * outside) {
    result_.reach_99_outside_holdback_micros = now;
  }
}

void Engine::SimulateTick(int64_t b, int64_t now, const TickHazards& hazards) {
  // 1. At-risk counts as the tick starts, and who is due to check in with a failure report.
  const auto phase = static_cast<size_t>(b % phases_);
  const std::vector<TickStart> start = OpenTick(phase);
  // 2. Devices offered the release while offline come back and check in.
  ReturnOfflineDevices(b, hazards.come_online);
  // 3. Scheduled groups, including failures of devices that just applied.
  ProcessBucket(b);
  // 4. Crash loops and erroring devices report at each check-in (once per poll interval, at
  // their phase); after a rollback that check-in also brings last-known-good content.
  // Devices that joined this tick (first report just now) report again one poll later.
  ReportRepeatingFailures(start, phase);
  // 5. Healthy noise, the same hazard in both arms.
  AddBaselineNoise(start, hazards);
  // 6. Progress.
  RecordProgress(now);
}

Status Engine::Decide(int64_t now, std::deque<Telemetry>& in_transit, PolicyAction& action) {
  Telemetry produced;
  produced.observed_micros = now;
  produced.classes = tick_;
  in_transit.push_back(std::move(produced));
  Telemetry delivered = std::move(in_transit.front());
  in_transit.pop_front();
  delivered.now_micros = now;
  delivered.lag_micros = options_.telemetry_lag_micros;
  action.Clear();
  RF_RETURN_IF_ERROR(policy_.OnTick(delivered, action));
  return ApplyAction(action, now);
}

void Engine::Summarize(const SimContext& ctx, int64_t now) {
  result_.end_micros = now;
  result_.outcome = policy_.Outcome();
  result_.held_back = policy_.HeldBackDevices();
  for (size_t c = 0; c < classes_.size(); ++c) {
    const ClassState& cs = classes_[c];
    StratumOutcome o;
    o.label = ctx.classes[c].label;
    o.eligible = cs.eligible;
    o.devices = cs.devices;
    o.dispatched = cs.dispatched;
    o.exposed = cs.applied;
    o.harmed = cs.harmed;
    o.full_dispatch_micros = cs.full_dispatch_micros;
    result_.exposed += cs.applied;
    result_.harmed += cs.harmed;
    result_.strata.push_back(std::move(o));
  }
}

Result<SimResult> Engine::Run() {
  RF_RETURN_IF_ERROR(CheckOptions());
  const SimContext ctx = MakeSimContext(scenario_, options_, seed_);
  InitClasses(ctx);
  const int64_t max_ticks = (options_.max_duration_micros + dt_ - 1) / dt_;
  SizeBuckets(max_ticks);
  const TickHazards hazards = Hazards();
  std::deque<Telemetry> in_transit = EmptyTransit();

  PolicyAction action(classes_.size());
  RF_RETURN_IF_ERROR(policy_.Start(ctx, action));
  RF_RETURN_IF_ERROR(ApplyAction(action, 0));

  int64_t settle_from = -1;  // when the policy was last seen finished with nothing in flight
  int64_t now = 0;
  for (int64_t b = 0; b < max_ticks; ++b) {
    now = (b + 1) * dt_;
    SimulateTick(b, now, hazards);
    // 7. The controller decides on what it has received.
    RF_RETURN_IF_ERROR(Decide(now, in_transit, action));
    // 8. Done when the policy is and nothing is in flight, after a settling period.
    if (policy_.Finished() && !InFlight()) {
      if (settle_from < 0) settle_from = now;
      if (now - settle_from >= options_.settle_micros) break;
    } else {
      settle_from = -1;
    }
  }
  Summarize(ctx, now);
  if (result_.timeline.empty() || result_.timeline.back().micros != now) {
    result_.timeline.push_back({now, result_.exposed, result_.harmed});
  }
  return std::move(result_);
}

}  // namespace

SimContext MakeSimContext(const Scenario& scenario, const SimulationOptions& options,
                          uint64_t seed) {
  SimContext ctx;
  for (const ScenarioStratum& st : scenario.fleet.strata) {
    DeviceClass dc;
    dc.attrs = st.attrs;
    dc.label = st.Label();
    dc.devices = st.devices;
    dc.eligible = scenario.Eligible(st);
    if (dc.eligible) ctx.eligible_devices += st.devices;
    ctx.classes.push_back(std::move(dc));
  }
  ctx.poll_interval_micros = scenario.fleet.poll_interval_micros;
  ctx.tick_micros = options.tick_micros;
  ctx.telemetry_lag_micros = options.telemetry_lag_micros;
  ctx.seed = seed;
  ctx.release_id = scenario.name + "/seed-" + std::to_string(seed);
  return ctx;
}

Result<SimResult> RunSimulation(const Scenario& scenario, RolloutPolicy& policy,
                                const SimulationOptions& options, uint64_t seed) {
  Engine engine(scenario, policy, options, seed);
  return engine.Run();
}

std::string FormatSimTime(int64_t micros) { return rollout::FormatDuration(micros); }

}  // namespace rf::sim
