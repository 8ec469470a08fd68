#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>

#include "platform/env.h"
#include "platform/sim_env.h"
#include "testing/test_util.h"

namespace rf {
namespace {

TEST(PosixFilesystemTest, AtomicWriteReadAndLimits) {
  testing::TempDir dir;
  Filesystem* fs = PosixEnv().fs;
  const std::string path = dir.File("a/b/state.json");
  ASSERT_TRUE(fs->CreateDirs(dir.File("a/b"), 0700).ok());
  ASSERT_TRUE(fs->WriteFileAtomic(path, "first", 0600).ok());
  ASSERT_TRUE(fs->WriteFileAtomic(path, "second", 0600).ok());
  auto r = fs->ReadFile(path, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "second");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temp file is left behind.
  auto names = fs->ListDir(dir.File("a/b"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"state.json"});
  EXPECT_EQ(fs->ReadFile(path, 3).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(fs->ReadFile(dir.File("missing"), 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs->ReadFile(dir.path(), 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs->Remove(path).ok());
  EXPECT_FALSE(fs->Exists(path));
}

TEST(PosixFilesystemTest, AppendDurableCreatesWithModeAndAppends) {
  testing::TempDir dir;
  Filesystem* fs = PosixEnv().fs;
  const std::string path = dir.File("journal.log");
  ASSERT_TRUE(fs->AppendDurable(path, "one\n", 0600).ok());
  ASSERT_TRUE(fs->AppendDurable(path, "two\n", 0644).ok());
  auto r = fs->ReadFile(path, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "one\ntwo\n");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // the mode applies at creation only
  EXPECT_FALSE(fs->AppendDurable(dir.File("no/such/dir/x"), "x", 0600).ok());
}

TEST(PosixEnvTest, ClocksMove) {
  Env env = PosixEnv();
  int64_t a = env.clock->MonotonicMicros();
  int64_t b = env.clock->MonotonicMicros();
  EXPECT_LE(a, b);
  EXPECT_GT(env.clock->NowUnixMicros(), 1'600'000'000'000'000);
}

TEST(SeededRandomTest, DeterministicAndUniform) {
  SeededRandom a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Next64(), b.Next64());
  EXPECT_NE(a.Next64(), c.Next64());
  SeededRandom r(7);
  int buckets[10] = {};
  for (int i = 0; i < 100000; ++i) ++buckets[r.Below(10)];
  for (int n : buckets) EXPECT_NEAR(n, 10000, 500);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    double u = r.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
}

TEST(SimulatedClockTest, MovesOnlyWhenTold) {
  SimulatedClock clock(1000);
  EXPECT_EQ(clock.NowUnixMicros(), 1000);
  clock.AdvanceMicros(500);
  EXPECT_EQ(clock.NowUnixMicros(), 1500);
  EXPECT_EQ(clock.MonotonicMicros(), 1500);
}

TEST(MemFilesystemTest, BehavesLikeAFilesystem) {
  MemFilesystem fs;
  ASSERT_TRUE(fs.WriteFileAtomic("/d/x", "1", 0600).ok());
  ASSERT_TRUE(fs.WriteFileAtomic("/d/y", "22", 0600).ok());
  ASSERT_TRUE(fs.WriteFileAtomic("/d/sub/z", "3", 0600).ok());
  EXPECT_EQ(*fs.ReadFile("/d/y", 10), "22");
  EXPECT_EQ(fs.ReadFile("/d/y", 1).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(*fs.ListDir("/d"), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(fs.Remove("/d/x").ok());
  EXPECT_EQ(fs.Remove("/d/x").code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace rf

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "platform/parallel.h"

namespace rf {
namespace {

int ThreadNice() {
  errno = 0;
  return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
}

TEST(ParallelForTest, CallsEveryIndexExactlyOnce) {
  for (unsigned threads : {1u, 2u, 4u}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{1000}}) {
      std::vector<std::atomic<int>> calls(n);
      ParallelFor(n, [&](size_t i) { calls[i].fetch_add(1); }, threads);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(calls[i].load(), 1) << n << " " << threads;
    }
  }
}

// The operator executor's threads run below the event loops: the change is the calling thread's
// alone, and what that thread starts afterwards inherits it.
TEST(LowerThreadPriorityTest, LowersOnlyTheCallingThreadAndIsInherited) {
  const int before = ThreadNice();
  int lowered = 0, seen_inside = 0, seen_by_child = 0;
  std::thread t([&] {
    lowered = LowerThreadPriority(5);
    seen_inside = ThreadNice();
    std::thread child([&] { seen_by_child = ThreadNice(); });
    child.join();
  });
  t.join();
  EXPECT_EQ(lowered, std::min(19, before + 5));
  EXPECT_EQ(seen_inside, lowered);
  EXPECT_EQ(seen_by_child, lowered);
  EXPECT_EQ(ThreadNice(), before);  // the caller's thread is untouched
}

TEST(LowerThreadPriorityTest, RefusesAnIncrementOutsideOneToNineteen) {
  const int before = ThreadNice();
  errno = 0;
  EXPECT_EQ(LowerThreadPriority(0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(LowerThreadPriority(20), -1);
  EXPECT_EQ(LowerThreadPriority(-3), -1);
  EXPECT_EQ(ThreadNice(), before);
}

}  // namespace
}  // namespace rf
