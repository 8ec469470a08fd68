// CrashLoopGuard: the local, offline half of layer 5 (what Mender and RAUC do for OS images).
//
// Before the consumer starts with bundles that have not yet run healthy ("on probation"), the
// guard durably writes a marker "loading <bundles>, start #n". The agent clears it once the
// consumer has stayed up for the healthy period. A marker still present at the next start means the
// previous start was unclean — the consumer crashed, hung, or the whole host went down with it
// (Channel File 291 crashed the kernel: nothing could report, but the marker survives the reboot).
// After `max_unclean_starts` unclean starts with the same bundles the guard tells the agent to
// quarantine them and revert to the LKG instead of starting the consumer again.
//
// Worked example (max 3): apply v43; start #1 crash; start #2 crash; start #3 crash; at the 4th
// start the marker counts 3 unclean starts -> quarantine v43, revert to v42, start with v42 (which
// ran healthy before, so it is not on probation and the marker is removed).
#ifndef RINGFENCE_AGENT_CRASH_LOOP_GUARD_H_
#define RINGFENCE_AGENT_CRASH_LOOP_GUARD_H_

#include <cstdint>
#include <map>
#include <string>

#include "agent/fault_points.h"
#include "agent/verifier.h"
#include "platform/env.h"

namespace rf::agent {

struct CrashLoopGuardOptions {
  // Unclean starts before quarantine + revert. 0 switches the guard's revert off (the marker is
  // still written and counted): for the layer-by-layer demonstrations only, never in production.
  int64_t max_unclean_starts = 3;
};

class CrashLoopGuard {
 public:
  // `fs` and `faults` (nullable) must outlive the guard. `marker_path`: STATE/loading.json.
  CrashLoopGuard(Filesystem* fs, std::string marker_path, CrashLoopGuardOptions options,
                 FaultPoints* faults);

  struct Decision {
    bool quarantine = false;       // do not start; quarantine `probation` and revert
    int64_t unclean_starts = 0;    // unclean starts counted with these bundles
  };
  // Called right before every consumer start with the channels whose active bundle is on
  // probation (empty: nothing to watch, the marker is removed). When the answer is to start, the
  // marker is durable before this returns.
  Result<Decision> BeforeStart(const std::map<std::string, BundleRef>& probation);
  // The consumer ran healthy: removes the marker.
  Status Clear();
  // The agent itself stopped the consumer (shutdown, or a new bundle to load) before it proved
  // healthy: that start does not count as unclean.
  Status ForgiveLastStart();

 private:
  Filesystem* fs_;
  std::string marker_path_;
  CrashLoopGuardOptions options_;
  FaultPoints* faults_;
};

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_CRASH_LOOP_GUARD_H_
