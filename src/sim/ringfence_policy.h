// The ringfence policy: the real rollout core of src/rollout driven by simulated telemetry.
//
// Nothing here re-implements a decision. The adapter
//   * ranks every simulated device with rollout::RankHasher and builds rollout::Cohorts from them
//     (floors, holdback, per-stratum cutoffs, pacing);
//   * feeds each tick's at-risk counts and events into one rollout::SequentialGate for the release;
//   * drives rollout::Transition() with Tick and gate events and carries out its effects
//     (DispatchWave, StopDispatch, RequestPromotion, RollbackToLkg, Page, RecordAudit).
// The only simulator-specific part is counting how many devices of a class fall below a rank
// cutoff without keeping 10 million ranks (see ClassRanks in the .cc).
#ifndef RINGFENCE_SIM_RINGFENCE_POLICY_H_
#define RINGFENCE_SIM_RINGFENCE_POLICY_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "platform/sim_env.h"
#include "rollout/cohort.h"
#include "rollout/gate.h"
#include "rollout/plan.h"
#include "rollout/release.h"
#include "sim/policy.h"

namespace rf::sim {

struct RingfencePolicyOptions {
  // Gate options other than alpha (which comes from the plan). Defaults: STATS.md §3.5.
  rollout::GateOptions gate;
  // n_min(w) for PROMOTE as a share of the devices expected in waves <= w (0 = no minimum beyond
  // one device; the Poisson bound on failures is the real requirement).
  double min_baked_share = 0;
  // BakeSummary::max_promotion_hold_micros as a multiple of the wave's bake: how long a wave may
  // be held on the promotion bound before the gate waives it (PROMOTE, paged and audited).
  // 0 = hold indefinitely. Half a bake: docs/gate.md, "Measured in the simulator".
  double max_promotion_hold_bakes = 0.5;
};

class RingfencePolicy final : public RolloutPolicy {
 public:
  // REQUIRES: `plan` passed rollout::ParsePlan (the policy runs rollout::CheckPlan itself).
  explicit RingfencePolicy(rollout::Plan plan, RingfencePolicyOptions options = {});
  ~RingfencePolicy() override;
  RingfencePolicy(const RingfencePolicy&) = delete;
  RingfencePolicy& operator=(const RingfencePolicy&) = delete;

  std::string_view name() const override { return "ringfence"; }
  // FailedPrecondition if the plan is unsafe (rollout::CheckPlan), or errors from the core.
  Status Start(const SimContext& ctx, PolicyAction& action) override;
  Status OnTick(const Telemetry& telemetry, PolicyAction& action) override;
  bool Finished() const override;
  std::string Outcome() const override;
  int64_t HeldBackDevices() const override { return held_back_; }

  const rollout::ReleaseState& state() const { return state_; }
  const rollout::SequentialGate* gate() const { return gate_.get(); }

 private:
  struct ClassRanks;
  Status Handle(const rollout::Event& event, int64_t now, PolicyAction& action);
  Status AnswerPromotion(int wave, int64_t now, PolicyAction& action);
  rollout::HealthSignals Health() const;
  int64_t BakedDevices(int64_t bake_micros, int64_t now) const;
  int64_t BoundHoldMicros(int wave, int64_t now) const;
  void StopBoundHoldClock(int64_t now);
  std::string StratumName(int stratum) const;

  rollout::Plan plan_;
  RingfencePolicyOptions options_;
  SimContext ctx_;
  std::unique_ptr<SeededRandom> rng_;
  std::optional<rollout::Cohorts> cohorts_;
  std::unique_ptr<rollout::SequentialGate> gate_;
  rollout::ReleaseState state_;
  std::vector<int> gate_metric_;  // engine signal index -> gate metric index, or -1
  std::vector<std::unique_ptr<ClassRanks>> ranks_;  // per class; null when ineligible
  std::vector<int64_t> sent_;
  int dispatch_wave_ = -1;  // wave of the last DispatchWave effect, -1 while stopped
  bool paused_ = false;     // StopDispatch without finishing: a hold; the next DispatchWave resumes
  int64_t held_back_ = 0;
  // Telemetry history for n_H: (observed time, devices applied so far).
  std::vector<std::pair<int64_t, int64_t>> applied_history_;
  int64_t treated_ = 0;
  int64_t treated_silent_ = 0;
  // Time this wave's promotion has been held on the promotion bound (BakeSummary): accumulated
  // between consecutive kPromotionBoundNotMet answers; stopped by any other answer or gate hold.
  int bound_hold_wave_ = -1;
  int64_t bound_hold_micros_ = 0;
  int64_t bound_hold_since_ = -1;  // time of the last kPromotionBoundNotMet answer, -1 if stopped
  int exposure_paged_wave_ = -1;   // wave for which a long insufficient-exposure hold was paged
  int64_t exposure_hold_since_ = -1;
  int not_yet_wave_ = -1;  // wave whose "promotion not yet" was last logged
  int64_t not_yet_count_ = 0;
  std::string last_not_yet_;
};

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_RINGFENCE_POLICY_H_
