#include "demo/process_group.h"

#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <thread>
#include <utility>

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

}  // namespace

void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

void KillAllProcessGroups() {
  for (auto& slot : g_groups) {
    const pid_t pgid = slot.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
}

Result<ChildProcess> ChildProcess::Spawn(const ProcessSpec& spec) {
  ProcessOptions o;
  o.argv = spec.argv;
  o.env = std::nullopt;  // the demo's own environment
  o.die_with_parent = true;
  o.output_file = spec.stderr_path;
  const Output log = spec.stderr_path.empty() ? Output::kNull : Output::kFile;
  o.stdout_to = spec.capture_stdout ? Output::kPipe : log;
  o.stderr_to = spec.capture_stdout ? log : Output::kAsStdout;
  ChildProcess c;
  RF_ASSIGN_OR_RETURN(c.process_, Process::Start(o));
  c.group_ = c.process_.pid();
  Register(c.group_);
  return c;
}

ChildProcess::~ChildProcess() { Release(); }

void ChildProcess::Release() {
  process_ = Process();  // kills the group and reaps a running child
  if (group_ > 0) Unregister(group_);
  group_ = -1;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : process_(std::move(o.process_)), group_(std::exchange(o.group_, -1)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    Release();
    process_ = std::move(o.process_);
    group_ = std::exchange(o.group_, -1);
  }
  return *this;
}

std::optional<ProcessExit> ChildProcess::Poll() {
  // The agent's own children (the consumer) die with it (PR_SET_PDEATHSIG); anything else left in
  // the group is killed by the runner once the child is reaped.
  std::optional<ProcessExit> e = process_.Poll();
  if (e && group_ > 0) {
    Unregister(group_);
    group_ = -1;
  }
  return e;
}

Result<std::string> ChildProcess::ReadStdoutLine(Clock& clock, int64_t timeout_ms) {
  return process_.ReadStdoutLine(timeout_ms, &clock);
}

ProcessExit ChildProcess::Terminate(Clock& clock, int64_t grace_ms) {
  if (!process_.running()) return {};
  ProcessExit e = process_.Stop(grace_ms, &clock);
  if (group_ > 0) Unregister(group_);
  group_ = -1;
  return e;
}

}  // namespace rf::demo
