// The one process runner: programs in sandboxed child processes, run to completion or supervised,
// plus the one command-line splitter and the one PATH resolver. docs/process.md is the
// specification (sandbox steps, their order, the quoting rules); every caller starts children
// only through this file: layer 2 (src/dynamic), the agent's manifest, pre-flight and supervised
// consumer (src/agent/child_process.h), the demo's server and agents (src/demo/process_group.h).
//
//   ProcessOptions o;
//   o.argv = {"/usr/lib/acme/sensor", "load", "/tmp/x/payload.json"};
//   o.limits.cpu_seconds = 2;
//   o.wall_timeout_ms = 10'000;
//   Result<ProcessResult> r = RunProcess(o);      // run to completion, output captured
//   if (r.ok() && r->signal != 0) ...             // crashed
//
//   o.stdout_to = Output::kPipe;
//   Result<Process> p = Process::Start(o);        // supervised: Poll, TakeStdoutLines, Stop
//
// The sandbox, in the child, in this order: a new session (the child leads its own process group,
// so one signal reaches everything it started); PR_SET_PDEATHSIG(SIGKILL) when die_with_parent; a
// new network namespace when asked and the kernel permits (directly, or inside a new user
// namespace; otherwise `network_isolated` is false and the child shares the network); rlimits
// (no core dumps; CPU, address space, processes, file size); stdin /dev/null and stdout/stderr as
// asked; every other descriptor closed; only then RLIMIT_NOFILE (opening /dev/null or a file with
// a low limit and a parent holding many descriptors would fail with EMFILE); chdir; an empty
// signal mask and default dispositions; execve with the given environment. A failure at any step
// is written to a close-on-exec status pipe and Start returns it as an error naming the step
// ("starting '/x': chdir: No such file or directory"); nothing is left running then.
//
// Thread-safety: the free functions may be called from several threads at once. A Process is
// owned by one thread; with die_with_parent the kernel kills the child when the *thread* that
// started it exits, so start supervised children only from a thread that outlives them.
#ifndef RINGFENCE_PLATFORM_PROCESS_H_
#define RINGFENCE_PLATFORM_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "platform/env.h"

namespace rf {

// setrlimit values for the child; 0 = leave the inherited limit. A value above the inherited hard
// limit is lowered to it (a limit is never raised).
struct ResourceLimits {
  int64_t cpu_seconds = 0;          // RLIMIT_CPU: SIGXCPU at the limit, SIGKILL one second later
  int64_t address_space_bytes = 0;  // RLIMIT_AS (incompatible with ASan-instrumented children)
  int64_t open_files = 0;           // RLIMIT_NOFILE (applied last, after the descriptors are set up)
  int64_t processes = 0;            // RLIMIT_NPROC (counts all of the user's processes and threads)
  int64_t file_size_bytes = 0;      // RLIMIT_FSIZE: SIGXFSZ beyond it
};

// Where one of the child's output streams goes.
enum class Output {
  kNull,      // /dev/null
  kPipe,      // a pipe read by this process: RunProcess captures stdout and stderr; a supervised
              // Process reads stdout only (give its stderr kAsStdout, kFile or kNull)
  kFile,      // appended to ProcessOptions::output_file (created 0644 when missing)
  kAsStdout,  // stderr only: the same destination as stdout (one pipe or file for both)
};

struct ProcessOptions {
  // argv[0]: a path, or a name looked up with ResolveExecutable in the caller's PATH; a relative
  // path is relative to the caller's working directory (not working_dir).
  std::vector<std::string> argv;
  // The child's environment as "K=V" entries (empty: an empty environment); nullopt: the caller's.
  std::optional<std::vector<std::string>> env = std::vector<std::string>{};
  std::string working_dir;  // "" = inherit
  ResourceLimits limits;
  bool isolate_network = false;  // try a new network namespace (best effort, see above)
  bool die_with_parent = true;   // PR_SET_PDEATHSIG(SIGKILL): never outlive the starting thread
  Output stdout_to = Output::kNull;  // RunProcess always captures stdout and stderr (kPipe)
  Output stderr_to = Output::kNull;
  std::string output_file;           // for Output::kFile
  size_t pipe_buffer_bytes = 0;      // best effort F_SETPIPE_SZ of kPipe outputs; 0 = default
  size_t max_line_bytes = 64 << 10;  // Process line reading: longer lines are cut here
  // RunProcess only:
  int64_t wall_timeout_ms = 10'000;   // then SIGKILL to the process group; 0 = no limit
  size_t max_output_bytes = 1 << 20;  // kept per stream; the rest is read and discarded
};

// How a child ended and what it used.
struct ProcessResult {
  int exit_code = -1;      // >= 0 when it exited
  int signal = 0;          // > 0 when a signal ended it
  bool timed_out = false;  // RunProcess: killed at the wall-time limit (signal is then SIGKILL)
  bool network_isolated = false;
  std::string out, err;    // RunProcess: captured output, up to max_output_bytes each
  bool out_truncated = false, err_truncated = false;
  int64_t user_cpu_us = 0, system_cpu_us = 0;
  int64_t max_rss_kb = 0;  // peak resident set size
  int64_t wall_us = 0;     // RunProcess: from start to reap

