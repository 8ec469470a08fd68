// The agent's durable state (`STATE/state.json`): check-in sequence number, what is installed per
// channel, quarantined versions and the health report not yet delivered. Format: docs/agent.md.
//
// The bundle slots (agent/state_dir.h) are the truth for which bytes are installed; this file holds
// what the slots cannot: anti-rollback history, health, and the pending report. It is rewritten
// atomically (temp, fsync, rename, fsync dir) on every change.
#ifndef RINGFENCE_AGENT_AGENT_STATE_H_
#define RINGFENCE_AGENT_AGENT_STATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/verifier.h"
#include "core/status.h"

namespace rf::agent {

struct QuarantineEntry {
  std::string channel;
  int64_t version = 0;
  std::string sha256;
  std::string reason;
};

// One apply result as reported at check-in (docs/protocol.md "health.apply").
struct ApplyResult {
  std::string channel;
  int64_t version = 0;
  std::string sha256;
  std::string result;  // applied | refused | preflight_failed | reverted | quarantined
  std::string reason;  // empty when there is nothing to say
};

struct ChannelState {
  std::optional<BundleRef> current;  // the active slot
  std::optional<BundleRef> lkg;      // the lkg slot
  // Digest of the last bundle the consumer ran with for the healthy period; a current bundle
  // with another digest is still on probation (the crash-loop guard watches it).
  std::string healthy_sha256;
  // Clean run time of the current bundle while on probation (ms), summed over the consumer runs
  // the agent ended itself; it becomes healthy at lkg_after_ms below.
  int64_t proven_ms = 0;
  // The current bundle's probation window (ms): the lkg_after_ms of the install directive that
  // brought it (the release plan's gate.lkg_after; docs/protocol.md). -1: the directive did not
  // say (AgentOptions::lkg_after_ms applies).
  int64_t lkg_after_ms = -1;
};

// Capped lists: the protocol accepts at most 32 entries per health list.
inline constexpr size_t kMaxReportEntries = 32;
inline constexpr size_t kMaxQuarantineEntries = 256;

struct PendingHealth {
  int64_t crashes = 0;
  int64_t errors = 0;
  std::vector<ApplyResult> apply;
  std::vector<QuarantineEntry> quarantined;

  bool empty() const { return crashes == 0 && errors == 0 && apply.empty() && quarantined.empty(); }
};

struct AgentState {
  int64_t seq = 0;        // the last check-in sequence number used (persisted before sending)
  bool enrolled = false;  // set after a successful enroll
  std::map<std::string, ChannelState> channels;
  std::vector<QuarantineEntry> quarantined;  // refused forever (quarantined or reverted)
  PendingHealth pending;

  // The anti-rollback view of one channel.
  InstalledView View(const std::string& channel) const;
  // Records a quarantine (permanent, and pending for the next report). Keeps the lists capped;
  // when capping drops an entry it drops the lowest version, so the maximum always survives.
  void Quarantine(const QuarantineEntry& e);
  // Appends to the pending report (capped: the oldest entries are dropped first).
  void Report(const ApplyResult& r);
};

Result<AgentState> DecodeAgentState(std::string_view json);
std::string EncodeAgentState(const AgentState& state);

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_AGENT_STATE_H_
