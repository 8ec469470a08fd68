// Fuzzes the fleet inventory's segment reader (docs/server.md "Fleet inventory segments"): the
// files a server replays from DATA/fleet/ at start, v1 and v2 (quarantined sets). A corrupt
// segment must be refused with DataLoss naming the file and line, never crash or be half-read.
// Oracles: an accepted segment's every device record resolves to its interned profile, installed
// and quarantined sets, and loading the same directory again gives the same fleet.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "platform/sim_env.h"
#include "server/fleet_inventory.h"

namespace {

constexpr char kDir[] = "/fleet";

struct Loaded {
  rf::Status status;
  int64_t devices = 0;
  int64_t quarantined = 0;
};

Loaded LoadDir(rf::MemFilesystem& fs) {
  rf::Env env{nullptr, &fs, nullptr};
  rf::server::FleetInventoryOptions options;
  options.dir = kDir;
  rf::server::FleetInventory inventory(env, options);
  Loaded out;
  out.status = inventory.Load();
  if (!out.status.ok()) return out;
  out.devices = inventory.DeviceCount();
  inventory.Sweep([&](const rf::server::SweepRecord& r) {
    (void)inventory.profile(r.profile);
    (void)inventory.installed(r.installed);
    if (r.quarantined != 0) out.quarantined += 1;
    (void)inventory.quarantined(r.quarantined);
  });
  (void)inventory.Inventory();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rf::MemFilesystem fs;
  RF_FUZZ_CHECK(fs.CreateDirs(kDir, 0700).ok(), "mem filesystem");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  RF_FUZZ_CHECK(fs.WriteFileAtomic(std::string(kDir) + "/seg-0000000000000001.fleet", text, 0600).ok(),
                "mem filesystem");
  const Loaded first = LoadDir(fs);
  if (!first.status.ok()) {
    RF_FUZZ_CHECK(first.status.code() == rf::StatusCode::kDataLoss,
                  "a bad segment is not DataLoss: " + first.status.ToString());
    RF_FUZZ_CHECK(first.status.message().find("seg-0000000000000001.fleet:") != std::string::npos,
                  "the error does not name the segment: " + first.status.ToString());
    return 0;
  }
  const Loaded second = LoadDir(fs);
  RF_FUZZ_CHECK(second.status.ok(), "a segment loaded once is refused the second time");
  RF_FUZZ_CHECK(second.devices == first.devices && second.quarantined == first.quarantined,
                "loading the same segment twice gave two fleets");
  return 0;
}
