#include "platform/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

extern char** environ;

namespace rf {
namespace {

std::string ErrnoText(int e) { return std::strerror(e); }

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

// Moves a descriptor to 3 or above (close-on-exec), so that dup2 onto 0-2 in the child never
// meets a source that is itself 0-2 (which would keep its close-on-exec flag).
int HighFd(int fd) {
  if (fd < 0 || fd > 2) return fd;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return high;
}

// Everything the child needs, prepared before fork: between fork and execve the child may call
// only async-signal-safe functions (the parent may have threads).
struct ChildPlan {
  std::string path;
  std::vector<char*> argv, envp;
  char** env = nullptr;  // envp.data() or environ
  int in_fd = -1, out_fd = -1, err_fd = -1;  // sources for 0, 1, 2 (all >= 3, close-on-exec)
  int status_fd = -1;                        // write end of the status pipe
  pid_t parent = 0;
};

// Child-side failure report: stage byte + errno, written to the close-on-exec status pipe.
[[noreturn]] void ChildFail(int status_fd, char stage) {
  const int e = errno;
  char buf[1 + sizeof(int)];
  buf[0] = stage;
  std::memcpy(buf + 1, &e, sizeof e);
  (void)!::write(status_fd, buf, sizeof buf);
  ::_exit(127);
}

void SetLimit(int resource, int64_t soft, int64_t hard, int status_fd) {
  struct rlimit current;
  if (::getrlimit(resource, &current) != 0) ChildFail(status_fd, 'L');
  struct rlimit rl;
  rl.rlim_max = static_cast<rlim_t>(hard);
  if (current.rlim_max != RLIM_INFINITY && rl.rlim_max > current.rlim_max) {
    rl.rlim_max = current.rlim_max;  // never raise: lower to what is allowed
  }
  rl.rlim_cur = std::min(static_cast<rlim_t>(soft), rl.rlim_max);
  if (::setrlimit(resource, &rl) != 0) ChildFail(status_fd, 'L');
}

// Closes every descriptor from `first` up, except `keep`.
void CloseFrom(unsigned first, int keep) {
  const unsigned k = static_cast<unsigned>(keep);
  bool ok = true;
  if (k > first) ok = ::syscall(SYS_close_range, first, k - 1, 0u) == 0;
  if (ok) ok = ::syscall(SYS_close_range, std::max(first, k + 1), ~0u, 0u) == 0;
  if (ok) return;
  struct rlimit rl;  // kernels before 5.9: one by one up to the descriptor limit
  const rlim_t end = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                         ? std::min<rlim_t>(rl.rlim_cur, 1 << 20)
                         : 1 << 20;
  for (rlim_t fd = first; fd < end; ++fd) {
    if (static_cast<int>(fd) != keep) ::close(static_cast<int>(fd));
  }
}

// Runs in the forked child; the order is docs/process.md's.
[[noreturn]] void ChildExec(const ProcessOptions& o, const ChildPlan& p) {
  const int status_fd = p.status_fd;
  if (::setsid() < 0) ChildFail(status_fd, 'S');
  if (o.die_with_parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(status_fd, 'P');
    if (::getppid() != p.parent) ::_exit(127);  // the parent died before prctl took effect
  }
  char net = 'n';
  if (o.isolate_network) {
    if (::unshare(CLONE_NEWNET) == 0 || ::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) net = 'N';
  }
  (void)!::write(status_fd, &net, 1);
  const ResourceLimits& l = o.limits;
  SetLimit(RLIMIT_CORE, 0, 0, status_fd);
  if (l.cpu_seconds > 0) SetLimit(RLIMIT_CPU, l.cpu_seconds, l.cpu_seconds + 1, status_fd);
  if (l.address_space_bytes > 0) {
    SetLimit(RLIMIT_AS, l.address_space_bytes, l.address_space_bytes, status_fd);
  }
  if (l.processes > 0) SetLimit(RLIMIT_NPROC, l.processes, l.processes, status_fd);
  if (l.file_size_bytes > 0) SetLimit(RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes, status_fd);
  if (::dup2(p.in_fd, 0) < 0 || ::dup2(p.out_fd, 1) < 0 || ::dup2(p.err_fd, 2) < 0) {
    ChildFail(status_fd, 'D');
  }
  CloseFrom(3, status_fd);  // the status pipe itself is close-on-exec
  // Only now: the descriptors the child needs are in place, and ones already open stay valid.
  if (l.open_files > 0) SetLimit(RLIMIT_NOFILE, l.open_files, l.open_files, status_fd);
  if (!o.working_dir.empty() && ::chdir(o.working_dir.c_str()) != 0) ChildFail(status_fd, 'C');
  // Default dispositions and an empty mask, whatever the parent had (execve keeps ignored ones).
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) ::signal(s, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(p.path.c_str(), p.argv.data(), p.env);
  ChildFail(status_fd, 'X');
}

std::string StageName(char stage) {
  switch (stage) {
    case 'S': return "setsid";
    case 'P': return "PR_SET_PDEATHSIG";
    case 'L': return "setrlimit";
    case 'D': return "redirecting stdio";
    case 'C': return "chdir";
    case 'X': return "execve";
  }
  return "child set-up";
}

// The parent's descriptors for one start; closed on destruction unless released.
struct StartFds {
  int in = -1, out_w = -1, err_w = -1, out_r = -1, err_r = -1, status_r = -1, status_w = -1;
  ~StartFds() {
    for (int* fd : {&in, &out_w, &err_w, &out_r, &err_r, &status_r, &status_w}) CloseFd(fd);
  }
};

Status OpenPipe(int* read_end, int* write_end, size_t buffer_bytes) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::Unavailable("pipe: " + ErrnoText(errno));
  *read_end = HighFd(p[0]);
  *write_end = HighFd(p[1]);
  if (*read_end < 0 || *write_end < 0) return Status::Unavailable("pipe: " + ErrnoText(errno));
  if (buffer_bytes > 0) (void)::fcntl(*read_end, F_SETPIPE_SZ, static_cast<int>(buffer_bytes));
  return Status::Ok();
}

Status OpenFile(const std::string& path, int flags, int* fd) {
  *fd = HighFd(::open(path.c_str(), flags | O_CLOEXEC, 0644));
  if (*fd < 0) return Status::Unavailable("cannot open " + path + ": " + ErrnoText(errno));
  return Status::Ok();
}

// Opens what stdout or stderr goes to (not kAsStdout); `read_end` is set for kPipe.
Status OpenOutput(const ProcessOptions& o, Output to, int* write_end, int* read_end) {
  switch (to) {
    case Output::kPipe: return OpenPipe(read_end, write_end, o.pipe_buffer_bytes);
    case Output::kFile:
      if (o.output_file.empty()) return Status::InvalidArgument("Output::kFile without output_file");
      return OpenFile(o.output_file, O_WRONLY | O_CREAT | O_APPEND, write_end);
    case Output::kNull:
    case Output::kAsStdout: break;
  }
  return OpenFile("/dev/null", O_WRONLY, write_end);
}

int64_t TimevalMicros(const struct timeval& t) {
  return int64_t(t.tv_sec) * 1'000'000 + t.tv_usec;
}

Clock* OrSystemClock(Clock* clock) { return clock != nullptr ? clock : PosixEnv().clock; }

// Milliseconds for poll() until `deadline_us`, at least 0, at most 1000 s.
int PollMs(int64_t now_us, int64_t deadline_us) {
  return static_cast<int>(std::clamp<int64_t>((deadline_us - now_us + 999) / 1000, 0, 1'000'000));
}

}  // namespace

