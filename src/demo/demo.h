// `ringfence demo`: Channel File 291 against a real server and hundreds of real agents, once per
// combination of safety layers, measured from the processes themselves. docs/demo.md.
//
// Each run starts `ringfence server` (temp data dir, SQLite, 127.0.0.1:0) and one host per device:
// a loop in this process that starts `ringfence-agent --host-crash-on-consumer-crash` with the
// example sensor as its consumer and "reboots" it (starts it again after a delay) whenever the
// consumer crash took the host down (exit 86). A scripted admin, author, three reviewers and an
// operator then use the real operator API with real Ed25519 keys: the author ships a good bundle
// (every device's last known good), then the Channel File 291 bundle one version higher. The run
// ends when the release has finished and every host has settled; the figures come from the
// server (release phase, audit times) and from each host's state directory and crash record.
//
//   DemoOptions o;  o.runs = DefaultRuns();
//   RF_ASSIGN_OR_RETURN(std::vector<RunResult> results, RunDemo(o, PosixEnv(), std::cerr));
//   std::cout << DemoJson(results);
//
// Thread-safety: RunDemo runs up to `parallel` runs at once, each on its own thread, each with its
// own server and hosts; it returns after every process it started has been reaped.
#ifndef RINGFENCE_DEMO_DEMO_H_
#define RINGFENCE_DEMO_DEMO_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "platform/env.h"

namespace rf::demo {

// One run's safety layers.
struct LayerSet {
  std::set<int> layers;       // subset of 1..5
  bool guard_only = false;    // layer 5 without its pre-flight: the crash-loop guard alone ("5g")
  bool Has(int layer) const { return layers.count(layer) > 0; }
  std::string Label() const;  // "1 2 3 4 5", "4", "5 (guard only)", "none"
};

// "all", "none", "each" (expands to 1..5 and 5g, each alone), "5g", or layers like "4" or "1,4,5".
Result<std::vector<LayerSet>> ParseLayerSpec(std::string_view spec);
// all, each layer alone (and the guard alone), none.
std::vector<LayerSet> DefaultRuns();

struct DemoOptions {
  int agents = 0;                    // devices per run (three strata); 0 = SizeToMachine
  std::vector<LayerSet> runs;        // one run per entry, in this order
  int parallel = 0;                  // runs at once (one server and `agents` agents each); 0 = SizeToMachine
  std::string work_dir;              // parent of the temp dirs; "" = $TMPDIR or /tmp
  bool keep = false;                 // keep the temp dirs (logs, state dirs, SQLite files)
  std::string ringfence_bin;         // this binary (`ringfence server`); "" = /proc/self/exe
  std::string agent_bin;             // ringfence-agent; "" = found beside ringfence_bin
  std::string sensor_bin;            // ringfence-sensor; "" = found beside ringfence_bin
  std::string samples_dir;           // holds cf291.bundle.yaml, ipc_rule.type.yaml; "" = found
  int64_t reboot_delay_ms = 1000;    // a crashed host comes back after this long
  int max_boot_crashes = 5;          // consecutive crashed boots before a host stays down
  int64_t run_timeout_s = 90;        // per run, after which it ends with what it has
  const std::atomic<bool>* interrupted = nullptr;  // set (e.g. by SIGINT) to stop everything
};

struct RunResult {
  LayerSet layers;
  int devices = 0;
  int affected = 0;     // devices whose consumer crashes on the bundle (legacy sensor)
  int exposed = 0;      // devices that received the bundle (pre-flighted, applied or ran it)
  int harmed = 0;       // devices whose host crashed on it
  int recovered = 0;    // harmed devices that ended up on the LKG, up and checking in
  int down = 0;         // harmed devices still down at the end (boot loop / recovery screen)
  int preflight_caught = 0;  // devices whose pre-flight refused it
  bool halted = false;  // the release ended Halted or RolledBack
  std::optional<double> time_to_halt_s;  // from the release's start to the gate's halt
  std::string refused_at_upload;         // "" or the server's reason
  int refused_by_layer = 0;              // 1 or 2 when the upload was refused
  std::string phase;                     // the release's final phase ("" if never created)
  int approvals = 0;                     // approvals recorded on the CF291 release
  std::string stopped_by;                // one line for people
  double wall_s = 0;
  std::string error;                     // the run could not complete (figures are partial)
};

// Fills in what the options leave at 0 for a machine with `cores` cores: `parallel` = cores
// (at most 16), `agents` = 100 x cores / parallel, within [30, 200].
void SizeToMachine(DemoOptions* o, unsigned cores);

// Runs every configured run. Progress lines go to `log`. Fails only for unusable options
// (binaries or samples not found); a run that fails is reported in its RunResult::error.
Result<std::vector<RunResult>> RunDemo(const DemoOptions& options, Env env, std::ostream& log);

// {"runs": [{"layers": [...], "devices": N, "exposed": N, "harmed": N, "recovered": N,
//  "halted": bool, "time_to_halt_s": x|null, ...}], "wall_s": x}
std::string DemoJson(const std::vector<RunResult>& results, double wall_s);
// A table and one line per run saying what stopped the file.
std::string DemoText(const std::vector<RunResult>& results, double wall_s);

}  // namespace rf::demo

#endif  // RINGFENCE_DEMO_DEMO_H_
