#include "rollout/confirmation.h"

#include <gtest/gtest.h>

namespace rf::rollout {
namespace {

constexpr int64_t kS = 1'000'000;

GateSettings Gate(int64_t confirm_after_s) {
  GateSettings g;
  g.silence_after_micros = 90 * kS;
  g.confirm_after_micros = confirm_after_s * kS;
  return g;
}

TEST(ConfirmationTest, DelayIsJitteredWithinAQuarter) {
  EXPECT_EQ(ConfirmationDelayMicros(15 * kS, 0.0), 15 * kS);
  EXPECT_EQ(ConfirmationDelayMicros(15 * kS, 0.5), 15 * kS + 1'875'000);
  EXPECT_LT(ConfirmationDelayMicros(15 * kS, 0.999999), 18'750'001);
  // The deadline leaves at least 0.75 x confirm_after after the latest confirmation.
  EXPECT_EQ(ConfirmationDeadline(Gate(15), 100 * kS), 130 * kS);
  EXPECT_EQ(ConfirmationDeadline(Gate(0), 100 * kS), -1);
}

TEST(ConfirmationTest, MissingConfirmationIsSilenceAtItsDeadline) {
  const GateSettings g = Gate(15);
  const int64_t deadline = ConfirmationDeadline(g, 100 * kS);  // reported at 100 s
  EXPECT_FALSE(IsSilent(g, 130 * kS, 100 * kS, deadline));     // at the deadline: not yet
  EXPECT_TRUE(IsSilent(g, 130 * kS + 1, 100 * kS, deadline));  // past it, unconfirmed
  // Still busy applying or loading: not silent before the deadline, even past a short
  // silence_after (a busy machine is not harm).
  GateSettings short_silence = g;
  short_silence.silence_after_micros = 3 * kS;
  EXPECT_FALSE(IsSilent(short_silence, 129 * kS, 100 * kS, deadline));
  EXPECT_TRUE(IsSilent(short_silence, 130 * kS + 1, 100 * kS, deadline));
  // Without a debt only the heartbeat rule: 90 s.
  EXPECT_FALSE(IsSilent(g, 190 * kS, 100 * kS, -1));
  EXPECT_TRUE(IsSilent(g, 190 * kS + 1, 100 * kS, -1));
  // Confirmations off: no debt, the heartbeat rule.
  EXPECT_FALSE(IsSilent(Gate(0), 140 * kS, 100 * kS, ConfirmationDeadline(Gate(0), 100 * kS)));
  EXPECT_TRUE(IsSilent(Gate(0), 190 * kS + 1, 100 * kS, ConfirmationDeadline(Gate(0), 100 * kS)));
}

TEST(ConfirmationTest, SimulatorDetectionDelays) {
  const GateSettings on = Gate(15), off = Gate(0);
  const int64_t poll = 60 * kS, confirm = 16 * kS;
  // CF291: stops 5 s after the apply, before its confirmation: silent at the deadline (30 s),
  // not 90 s after the apply report.
  EXPECT_EQ(SilenceDetectionDelay(on, poll, confirm, 5 * kS), 30 * kS);
  EXPECT_EQ(SilenceDetectionDelay(off, poll, confirm, 5 * kS), 90 * kS);
  // Stops after the confirmation: check-ins at 0, 16 s (the confirmation), 60 s, 120 s, ... (the
  // poll keeps its phase): the last one + 90 s.
  EXPECT_EQ(SilenceDetectionDelay(on, poll, confirm, 20 * kS), 106 * kS);
  EXPECT_EQ(SilenceDetectionDelay(on, poll, confirm, 80 * kS), 150 * kS);
  EXPECT_EQ(SilenceDetectionDelay(off, poll, confirm, 80 * kS), 150 * kS);
  // Crash and error reports: at the confirmation when they come before it, else the next poll,
  // never later than without confirmations (cloudflare-2019-waf's errors 20 s after the apply are
  // reported at 60 s either way).
  EXPECT_EQ(NextCheckinDelay(on, poll, confirm, 5 * kS), 16 * kS);
  EXPECT_EQ(NextCheckinDelay(on, poll, confirm, 16 * kS), 60 * kS);
  EXPECT_EQ(NextCheckinDelay(on, poll, confirm, 20 * kS), 60 * kS);
  EXPECT_EQ(NextCheckinDelay(off, poll, confirm, 5 * kS), 60 * kS);
  // (Silence after the confirmation is seen later than without it: its heartbeat is fresher.)
  for (int64_t t = 0; t < 300 * kS; t += 7 * kS) {
    EXPECT_LE(NextCheckinDelay(on, poll, confirm, t), NextCheckinDelay(off, poll, confirm, t));
  }
}

}  // namespace
}  // namespace rf::rollout