// ---------- ProcessResult ----------

std::string ProcessResult::Describe() const {
  std::string s;
  if (timed_out) {
    s = "timed out";
  } else if (signal > 0) {
    s = "killed by signal " + std::to_string(signal) + " (" + SignalName(signal) + ")";
  } else {
    s = "exit " + std::to_string(exit_code);
  }
  std::string_view e = err;
  while (!e.empty() && (e.back() == '\n' || e.back() == '\r')) e.remove_suffix(1);
  if (!e.empty()) {
    const size_t nl = e.rfind('\n');
    std::string_view last = nl == std::string_view::npos ? e : e.substr(nl + 1);
    if (last.size() > 200) last = last.substr(0, 200);
    s += ": ";
    s += last;
  }
  return s;
}

// ---------- Process ----------

Result<Process> Process::Start(const ProcessOptions& o) {
  if (o.argv.empty()) return Status::InvalidArgument("cannot start a process: empty command");
  if (o.stdout_to == Output::kAsStdout) {
    return Status::InvalidArgument("Output::kAsStdout is for stderr only");
  }
  ChildPlan plan;
  RF_ASSIGN_OR_RETURN(plan.path, ResolveExecutable(o.argv[0]));
  if (plan.path.front() != '/') {
    // Relative to this process's directory, also when the child changes to working_dir.
    std::error_code ec;
    plan.path = std::filesystem::absolute(plan.path, ec).string();
    if (ec) return Status::Unavailable("cannot make '" + o.argv[0] + "' absolute: " + ec.message());
  }
  for (const std::string& a : o.argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  if (o.env.has_value()) {
    for (const std::string& e : *o.env) plan.envp.push_back(const_cast<char*>(e.c_str()));
    plan.envp.push_back(nullptr);
    plan.env = plan.envp.data();
  } else {
    plan.env = environ;
  }

  StartFds fds;
  RF_RETURN_IF_ERROR(OpenFile("/dev/null", O_RDONLY, &fds.in));
  RF_RETURN_IF_ERROR(OpenOutput(o, o.stdout_to, &fds.out_w, &fds.out_r));
  if (o.stderr_to != Output::kAsStdout) {
    RF_RETURN_IF_ERROR(OpenOutput(o, o.stderr_to, &fds.err_w, &fds.err_r));
  }
  RF_RETURN_IF_ERROR(OpenPipe(&fds.status_r, &fds.status_w, 0));
  plan.in_fd = fds.in;
  plan.out_fd = fds.out_w;
  plan.err_fd = o.stderr_to == Output::kAsStdout ? fds.out_w : fds.err_w;
  plan.status_fd = fds.status_w;
  plan.parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return Status::Unavailable("fork: " + ErrnoText(errno));
  if (pid == 0) ChildExec(o, plan);
  for (int* fd : {&fds.in, &fds.out_w, &fds.err_w, &fds.status_w}) CloseFd(fd);

  Process p;
  p.pid_ = pid;  // from here on, an early return kills and reaps it (the destructor)
  p.max_line_bytes_ = std::max<size_t>(o.max_line_bytes, 1);
  // The status pipe reaches EOF at execve (close-on-exec) or when a failed set-up exits.
  std::string status;
  char buf[64];
  while (true) {
    const ssize_t n = ::read(fds.status_r, buf, sizeof buf);
    if (n > 0) {
      status.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  p.network_isolated_ = !status.empty() && status[0] == 'N';
  const size_t fail_at = status.empty() || (status[0] != 'N' && status[0] != 'n') ? 0 : 1;
  if (status.size() >= fail_at + 1 + sizeof(int)) {
    int e = 0;
    std::memcpy(&e, status.data() + fail_at + 1, sizeof e);
    (void)p.WaitBlocking();
    return Status::Unavailable("starting '" + plan.path + "': " + StageName(status[fail_at]) +
                               ": " + ErrnoText(e));
  }
  p.pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  for (int* fd : {&fds.out_r, &fds.err_r}) {
    if (*fd >= 0) ::fcntl(*fd, F_SETFL, ::fcntl(*fd, F_GETFL) | O_NONBLOCK);
  }
  p.stdout_piped_ = fds.out_r >= 0;
  p.out_fd_ = std::exchange(fds.out_r, -1);
  p.err_fd_ = std::exchange(fds.err_r, -1);
  return p;
}

Process::~Process() { Reset(); }

Process::Process(Process&& other) noexcept { *this = std::move(other); }

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Reset();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    out_fd_ = std::exchange(other.out_fd_, -1);
    err_fd_ = std::exchange(other.err_fd_, -1);
    network_isolated_ = other.network_isolated_;
    max_line_bytes_ = other.max_line_bytes_;
    partial_ = std::move(other.partial_);
    stdout_piped_ = other.stdout_piped_;
    lines_ = std::move(other.lines_);
    other.partial_.clear();
    other.lines_.clear();
  }
  return *this;
}

void Process::Reset() {
  if (pid_ > 0) {
    Signal(SIGKILL);
    (void)WaitBlocking();
  }
  for (int* fd : {&pidfd_, &out_fd_, &err_fd_}) CloseFd(fd);
  partial_.clear();
  lines_.clear();
}

ProcessResult Process::Reap(int wait_status, const void* usage) {
  const auto* ru = static_cast<const struct rusage*>(usage);
  ProcessResult r;
  if (WIFEXITED(wait_status)) r.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) r.signal = WTERMSIG(wait_status);
  r.network_isolated = network_isolated_;
  r.user_cpu_us = TimevalMicros(ru->ru_utime);
  r.system_cpu_us = TimevalMicros(ru->ru_stime);
  r.max_rss_kb = ru->ru_maxrss;
  // Whatever it left behind in its group. The group id stays reserved while members remain.
  ::kill(-pid_, SIGKILL);
  pid_ = -1;
  CloseFd(&pidfd_);
  return r;
}

