#include "demo/process_group.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

namespace rf::demo {
namespace {

// Process groups owned by live ChildProcess objects: slot = pgid or 0. Lock-free so a signal
// handler can walk it.
constexpr size_t kSlots = 16384;
std::array<std::atomic<pid_t>, kSlots> g_groups{};

void Register(pid_t pid) {
  for (size_t i = static_cast<size_t>(pid) % kSlots, n = 0; n < kSlots; ++n, i = (i + 1) % kSlots) {
    pid_t expected = 0;
    if (g_groups[i].compare_exchange_strong(expected, pid)) return;
  }
}

void Unregister(pid_t pid) {
  for (size_t i = static_cast<size_t>(pid) % kSlots, n = 0; n < kSlots; ++n, i = (i + 1) % kSlots) {
    pid_t expected = pid;
    if (g_groups[i].compare_exchange_strong(expected, 0)) return;
  }
}

ProcessExit Decode(int status) {
  ProcessExit e;
  if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

}  // namespace

void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

void KillAllProcessGroups() {
  for (auto& slot : g_groups) {
    const pid_t pgid = slot.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
}

ChildProcess::~ChildProcess() { Release(); }

void ChildProcess::Release() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    Forget();
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(o.pid_), stdout_fd_(o.stdout_fd_), stdout_buffer_(std::move(o.stdout_buffer_)) {
  o.pid_ = -1;
  o.stdout_fd_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    Release();
    pid_ = o.pid_;
    stdout_fd_ = o.stdout_fd_;
    stdout_buffer_ = std::move(o.stdout_buffer_);
    o.pid_ = -1;
    o.stdout_fd_ = -1;
  }
  return *this;
}

void ChildProcess::Forget() {
  Unregister(pid_);
  pid_ = -1;
}

Result<ChildProcess> ChildProcess::Spawn(const ProcessSpec& spec) {
  if (spec.argv.empty()) return Status::InvalidArgument("empty argv");
  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls (the demo is multithreaded).
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int err_fd = ::open(spec.stderr_path.empty() ? "/dev/null" : spec.stderr_path.c_str(),
                            O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (err_fd < 0) {
    return Status::Unavailable("cannot open " + spec.stderr_path + ": " + std::strerror(errno));
  }
  int out_pipe[2] = {-1, -1};
  if (spec.capture_stdout && ::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(err_fd);
    return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  }
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(err_fd);
    if (null_fd >= 0) ::close(null_fd);
    if (out_pipe[0] >= 0) ::close(out_pipe[0]), ::close(out_pipe[1]);
    return Status::Unavailable(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the demo died before prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(spec.capture_stdout ? out_pipe[1] : err_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // Also from the parent, so a kill(-pid) right after Spawn cannot miss the group.
  ::setpgid(pid, pid);
  ::close(err_fd);
  if (null_fd >= 0) ::close(null_fd);
  ChildProcess c;
  c.pid_ = pid;
  Register(pid);
  if (spec.capture_stdout) {
    ::close(out_pipe[1]);
    c.stdout_fd_ = out_pipe[0];
  }
  return c;
}

std::optional<ProcessExit> ChildProcess::Poll() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return std::nullopt;
  // The agent's own children (the consumer) die with it (PR_SET_PDEATHSIG in the agent); anything
  // else left in the group goes now.
  ::kill(-pid_, SIGKILL);
  Forget();
  return Decode(status);
}

Result<std::string> ChildProcess::ReadStdoutLine(Clock& clock, int64_t timeout_ms) {
  if (stdout_fd_ < 0) return Status::FailedPrecondition("stdout not captured");
  const int64_t deadline = clock.MonotonicMicros() + timeout_ms * 1000;
  for (;;) {
    const size_t nl = stdout_buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, nl);
      stdout_buffer_.erase(0, nl + 1);
      return line;
    }
    const int64_t left_ms = (deadline - clock.MonotonicMicros()) / 1000;
    if (left_ms <= 0) return Status::DeadlineExceeded("no output line in time");
    pollfd p{stdout_fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 200)));
    if (n < 0 && errno != EINTR) return Status::Unavailable(std::strerror(errno));
    if (n <= 0) continue;
    char buf[4096];
    const ssize_t got = ::read(stdout_fd_, buf, sizeof buf);
    if (got == 0) return Status::Unavailable("the process closed its output");
    if (got > 0) stdout_buffer_.append(buf, static_cast<size_t>(got));
  }
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(-pid_, sig);
}

ProcessExit ChildProcess::Terminate(Clock& clock, int64_t grace_ms) {
  if (pid_ <= 0) return {};
  ::kill(-pid_, SIGTERM);
  const int64_t deadline = clock.MonotonicMicros() + grace_ms * 1000;
  while (clock.MonotonicMicros() < deadline) {
    if (auto e = Poll()) return *e;
    SleepMs(10);
  }
  ::kill(-pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Forget();
  return Decode(status);
}

}  // namespace rf::demo
