#include "agent/backoff.h"

#include <gtest/gtest.h>

#include "agent/crash_loop_guard.h"
#include "platform/sim_env.h"

namespace rf::agent {
namespace {

TEST(FullJitterBackoffTest, DrawsUniformlyBelowADoublingCappedCeiling) {
  SeededRandom random(7);
  FullJitterBackoff b(100, 1000, &random);
  const int64_t ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (int64_t ceiling : ceilings) {
    int64_t d = b.NextDelayMs();
    EXPECT_GE(d, 0);
    EXPECT_LT(d, ceiling);
  }
  b.Reset();
  EXPECT_EQ(b.attempt(), 0);
  // Full jitter spreads over the whole window: the mean of many draws is about half the cap.
  FullJitterBackoff wide(1000, 1000, &random);
  double sum = 0;
  for (int i = 0; i < 10000; ++i) sum += static_cast<double>(wide.NextDelayMs());
  EXPECT_NEAR(sum / 10000, 500, 25);
}

TEST(FullJitterBackoffTest, IsReproducibleFromTheSeed) {
  SeededRandom a(42), b(42);
  FullJitterBackoff x(50, 60000, &a), y(50, 60000, &b);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(x.NextDelayMs(), y.NextDelayMs());
}

TEST(PollDelayTest, ClampsAndJittersTheServersInterval) {
  SeededRandom random(1);
  for (int i = 0; i < 100; ++i) {
    int64_t d = JitteredPollDelayMs(60, 1, 3600, &random);
    EXPECT_GE(d, 54'000);
    EXPECT_LT(d, 66'000);
  }
  EXPECT_GE(JitteredPollDelayMs(0, 5, 3600, &random), 4'500);         // too eager: clamped up
  EXPECT_LT(JitteredPollDelayMs(1'000'000, 5, 600, &random), 660'000);  // too lazy: clamped down
}

TEST(CrashLoopGuardTest, CountsUncleanStartsOfTheSameBundles) {
  MemFilesystem fs;
  CrashLoopGuard guard(&fs, "/s/loading.json", {3}, nullptr);
  std::map<std::string, BundleRef> v43 = {{"291", {43, std::string(64, 'a')}}};
  for (int start = 1; start <= 3; ++start) {
    auto d = guard.BeforeStart(v43);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->quarantine);
    EXPECT_EQ(d->unclean_starts, start - 1);
  }
  auto d = guard.BeforeStart(v43);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->quarantine);
  EXPECT_EQ(d->unclean_starts, 3);
  // Other bundles start a new count.
  std::map<std::string, BundleRef> v44 = {{"291", {44, std::string(64, 'b')}}};
  d = guard.BeforeStart(v44);
  EXPECT_EQ(d->unclean_starts, 0);
  // Nothing on probation: the marker goes.
  ASSERT_TRUE(guard.BeforeStart({}).ok());
  EXPECT_FALSE(fs.Exists("/s/loading.json"));
}

TEST(CrashLoopGuardTest, ZeroMaxUncleanStartsCountsButNeverQuarantines) {
  MemFilesystem fs;
  CrashLoopGuard guard(&fs, "/s/loading.json", {0}, nullptr);
  std::map<std::string, BundleRef> v43 = {{"291", {43, std::string(64, 'a')}}};
  for (int start = 1; start <= 20; ++start) {
    auto d = guard.BeforeStart(v43);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->quarantine);
    EXPECT_EQ(d->unclean_starts, start - 1);
  }
  EXPECT_TRUE(fs.Exists("/s/loading.json"));  // the marker still names what was loading
}

TEST(CrashLoopGuardTest, HealthyAndForgivenStartsDoNotCount) {
  MemFilesystem fs;
  CrashLoopGuard guard(&fs, "/s/loading.json", {2}, nullptr);
  std::map<std::string, BundleRef> v = {{"291", {43, std::string(64, 'a')}}};
  ASSERT_TRUE(guard.BeforeStart(v).ok());
  ASSERT_TRUE(guard.ForgiveLastStart().ok());  // the agent stopped it itself
  EXPECT_EQ(guard.BeforeStart(v)->unclean_starts, 0);
  EXPECT_EQ(guard.BeforeStart(v)->unclean_starts, 1);
  ASSERT_TRUE(guard.Clear().ok());
  EXPECT_EQ(guard.BeforeStart(v)->unclean_starts, 0);
  // A marker that is not ours is ignored rather than guessed at.
  ASSERT_TRUE(fs.WriteFileAtomic("/s/loading.json", "garbage", 0600).ok());
  EXPECT_EQ(guard.BeforeStart(v)->unclean_starts, 0);
}

}  // namespace
}  // namespace rf::agent
