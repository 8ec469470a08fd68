// FleetInventory: every enrolled device as it last reported itself, in memory, at a few dozen
// bytes per device; the server's FleetSource (layer 1's inventory, the controller's strata).
//
// Memory layout (docs/server.md, "Fleet inventory"):
//   * a fixed-size DeviceRecord (40 bytes) per device in chunked arrays, one set per shard;
//   * the device id in a per-shard append-only byte arena (ids are never removed);
//   * an open-addressing hash index of 32-bit record numbers per shard (load <= 0.7);
//   * attributes + capability manifest interned as one "profile" (a few per fleet stratum), the
//     installed bundles per channel interned as one "installed set" (a few per release), and the
//     versions the device quarantined interned as one "quarantined set" (a few per halted release).
// A device costs sizeof(DeviceRecord) + its id + ~6 bytes of index; MemoryBytes() accounts for it.
//
// Concurrency: devices are spread over kShards shards by a hash of their id, each with its own
// mutex, so check-ins on different shards never contend. Interned values are read without a lock;
// interning takes a shared lock on the hit path, and a check-in usually skips even that (a
// per-thread cache of the last installed sets). All methods are thread-safe.
//
// Quarantines: a check-in's `health.quarantined` lists only what the agent quarantined since its
// last accepted check-in (the agent drops what the server acknowledged; docs/protocol.md), so the
// inventory keeps each device's set as the union of every report: entries unique by (channel,
// version, sha256), the first reason kept, at most kMaxQuarantinedPerDevice (capping drops the
// lowest version, as the agent's own list does). The set survives re-enrollment and restarts (it
// is persisted with the record). Reasons are free text from devices: at most kMaxQuarantineReasons
// distinct ones are kept per inventory, later new ones are stored empty, so devices cannot make the
// number of interned sets grow with their number.
//
// Persistence: check-ins only mark records dirty. A background flusher (StartFlusher) writes the
// dirty records in batches, every `flush_interval_micros`, as a new segment file in
// `dir` (Filesystem::WriteFileAtomic: temp, fsync, rename), so a check-in never waits for an
// fsync. A crash loses at most the records changed since the last flush; agents re-report them at
// their next check-in (attributes and manifest are re-sent; a device whose enrollment was lost gets
// 404 unknown_device and enrolls again; a lost seq only lowers the stored one, which the agent's
// next, higher seq passes), except quarantines, which an agent reports once: a crash loses those
// reported in the last flush interval (the agent still refuses the versions; only the fleet page
// misses them). Load() replays segments in order; when more than `max_segments` exist the
// flusher writes one full segment and removes the older ones. Segment format: docs/server.md
// "Fleet inventory" (v2; v1 segments, without quarantined sets, still load).
#ifndef RINGFENCE_SERVER_FLEET_INVENTORY_H_
#define RINGFENCE_SERVER_FLEET_INVENTORY_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/fleet.h"
#include "core/status.h"
#include "platform/env.h"
#include "rollout/cohort.h"
#include "server/checkin.h"
#include "server/interfaces.h"

namespace rf::server {

// One device. Fixed size; no pointers.
struct DeviceRecord {
  uint64_t last_seq = 0;          // last accepted check-in seq (0 after enrollment)
  int64_t last_seen_micros = 0;   // wall time of the last enrollment or accepted check-in
  uint32_t id_offset = 0;         // in the shard's id arena
  uint32_t profile = 0;           // FleetInventory::profile(id)
  uint32_t installed = 0;         // FleetInventory::installed(id); 0 = nothing installed
  uint32_t quarantined = 0;       // FleetInventory::quarantined(id); 0 = none
  uint16_t offered = 0;           // bit i: the release in controller slot i was offered (install)
  uint16_t silent = 0;            // bit i: counted as silent for the release in slot i
  uint8_t id_len = 0;
  uint8_t flags = 0;              // kDirty
  static constexpr uint8_t kDirty = 1;
};
static_assert(sizeof(DeviceRecord) == 40, "DeviceRecord is part of the 256 B/device budget");

// An interned device profile: attributes + capability manifest.
struct DeviceProfile {
  uint32_t id = 0;
  std::string key;  // EncodeProfileKey
  rollout::Attributes attrs;
  CapabilityManifest capabilities;
  std::atomic<int64_t> devices{0};  // enrolled devices currently on this profile
};

// An interned installed set: what a device has per channel.
struct InstalledSet {
  uint32_t id = 0;
  std::string key;  // EncodeInstalledKey
  std::vector<ChannelReport> channels;  // sorted by channel
  const ChannelReport* Find(std::string_view channel) const;
};

// An interned quarantined set: the versions a device quarantined.
struct QuarantinedSet {
  uint32_t id = 0;
  std::string key;                          // EncodeQuarantinedKey
  std::vector<QuarantinedVersion> entries;  // sorted by (channel, version, sha256), unique
};

// Identifies a device record for a follow-up call (stable for the process lifetime).
struct DeviceHandle {
  uint32_t shard = 0;
  uint32_t index = 0;
};

// What a check-in sees of the device after it was accepted.
struct CheckinView {
  DeviceHandle handle;
  uint32_t profile = 0;
  uint32_t installed = 0;
  uint16_t offered = 0;
};

// A device as the controller's sweep sees it; `offered` and `silent` may be changed.
struct SweepRecord {
  std::string_view id;
  uint32_t profile;
  uint32_t installed;
  uint32_t quarantined;
  int64_t last_seen_micros;
  uint16_t* offered;
  uint16_t* silent;
};

struct FleetInventoryOptions {
  std::string dir;                           // segment directory; empty = no persistence
  int64_t flush_interval_micros = 2'000'000;  // how often dirty records are written
  int max_segments = 64;                     // then a full segment replaces them
};

class FleetInventory final : public FleetSource {
 public:
  static constexpr int kShards = 64;
  static constexpr size_t kMaxQuarantinedPerDevice = kMaxHealthEntries;
  static constexpr size_t kMaxQuarantineReasons = 1024;

