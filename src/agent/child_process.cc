#include "agent/child_process.h"

namespace rf::agent {
namespace {

// The agent's policy for every child (see the header).
ProcessOptions ChildOptions(const std::vector<std::string>& argv, const ChildLimits& limits) {
  ProcessOptions o;
  o.argv = argv;
  o.env = std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin"};
  o.die_with_parent = true;
  o.isolate_network = limits.isolate_network;
  o.limits.cpu_seconds = limits.cpu_seconds;
  o.limits.address_space_bytes = limits.address_space_bytes;
  o.limits.open_files = limits.max_open_files;
  o.limits.file_size_bytes = limits.max_file_bytes;
  o.wall_timeout_ms = limits.wall_timeout_ms;
  o.max_output_bytes = limits.max_output_bytes;
  return o;
}

}  // namespace

Result<ChildOutcome> RunChild(Clock* clock, const std::vector<std::string>& argv,
                              const ChildLimits& limits) {
  return RunProcess(ChildOptions(argv, limits), clock);
}

Status SupervisedChild::Start(const std::vector<std::string>& argv, const ChildLimits& limits) {
  if (process_.running()) return Status::FailedPrecondition("the consumer is already running");
  process_ = Process();  // the previous child's unread output goes
  ProcessOptions o = ChildOptions(argv, limits);
  o.wall_timeout_ms = 0;
  o.stdout_to = Output::kPipe;
  o.stderr_to = Output::kAsStdout;
  o.pipe_buffer_bytes = 1 << 20;  // room between two drains
  o.max_line_bytes = kMaxLineBytes;
  RF_ASSIGN_OR_RETURN(process_, Process::Start(o));
  return Status::Ok();
}

}  // namespace rf::agent
