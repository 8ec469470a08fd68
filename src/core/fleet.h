// The fleet inventory that stage 1 checks content against: strata of devices with the same
// attributes and the same consumer capability manifests (docs/sdk.md "Manifest",
// docs/stage1-checks.md "Fleet file"). The server builds it from check-ins; the CLI reads it from
// JSON.
#ifndef RINGFENCE_CORE_FLEET_H_
#define RINGFENCE_CORE_FLEET_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "core/status.h"

namespace rf {

// What one consumer build can take for one content type: compiled into the consumer and reported
// by every device, never hand-copied.
struct ConsumerCapability {
  std::vector<int64_t> schema_versions;  // versions it can parse
  int64_t inputs = 0;                    // it evaluates field positions 0..inputs-1 only
  int64_t max_items = 0;                 // 0 = not declared
  int64_t max_bundle_bytes = 0;          // 0 = not declared

  bool SupportsSchema(int64_t v) const;
};

// content type name -> capability. A type absent from the manifest is not consumed.
using CapabilityManifest = std::map<std::string, ConsumerCapability>;

struct Stratum {
  std::map<std::string, std::string> attrs;
  CapabilityManifest capabilities;
  int64_t devices = 0;

  // "os=windows agent_version=7.11" (attributes in key order).
  std::string Label() const;
};

struct Fleet {
  std::vector<Stratum> strata;
};

// Decodes one manifest object ({"ipc_rule": {"schema_versions": [3], "inputs": 20, ...}}).
// `where` prefixes error messages. Unknown keys and wrong types are errors.
Result<CapabilityManifest> DecodeCapabilityManifest(const boost::json::value& v,
                                                    std::string_view where);

// Parses a fleet inventory file. Errors name the file and the stratum index and key.
Result<Fleet> ParseFleetJson(std::string_view json, std::string_view filename);

// The fleet file text of `fleet` (the format ParseFleetJson reads, strata in order, keys sorted,
// no whitespace; max_items / max_bundle_bytes only when declared):
// ParseFleetJson(EncodeFleetJson(f)) gives `f` back. The cluster publishes each replica's inventory in it (docs/deploy.md).
std::string EncodeFleetJson(const Fleet& fleet);

}  // namespace rf

#endif  // RINGFENCE_CORE_FLEET_H_
