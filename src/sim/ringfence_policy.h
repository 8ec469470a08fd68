// The ringfence policy: the real rollout core of src/rollout driven by simulated telemetry.
//
// Nothing here re-implements a decision. The adapter
//   * ranks every simulated device with rollout::RankHasher and builds rollout::Cohorts from them
//     (floors, holdback, per-stratum cutoffs, pacing);
//   * counts each tick's telemetry per stratum into a rollout::DriverTick and steps the
//     rollout::ReleaseDriver (rollout/driver.h) — the same driver the server's controller steps:
//     gate, hold clocks, n_H, minimum exposure, waivers and pages are decided there;
//   * applies the driver's events with rollout::Transition() on its own release state and carries
//     out the effects (DispatchWave, StopDispatch, RollbackToLkg, Page, RecordAudit: into the
//     run's log).
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
#include "rollout/driver.h"
#include "rollout/gate.h"
#include "rollout/plan.h"
#include "rollout/release.h"
#include "sim/policy.h"

namespace rf::sim {

// The driver's options (rollout::DriverOptions: gate options other than alpha, min_baked_share,
// max_promotion_hold_bakes, the SRM check), the same as the server's ControllerOptions::driver.
using RingfencePolicyOptions = rollout::DriverOptions;

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
  const rollout::SequentialGate* gate() const { return driver_ ? &driver_->gate() : nullptr; }
  const rollout::ReleaseDriver* driver() const { return driver_.get(); }

  // The simulator's DriverTick of `telemetry`: classes summed into their strata.
  rollout::DriverTick DriverTickOf(const Telemetry& telemetry) const;
  // What the driver did at the last OnTick (events applied, their effects, notes).
  const rollout::DriverOutput& last_output() const { return last_output_; }

 private:
  struct ClassRanks;
  class StatePort;
  // Applies `event` directly (Approved, Start) and carries out its effects.
  Status Handle(const rollout::Event& event, int64_t now, PolicyAction& action);
  void CarryOut(const rollout::TransitionResult& result, PolicyAction& action);
  std::string StratumName(int stratum) const;

  rollout::Plan plan_;
  RingfencePolicyOptions options_;
  SimContext ctx_;
  std::unique_ptr<SeededRandom> rng_;
  std::unique_ptr<rollout::ReleaseDriver> driver_;
  rollout::ReleaseState state_;
  std::vector<std::unique_ptr<ClassRanks>> ranks_;  // per class; null when ineligible
  std::vector<int64_t> sent_;
  int dispatch_wave_ = -1;  // wave of the last DispatchWave effect, -1 while stopped
  bool paused_ = false;     // StopDispatch without finishing: a hold; the next DispatchWave resumes
  int64_t held_back_ = 0;
  rollout::DriverOutput last_output_;
};

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_RINGFENCE_POLICY_H_
