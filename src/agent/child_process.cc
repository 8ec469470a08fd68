#include "agent/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rf::agent {
namespace {

void SetLimit(int resource, int64_t value) {
  if (value <= 0) return;
  struct rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(value);
  rl.rlim_max = static_cast<rlim_t>(value);
  if (resource == RLIMIT_CPU) rl.rlim_max = static_cast<rlim_t>(value + 1);  // SIGXCPU, then SIGKILL
  (void)::setrlimit(resource, &rl);
}

// Everything exec needs, built before fork (the child may call only async-signal-safe functions).
struct ExecArgs {
  std::vector<std::string> storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  explicit ExecArgs(const std::vector<std::string>& args) : storage(args) {
    storage.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
    for (size_t i = 0; i + 1 < storage.size(); ++i) argv.push_back(storage[i].data());
    argv.push_back(nullptr);
    envp.push_back(storage.back().data());
    envp.push_back(nullptr);
  }
};

// In the child: never returns.
[[noreturn]] void ExecChild(const ExecArgs& a, const ChildLimits& limits, pid_t parent, int out_fd,
                            int err_fd) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the agent died before prctl took effect
  if (limits.isolate_network && ::unshare(CLONE_NEWNET) != 0) {
    (void)::unshare(CLONE_NEWUSER | CLONE_NEWNET);
  }
  SetLimit(RLIMIT_CPU, limits.cpu_seconds);
  SetLimit(RLIMIT_AS, limits.address_space_bytes);
  SetLimit(RLIMIT_NOFILE, limits.max_open_files);
  SetLimit(RLIMIT_FSIZE, limits.max_file_bytes);
  struct rlimit no_core = {0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  ::close_range(3, ~0u, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::execve(a.argv[0], a.argv.data(), a.envp.data());
  ::_exit(127);
}

ChildOutcome FromWaitStatus(int status) {
  ChildOutcome o;
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  return o;
}

void Drain(int fd, std::string* into, size_t cap, bool* open) {
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      size_t keep = std::min(static_cast<size_t>(n), cap - std::min(cap, into->size()));
      into->append(buf, keep);
      continue;
    }
    if (n == 0) *open = false;
    if (n < 0 && errno == EINTR) continue;
    return;  // EAGAIN or EOF
  }
}

}  // namespace

std::string ChildOutcome::Describe() const {
  std::string s;
  if (timed_out) {
    s = "timed out";
  } else if (signal > 0) {
    s = "killed by signal " + std::to_string(signal);
    if (const char* name = ::sigabbrev_np(signal)) s += std::string(" (SIG") + name + ")";
  } else {
    s = "exit " + std::to_string(exit_code);
  }
  std::string_view e = err;
  while (!e.empty() && (e.back() == '\n' || e.back() == '\r')) e.remove_suffix(1);
  if (!e.empty()) {
    auto nl = e.rfind('\n');
    std::string_view last = nl == std::string_view::npos ? e : e.substr(nl + 1);
    if (last.size() > 200) last = last.substr(0, 200);
    s += ": ";
    s += last;
  }
  return s;
}

Result<ChildOutcome> RunChild(Clock* clock, const std::vector<std::string>& argv,
                              const ChildLimits& limits) {
  if (argv.empty()) return Status::InvalidArgument("empty command");
  ExecArgs args(argv);
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return Status::Unavailable(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) ExecChild(args, limits, parent, out_pipe[1], err_pipe[1]);
  ::setpgid(pid, pid);  // also from the parent, so a kill right away reaches the group
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);

  ChildOutcome o;
  bool out_open = true, err_open = true, exited = false;
  int status = 0;
  const int64_t deadline = clock->MonotonicMicros() + limits.wall_timeout_ms * 1000;
  while (!exited) {
    struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    ::poll(fds, 2, 10);
    if (out_open) Drain(out_pipe[0], &o.out, limits.max_output_bytes, &out_open);
    if (err_open) Drain(err_pipe[0], &o.err, limits.max_output_bytes, &err_open);
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      exited = true;
    } else if (limits.wall_timeout_ms > 0 && clock->MonotonicMicros() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      o.timed_out = true;
      exited = true;
    }
  }
  bool ignored = true;
  Drain(out_pipe[0], &o.out, limits.max_output_bytes, &ignored);
  Drain(err_pipe[0], &o.err, limits.max_output_bytes, &ignored);
  ::kill(-pid, SIGKILL);  // anything the child left in its group
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  ChildOutcome w = FromWaitStatus(status);
  if (!o.timed_out) {
    o.exit_code = w.exit_code;
    o.signal = w.signal;
  }
  return o;
}

SupervisedChild::~SupervisedChild() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  CloseOutput();
}

void SupervisedChild::CloseOutput() {
  if (out_fd_ >= 0) ::close(out_fd_);
  out_fd_ = -1;
  partial_.clear();
}

Status SupervisedChild::Start(const std::vector<std::string>& argv, const ChildLimits& limits) {
  if (argv.empty()) return Status::InvalidArgument("empty command");
  if (pid_ > 0) return Status::FailedPrecondition("the consumer is already running");
  CloseOutput();
  ExecArgs args(argv);
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Status::Unavailable(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) ExecChild(args, limits, parent, out_pipe[1], out_pipe[1]);
  ::setpgid(pid, pid);
  ::close(out_pipe[1]);
  ::fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  (void)::fcntl(out_pipe[0], F_SETPIPE_SZ, 1 << 20);  // best effort: room between two drains
  out_fd_ = out_pipe[0];
  pid_ = pid;
  return Status::Ok();
}

std::vector<std::string> SupervisedChild::TakeOutputLines() {
  std::vector<std::string> lines;
  if (out_fd_ < 0) return lines;
  // At most 256 KiB per call, so a consumer that floods its output cannot hold the agent here.
  bool open = true;
  std::string data;
  char buf[16384];
  while (data.size() < (256u << 10)) {
    ssize_t n = ::read(out_fd_, buf, sizeof(buf));
    if (n > 0) {
      data.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) open = false;
    break;  // EAGAIN (nothing more now) or EOF
  }
  for (char c : data) {
    if (c == '\n') {
      lines.push_back(std::move(partial_));
      partial_.clear();
    } else if (partial_.size() < kMaxLineBytes) {
      partial_.push_back(c);
    }
  }
  if (!open) {  // every writer is gone: the child (and its group) ended
    if (!partial_.empty()) lines.push_back(std::move(partial_));
    CloseOutput();
  }
  return lines;
}

std::optional<ChildOutcome> SupervisedChild::Poll() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return std::nullopt;
  ::kill(-pid_, SIGKILL);
  pid_ = -1;
  return FromWaitStatus(status);
}

ChildOutcome SupervisedChild::Stop(Clock* clock, int64_t grace_ms) {
  if (pid_ <= 0) return ChildOutcome{};
  ::kill(-pid_, SIGTERM);
  ::kill(pid_, SIGTERM);
  const int64_t deadline = clock->MonotonicMicros() + grace_ms * 1000;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (clock->MonotonicMicros() >= deadline) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    ::poll(nullptr, 0, 5);
  }
  ::kill(-pid_, SIGKILL);
  pid_ = -1;
  return FromWaitStatus(status);
}

}  // namespace rf::agent