ProcessResult Process::WaitBlocking() {
  int status = 0;
  struct rusage ru;
  std::memset(&ru, 0, sizeof ru);
  while (::wait4(pid_, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  return Reap(status, &ru);
}

std::optional<ProcessResult> Process::Poll() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  struct rusage ru;
  std::memset(&ru, 0, sizeof ru);
  if (::wait4(pid_, &status, WNOHANG, &ru) != pid_) return std::nullopt;
  return Reap(status, &ru);
}

std::optional<ProcessResult> Process::WaitFor(int64_t timeout_ms, Clock* clock) {
  Clock* c = OrSystemClock(clock);
  const int64_t deadline = c->MonotonicMicros() + timeout_ms * 1000;
  while (true) {
    if (auto r = Poll()) return r;
    if (pid_ <= 0) return std::nullopt;
    const int64_t now = c->MonotonicMicros();
    if (now >= deadline) return std::nullopt;
    if (pidfd_ >= 0) {
      struct pollfd pfd = {pidfd_, POLLIN, 0};
      ::poll(&pfd, 1, PollMs(now, deadline));
    } else {
      ::poll(nullptr, 0, std::min(PollMs(now, deadline), 10));
    }
  }
}

void Process::Signal(int sig) {
  if (pid_ <= 0) return;
  ::kill(-pid_, sig);
  ::kill(pid_, sig);  // also when it left its group
}

ProcessResult Process::Stop(int64_t grace_ms, Clock* clock) {
  if (pid_ <= 0) return ProcessResult{};
  Signal(SIGTERM);
  if (auto r = WaitFor(grace_ms, clock)) return *r;
  Signal(SIGKILL);
  return WaitBlocking();
}

bool Process::ReadLines(size_t budget) {
  if (out_fd_ < 0) return false;
  char buf[16384];
  size_t got = 0;
  bool exhausted = false;
  while (got < budget) {
    const ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;  // nothing more for now
    if (n <= 0) {  // EOF: every writer is gone (the child and its group); or a read error
      exhausted = true;
      break;
    }
    got += static_cast<size_t>(n);
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n') {
        lines_.push_back(std::move(partial_));
        partial_.clear();
      } else if (partial_.size() < max_line_bytes_) {
        partial_.push_back(buf[i]);
      }
    }
  }
  if (!exhausted) return true;
  if (!partial_.empty()) lines_.push_back(std::move(partial_));
  partial_.clear();
  CloseFd(&out_fd_);
  return false;
}

