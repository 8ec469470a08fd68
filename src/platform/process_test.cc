#include "platform/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "testing/test_util.h"

namespace rf {
namespace {

// Deadlines in these tests are generous: they bound a broken runner, they never time a healthy one.
constexpr int64_t kPatientMs = 60'000;

ProcessResult RunOk(std::vector<std::string> argv, int64_t timeout_ms = kPatientMs,
                  ResourceLimits limits = {}) {
  ProcessOptions o;
  o.argv = std::move(argv);
  o.wall_timeout_ms = timeout_ms;
  o.limits = limits;
  Result<ProcessResult> r = RunProcess(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : ProcessResult{};
}

std::string OrEmpty(const Result<std::string>& r) { return r.ok() ? *r : ""; }

// The line of /proc/self/limits for `name` as the child saw it, e.g. "Max open files 16 16 files".
std::string LimitLine(const std::string& limits, const std::string& name) {
  const size_t at = limits.find(name);
  if (at == std::string::npos) return "";
  std::string line = limits.substr(at, limits.find('\n', at) - at);
  std::string squeezed;
  for (char c : line) {
    if (c != ' ' || (!squeezed.empty() && squeezed.back() != ' ')) squeezed += c;
  }
  while (!squeezed.empty() && squeezed.back() == ' ') squeezed.pop_back();
  return squeezed;
}

// ---------- run to completion ----------

TEST(RunProcessTest, CapturesExitCodeAndOutput) {
  ProcessResult r = RunOk({"/bin/sh", "-c", "echo hi; echo oops >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.Succeeded());
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_GT(r.max_rss_kb, 0);
  EXPECT_EQ(r.Describe(), "exit 3: oops");
}

TEST(RunProcessTest, ReportsTheSignalOfACrash) {
  ProcessResult r = RunOk({"/bin/sh", "-c", "kill -SEGV $$"});
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGSEGV);
  EXPECT_EQ(SignalName(r.signal), "SIGSEGV");
  EXPECT_EQ(r.Describe(), "killed by signal 11 (SIGSEGV)");
  EXPECT_EQ(SignalName(SIGUSR1), "SIGUSR1");
  EXPECT_EQ(SignalName(777), "signal 777");
}

TEST(RunProcessTest, KillsAtTheWallTimeLimit) {
  ProcessResult r = RunOk({"/bin/sleep", "600"}, 200);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.Describe(), "timed out");
  EXPECT_LT(r.wall_us, 300'000'000);  // not the child's 600 s
}

TEST(RunProcessTest, KillsAChildThatClosedItsPipesAndHangs) {
  ProcessResult r = RunOk({"/bin/sh", "-c", "exec >&- 2>&-; sleep 600"}, 300);
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(r.wall_us, 300'000'000);
}

TEST(RunProcessTest, DoesNotWaitForBackgroundedGrandchildren) {
  ProcessResult r = RunOk({"/bin/sh", "-c", "sleep 600 & echo started"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "started\n");
  EXPECT_LT(r.wall_us, 300'000'000);  // the grandchild holding the pipes was killed, not awaited
}

TEST(RunProcessTest, CpuLimitSendsSigxcpu) {
  ResourceLimits l;
  l.cpu_seconds = 1;
  ProcessResult r = RunOk({"/bin/sh", "-c", "while :; do :; done"}, 300'000, l);
  EXPECT_EQ(r.signal, SIGXCPU) << "exit " << r.exit_code << " cpu_us " << r.cpu_us()
                               << " wall_us " << r.wall_us << " err " << r.err;
  EXPECT_FALSE(r.timed_out);
  EXPECT_GE(r.cpu_us(), 900'000);
}

TEST(RunProcessTest, HugeOutputIsTruncatedNotBuffered) {
  ProcessOptions o;
  o.argv = {"/usr/bin/head", "-c", "50000000", "/dev/zero"};
  o.max_output_bytes = 4096;
  o.wall_timeout_ms = kPatientMs;
  auto r = RunProcess(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out.size(), 4096u);
  EXPECT_TRUE(r->out_truncated);
  EXPECT_FALSE(r->err_truncated);
}

TEST(RunProcessTest, FileSizeLimit) {
  testing::TempDir dir;
  ResourceLimits l;
  l.file_size_bytes = 1000;
  ProcessResult r = RunOk({"/usr/bin/head", "-c", "100000", "/dev/zero"}, kPatientMs, l);
  EXPECT_EQ(r.exit_code, 0);  // pipes are not files
  ProcessOptions o;
  o.argv = {"/bin/dd", "if=/dev/zero", "of=" + dir.File("f"), "bs=10000", "count=1"};
  o.limits = l;
  o.wall_timeout_ms = kPatientMs;
  auto w = RunProcess(o);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->signal, SIGXFSZ);
}

// Every limit asked for is the one the child runs under (read back from /proc/self/limits).
TEST(RunProcessTest, AppliesEveryResourceLimit) {
  ResourceLimits l;
  l.cpu_seconds = 7;
  l.address_space_bytes = int64_t{3} << 30;
  l.open_files = 33;
  l.processes = 4000;
  l.file_size_bytes = 1 << 20;
  ProcessResult r = RunOk({"/bin/cat", "/proc/self/limits"}, kPatientMs, l);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(LimitLine(r.out, "Max cpu time"), "Max cpu time 7 8 seconds");
  EXPECT_EQ(LimitLine(r.out, "Max address space"), "Max address space 3221225472 3221225472 bytes");
  EXPECT_EQ(LimitLine(r.out, "Max open files"), "Max open files 33 33 files");
  EXPECT_EQ(LimitLine(r.out, "Max processes"), "Max processes 4000 4000 processes");
  EXPECT_EQ(LimitLine(r.out, "Max file size"), "Max file size 1048576 1048576 bytes");
  EXPECT_EQ(LimitLine(r.out, "Max core file size"), "Max core file size 0 0 bytes");
}

// A limit above the inherited hard limit is lowered to it instead of failing the start.
TEST(RunProcessTest, NeverRaisesALimit) {
  struct rlimit nofile;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
  if (nofile.rlim_max == RLIM_INFINITY) GTEST_SKIP() << "no hard descriptor limit here";
  ResourceLimits l;
  l.open_files = static_cast<int64_t>(nofile.rlim_max) + 1000;
  ProcessResult r = RunOk({"/bin/cat", "/proc/self/limits"}, kPatientMs, l);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string hard = std::to_string(nofile.rlim_max);
  EXPECT_EQ(LimitLine(r.out, "Max open files"), "Max open files " + hard + " " + hard + " files");
}

TEST(RunProcessTest, EmptyEnvironmentByDefaultOrTheGivenOne) {
  ProcessResult env = RunOk({"/usr/bin/env"});
  EXPECT_EQ(env.exit_code, 0);
  EXPECT_EQ(env.out, "");
  ProcessOptions o;
  o.argv = {"/usr/bin/env"};
  o.env = std::vector<std::string>{"A=1", "B=two words"};
  auto given = RunProcess(o);
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->out, "A=1\nB=two words\n");
}

// Descriptor hygiene: the child sees 0-2 only, stdin is /dev/null, whatever the parent holds
// without close-on-exec.
TEST(RunProcessTest, ChildSeesNoInheritedDescriptors) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: would be inherited
  ASSERT_GE(leaked, 3);
  int leaked_pipe[2];
  ASSERT_EQ(::pipe(leaked_pipe), 0);
  ProcessResult fds = RunOk({"/bin/ls", "/proc/self/fd"});
  ProcessResult in = RunOk({"/bin/readlink", "/proc/self/fd/0"});
  ::close(leaked);
  ::close(leaked_pipe[0]);
  ::close(leaked_pipe[1]);
  EXPECT_EQ(fds.exit_code, 0);
  // 0, 1, 2 and the descriptor ls opened to list the directory.
  EXPECT_EQ(fds.out, "0\n1\n2\n3\n") << "inherited descriptor " << leaked;
  EXPECT_EQ(in.out, "/dev/null\n");
}

// Regression (2026-11-26): the descriptor limit was set before the child opened /dev/null, so a
// parent holding more descriptors than the limit (a busy server running layer 2) made every run
// fail with EMFILE.
TEST(RunProcessTest, DescriptorLimitBelowTheParentsOpenDescriptors) {
  std::vector<int> held;
  for (int i = 0; i < 80; ++i) held.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ResourceLimits limits;
  limits.open_files = 16;
  ProcessResult r = RunOk({"/bin/sh", "-c", "readlink /proc/self/fd/0"}, kPatientMs, limits);
  for (int fd : held) ::close(fd);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "/dev/null\n");
}

TEST(RunProcessTest, NetworkNamespaceWhenPermitted) {
  ProcessOptions o;
  o.argv = {"/bin/cat", "/proc/net/dev"};
  o.isolate_network = true;
  auto r = RunProcess(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  if (!r->network_isolated) GTEST_SKIP() << "this kernel/container refuses network namespaces";
  // Only the (down) loopback device exists in a fresh network namespace.
  EXPECT_EQ(r->out.find("eth"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("lo:"), std::string::npos) << r->out;
}

// Start failures are clear errors, never a child that "exited 127".
TEST(RunProcessTest, StartFailuresAreClearErrors) {
  testing::TempDir dir;
  ProcessOptions o;
  EXPECT_EQ(RunProcess(o).status().code(), StatusCode::kInvalidArgument);
  o.argv = {"/nonexistent/prog"};
  auto missing = RunProcess(o);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'/nonexistent/prog' is not an executable file"),
            std::string::npos)
      << missing.status().ToString();
  o.argv = {"definitely-not-a-program-xyz"};
  auto unnamed = RunProcess(o);
  EXPECT_EQ(unnamed.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unnamed.status().message().find("definitely-not-a-program-xyz"), std::string::npos);
  testing::WriteFileOrDie(dir.File("script"), "#!/bin/sh\necho hi\n");  // 0644: not executable
  o.argv = {dir.File("script")};
  EXPECT_EQ(RunProcess(o).status().code(), StatusCode::kNotFound);
  o.argv = {dir.path()};  // a directory
  EXPECT_EQ(RunProcess(o).status().code(), StatusCode::kNotFound);
  // A sandbox step that fails in the child comes back through the status pipe.
  o.argv = {"/bin/true"};
  o.working_dir = "/nonexistent/dir";
  auto r = RunProcess(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "starting '/bin/true': chdir: No such file or directory");
  // execve itself failing (an executable file the kernel cannot run).
  testing::WriteFileOrDie(dir.File("garbage"), std::string(64, '\x7f'));
  ASSERT_EQ(::chmod(dir.File("garbage").c_str(), 0755), 0);
  o.working_dir.clear();
  o.argv = {dir.File("garbage")};
  auto x = RunProcess(o);
  ASSERT_FALSE(x.ok());
  EXPECT_NE(x.status().message().find(": execve: Exec format error"), std::string::npos)
      << x.status().ToString();
}

// A relative program path means relative to the caller's directory, also with a working_dir
// (layer 2 runs `--consumer build/.../sensor` in a private temp directory).
TEST(RunProcessTest, RelativeProgramWithAWorkingDirectory) {
  testing::TempDir dir;
  testing::WriteFileOrDie(dir.File("prog"), "#!/bin/sh\necho ran in \"$(pwd)\"\n");
  ASSERT_EQ(::chmod(dir.File("prog").c_str(), 0755), 0);
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  ProcessOptions o;
  o.argv = {"./prog"};
  o.working_dir = "/";
  o.env = std::vector<std::string>{"PATH=/usr/bin:/bin"};
  auto r = RunProcess(o);
  ASSERT_EQ(::chdir(cwd), 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "ran in /\n");
}

// ---------- supervised ----------

TEST(ProcessTest, LinesExitAndOutputAfterTheEnd) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "echo one; echo two >&2; printf three; exit 4"};
  o.stdout_to = Output::kPipe;
  o.stderr_to = Output::kAsStdout;
  auto p = Process::Start(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->running());
  auto r = p->WaitFor(kPatientMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_FALSE(p->running());
  EXPECT_EQ(p->TakeStdoutLines(), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_TRUE(p->TakeStdoutLines().empty());
}

TEST(ProcessTest, ReadStdoutLineWaitsForALine) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "sleep 0.2; echo ready; exec sleep 600"};
  o.stdout_to = Output::kPipe;
  auto p = Process::Start(o);
  ASSERT_TRUE(p.ok());
  auto line = p->ReadStdoutLine(kPatientMs);
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_EQ(*line, "ready");
  EXPECT_EQ(p->ReadStdoutLine(100).status().code(), StatusCode::kDeadlineExceeded);
  ProcessResult r = p->Stop(kPatientMs);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_EQ(p->ReadStdoutLine(kPatientMs).status().code(), StatusCode::kUnavailable);
}

TEST(ProcessTest, StopEscalatesToSigkill) {
  ProcessOptions o;
  // Ignores SIGTERM, and says so once it does (so the test knows the trap is set).
  o.argv = {"/bin/sh", "-c", "trap '' TERM; echo trapped; while :; do sleep 1; done"};
  o.stdout_to = Output::kPipe;
  auto p = Process::Start(o);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(OrEmpty(p->ReadStdoutLine(kPatientMs)), "trapped");
  ProcessResult r = p->Stop(200);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_FALSE(p->running());
}

TEST(ProcessTest, LongLinesAreCut) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x; echo; echo next"};
  o.stdout_to = Output::kPipe;
  o.max_line_bytes = 100;
  o.env = std::vector<std::string>{"PATH=/usr/bin:/bin"};
  auto p = Process::Start(o);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->WaitFor(kPatientMs).has_value());
  EXPECT_EQ(p->TakeStdoutLines(), (std::vector<std::string>{std::string(100, 'x'), "next"}));
}

