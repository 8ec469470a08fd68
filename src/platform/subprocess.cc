#include "platform/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace rf {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/bin:/bin";
  while (true) {
    const size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return "";
    rest = rest.substr(colon + 1);
  }
}

// Child-side failure report: stage byte + errno, written to the CLOEXEC status pipe.
[[noreturn]] void ChildFail(int status_fd, char stage) {
  const int e = errno;
  char buf[1 + sizeof(int)];
  buf[0] = stage;
  std::memcpy(buf + 1, &e, sizeof e);
  (void)!::write(status_fd, buf, sizeof buf);
  ::_exit(127);
}

void SetLimit(int resource, int64_t soft, int64_t hard, int status_fd) {
  struct rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(soft);
  rl.rlim_max = static_cast<rlim_t>(hard);
  if (::setrlimit(resource, &rl) != 0) ChildFail(status_fd, 'L');
}

// Runs in the forked child: only async-signal-safe calls (the parent may have threads).
[[noreturn]] void ChildExec(const SubprocessOptions& o, const char* path, char* const* argv,
                            char* const* envp, int out_fd, int err_fd, int status_fd) {
  ::setsid();
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
  if (l.file_size_bytes > 0) {
    SetLimit(RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes, status_fd);
  }
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
    ChildFail(status_fd, 'D');
  }
  // Close every inherited descriptor but 0-2 and the status pipe (CLOEXEC, closed by execve).
  if (status_fd > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(status_fd - 1), 0u);
  ::syscall(SYS_close_range, static_cast<unsigned>(status_fd + 1), ~0u, 0u);
  // Only now: with a parent holding many descriptors, the lowest free one (for /dev/null) may lie
  // above the limit, and open() would fail with EMFILE. Descriptors already open stay valid.
  if (l.open_files > 0) SetLimit(RLIMIT_NOFILE, l.open_files, l.open_files, status_fd);
  if (!o.working_dir.empty() && ::chdir(o.working_dir.c_str()) != 0) ChildFail(status_fd, 'C');
  // Default dispositions and an empty mask, whatever the parent had.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::execve(path, argv, envp);
  ChildFail(status_fd, 'X');
}

struct Stream {
  int fd = -1;
  std::string* data;
  bool* truncated;
};

// Reads what is available; returns false at EOF or error (the fd is then closed).
bool Drain(Stream* s, size_t max) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(s->fd, buf, sizeof buf);
    if (n > 0) {
      size_t keep = s->data->size() < max ? std::min(max - s->data->size(), size_t(n)) : 0;
      s->data->append(buf, keep);
      if (keep < size_t(n)) *s->truncated = true;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    ::close(s->fd);
    s->fd = -1;
    return false;
  }
}

std::string StageName(char stage) {
  switch (stage) {
    case 'L': return "setrlimit";
    case 'D': return "redirecting stdio";
    case 'C': return "chdir";
    case 'X': return "execve";
  }
  return "child set-up";
}

}  // namespace