std::vector<std::string> Process::TakeStdoutLines() {
  (void)ReadLines(256u << 10);
  std::vector<std::string> out(std::make_move_iterator(lines_.begin()),
                               std::make_move_iterator(lines_.end()));
  lines_.clear();
  return out;
}

Result<std::string> Process::ReadStdoutLine(int64_t timeout_ms, Clock* clock) {
  if (!stdout_piped_) return Status::FailedPrecondition("stdout is not a pipe");
  Clock* c = OrSystemClock(clock);
  const int64_t deadline = c->MonotonicMicros() + timeout_ms * 1000;
  while (true) {
    const bool open = ReadLines(256u << 10);
    if (!lines_.empty()) {
      std::string line = std::move(lines_.front());
      lines_.pop_front();
      return line;
    }
    if (!open) return Status::Unavailable("the process closed its output");
    const int64_t now = c->MonotonicMicros();
    if (now >= deadline) return Status::DeadlineExceeded("no output line in time");
    struct pollfd pfd = {out_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, PollMs(now, deadline)) < 0 && errno != EINTR) {
      return Status::Unavailable("poll: " + ErrnoText(errno));
    }
  }
}

// ---------- RunProcess ----------

namespace {

struct Capture {
  int fd = -1;
  std::string* data;
  bool* truncated;
};

// Reads what is available, keeping up to `max` bytes; closes the descriptor at EOF or error.
void Drain(Capture* s, size_t max) {
  char buf[65536];
  while (s->fd >= 0) {
    const ssize_t n = ::read(s->fd, buf, sizeof buf);
    if (n > 0) {
      const size_t have = s->data->size();
      const size_t keep = have < max ? std::min(max - have, static_cast<size_t>(n)) : 0;
      s->data->append(buf, keep);
      if (keep < static_cast<size_t>(n)) *s->truncated = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    CloseFd(&s->fd);
  }
}

}  // namespace

Result<ProcessResult> RunProcess(const ProcessOptions& options, Clock* clock) {
  Clock* c = OrSystemClock(clock);
  ProcessOptions o = options;
  o.stdout_to = Output::kPipe;
  o.stderr_to = Output::kPipe;
  const int64_t start = c->MonotonicMicros();
  RF_ASSIGN_OR_RETURN(Process p, Process::Start(o));

  ProcessResult r;
  Capture streams[2] = {{std::exchange(p.out_fd_, -1), &r.out, &r.out_truncated},
                        {std::exchange(p.err_fd_, -1), &r.err, &r.err_truncated}};
  const int64_t deadline = o.wall_timeout_ms > 0 ? start + o.wall_timeout_ms * 1000 : INT64_MAX;
  // After the child is reaped (or killed), stragglers holding the pipes get this long.
  constexpr int64_t kPipeGraceUs = 1'000'000;
  int64_t pipe_deadline = INT64_MAX;
  std::optional<ProcessResult> ended;
  bool timed_out = false;
  int64_t wall_us = 0;
  while (true) {
    if (!ended) {
      ended = p.Poll();
      if (ended) {
        wall_us = c->MonotonicMicros() - start;
        pipe_deadline = std::min(pipe_deadline, c->MonotonicMicros() + kPipeGraceUs);
      }
    }
    const bool pipes_open = streams[0].fd >= 0 || streams[1].fd >= 0;
    if (ended && !pipes_open) break;
    const int64_t now = c->MonotonicMicros();
    if (!ended && now >= deadline && !timed_out) {
      timed_out = true;
      p.Signal(SIGKILL);
      pipe_deadline = now + kPipeGraceUs;
    }
    if (now >= pipe_deadline) break;  // reaped, or killed and not dying: stop reading
    struct pollfd fds[3];
    nfds_t nfds = 0;
    for (const Capture& s : streams) {
      if (s.fd >= 0) fds[nfds++] = {s.fd, POLLIN, 0};
    }
    if (!ended && p.pidfd_ >= 0) fds[nfds++] = {p.pidfd_, POLLIN, 0};
    int timeout_ms = PollMs(now, std::min(timed_out ? pipe_deadline : deadline, pipe_deadline));
    if (!ended && p.pidfd_ < 0) timeout_ms = std::min(timeout_ms, 10);
    if (::poll(fds, nfds, timeout_ms) < 0 && errno != EINTR) break;
    for (Capture& s : streams) Drain(&s, o.max_output_bytes);
  }
  for (Capture& s : streams) CloseFd(&s.fd);
  if (!ended) {  // killed but not yet reaped, or a poll failure: nothing may be left running
    p.Signal(SIGKILL);
    ended = p.WaitBlocking();
    wall_us = c->MonotonicMicros() - start;
  }
  std::string out = std::move(r.out), err = std::move(r.err);
  const bool out_truncated = r.out_truncated, err_truncated = r.err_truncated;
  r = std::move(*ended);
  r.out = std::move(out);
  r.err = std::move(err);
  r.out_truncated = out_truncated;
  r.err_truncated = err_truncated;
  r.timed_out = timed_out;
  r.wall_us = wall_us;
  return r;
}

// ---------- names, paths, command lines ----------

std::string SignalName(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(signal);
}

Result<std::string> ResolveExecutable(std::string_view name, std::string_view path_list) {
  if (name.empty()) return Status::InvalidArgument("cannot start a process: empty program name");
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string_view::npos) {
    std::string p(name);
    if (executable(p)) return p;
    return Status::NotFound("'" + p + "' is not an executable file");
  }
  std::string_view rest = path_list;
  while (true) {
    const size_t colon = rest.find(':');
    const std::string_view dir = rest.substr(0, colon);
    if (!dir.empty()) {
      std::string candidate = std::string(dir) + "/" + std::string(name);
      if (executable(candidate)) return candidate;
    }
    if (colon == std::string_view::npos) break;
    rest = rest.substr(colon + 1);
  }
  return Status::NotFound("'" + std::string(name) + "' is not an executable file in PATH (" +
                          std::string(path_list) + ")");
}

