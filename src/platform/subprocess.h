// Running an untrusted program in a sandboxed child process and measuring it.
//
// This is platform code: it forks, execs, reads the monotonic clock for the wall-time limit and
// reaps with wait4 for the child's CPU time and peak RSS. Callers: layer 2 (src/dynamic) runs
// consumer builds over content with it; the agent pre-flights a load with it (docs/sdk.md).
//
//   SubprocessOptions o;
//   o.argv = {"/usr/lib/acme/sensor", "load", "/tmp/x/payload.json"};
//   o.limits.cpu_seconds = 2;
//   o.wall_timeout_ms = 10'000;
//   Result<SubprocessResult> r = RunSubprocess(o);
//   if (r.ok() && r->term_signal != 0) ...  // crashed
//
// Sandbox, in order, in the child: a new session (so the whole process group can be killed), a
// new network namespace when the kernel permits (unshare(CLONE_NEWNET); as a non-root user via a
// new user namespace; otherwise `network_isolated` is false and the child shares the network),
// rlimits (CPU, address space, open files, processes, file size, no core dumps), stdin from
// /dev/null, every inherited descriptor above 2 closed, an empty environment (unless given), then
// execve. Output beyond max_output_bytes per stream is read and discarded so the child never
// blocks on a full pipe. Nothing the child does (crash, hang, huge output, closing its pipes,
// forking) can make RunSubprocess crash or wait past the wall-time limit (plus the reap).
//
// Thread-safety: may be called from several threads at once.
#ifndef RINGFENCE_PLATFORM_SUBPROCESS_H_
#define RINGFENCE_PLATFORM_SUBPROCESS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace rf {

// setrlimit values for the child; 0 = leave the inherited limit.
struct ResourceLimits {
  int64_t cpu_seconds = 0;          // RLIMIT_CPU: SIGXCPU at the limit, SIGKILL one second later
  int64_t address_space_bytes = 0;  // RLIMIT_AS (incompatible with ASan-instrumented children)
  int64_t open_files = 0;           // RLIMIT_NOFILE
  int64_t processes = 0;            // RLIMIT_NPROC (counts all of the user's processes)
  int64_t file_size_bytes = 0;      // RLIMIT_FSIZE: SIGXFSZ beyond it
};

struct SubprocessOptions {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in the caller's PATH
  std::vector<std::string> env;   // "K=V" entries; empty = an empty environment
  std::string working_dir;        // "" = inherit
  ResourceLimits limits;
  int64_t wall_timeout_ms = 10'000;  // then SIGKILL to the process group; 0 = no limit
  size_t max_output_bytes = 1 << 20;  // kept per stream (stdout, stderr)
  bool isolate_network = true;        // try a new network namespace
};

struct SubprocessResult {
  int exit_code = -1;    // when exited normally, else -1
  int term_signal = 0;   // the signal that killed it, else 0
  bool timed_out = false;  // killed by us at the wall-time limit
  bool network_isolated = false;
  std::string out, err;
  bool out_truncated = false, err_truncated = false;
  int64_t user_cpu_us = 0, system_cpu_us = 0;
  int64_t max_rss_kb = 0;  // peak resident set size of the child
  int64_t wall_us = 0;

  int64_t cpu_us() const { return user_cpu_us + system_cpu_us; }
};

// Runs the program and waits for it. Errors only when it could not be started (empty argv,
// program not found or not executable, fork/pipe failure); everything the program does once
// started is reported in the result.
Result<SubprocessResult> RunSubprocess(const SubprocessOptions& options);

// "SIGSEGV" for 11, "signal 77" for unknown numbers.
std::string SignalName(int signal);

// A fresh private directory under $TMPDIR (or /tmp), e.g. for files handed to a child.
Result<std::string> MakeTempDir(std::string_view prefix);
// Removes a directory tree; errors are ignored (best effort clean-up).
void RemoveTree(const std::string& path);

}  // namespace rf

#endif  // RINGFENCE_PLATFORM_SUBPROCESS_H_
