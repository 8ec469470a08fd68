// Child processes the demo starts (the server, every simulated host's agent), run by the one
// process runner (src/platform/process.h, docs/process.md): each leads its own process group, so
// that one signal to the group ends the process and everything it started. This file adds the
// demo's policy (the caller's environment, output appended to a log file) and a registry that can
// end all of them (on SIGINT, or when the demo fails).
//
//   ProcessSpec spec{.argv = {"/usr/bin/ringfence", "server", ...}, .stderr_path = "server.log",
//                    .capture_stdout = true};
//   RF_ASSIGN_OR_RETURN(ChildProcess server, ChildProcess::Spawn(spec));
//   std::string line = server.ReadStdoutLine(clock, 10'000);   // "listening on 127.0.0.1:41213"
//   server.Terminate(clock, 3'000);                              // SIGTERM, then SIGKILL
//
// Every child gets PR_SET_PDEATHSIG(SIGKILL): if the demo dies (even by SIGKILL) the kernel kills
// its children. The death signal fires when the *thread* that forked exits, so spawn only from a
// thread that outlives the child (the demo spawns each run's processes from that run's thread).
// Spawn fails with a clear error when the program cannot be started (missing, not executable).
//
// Thread-safety: ChildProcess is owned by one thread. LiveProcessGroups() is thread-safe and
// async-signal-safe to read (KillAllProcessGroups may be called from a signal handler).
#ifndef RINGFENCE_DEMO_PROCESS_GROUP_H_
#define RINGFENCE_DEMO_PROCESS_GROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "platform/env.h"
#include "platform/process.h"

namespace rf::demo {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0]: a path
  std::string stderr_path;        // appended to; "" = /dev/null
  bool capture_stdout = false;    // readable with ReadStdoutLine; otherwise stdout goes to stderr_path
};

// How a child ended (exit_code >= 0 when it exited, signal > 0 when a signal ended it).
using ProcessExit = ProcessResult;

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // kills the group (SIGKILL) and reaps if still running
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  static Result<ChildProcess> Spawn(const ProcessSpec& spec);

  pid_t pid() const { return process_.pid(); }
  bool running() const { return process_.running(); }
  // Non-blocking: the exit once the child has ended (then running() is false).
  std::optional<ProcessExit> Poll();
  // Reads one line from the captured stdout within `timeout_ms`; DeadlineExceeded or Unavailable
  // (the child closed stdout or ended).
  Result<std::string> ReadStdoutLine(Clock& clock, int64_t timeout_ms);
  // Sends `sig` to the whole process group.
  void Signal(int sig) { process_.Signal(sig); }
  // SIGTERM to the group, waits up to `grace_ms`, then SIGKILL; always reaps.
  ProcessExit Terminate(Clock& clock, int64_t grace_ms);

 private:
  void Release();  // kills the group, reaps, unregisters

  Process process_;
  pid_t group_ = -1;  // registered for KillAllProcessGroups while != -1
};

// SIGKILL to every process group a ChildProcess still owns (safe in a signal handler).
void KillAllProcessGroups();

// Sleeps (no clock read).
void SleepMs(int64_t ms);

}  // namespace rf::demo

#endif  // RINGFENCE_DEMO_PROCESS_GROUP_H_
