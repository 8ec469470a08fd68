#include "rollout/driver.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rf::rollout {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMinute = 60 * kSecond;

// Two strata of 1,000 devices; canary 10 % (floor 20) over 2 min, bake 10 min; then everyone.
const char* kPlan = R"(plan: test
waves:
  - {name: canary, devices: 10%, stratify: [os], min_per_stratum: 20, dispatch: 2m, bake: 10m}
  - {name: all, devices: 100%, dispatch: 2m, bake: 10m}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 90s, holdback: 1%}
on_failure: rollback
)";

// The release state in memory; records every event applied.
class MemoryPort final : public TransitionPort {
 public:
  explicit MemoryPort(ReleaseState& state) : state_(state) {}
  Result<TransitionResult> Apply(const Event& event, int64_t now) override {
    RF_ASSIGN_OR_RETURN(TransitionResult r, Transition(state_, event, now));
    state_ = r.state;
    events.push_back(event);
    return r;
  }
  std::vector<Event> events;

 private:
  ReleaseState& state_;
};

class DriverTest : public ::testing::Test {
 protected:
  void SetUp() override { Init(DriverOptions{}); }

  void Init(DriverOptions options) {
    auto plan = ParsePlan(kPlan, "test.yaml");
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    plan_ = *plan;
    CohortAssigner assigner(plan_);
    for (const char* os : {"os=linux", "os=windows"}) {
      const int s = assigner.AddStratum(os);
      for (int i = 0; i < 1000; ++i) {
        assigner.AddDevice(s, CohortRank("r-1", std::string(os) + std::to_string(i)));
      }
    }
    auto cohorts = assigner.Build();
    ASSERT_TRUE(cohorts.ok()) << cohorts.status().ToString();
    auto d = ReleaseDriver::Create(plan_, std::move(*cohorts), options);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    driver_ = std::move(*d);
    state_ = NewRelease(plan_, "r-1", 0);
    state_ = Transition(state_, Event::Approved("bob"), 0)->state;
    state_ = Transition(state_, Event::Start("carol"), 0)->state;
    port_ = std::make_unique<MemoryPort>(state_);
  }

  // A quiet tick: `treated` devices per stratum, all applied unless told otherwise, no events.
  DriverTick Quiet(int64_t now, int64_t treated, int64_t applied = -1, double lag_s = 10) {
    DriverTick t;
    t.now_micros = now;
    t.observed_micros = now;
    t.telemetry_lag_seconds = lag_s;
    for (int s = 0; s < 2; ++s) {
      StratumTelemetry st;
      st.treated_at_risk = treated;
      st.control_at_risk = 1000 - treated;
      st.treated = treated;
      st.applied = applied < 0 ? treated : applied;
      t.strata.push_back(st);
    }
    return t;
  }