Result<std::string> ResolveExecutable(std::string_view name) {
  const char* path = std::getenv("PATH");
  return ResolveExecutable(name, path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
}

Result<std::vector<std::string>> SplitCommandLine(std::string_view line) {
  // A NUL byte cannot be passed in an argument, quoted or not.
  if (const size_t nul = line.find('\0'); nul != std::string_view::npos) {
    return Status::InvalidArgument("command line: NUL byte at offset " + std::to_string(nul));
  }
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\\') {
      if (i + 1 == line.size()) return Status::InvalidArgument("command line: ends with a backslash");
      ++i;
      if (line[i] != '\n') {  // backslash-newline joins lines
        word += line[i];
        in_word = true;
      }
    } else if (c == '\'') {
      const size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos) {
        return Status::InvalidArgument("command line: unterminated ' quote at offset " + std::to_string(i));
      }
      word.append(line.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
    } else if (c == '"') {
      const size_t open = i;
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        const char n = i + 1 < line.size() ? line[i + 1] : '\0';
        if (line[i] == '\\' && (n == '$' || n == '`' || n == '"' || n == '\\' || n == '\n')) {
          ++i;
          if (n != '\n') word += n;
        } else {
          word += line[i];
        }
      }
      if (i == line.size()) {
        return Status::InvalidArgument("command line: unterminated \" quote at offset " + std::to_string(open));
      }
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// ---------- temp dirs ----------

Result<std::string> MakeTempDir(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" +
                     std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return Status::Unavailable("mkdtemp " + tmpl + ": " + ErrnoText(errno));
  }
  return tmpl;
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace rf
