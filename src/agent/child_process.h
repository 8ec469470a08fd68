// The agent's child processes, run by the one process runner (src/platform/process.h; the sandbox
// and its order are docs/process.md's): one-shot commands with resource limits (the manifest query
// and the pre-flight load) and the long-running supervised consumer.
//
// What this file adds to the runner is the agent's policy: every child gets a minimal environment
// (PATH only), dies with the agent (PR_SET_PDEATHSIG), and the limits below; a supervised child's
// stdout and stderr share one pipe read line by line.
#ifndef RINGFENCE_AGENT_CHILD_PROCESS_H_
#define RINGFENCE_AGENT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "platform/env.h"
#include "platform/process.h"

namespace rf::agent {

struct ChildLimits {
  int64_t cpu_seconds = 10;                  // RLIMIT_CPU; 0 = unlimited
  int64_t address_space_bytes = 2ll << 30;   // RLIMIT_AS; 0 = unlimited (needed under ASan)
  int64_t max_open_files = 256;              // RLIMIT_NOFILE; 0 = unlimited
  int64_t max_file_bytes = 64ll << 20;       // RLIMIT_FSIZE; 0 = unlimited
  int64_t wall_timeout_ms = 30'000;          // one-shot commands only; the process group is killed
  size_t max_output_bytes = 1u << 20;        // stdout/stderr kept per stream; the rest is discarded
  // Best effort: a new network namespace (only a down loopback), as root via unshare(CLONE_NEWNET),
  // otherwise via a new user namespace where the kernel allows it; if neither is permitted the
  // child shares the agent's network. For the manifest and pre-flight (loading content never needs
  // the network); the long-running consumer keeps the host's network.
  bool isolate_network = false;
};

// How a child ended: exit code or signal, whether it timed out, its captured output (one-shot
// only); Succeeded() and Describe() ("killed by signal 11 (SIGSEGV): <last stderr line>").
using ChildOutcome = ProcessResult;

// Runs argv to completion (or to the wall timeout), capturing stdout and stderr. The wall clock is
// measured with `clock`'s monotonic time. Fails only when the process cannot be started (the
// error names why: not found, a sandbox step that failed).
Result<ChildOutcome> RunChild(Clock* clock, const std::vector<std::string>& argv,
                              const ChildLimits& limits);

// A long-running child whose stdout and stderr are captured through one pipe (1 MiB where the
// kernel allows) and handed to the agent line by line (TakeOutputLines), which forwards them to its
// log and reads the consumer's pushed health reports from them (docs/sdk.md). Not thread-safe.
class SupervisedChild {
 public:
  SupervisedChild() = default;
  SupervisedChild(const SupervisedChild&) = delete;
  SupervisedChild& operator=(const SupervisedChild&) = delete;
  ~SupervisedChild() = default;  // kills a running child (SIGKILL to its group) and reaps it

  // REQUIRES: !running(). `limits.wall_timeout_ms` is ignored.
  Status Start(const std::vector<std::string>& argv, const ChildLimits& limits);
  bool running() const { return process_.running(); }
  pid_t pid() const { return process_.pid(); }
  // Non-blocking: the outcome once the child has ended (and running() is then false).
  std::optional<ChildOutcome> Poll() { return process_.Poll(); }
  // SIGTERM to the group, SIGKILL after `grace_ms`; waits and returns the outcome.
  ChildOutcome Stop(Clock* clock, int64_t grace_ms) { return process_.Stop(grace_ms, clock); }
  // Non-blocking: the complete lines the child wrote since the last call (without the newline;
  // a line longer than kMaxLineBytes is cut there). Once the child has ended and its output is
  // exhausted, also an unterminated last line. Output of an ended child stays readable until the
  // next Start().
  std::vector<std::string> TakeOutputLines() { return process_.TakeStdoutLines(); }
  static constexpr size_t kMaxLineBytes = 4096;

 private:
  Process process_;
};

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_CHILD_PROCESS_H_