  DriverOutput Step(const DriverTick& t) {
    DriverOutput out;
    Status st = driver_->Step(t, state_, *port_, &out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  // Texts of the page and audit effects of `out`.
  static std::vector<std::string> Pages(const DriverOutput& out) {
    std::vector<std::string> v;
    for (const DriverTransition& x : out.transitions) {
      for (const Effect& e : x.result.effects) {
        if (e.kind == EffectKind::kPage) v.push_back(e.text);
      }
    }
    return v;
  }
  static bool Audited(const DriverOutput& out, const std::string& text) {
    for (const DriverTransition& x : out.transitions) {
      for (const Effect& e : x.result.effects) {
        if (e.kind == EffectKind::kRecordAudit && e.text.find(text) != std::string::npos) {
          return true;
        }
      }
    }
    return false;
  }

  Plan plan_;
  std::unique_ptr<ReleaseDriver> driver_;
  ReleaseState state_;
  std::unique_ptr<MemoryPort> port_;
};

TEST_F(DriverTest, HealthyReleasePromotesAfterTheBake) {
  // n_H = 200 devices, no event: p_ex = 3.0 / 200 = 0.015 <= 30 / ~1,780 next-wave devices.
  int64_t now = 0;
  for (; now <= 2 * kMinute; now += 10 * kSecond) Step(Quiet(now, 100));
  EXPECT_EQ(state_.phase, Phase::kBaking);
  for (; now < 12 * kMinute; now += 10 * kSecond) Step(Quiet(now, 100));
  EXPECT_EQ(state_.wave, 0);
  const DriverOutput out = Step(Quiet(12 * kMinute, 100));
  EXPECT_EQ(state_.wave, 1);
  EXPECT_EQ(state_.phase, Phase::kDispatching);
  EXPECT_EQ(out.gate_state, "promote");
  EXPECT_TRUE(Pages(out).empty());
}

// n_H counts devices that applied (acknowledged), not devices merely handed the release.
TEST_F(DriverTest, BakedDevicesAreAppliedDevicesOnly) {
  for (int64_t now = 0; now <= 12 * kMinute; now += 10 * kSecond) Step(Quiet(now, 100, 0));
  EXPECT_EQ(state_.wave, 0);
  EXPECT_EQ(driver_->PendingPromotionText().find("promotion refused"), 0u);
  EXPECT_NE(driver_->PendingPromotionText().find("insufficient_exposure"), std::string::npos)
      << driver_->PendingPromotionText();
  EXPECT_NE(driver_->PendingPromotionText().find("n_H=0"), std::string::npos);
}

// min_baked_share: the wave holds while n_H < n_min, is never waived, and pages (and audits) once
// after half a bake of holding.
TEST_F(DriverTest, MinimumExposureHoldsAndPagesOnce) {
  DriverOptions o;
  o.min_baked_share = 2;  // twice the canary: never met
  Init(o);
  int pages = 0;
  int64_t paged_at = -1;
  for (int64_t now = 0; now <= 40 * kMinute; now += 10 * kSecond) {
    const DriverOutput out = Step(Quiet(now, 100));
    for (const std::string& p : Pages(out)) {
      ++pages;
      paged_at = now;
      EXPECT_EQ(p.rfind("release r-1: promotion of 'canary' held 05:00 on insufficient_exposure", 0),
                0u)
          << p;
      EXPECT_TRUE(Audited(out, "paged: promotion of 'canary' held 05:00")) << p;
    }
  }
  EXPECT_EQ(pages, 1);
  EXPECT_EQ(paged_at, 17 * kMinute);  // bake over at 12:00, half a bake (5 min) later
  EXPECT_EQ(state_.wave, 0);
}

// Telemetry lag holds the release; the hold clears when the lag does; a hold that lasts the
// maximum hold is paged and audited once.
TEST_F(DriverTest, TelemetryLagHoldsClearsAndALongHoldIsPaged) {
  Step(Quiet(0, 20));
  DriverOutput out = Step(Quiet(10 * kSecond, 20, -1, /*lag_s=*/200));
  EXPECT_EQ(state_.phase, Phase::kPaused);
  EXPECT_TRUE(state_.gate_hold);
  EXPECT_EQ(out.gate_state, "hold");
  ASSERT_EQ(port_->events.back().kind, EventKind::kGateHold);
  EXPECT_NE(port_->events.back().reason.find("telemetry lag 200 s > 120 s"), std::string::npos)
      << port_->events.back().reason;
  out = Step(Quiet(20 * kSecond, 20, -1, 10));
  EXPECT_EQ(state_.phase, Phase::kDispatching);
  EXPECT_EQ(port_->events.back().kind, EventKind::kGatePromoteNotYet);
  EXPECT_EQ(out.notes, std::vector<std::string>{"hold cleared"});

  int pages = 0;
  for (int64_t now = 30 * kSecond; now <= 30 * kMinute; now += 10 * kSecond) {
    out = Step(Quiet(now, 20, -1, 500));
    for (const std::string& p : Pages(out)) {
      ++pages;
      EXPECT_EQ(now, 30 * kSecond + 5 * kMinute);  // the canary's maximum hold: half its bake
      EXPECT_NE(p.find("held 05:00 by the gate in wave 0 'canary'"), std::string::npos) << p;
      EXPECT_TRUE(Audited(out, "paged: held 05:00 by the gate"));
    }
  }
  EXPECT_EQ(pages, 1);
  EXPECT_EQ(state_.phase, Phase::kPaused);
}

TEST_F(DriverTest, TreatedWithoutDataHolds) {
  DriverTick t = Quiet(10 * kSecond, 40);
  t.strata[0].treated_silent = 9;  // 9 of 80 treated: 11 %
  const DriverOutput out = Step(t);
  EXPECT_TRUE(out.health.treated_without_data == 9 && out.health.treated_devices == 80);
  EXPECT_TRUE(state_.gate_hold);
  EXPECT_NE(state_.reason.find("of treated devices without data"), std::string::npos) << state_.reason;
}

// Sample-ratio mismatch: one stratum's devices do not acknowledge what they were handed while the
// other's do. Acknowledgements lagging by a check-in (a few percent pending) are not a mismatch.
TEST_F(DriverTest, SampleRatioMismatch) {
  DriverTick t = Quiet(10 * kSecond, 100);
  t.strata[0].applied = 95;
  t.strata[1].applied = 88;
  EXPECT_FALSE(Step(t).health.sample_ratio_mismatch);
  EXPECT_FALSE(state_.gate_hold);
  t = Quiet(20 * kSecond, 100);
  t.strata[0].applied = 98;
  t.strata[1].applied = 40;
  const DriverOutput out = Step(t);
  EXPECT_TRUE(out.health.sample_ratio_mismatch);
  EXPECT_TRUE(state_.gate_hold);
  EXPECT_NE(state_.reason.find("sample ratio mismatch"), std::string::npos) << state_.reason;
  // Too few treated devices to tell.
  t = Quiet(30 * kSecond, 10);
  t.strata[1].applied = 0;
  EXPECT_FALSE(Step(t).health.sample_ratio_mismatch);
}

// A bound that is not met is held, then waived after half a bake: PROMOTE with a paged, audited
// event that names the bound.
TEST_F(DriverTest, WaivedPromotionIsPagedAndAudited) {
  int64_t now = 0;
  for (; now <= 12 * kMinute; now += 10 * kSecond) {
    DriverTick t = Quiet(now, 20);
    // Two treated silences (under the three-event floor of a HALT), no control silences.
    if (now == 5 * kMinute) t.strata[0].treated_events[0] = 2;
    Step(t);
  }
  ASSERT_EQ(state_.wave, 0);
  EXPECT_NE(driver_->PendingPromotionText().find("promotion_bound_not_met"), std::string::npos)
      << driver_->PendingPromotionText();
  int pages = 0;
  for (; now <= 20 * kMinute && state_.wave == 0; now += 10 * kSecond) {
    const DriverOutput out = Step(Quiet(now, 20));
    for (const std::string& p : Pages(out)) {
      ++pages;
      EXPECT_EQ(now, 17 * kMinute);
      EXPECT_NE(p.find("promotion of 'canary' held 05:00 on the promotion bound, waived: PROMOTE:"),
                std::string::npos)
          << p;
      EXPECT_TRUE(Audited(out, "paged: promotion of 'canary'"));
      EXPECT_TRUE(Audited(out, "wave 0 'canary' promoted by the gate"));
      EXPECT_EQ(port_->events.back().kind, EventKind::kGatePromoteOk);
    }
  }
  EXPECT_EQ(pages, 1);
  EXPECT_EQ(state_.wave, 1);
}

// The memory and the gate's evidence survive a round trip: a restored driver decides the same.
TEST_F(DriverTest, MemoryRoundTrip) {
  int64_t now = 0;
  for (; now <= 14 * kMinute; now += 10 * kSecond) {
    DriverTick t = Quiet(now, 20);
    if (now == 5 * kMinute) t.strata[0].treated_events[0] = 2;
    Step(t);
  }
  const DriverMemory m = driver_->Memory(now);
  const std::string gate = driver_->EncodeGate();
  EXPECT_TRUE(m.bound_hold_running);
  EXPECT_EQ(m.bound_hold_wave, 0);
  const ReleaseState saved = state_;
  Init(DriverOptions{});
  state_ = saved;
  ASSERT_TRUE(driver_->Restore(gate, m, now).ok());
  EXPECT_EQ(driver_->EncodeGate(), gate);
  const DriverMemory back = driver_->Memory(now);
  EXPECT_EQ(back.applied_history, m.applied_history);
  EXPECT_EQ(back.bound_hold_micros, m.bound_hold_micros);
  // Waived at 17:00 as without the restart.
  for (; now < 17 * kMinute; now += 10 * kSecond) Step(Quiet(now, 20));
  EXPECT_EQ(state_.wave, 0);
  Step(Quiet(17 * kMinute, 20));
  EXPECT_EQ(state_.wave, 1);
  // A damaged file changes nothing.
  EXPECT_FALSE(driver_->Restore("rfgate 1 nonsense", m, now).ok());
}

TEST_F(DriverTest, RefusesMalformedTicks) {
  DriverTick t = Quiet(10 * kSecond, 20);
  t.strata.pop_back();
  DriverOutput out;
  EXPECT_EQ(driver_->Step(t, state_, *port_, &out).code(), StatusCode::kInvalidArgument);
  t = Quiet(10 * kSecond, 20);
  t.strata[1].applied = -1;
  EXPECT_EQ(driver_->Step(t, state_, *port_, &out).code(), StatusCode::kInvalidArgument);
  t = Quiet(10 * kSecond, 20);
  t.observed_micros = t.now_micros + 1;
  EXPECT_EQ(driver_->Step(t, state_, *port_, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(port_->events.empty());
}

TEST(EventPageTest, OnlyGateEventsPage) {
  auto plan = ParsePlan(kPlan, "test.yaml");
  ASSERT_TRUE(plan.ok());
  ReleaseState s = NewRelease(*plan, "r-1", 0);
  s = Transition(s, Event::Approved("bob"), 0)->state;
  s = Transition(s, Event::Start("carol"), 0)->state;
  Event pause = Event::Pause("lunch", "carol");
  pause.page = true;
  EXPECT_EQ(Transition(s, pause, 1).status().code(), StatusCode::kInvalidArgument);
  Event hold = Event::GateHold("lag");
  hold.page = true;
  auto r = Transition(s, hold, 1);
  ASSERT_TRUE(r.ok());
  ASSERT_GE(r->effects.size(), 2u);
  EXPECT_EQ(r->effects[r->effects.size() - 2], (Effect{EffectKind::kRecordAudit, -1, "paged: lag"}));
  EXPECT_EQ(r->effects.back(), (Effect{EffectKind::kPage, -1, "release r-1: lag"}));
}

TEST(FormatDurationTest, MinutesAndHours) {
  EXPECT_EQ(FormatDuration(0), "00:00");
  EXPECT_EQ(FormatDuration(5 * kMinute + 3 * kSecond), "05:03");
  EXPECT_EQ(FormatDuration(3 * 3600 * kSecond + 62 * kSecond), "3:01:02");
  EXPECT_EQ(FormatDuration(-90 * kSecond), "-01:30");
}

}  // namespace
}  // namespace rf::rollout