TEST(ProcessTest, OutputToAFileIsAppended) {
  testing::TempDir dir;
  testing::WriteFileOrDie(dir.File("log"), "before\n");
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "echo out; echo err >&2"};
  o.stdout_to = Output::kFile;
  o.stderr_to = Output::kAsStdout;
  o.output_file = dir.File("log");
  auto p = Process::Start(o);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->WaitFor(kPatientMs).value_or(ProcessResult{}).exit_code, 0);
  EXPECT_EQ(testing::ReadFileOrDie(dir.File("log")), "before\nout\nerr\n");
  EXPECT_EQ(p->ReadStdoutLine(10).status().code(), StatusCode::kFailedPrecondition);
}

TEST(ProcessTest, DestroyingKillsTheWholeGroup) {
  testing::TempDir dir;
  pid_t grandchild = 0;
  {
    ProcessOptions o;
    o.argv = {"/bin/sh", "-c", "sleep 600 & echo $!; wait"};
    o.stdout_to = Output::kPipe;
    auto p = Process::Start(o);
    ASSERT_TRUE(p.ok());
    auto line = p->ReadStdoutLine(kPatientMs);
    ASSERT_TRUE(line.ok());
    grandchild = std::stoi(*line);
    ASSERT_EQ(::kill(grandchild, 0), 0);
  }
  // The grandchild was SIGKILLed with the group: gone, or a zombie its new parent has not reaped.
  auto gone = [grandchild] {
    if (::kill(grandchild, 0) != 0) return true;
    std::ifstream in("/proc/" + std::to_string(grandchild) + "/stat");
    const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    return paren != std::string::npos && stat.compare(paren, 4, ") Z ") == 0;
  };
  for (int i = 0; i < 6000 && !gone(); ++i) ::usleep(10'000);
  EXPECT_TRUE(gone());
}

// die_with_parent: the kernel kills the child when the thread that started it exits.
TEST(ProcessTest, DiesWithTheStartingThread) {
  Process p;
  std::thread starter([&p] {
    ProcessOptions o;
    o.argv = {"/bin/sleep", "600"};
    auto started = Process::Start(o);
    ASSERT_TRUE(started.ok());
    p = std::move(*started);
  });
  starter.join();
  ASSERT_TRUE(p.running());
  auto r = p.WaitFor(kPatientMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->signal, SIGKILL);
}

TEST(ProcessTest, StartErrorsNameTheProblem) {
  ProcessOptions o;
  o.argv = {"/bin/true"};
  o.stdout_to = Output::kAsStdout;
  EXPECT_EQ(Process::Start(o).status().code(), StatusCode::kInvalidArgument);
  o.stdout_to = Output::kFile;  // without output_file
  EXPECT_EQ(Process::Start(o).status().code(), StatusCode::kInvalidArgument);
  o.stdout_to = Output::kNull;
  o.argv = {"no-such-program-xyz"};
  EXPECT_EQ(Process::Start(o).status().code(), StatusCode::kNotFound);
}

// ---------- PATH ----------

TEST(ResolveExecutableTest, SearchesThePathListInOrder) {
  testing::TempDir dir;
  ASSERT_EQ(::mkdir(dir.File("a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(dir.File("b").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(dir.File("a/prog").c_str(), 0755), 0);  // a directory is not a program
  testing::WriteFileOrDie(dir.File("b/prog"), "#!/bin/sh\n");
  testing::WriteFileOrDie(dir.File("a/other"), "#!/bin/sh\n");  // not executable
  ASSERT_EQ(::chmod(dir.File("b/prog").c_str(), 0755), 0);
  const std::string list = "::" + dir.File("a") + "::" + dir.File("b") + ":";
  EXPECT_EQ(OrEmpty(ResolveExecutable("prog", list)), dir.File("b/prog"));
  EXPECT_EQ(ResolveExecutable("other", list).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(OrEmpty(ResolveExecutable(dir.File("b/prog"), "")), dir.File("b/prog"));
  EXPECT_EQ(ResolveExecutable("", list).status().code(), StatusCode::kInvalidArgument);
  // Empty entries never mean the current directory.
  ASSERT_EQ(::chdir(dir.File("b").c_str()), 0);
  EXPECT_EQ(ResolveExecutable("prog", ":").status().code(), StatusCode::kNotFound);
  ASSERT_EQ(::chdir("/"), 0);
  const char* path = ::getenv("PATH");
  ASSERT_NE(path, nullptr);
  EXPECT_NE(OrEmpty(ResolveExecutable("sh")), "");
  EXPECT_EQ(OrEmpty(ResolveExecutable("sh")), OrEmpty(ResolveExecutable("sh", path)));
}

// ---------- command lines ----------

struct SplitCase {
  std::string line;
  std::vector<std::string> words;
};

// The quoting rules of docs/process.md "Command lines", case by case.
TEST(SplitCommandLineTest, QuotingRules) {
  const std::vector<SplitCase> cases = {
      {"", {}},
      {" \t\n ", {}},
      {"  a  b\tc\nd ", {"a", "b", "c", "d"}},
      {"'c d' \"e'f\"", {"c d", "e'f"}},
      {"x '' \"\"", {"x", "", ""}},
      {"a\\ b", {"a b"}},                        // backslash quotes a blank
      {"a\\\\b", {"a\\b"}},                      // and itself
      {"a\\\nb", {"ab"}},                        // backslash-newline joins
      {"'a\\b'", {"a\\b"}},                      // nothing is special in single quotes
      {"\"x\\\"y\"", {"x\"y"}},                  // \" in double quotes
      {"\"C:\\dir\"", {"C:\\dir"}},              // other backslashes in double quotes stay
      {"\"\\$HOME \\` \\\\\"", {"$HOME ` \\"}},  // \$ \` \\ in double quotes
      {"a\"b c\"'d e'f", {"ab cd ef"}},           // adjacent parts make one word
      {"$HOME ~ * a;b a|b > # x", {"$HOME", "~", "*", "a;b", "a|b", ">", "#", "x"}},  // no shell
      {"--consumer-arg=--integration\\ legacy", {"--consumer-arg=--integration legacy"}},
  };
  for (const SplitCase& c : cases) {
    auto got = SplitCommandLine(c.line);
    ASSERT_TRUE(got.ok()) << c.line << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.words) << "line: [" << c.line << "]";
  }
}

TEST(SplitCommandLineTest, MalformedLinesAreRefused) {
  for (std::string_view bad : std::vector<std::string_view>{"a 'b", "a \"b", "\"a\\\"", "a\\", std::string_view("a\0b", 3),
                               std::string_view("\"a\0b\"", 5),
                               std::string_view("'a\0b'", 5)}) {
    auto got = SplitCommandLine(bad);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(SplitCommandLine("run 'x").status().message(),
            "command line: unterminated ' quote at offset 4");
}

// The same words as /bin/sh gives for lines without expansion characters.
TEST(SplitCommandLineTest, AgreesWithTheShell) {
  for (const std::string& line :
       {std::string("a  b"), std::string("'c d' \"e'f\""), std::string("a\\ b a\\\\b"),
        std::string("\"x\\\"y\" \"C:\\dir\""), std::string("a\"b c\"'d e'f"),
        std::string("x '' \"\""), std::string("a\\\nb")}) {
    auto words = SplitCommandLine(line);
    ASSERT_TRUE(words.ok()) << line;
    ProcessResult sh = RunOk({"/bin/sh", "-c", "for w in " + line + "; do printf '[%s]' \"$w\"; done"});
    std::string ours;
    for (const std::string& w : *words) ours += "[" + w + "]";
    EXPECT_EQ(ours, sh.out) << "line: [" << line << "] " << sh.err;
  }
}

TEST(TempDirTest, MakeAndRemove) {
  auto d = MakeTempDir("rf-process-test");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(::access(d->c_str(), W_OK), 0);
  RemoveTree(*d);
  EXPECT_NE(::access(d->c_str(), F_OK), 0);
}

}  // namespace
}  // namespace rf