  int64_t cpu_us() const { return user_cpu_us + system_cpu_us; }
  bool Succeeded() const { return !timed_out && exit_code == 0; }
  // "exit 1", "killed by signal 11 (SIGSEGV)", "timed out"; plus ": " and the last line of
  // stderr (at most 200 bytes) when there is one.
  std::string Describe() const;
};

// Runs the program to completion (or to the wall-time limit) with stdout and stderr captured.
// Errors only when it could not be started (empty argv, program not found or not executable, a
// sandbox step failed, fork/pipe failure); everything the program does once started is in the
// result. Nothing the child does (crash, hang, huge output, closing its pipes, forking) can make
// it crash or wait past the wall-time limit plus a second for the reap. `clock` measures the limit
// and wall_us (nullptr: the system's monotonic clock); it must advance in real time.
Result<ProcessResult> RunProcess(const ProcessOptions& options, Clock* clock = nullptr);

// A started child process. Movable, not copyable; destroying a running one kills its group
// (SIGKILL) and reaps it.
class Process {
 public:
  Process() = default;
  ~Process();
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Starts the child and returns once it has exec'd; errors as for RunProcess.
  static Result<Process> Start(const ProcessOptions& options);

  pid_t pid() const { return pid_; }  // also its process group id; -1 when not running
  bool running() const { return pid_ > 0; }
  bool network_isolated() const { return network_isolated_; }

  // Non-blocking: once the child has ended, its result (exit, signal, rusage); running() is then
  // false and whatever it left in its process group is killed. Its output stays readable.
  std::optional<ProcessResult> Poll();
  // Waits up to `timeout_ms` (by `clock`; nullptr = the system's) for the child to end.
  std::optional<ProcessResult> WaitFor(int64_t timeout_ms, Clock* clock = nullptr);
  // Sends `sig` to the child and its process group.
  void Signal(int sig);
  // SIGTERM, then SIGKILL after `grace_ms`; always reaps. A default result when not running.
  ProcessResult Stop(int64_t grace_ms, Clock* clock = nullptr);

  // stdout lines (Output::kPipe; stderr too with kAsStdout), without the newline and cut at
  // max_line_bytes. Non-blocking: the complete lines written since the last call (reads at most
  // 256 KiB per call); once the output is exhausted also an unterminated last line.
  std::vector<std::string> TakeStdoutLines();
  // Waits up to `timeout_ms` for one line: DeadlineExceeded, or Unavailable once the output is
  // exhausted, FailedPrecondition when stdout is not a pipe.
  Result<std::string> ReadStdoutLine(int64_t timeout_ms, Clock* clock = nullptr);

 private:
  friend Result<ProcessResult> RunProcess(const ProcessOptions&, Clock*);
  void Reset();                         // kill + reap a running child, close everything
  ProcessResult Reap(int wait_status, const void* rusage);
  ProcessResult WaitBlocking();
  bool ReadLines(size_t budget);        // false once stdout is exhausted (and closed)

  pid_t pid_ = -1;
  int pidfd_ = -1;   // readable when the child ends; -1 where pidfd_open is unavailable
  int out_fd_ = -1;  // read ends of kPipe outputs (non-blocking)
  int err_fd_ = -1;
  bool network_isolated_ = false;
  size_t max_line_bytes_ = 64 << 10;
  std::string partial_;             // an incomplete stdout line (cut at max_line_bytes_)
  bool stdout_piped_ = false;
  std::deque<std::string> lines_;   // complete lines not yet handed out
};

// "SIGSEGV" for 11, "signal 77" for numbers without a name.
std::string SignalName(int signal);

// The one PATH resolver. A name containing '/' is used as given; otherwise the directories of
// `path_list` (colon-separated; empty entries are skipped: the current directory is searched only
// when named) are tried in order. The result must be a regular file the caller may execute:
// NotFound otherwise, InvalidArgument for an empty name.
Result<std::string> ResolveExecutable(std::string_view name, std::string_view path_list);
// The same with the caller's $PATH ("/usr/local/bin:/usr/bin:/bin" when unset).
Result<std::string> ResolveExecutable(std::string_view name);

// The one command-line splitter (docs/process.md "Command lines"): words as a POSIX shell splits
// plain words (blanks separate; '...', "..." and backslash quote), with no expansion, operators or
// comments. InvalidArgument for an unterminated quote, a trailing backslash or a NUL byte. An
// empty or blank line gives no words.
Result<std::vector<std::string>> SplitCommandLine(std::string_view line);

// A fresh private directory under $TMPDIR (or /tmp), e.g. for files handed to a child.
Result<std::string> MakeTempDir(std::string_view prefix);
// Removes a directory tree; errors are ignored (best effort clean-up).
void RemoveTree(const std::string& path);

}  // namespace rf

#endif  // RINGFENCE_PLATFORM_PROCESS_H_
