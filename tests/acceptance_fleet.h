// What the cluster acceptance test (cluster_acceptance_test.cc, docs/deploy.md "Acceptance test")
// runs besides the servers: a fleet of real `ringfence-agent` processes, one per device, each on
// a simulated host with the host-crash model of `ringfence demo` (docs/demo.md "The harm model":
// a consumer crash takes the host down with exit 86, it boots again after a delay and stays down
// after 5 crashed boots in a row), and the bundles the author ships (the last known good versions
// and Channel File 291, built from samples/content as the demo builds them).
//
//   Fleet fleet(options);                 // spawns every agent (each its own process group)
//   fleet.Tend();                         // call often: reaps exits, reboots crashed hosts
//   FleetFacts f = fleet.Facts(bad_version);
//
// Not thread-safe: one thread owns the fleet (the agents die with that thread: PR_SET_PDEATHSIG).
#ifndef RINGFENCE_TESTS_ACCEPTANCE_FLEET_H_
#define RINGFENCE_TESTS_ACCEPTANCE_FLEET_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"
#include "crypto/crypto.h"
#include "demo/process_group.h"

namespace rf::e2e {

// The content type and the two bundles of samples/content (as `ringfence demo` makes them):
// `good` is cf291.bundle.yaml with nothing at field position >= 20 (what every device can run),
// `bad` the sample as shipped (item ipc-0003 sets the 21st field: the legacy sensor crashes).
struct Cf291Samples {
  std::string type_yaml;
  ContentType type;
  Bundle good;
  Bundle bad;
};
Cf291Samples LoadCf291Samples();  // ADD_FAILUREs (and returns what it has) on a broken sample
// The POST /v1/bundles body: `b` at `version`, signed by `author`.
std::string UploadBody(const Cf291Samples& s, Bundle b, int64_t version,
                       const crypto::SigningKey& author);

struct FleetOptions {
  int agents = 300;
  std::string dir;           // hosts' state dirs and logs
  std::string server_url;    // http://HAProxy
  std::string token_path;    // agent.token
  std::string trust_path;    // trust.json
  int poll_s = 2;            // --poll-min/--poll-default (--poll-max = poll_s + 1)
  int64_t reboot_delay_ms = 1000;
  int max_boot_crashes = 5;
  bool sanitized = false;    // sanitizer builds: no address-space limit on consumers
};

struct FleetFacts {
  int devices = 0, affected = 0;      // affected: on the legacy sensor
  int exposed = 0, harmed = 0, down = 0;
  std::map<int64_t, int> by_version;  // current version of up hosts (-1: none)
};

class Fleet {
 public:
  explicit Fleet(FleetOptions options);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Reaps agent exits and boots hosts whose delay has passed (crashed ones count a crash, and one
  // on `bad_version` when the guard's marker names it).
  void Tend(int64_t bad_version);
  // From every host's state directory and crash record. exposed: ran, quarantined or crashed on
  // `bad_version`; harmed: crashed on it.
  FleetFacts Facts(int64_t bad_version);
  // Hosts that are up with no content on probation, or down for good.
  bool Settled();
  int size() const { return static_cast<int>(hosts_.size()); }

 private:
  struct Host;
  void Boot(Host& h);
  FleetOptions o_;
  std::vector<std::unique_ptr<Host>> hosts_;
};

}  // namespace rf::e2e

#endif  // RINGFENCE_TESTS_ACCEPTANCE_FLEET_H_