Result<SubprocessResult> RunSubprocess(const SubprocessOptions& o) {
  if (o.argv.empty()) return Status::InvalidArgument("RunSubprocess: empty argv");
  const std::string path = ResolveProgram(o.argv[0]);
  if (path.empty()) {
    return Status::NotFound("'" + o.argv[0] + "' is not an executable file (or not in PATH)");
  }
  std::vector<char*> argv, envp;
  for (const std::string& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : o.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2], status_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Status::Unavailable("pipe: " + std::string(strerror(errno)));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Status::Unavailable("pipe: " + std::string(strerror(errno)));
  }
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return Status::Unavailable("pipe: " + std::string(strerror(errno)));
  }
  const int64_t start = NowMicros();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ChildExec(o, path.c_str(), argv.data(), envp.data(), out_pipe[1], err_pipe[1],
              status_pipe[1]);
  }
  for (int fd : {out_pipe[1], err_pipe[1], status_pipe[1]}) ::close(fd);
  if (pid < 0) {
    for (int fd : {out_pipe[0], err_pipe[0], status_pipe[0]}) ::close(fd);
    return Status::Unavailable("fork: " + std::string(strerror(errno)));
  }

  SubprocessResult r;
  // The status pipe closes at execve (CLOEXEC) or when the child exits after a set-up failure.
  std::string status;
  char sbuf[64];
  ssize_t n;
  while ((n = ::read(status_pipe[0], sbuf, sizeof sbuf)) != 0) {
    if (n > 0) status.append(sbuf, size_t(n));
    else if (errno != EINTR) break;
  }
  ::close(status_pipe[0]);
  r.network_isolated = !status.empty() && status[0] == 'N';
  if (status.size() >= 1 + 1 + sizeof(int)) {
    int e = 0;
    std::memcpy(&e, status.data() + 2, sizeof e);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    int ws;
    while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    return Status::Unavailable("starting '" + path + "': " + StageName(status[1]) + ": " +
                               strerror(e));
  }

  Stream streams[2] = {{out_pipe[0], &r.out, &r.out_truncated},
                       {err_pipe[0], &r.err, &r.err_truncated}};
  for (Stream& s : streams) ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) | O_NONBLOCK);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  const int64_t deadline = o.wall_timeout_ms > 0 ? start + o.wall_timeout_ms * 1000 : INT64_MAX;
  // After the child is reaped (or killed), stragglers holding the pipes get this long.
  constexpr int64_t kPipeGraceUs = 1'000'000;
  int64_t pipe_deadline = INT64_MAX;
  bool reaped = false;
  int wstatus = 0;
  struct rusage ru;
  std::memset(&ru, 0, sizeof ru);
  while (true) {
    if (!reaped) {
      pid_t w = ::wait4(pid, &wstatus, WNOHANG, &ru);
      if (w == pid) {
        reaped = true;
        r.wall_us = NowMicros() - start;
        ::kill(-pid, SIGKILL);  // whatever it left behind in its process group
        pipe_deadline = std::min(pipe_deadline, NowMicros() + kPipeGraceUs);
      }
    }
    const bool pipes_open = streams[0].fd >= 0 || streams[1].fd >= 0;
    if (reaped && !pipes_open) break;
    const int64_t now = NowMicros();
    if (!reaped && now >= deadline && !r.timed_out) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      pipe_deadline = now + kPipeGraceUs;
    }
    if (now >= pipe_deadline) break;  // reaped, or killed and not dying: stop reading
    struct pollfd fds[3];
    int nfds = 0;
    for (Stream& s : streams) {
      if (s.fd >= 0) fds[nfds++] = {s.fd, POLLIN, 0};
    }
    if (pidfd >= 0 && !reaped) fds[nfds++] = {pidfd, POLLIN, 0};
    int64_t wait_us = std::min(r.timed_out ? pipe_deadline : deadline, pipe_deadline) - now;
    if (pidfd < 0 && !reaped) wait_us = std::min<int64_t>(wait_us, 10'000);
    if (reaped && !pipes_open) wait_us = 0;
    const int timeout_ms =
        static_cast<int>(std::clamp<int64_t>((wait_us + 999) / 1000, 0, 1'000'000));
    const int ready = ::poll(fds, static_cast<nfds_t>(nfds), timeout_ms);
    if (ready < 0 && errno != EINTR) break;
    for (Stream& s : streams) {
      if (s.fd >= 0) Drain(&s, o.max_output_bytes);
    }
  }
  for (Stream& s : streams) {
    if (s.fd >= 0) ::close(s.fd);
  }
  if (!reaped) {  // only on a poll failure: make sure nothing is left running
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::wait4(pid, &wstatus, 0, &ru) < 0 && errno == EINTR) {
    }
    r.wall_us = NowMicros() - start;
  }
  if (pidfd >= 0) ::close(pidfd);
  if (WIFEXITED(wstatus)) r.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) r.term_signal = WTERMSIG(wstatus);
  r.user_cpu_us = int64_t(ru.ru_utime.tv_sec) * 1'000'000 + ru.ru_utime.tv_usec;
  r.system_cpu_us = int64_t(ru.ru_stime.tv_sec) * 1'000'000 + ru.ru_stime.tv_usec;
  r.max_rss_kb = ru.ru_maxrss;
  return r;
}

std::string SignalName(int signal) {
  switch (signal) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGTERM: return "SIGTERM";
    case SIGPIPE: return "SIGPIPE";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
  }
  return "signal " + std::to_string(signal);
}

Result<std::string> MakeTempDir(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" +
                     std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return Status::Unavailable("mkdtemp " + tmpl + ": " + strerror(errno));
  }
  return tmpl;
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace rf
