// The agent's state directory: bundle slots per channel and the durable state file.
//
//   STATE/state.json            AgentState (agent/agent_state.h)
//   STATE/loading.json          the crash-loop guard's marker (agent/crash_loop_guard.h)
//   STATE/active/<ch>.bundle    the bundle the consumer runs with (DSSE envelope, as downloaded)
//   STATE/lkg/<ch>.bundle       the last known good bundle (one that ran healthy)
//   STATE/staging/<ch>.<sha>.bundle  a verified download awaiting pre-flight
//
// Every file is replaced with Filesystem::WriteFileAtomic (temp, fsync, rename, fsync dir), so after
// kill -9 or power loss at any point each slot holds a complete old or complete new bundle. Only a
// bundle that passed the Verifier is ever written to a slot, and Open() re-verifies the slots (the
// publisher signatures) and reconciles state.json with them, so the order of the writes below is
// the whole crash-consistency argument (docs/agent.md "Crash consistency").
//
// Thread-compatible: one agent process owns the directory.
#ifndef RINGFENCE_AGENT_STATE_DIR_H_
#define RINGFENCE_AGENT_STATE_DIR_H_

#include <string>
#include <vector>

#include "agent/agent_state.h"
#include "agent/fault_points.h"
#include "agent/trust_root.h"
#include "agent/verifier.h"
#include "platform/env.h"

namespace rf::agent {

class StateDir {
 public:
  // `fs`, `trust` and `faults` must outlive this object; `faults` may be null.
  StateDir(Filesystem* fs, std::string root, const TrustRoot* trust, FaultPoints* faults);
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  // Creates the directories, loads state.json (a fresh state when absent), re-verifies every slot
  // and repairs what an interrupted apply or revert left behind: a slot whose bundle no longer
  // verifies is dropped (restored from lkg when possible), an active bundle that is quarantined is
  // reverted again, staging and temp files are removed. `notes` receives one line per repair.
  Result<AgentState> Open(std::vector<std::string>* notes);
  Status Save(const AgentState& state);

  std::string root() const { return root_; }
  std::string ActivePath(const std::string& channel) const;
  std::string LkgPath(const std::string& channel) const;
  std::string MarkerPath() const { return root_ + "/loading.json"; }

  // Writes a verified bundle to staging (for pre-flight). Returns the staged file's path.
  Result<std::string> Stage(const VerifiedBundle& bundle);
  void DropStaged(const std::string& path);

  // Installs a verified bundle: if the current bundle ran healthy it becomes the LKG, the new one
  // becomes active, then state.json records both, the new bundle's probation window
  // `lkg_after_ms` (ChannelState::lkg_after_ms; -1: the agent's default) and an "applied" result.
  // On error `state` may be ahead of disk; the caller re-Opens.
  Status Apply(const VerifiedBundle& bundle, int64_t lkg_after_ms, AgentState* state);

  // Quarantines the channel's current bundle with `reason`, records `result` ("reverted") and
  // switches active back to the LKG; without an LKG the channel is left with no active bundle.
  // The quarantine is durable before any slot changes, so an interrupted revert is finished by Open.
  Status Revert(const std::string& channel, const std::string& reason, const std::string& result,
                AgentState* state);

 private:
  void Fault(std::string_view name) {
    if (faults_) faults_->Hit(name);
  }
  // The verified contents of a slot file; NotFound when absent.
  Result<SlotBundle> ReadSlot(const std::string& path, const std::string& channel);
  static bool IsQuarantined(const AgentState& s, const std::string& channel, const BundleRef& r);

  Filesystem* fs_;
  std::string root_;
  const TrustRoot* trust_;
  FaultPoints* faults_;
};

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_STATE_DIR_H_
