#include "platform/subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "testing/test_util.h"

namespace rf {
namespace {

SubprocessResult RunChild(std::vector<std::string> argv, int64_t timeout_ms = 10'000,
                     ResourceLimits limits = {}) {
  SubprocessOptions o;
  o.argv = std::move(argv);
  o.wall_timeout_ms = timeout_ms;
  o.limits = limits;
  Result<SubprocessResult> r = RunSubprocess(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SubprocessResult{};
}

TEST(SubprocessTest, CapturesExitCodeAndOutput) {
  SubprocessResult r = RunChild({"/bin/sh", "-c", "echo hi; echo oops >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_GT(r.max_rss_kb, 0);
}

TEST(SubprocessTest, ReportsTheSignalOfACrash) {
  SubprocessResult r = RunChild({"/bin/sh", "-c", "kill -SEGV $$"});
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_EQ(SignalName(r.term_signal), "SIGSEGV");
}

TEST(SubprocessTest, KillsAtTheWallTimeLimit) {
  SubprocessResult r = RunChild({"/bin/sleep", "30"}, 200);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_LT(r.wall_us, 5'000'000);
}

TEST(SubprocessTest, KillsAChildThatClosedItsPipesAndHangs) {
  SubprocessResult r = RunChild({"/bin/sh", "-c", "exec >&- 2>&-; sleep 30"}, 300);
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(r.wall_us, 5'000'000);
}

TEST(SubprocessTest, DoesNotWaitForBackgroundedGrandchildren) {
  SubprocessResult r = RunChild({"/bin/sh", "-c", "sleep 30 & echo started"}, 20'000);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "started\n");
  EXPECT_LT(r.wall_us, 5'000'000);
}

TEST(SubprocessTest, CpuLimitSendsSigxcpu) {
  ResourceLimits l;
  l.cpu_seconds = 1;
  SubprocessResult r = RunChild({"/bin/sh", "-c", "while :; do :; done"}, 20'000, l);
  EXPECT_EQ(r.term_signal, SIGXCPU) << "exit " << r.exit_code << " cpu_us " << r.cpu_us()
                                    << " wall_us " << r.wall_us << " err " << r.err;
  EXPECT_FALSE(r.timed_out);
  EXPECT_GE(r.cpu_us(), 900'000);
}

TEST(SubprocessTest, HugeOutputIsTruncatedNotBuffered) {
  SubprocessOptions o;
  o.argv = {"/usr/bin/head", "-c", "50000000", "/dev/zero"};
  o.max_output_bytes = 4096;
  auto r = RunSubprocess(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out.size(), 4096u);
  EXPECT_TRUE(r->out_truncated);
  EXPECT_FALSE(r->err_truncated);
}

TEST(SubprocessTest, FileSizeLimit) {
  testing::TempDir dir;
  ResourceLimits l;
  l.file_size_bytes = 1000;
  SubprocessResult r = RunChild({"/usr/bin/head", "-c", "100000", "/dev/zero"}, 10'000, l);
  EXPECT_EQ(r.exit_code, 0);  // pipes are not files
  SubprocessOptions o;
  o.argv = {"/bin/dd", "if=/dev/zero", "of=" + dir.File("f"), "bs=10000", "count=1"};
  o.limits = l;
  auto w = RunSubprocess(o);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->term_signal, SIGXFSZ);
}

TEST(SubprocessTest, EmptyEnvironmentAndClosedDescriptors) {
  SubprocessResult env = RunChild({"/usr/bin/env"});
  EXPECT_EQ(env.exit_code, 0);
  EXPECT_EQ(env.out, "");
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: would be inherited
  ASSERT_GE(leaked, 3);
  SubprocessResult fds = RunChild({"/bin/ls", "/proc/self/fd"});
  ::close(leaked);
  EXPECT_EQ(fds.exit_code, 0);
  // 0, 1, 2 and the descriptor ls opened to list the directory.
  EXPECT_EQ(fds.out, "0\n1\n2\n3\n") << "inherited descriptor " << leaked;
}

// Regression (2026-11-26): the descriptor limit was set before the child opened /dev/null, so a
// parent holding more descriptors than the limit (a busy server running layer 2) made every run
// fail with EMFILE.
TEST(SubprocessTest, DescriptorLimitBelowTheParentsOpenDescriptors) {
  std::vector<int> held;
  for (int i = 0; i < 80; ++i) held.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ResourceLimits limits;
  limits.open_files = 16;
  SubprocessResult r = RunChild({"/bin/sh", "-c", "echo ok"}, 10'000, limits);
  for (int fd : held) ::close(fd);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
}

TEST(SubprocessTest, NetworkNamespaceWhenPermitted) {
  SubprocessResult r = RunChild({"/bin/cat", "/proc/net/dev"});
  EXPECT_EQ(r.exit_code, 0);
  if (!r.network_isolated) GTEST_SKIP() << "this kernel/container refuses network namespaces";
  // Only the (down) loopback device exists in a fresh network namespace.
  EXPECT_EQ(r.out.find("eth"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lo:"), std::string::npos) << r.out;
}

TEST(SubprocessTest, StartFailuresAreErrors) {
  SubprocessOptions o;
  EXPECT_EQ(RunSubprocess(o).status().code(), StatusCode::kInvalidArgument);
  o.argv = {"/nonexistent/prog"};
  EXPECT_EQ(RunSubprocess(o).status().code(), StatusCode::kNotFound);
  o.argv = {"definitely-not-a-program-xyz"};
  EXPECT_EQ(RunSubprocess(o).status().code(), StatusCode::kNotFound);
  o.argv = {"/bin/true"};
  o.working_dir = "/nonexistent/dir";
  auto r = RunSubprocess(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("chdir"), std::string::npos);
}

TEST(SubprocessTest, TempDir) {
  auto d = MakeTempDir("rf-subprocess-test");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(::access(d->c_str(), W_OK), 0);
  RemoveTree(*d);
  EXPECT_NE(::access(d->c_str(), F_OK), 0);
}

}  // namespace
}  // namespace rf