  // `env.clock` is not read here (callers pass times); `env.fs` persists segments.
  FleetInventory(Env env, FleetInventoryOptions options);
  ~FleetInventory() override;
  FleetInventory(const FleetInventory&) = delete;
  FleetInventory& operator=(const FleetInventory&) = delete;

  // Replays the segments in options.dir. Call once, before anything else. DataLoss names a
  // corrupt segment (the server refuses to start rather than forget devices silently).
  [[nodiscard]] Status Load();
  // Starts/stops the background flusher. Stop() flushes what is dirty once more.
  void StartFlusher();
  void StopFlusher();
  // Writes every dirty record now (the flusher's step). Unavailable on I/O errors (records stay
  // dirty and are retried).
  [[nodiscard]] Status FlushNow();

  // Enrolls or updates a device. Enrollment keeps the device's seq and installed set.
  void Enroll(const EnrollRequest& req, int64_t now_micros);
  // Accepts a check-in: NotFound "unknown device" if not enrolled, OutOfRange "stale check-in" if
  // req.seq <= the last accepted seq; on error nothing changes. Adds req.quarantined to the
  // device's quarantined set (see "Quarantines" above).
  [[nodiscard]] Result<CheckinView> Checkin(const CheckinRequest& req, int64_t now_micros);
  // Sets offered bits of a device (after a check-in was answered with install).
  void MarkOffered(DeviceHandle h, uint16_t bits);

  // Interned values by id (never invalidated). REQUIRES: a valid id from this inventory.
  const DeviceProfile& profile(uint32_t id) const;
  const InstalledSet& installed(uint32_t id) const;
  const QuarantinedSet& quarantined(uint32_t id) const;
  uint32_t profile_count() const;

  // Calls fn for every device, shard by shard, holding each shard's lock while it runs.
  // fn must be fast and must not call back into the inventory.
  void Sweep(const std::function<void(const SweepRecord&)>& fn);

  // FleetSource.
  Fleet Inventory() const override;
  int64_t DeviceCount() const override;

  // Bytes held for devices (records, ids, index, dirty lists; not the interned profiles).
  size_t MemoryBytes() const;

 private:
  struct Shard;
  template <typename T>
  class Interner;

  Shard& ShardFor(std::string_view id, uint64_t* hash);
  uint32_t InternProfile(const rollout::Attributes& attrs, const CapabilityManifest& caps);
  uint32_t InternInstalled(const std::vector<ChannelReport>& channels);
  uint32_t InternQuarantined(const std::vector<QuarantinedVersion>& entries);
  // The set `base` plus `reported` (reasons already bounded), capped; interned.
  uint32_t MergeQuarantined(uint32_t base, const std::vector<QuarantinedVersion>& reported);
  // `reported` with reasons outside the bounded vocabulary emptied.
  std::vector<QuarantinedVersion> BoundReasons(const std::vector<QuarantinedVersion>& reported);
  void FlusherLoop();
  // Replays one segment's text (Load's step); DataLoss naming `path` and the line.
  [[nodiscard]] Status ReplaySegment(const std::string& path, std::string_view text);
  Status WriteSegment(bool full);

  Env env_;
  FleetInventoryOptions options_;
  const uint64_t instance_;  // distinct per inventory in this process (keys per-thread caches)
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<Interner<DeviceProfile>> profiles_;
  std::unique_ptr<Interner<InstalledSet>> installed_sets_;
  std::unique_ptr<Interner<QuarantinedSet>> quarantined_sets_;
  std::mutex reasons_mu_;
  std::unordered_set<std::string> reasons_;  // the bounded reason vocabulary
  std::atomic<int64_t> devices_{0};

  std::mutex flush_mu_;  // one flush at a time; guards next_segment_ and segments_
  uint64_t next_segment_ = 1;
  std::vector<std::string> segments_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_FLEET_INVENTORY_H_
