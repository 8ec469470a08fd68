#include "server/fleet_inventory.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <utility>

namespace rf::server {
namespace {

constexpr uint32_t kRecordsPerChunk = 1024;
constexpr uint32_t kArenaChunkBytes = 1u << 16;
constexpr size_t kMaxSegmentBytes = size_t{4} << 30;
// Segment header: kSegmentMagic + version + " full" | " delta". v1: no quarantined sets (D lines
// have 5 fields); v2 (written now): Q table lines and a 6th D field.
constexpr std::string_view kSegmentMagic = "ringfence-fleet v";
constexpr int kSegmentVersion = 2;

uint64_t HashId(std::string_view id) {
  // FNV-1a, then a 64-bit finalizer (splitmix64) so sequential ids spread over shards and slots.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

uint64_t NextInstance() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

bool ParseInt(std::string_view s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

const ChannelReport* InstalledSet::Find(std::string_view channel) const {
  auto it = std::lower_bound(
      channels.begin(), channels.end(), channel,
      [](const ChannelReport& c, std::string_view name) { return c.channel < name; });
  return it != channels.end() && it->channel == channel ? &*it : nullptr;
}

// Interns values by their canonical key. Each value is allocated once and never moves or dies
// (references stay valid); ids index a two-level table of pointers that readers use without a
// lock: a slot is written (release) before its id is published through the index, and readers
// only hold ids they got from Intern (under the lock) or from a record written after it.
template <typename T>
class FleetInventory::Interner {
 public:
  static constexpr uint32_t kChunkBits = 10;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 1u << 14;  // 16M values (a fleet has a few per stratum)

  Interner() : chunks_(new std::atomic<std::atomic<T*>*>[kMaxChunks] {}) {}
  ~Interner() {
    const uint32_t n = size_.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < n; ++i) delete slot(i).load(std::memory_order_relaxed);
    for (uint32_t c = 0; c < kMaxChunks; ++c) delete[] chunks_[c].load(std::memory_order_relaxed);
  }
  Interner(const Interner&) = delete;
  Interner& operator=(const Interner&) = delete;

  // Returns the id of `key`, creating the value with make(T&) if new.
  template <typename Make>
  uint32_t Intern(const std::string& key, Make make) {
    {
      std::shared_lock l(mu_);
      auto it = index_.find(std::string_view(key));
      if (it != index_.end()) return it->second;
    }
    std::unique_lock l(mu_);
    auto it = index_.find(std::string_view(key));
    if (it != index_.end()) return it->second;
    const uint32_t id = size_.load(std::memory_order_relaxed);
    if (id >= kMaxChunks * kChunkSize) {
      std::fprintf(stderr, "ringfence: more than %u distinct interned values\n", id);
      std::abort();
    }
    auto v = std::make_unique<T>();
    v->id = id;
    v->key = key;
    make(*v);
    if (id % kChunkSize == 0) {
      chunks_[id >> kChunkBits].store(
          new std::atomic<T*>[kChunkSize] {}, std::memory_order_release);
    }
    T* raw = v.release();
    slot(id).store(raw, std::memory_order_release);
    size_.store(id + 1, std::memory_order_release);
    index_.emplace(raw->key, id);
    return id;
  }
  // REQUIRES: id < size(). Lock-free.
  const T& at(uint32_t id) const { return *slot(id).load(std::memory_order_acquire); }
  T& mutable_at(uint32_t id) { return *slot(id).load(std::memory_order_acquire); }
  uint32_t size() const { return size_.load(std::memory_order_acquire); }

 private:
  std::atomic<T*>& slot(uint32_t id) const {
    return chunks_[id >> kChunkBits].load(std::memory_order_acquire)[id & (kChunkSize - 1)];
  }

  std::shared_mutex mu_;  // guards index_ and the writers
  std::unique_ptr<std::atomic<std::atomic<T*>*>[]> chunks_;
  std::atomic<uint32_t> size_{0};
  std::unordered_map<std::string, uint32_t, TransparentHash, std::equal_to<>> index_;
};

struct FleetInventory::Shard {
  mutable std::mutex mu;
  std::vector<std::unique_ptr<DeviceRecord[]>> chunks;
  uint32_t count = 0;
  std::vector<std::unique_ptr<char[]>> arena;
  uint32_t arena_used = kArenaChunkBytes;  // bytes used in the last arena chunk
  std::vector<uint32_t> index;             // 0 = empty, else record number + 1
  std::vector<uint32_t> dirty;

  DeviceRecord& rec(uint32_t i) { return chunks[i / kRecordsPerChunk][i % kRecordsPerChunk]; }
  std::string_view id(const DeviceRecord& r) const {
    return std::string_view(arena[r.id_offset >> 16].get() + (r.id_offset & 0xffff), r.id_len);
  }

  // Record number of `id`, or -1.
  int64_t Find(std::string_view key, uint64_t h) {
    if (index.empty()) return -1;
    const size_t mask = index.size() - 1;
    for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
      const uint32_t v = index[slot];
      if (v == 0) return -1;
      if (id(rec(v - 1)) == key) return v - 1;
    }
  }

  void InsertIndex(uint32_t record, uint64_t h) {
    const size_t mask = index.size() - 1;
    size_t slot = h & mask;
    while (index[slot] != 0) slot = (slot + 1) & mask;
    index[slot] = record + 1;
  }

  // Appends a new record for `key`. REQUIRES: not present.
  uint32_t Add(std::string_view key, uint64_t h) {
    if ((static_cast<size_t>(count) + 1) * 10 > index.size() * 7) {
      std::vector<uint32_t> old = std::move(index);
      index.assign(old.empty() ? 1024 : old.size() * 2, 0);
      for (uint32_t v : old) {
        if (v != 0) InsertIndex(v - 1, HashId(id(rec(v - 1))));
      }
    }
    if (count % kRecordsPerChunk == 0) {
      chunks.push_back(std::make_unique<DeviceRecord[]>(kRecordsPerChunk));
    }
    if (arena_used + key.size() > kArenaChunkBytes) {
      arena.push_back(std::make_unique_for_overwrite<char[]>(kArenaChunkBytes));
      arena_used = 0;
    }
    const uint32_t n = count++;
    DeviceRecord& r = rec(n);
    r = DeviceRecord{};
    r.id_offset = static_cast<uint32_t>(((arena.size() - 1) << 16) | arena_used);
    r.id_len = static_cast<uint8_t>(key.size());
    std::memcpy(arena.back().get() + arena_used, key.data(), key.size());
    arena_used += static_cast<uint32_t>(key.size());
    InsertIndex(n, h);
    return n;
  }

  void MarkDirty(uint32_t n) {
    DeviceRecord& r = rec(n);
    if (!(r.flags & DeviceRecord::kDirty)) {
      r.flags |= DeviceRecord::kDirty;
      dirty.push_back(n);
    }
  }
};

FleetInventory::FleetInventory(Env env, FleetInventoryOptions options)
    : env_(env),
      options_(std::move(options)),
      instance_(NextInstance()),
      profiles_(std::make_unique<Interner<DeviceProfile>>()),
      installed_sets_(std::make_unique<Interner<InstalledSet>>()),
      quarantined_sets_(std::make_unique<Interner<QuarantinedSet>>()) {
  for (int i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>());
  // Installed set 0: nothing installed; quarantined set 0: nothing quarantined.
  (void)installed_sets_->Intern(EncodeInstalledKey({}), [](InstalledSet&) {});
  (void)quarantined_sets_->Intern(EncodeQuarantinedKey({}), [](QuarantinedSet&) {});
}

FleetInventory::~FleetInventory() { StopFlusher(); }

FleetInventory::Shard& FleetInventory::ShardFor(std::string_view id, uint64_t* hash) {
  *hash = HashId(id);
  return *shards_[*hash >> 58];  // top 6 bits: kShards == 64
}

uint32_t FleetInventory::InternProfile(const rollout::Attributes& attrs,
                                       const CapabilityManifest& caps) {
  return profiles_->Intern(EncodeProfileKey(attrs, caps), [&](DeviceProfile& p) {
    p.attrs = attrs;
    p.capabilities = caps;
  });
}

uint32_t FleetInventory::InternInstalled(const std::vector<ChannelReport>& channels) {
  // Most check-ins report one of a few installed sets (a few per release): a small per-thread
  // cache of the last ones seen skips encoding the key and the interner's lock. Entries are
  // tagged with the inventory's instance number (never reused), not its address.
  struct CacheEntry {
    uint64_t instance = 0;
    uint32_t id = 0;
    std::vector<ChannelReport> channels;
  };
  constexpr size_t kCacheEntries = 4;
  thread_local std::array<CacheEntry, kCacheEntries> cache;
  thread_local size_t next = 0;
  for (const CacheEntry& e : cache) {
    if (e.instance == instance_ && e.channels == channels) return e.id;
  }
  const uint32_t id = installed_sets_->Intern(EncodeInstalledKey(channels),
                                              [&](InstalledSet& s) { s.channels = channels; });
  CacheEntry& e = cache[next++ % kCacheEntries];
  e.instance = instance_;
  e.id = id;
  e.channels = channels;
  return id;
}

uint32_t FleetInventory::InternQuarantined(const std::vector<QuarantinedVersion>& entries) {
  return quarantined_sets_->Intern(EncodeQuarantinedKey(entries),
                                   [&](QuarantinedSet& q) { q.entries = entries; });
}

std::vector<QuarantinedVersion> FleetInventory::BoundReasons(
    const std::vector<QuarantinedVersion>& reported) {
  std::vector<QuarantinedVersion> out = reported;
  std::lock_guard l(reasons_mu_);
  for (QuarantinedVersion& q : out) {
    if (q.reason.empty() || reasons_.count(q.reason)) continue;
    if (reasons_.size() < kMaxQuarantineReasons) {
      reasons_.insert(q.reason);
    } else {
      q.reason.clear();
    }
  }
  return out;
}

uint32_t FleetInventory::MergeQuarantined(uint32_t base,
                                          const std::vector<QuarantinedVersion>& reported) {
  auto less = [](const QuarantinedVersion& a, const QuarantinedVersion& b) {
    return std::tie(a.channel, a.version, a.sha256) < std::tie(b.channel, b.version, b.sha256);
  };
  auto same = [](const QuarantinedVersion& a, const QuarantinedVersion& b) {
    return a.channel == b.channel && a.version == b.version && a.sha256 == b.sha256;
  };
  const std::vector<QuarantinedVersion>& have = quarantined_sets_->at(base).entries;
  std::vector<QuarantinedVersion> merged = have;
  for (const QuarantinedVersion& q : reported) {
    auto it = std::lower_bound(merged.begin(), merged.end(), q, less);
    if (it != merged.end() && same(*it, q)) continue;  // known: the first reason stays
    merged.insert(it, q);
  }
  while (merged.size() > kMaxQuarantinedPerDevice) {
    merged.erase(std::min_element(merged.begin(), merged.end(),
                                  [](const QuarantinedVersion& a, const QuarantinedVersion& b) {
                                    return a.version < b.version;
                                  }));
  }
  if (merged == have) return base;
  return InternQuarantined(merged);
}

const DeviceProfile& FleetInventory::profile(uint32_t id) const { return profiles_->at(id); }
const QuarantinedSet& FleetInventory::quarantined(uint32_t id) const {
  return quarantined_sets_->at(id);
}
const InstalledSet& FleetInventory::installed(uint32_t id) const {
  return installed_sets_->at(id);
}
uint32_t FleetInventory::profile_count() const { return profiles_->size(); }

void FleetInventory::Enroll(const EnrollRequest& req, int64_t now_micros) {
  const uint32_t p = InternProfile(req.attrs, req.capabilities);
  uint64_t h;
  Shard& sh = ShardFor(req.device_id, &h);
  uint32_t old_profile = 0;
  bool existed = false;
  {
    std::lock_guard l(sh.mu);
    int64_t n = sh.Find(req.device_id, h);
    if (n < 0) {
      n = sh.Add(req.device_id, h);
    } else {
      existed = true;
      old_profile = sh.rec(static_cast<uint32_t>(n)).profile;
    }
    DeviceRecord& r = sh.rec(static_cast<uint32_t>(n));
    r.profile = p;
    r.last_seen_micros = now_micros;
    sh.MarkDirty(static_cast<uint32_t>(n));
  }
  if (existed) {
    profiles_->mutable_at(old_profile).devices.fetch_sub(1, std::memory_order_relaxed);
  } else {
    devices_.fetch_add(1, std::memory_order_relaxed);
  }
  profiles_->mutable_at(p).devices.fetch_add(1, std::memory_order_relaxed);
}

Result<CheckinView> FleetInventory::Checkin(const CheckinRequest& req, int64_t now_micros) {
  uint64_t h;
  Shard& sh = ShardFor(req.device_id, &h);
  // Intern before taking the shard lock (interning may allocate); an interned value that ends up
  // unused because the check-in is refused is harmless (it is not a device's state).
  std::optional<uint32_t> new_profile;
  const uint32_t installed = InternInstalled(req.channels);
  // Reported quarantines (rare: once per device and quarantined version) are merged into the
  // device's set under the shard lock below; reasons are bounded before it.
  std::vector<QuarantinedVersion> reported;
  if (!req.quarantined.empty()) reported = BoundReasons(req.quarantined);
  CheckinView view;
  uint32_t old_profile = 0;
  {
    std::unique_lock l(sh.mu);
    const int64_t n = sh.Find(req.device_id, h);
    if (n < 0) return Status::NotFound("unknown device '" + req.device_id + "': enroll first");
    DeviceRecord& r = sh.rec(static_cast<uint32_t>(n));
    if (req.seq <= 0 || static_cast<uint64_t>(req.seq) <= r.last_seq) {
      return Status::OutOfRange("stale check-in: seq " + std::to_string(req.seq) +
                                " <= last accepted seq " + std::to_string(r.last_seq));
    }
    if (req.attrs || req.capabilities) {
      // Partial updates keep the other half of the profile.
      if (!req.attrs || !req.capabilities) {
        const DeviceProfile& cur = profiles_->at(r.profile);
        l.unlock();
        const uint32_t p = InternProfile(req.attrs ? *req.attrs : cur.attrs,
                                         req.capabilities ? *req.capabilities : cur.capabilities);
        l.lock();
        new_profile = p;
        // The record cannot have moved (records are never removed), but another check-in of the
        // same device may have raced us; the seq check decides.
        if (static_cast<uint64_t>(req.seq) <= r.last_seq) {
          return Status::OutOfRange("stale check-in: seq " + std::to_string(req.seq) +
                                    " <= last accepted seq " + std::to_string(r.last_seq));
        }
      } else {
        l.unlock();
        new_profile = InternProfile(*req.attrs, *req.capabilities);
        l.lock();
        if (static_cast<uint64_t>(req.seq) <= r.last_seq) {
          return Status::OutOfRange("stale check-in: seq " + std::to_string(req.seq) +
                                    " <= last accepted seq " + std::to_string(r.last_seq));
        }
      }
    }
    old_profile = r.profile;
    if (new_profile) r.profile = *new_profile;
    r.last_seq = static_cast<uint64_t>(req.seq);
    r.last_seen_micros = now_micros;
    r.installed = installed;
    if (!reported.empty()) r.quarantined = MergeQuarantined(r.quarantined, reported);
    sh.MarkDirty(static_cast<uint32_t>(n));
    view.handle = {static_cast<uint32_t>(h >> 58), static_cast<uint32_t>(n)};
    view.profile = r.profile;
    view.installed = r.installed;
    view.offered = r.offered;
  }
  if (new_profile && *new_profile != old_profile) {
    profiles_->mutable_at(old_profile).devices.fetch_sub(1, std::memory_order_relaxed);
    profiles_->mutable_at(*new_profile).devices.fetch_add(1, std::memory_order_relaxed);
  }
  return view;
}

void FleetInventory::MarkOffered(DeviceHandle h, uint16_t bits) {
  Shard& sh = *shards_[h.shard];
  std::lock_guard l(sh.mu);
  sh.rec(h.index).offered |= bits;
}

void FleetInventory::Sweep(const std::function<void(const SweepRecord&)>& fn) {
  for (auto& shp : shards_) {
    Shard& sh = *shp;
    std::lock_guard l(sh.mu);
    for (uint32_t i = 0; i < sh.count; ++i) {
      DeviceRecord& r = sh.rec(i);
      fn(SweepRecord{sh.id(r), r.profile, r.installed, r.quarantined, r.last_seen_micros,
                     &r.offered, &r.silent});
    }
  }
}

Fleet FleetInventory::Inventory() const {
  Fleet fleet;
  const uint32_t n = profiles_->size();
  for (uint32_t i = 0; i < n; ++i) {
    const DeviceProfile& p = profiles_->at(i);
    const int64_t d = p.devices.load(std::memory_order_relaxed);
    if (d <= 0) continue;
    Stratum s;
    s.attrs = std::map<std::string, std::string>(p.attrs.begin(), p.attrs.end());
    s.capabilities = p.capabilities;
    s.devices = d;
    fleet.strata.push_back(std::move(s));
  }
  return fleet;
}

int64_t FleetInventory::DeviceCount() const { return devices_.load(std::memory_order_relaxed); }

size_t FleetInventory::MemoryBytes() const {
  size_t bytes = 0;
  for (const auto& shp : shards_) {
    std::lock_guard l(shp->mu);
    bytes += shp->chunks.size() * kRecordsPerChunk * sizeof(DeviceRecord);
    bytes += shp->arena.size() * kArenaChunkBytes;
    bytes += shp->index.capacity() * sizeof(uint32_t);
    bytes += shp->dirty.capacity() * sizeof(uint32_t);
    bytes += shp->chunks.capacity() * sizeof(void*) + shp->arena.capacity() * sizeof(void*);
  }
  return bytes;
}

// ----- persistence -----

namespace {

struct SegmentDevice {
  std::string id;
  uint64_t seq;
  int64_t last_seen;
  uint32_t profile;
  uint32_t installed;
  uint32_t quarantined;
};

}  // namespace

Status FleetInventory::WriteSegment(bool full) {
  // Collect (and un-dirty) records; remember them to re-mark on failure.
  std::vector<SegmentDevice> batch;
  std::vector<std::pair<uint32_t, uint32_t>> taken;  // (shard, record)
  for (uint32_t s = 0; s < shards_.size(); ++s) {
    Shard& sh = *shards_[s];
    std::lock_guard l(sh.mu);
    auto take = [&](uint32_t i) {
      DeviceRecord& r = sh.rec(i);
      r.flags &= static_cast<uint8_t>(~DeviceRecord::kDirty);
      batch.push_back({std::string(sh.id(r)), r.last_seq, r.last_seen_micros, r.profile,
                       r.installed, r.quarantined});
      taken.emplace_back(s, i);
    };
    if (full) {
      for (uint32_t i = 0; i < sh.count; ++i) take(i);
      sh.dirty.clear();
    } else {
      for (uint32_t i : sh.dirty) take(i);
      sh.dirty.clear();
    }
    if (sh.dirty.capacity() > 4096) sh.dirty.shrink_to_fit();
  }
  if (batch.empty() && !full) return Status::Ok();

  // Segment-local numbers of the profiles and installed sets used (dense ids: plain vectors), then
  // the text appended in place (no temporaries per device: the flusher shares the cores with
  // check-ins).
  constexpr uint32_t kUnset = UINT32_MAX;
  std::vector<uint32_t> profile_local(profiles_->size(), kUnset);
  std::vector<uint32_t> installed_local(installed_sets_->size(), kUnset);
  std::vector<uint32_t> quarantined_local(quarantined_sets_->size(), kUnset);
  uint32_t profiles_used = 0, installed_used = 0, quarantined_used = 0;
  char num[24];
  auto append_int = [&](std::string* out, auto v) {
    out->append(num, std::to_chars(num, num + sizeof num, v).ptr);
  };
  std::string text(kSegmentMagic);
  append_int(&text, kSegmentVersion);
  text += full ? " full\n" : " delta\n";
  for (const SegmentDevice& d : batch) {
    if (profile_local[d.profile] == kUnset) {
      profile_local[d.profile] = profiles_used++;
      text += "P ";
      append_int(&text, profile_local[d.profile]);
      text += ' ';
      text += profiles_->at(d.profile).key;
      text += '\n';
    }
    if (installed_local[d.installed] == kUnset) {
      installed_local[d.installed] = installed_used++;
      text += "I ";
      append_int(&text, installed_local[d.installed]);
      text += ' ';
      text += installed_sets_->at(d.installed).key;
      text += '\n';
    }
    if (quarantined_local[d.quarantined] == kUnset) {
      quarantined_local[d.quarantined] = quarantined_used++;
      text += "Q ";
      append_int(&text, quarantined_local[d.quarantined]);
      text += ' ';
      text += quarantined_sets_->at(d.quarantined).key;
      text += '\n';
    }
  }
  text.reserve(text.size() + batch.size() * 64);
  for (const SegmentDevice& d : batch) {
    text += "D ";
    text += d.id;
    text += ' ';
    append_int(&text, d.seq);
    text += ' ';
    append_int(&text, d.last_seen);
    text += ' ';
    append_int(&text, profile_local[d.profile]);
    text += ' ';
    append_int(&text, installed_local[d.installed]);
    text += ' ';
    append_int(&text, quarantined_local[d.quarantined]);
    text += '\n';
  }
  text += "E ";
  append_int(&text, batch.size());
  text += '\n';

  char name[64];
  std::snprintf(name, sizeof name, "/seg-%016llu.fleet",
                static_cast<unsigned long long>(next_segment_));
  const std::string path = options_.dir + name;
  Status st = env_.fs->WriteFileAtomic(path, text, 0600);
  if (!st.ok()) {
    for (auto [s, i] : taken) {
      Shard& sh = *shards_[s];
      std::lock_guard l(sh.mu);
      sh.MarkDirty(i);
    }
    return st;
  }
  ++next_segment_;
  if (full) {
    for (const std::string& old : segments_) (void)env_.fs->Remove(old);
    segments_.clear();
  }
  segments_.push_back(path);
  return Status::Ok();
}

Status FleetInventory::FlushNow() {
  if (options_.dir.empty()) return Status::Ok();
  std::lock_guard l(flush_mu_);
  const bool full = static_cast<int>(segments_.size()) >= options_.max_segments;
  return WriteSegment(full);
}

Status FleetInventory::Load() {
  if (options_.dir.empty()) return Status::Ok();
  std::lock_guard fl(flush_mu_);
  RF_RETURN_IF_ERROR(env_.fs->CreateDirs(options_.dir, 0700));
  RF_ASSIGN_OR_RETURN(std::vector<std::string> names, env_.fs->ListDir(options_.dir));
  std::vector<std::string> segs;
  for (const std::string& n : names) {
    if (n.size() == 4 + 16 + 6 && n.rfind("seg-", 0) == 0 && n.ends_with(".fleet")) segs.push_back(n);
  }
  std::sort(segs.begin(), segs.end());
  for (const std::string& n : segs) {
    const std::string path = options_.dir + "/" + n;
    RF_ASSIGN_OR_RETURN(std::string text, env_.fs->ReadFile(path, kMaxSegmentBytes));
    RF_RETURN_IF_ERROR(ReplaySegment(path, text));
    segments_.push_back(path);
    int64_t num = 0;
    (void)ParseInt(std::string_view(n).substr(4, 16), &num);
    next_segment_ = std::max<uint64_t>(next_segment_, static_cast<uint64_t>(num) + 1);
  }
  return Status::Ok();
}

Status FleetInventory::ReplaySegment(const std::string& path, std::string_view text) {
  auto corrupt = [&](size_t line, std::string_view why) {
    return Status::DataLoss(path + ":" + std::to_string(line) + ": " + std::string(why));
  };
  std::unordered_map<int64_t, uint32_t> pmap, imap, qmap;
  int version = 0;
  size_t pos = 0, line_no = 0;
  bool ended = false;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) return corrupt(line_no + 1, "truncated line");
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line_no == 1) {
      if (line == "ringfence-fleet v1 full" || line == "ringfence-fleet v1 delta") {
        version = 1;
      } else if (line == "ringfence-fleet v2 full" || line == "ringfence-fleet v2 delta") {
        version = 2;
      } else if (line.starts_with(kSegmentMagic)) {
        return corrupt(line_no, "unsupported fleet segment version (this server reads v1 and v2)");
      } else {
        return corrupt(line_no, "not a fleet segment");
      }
      continue;
    }
    if (line.size() < 2 || line[1] != ' ') return corrupt(line_no, "malformed line");
    const char kind = line[0];
    std::string_view rest = line.substr(2);
    if (kind == 'P' || kind == 'I' || (kind == 'Q' && version >= 2)) {
      const size_t sp = rest.find(' ');
      int64_t local;
      if (sp == std::string_view::npos || !ParseInt(rest.substr(0, sp), &local)) {
        return corrupt(line_no, "malformed table line");
      }
      const std::string_view key = rest.substr(sp + 1);
      if (kind == 'P') {
        rollout::Attributes attrs;
        CapabilityManifest caps;
        Status st = ParseProfileKey(key, &attrs, &caps);
        if (!st.ok()) return corrupt(line_no, st.message());
        pmap[local] = InternProfile(attrs, caps);
      } else if (kind == 'I') {
        auto channels = ParseInstalledKey(key);
        if (!channels.ok()) return corrupt(line_no, channels.status().message());
        imap[local] = InternInstalled(*channels);
      } else {
        auto entries = ParseQuarantinedKey(key);
        if (!entries.ok()) return corrupt(line_no, entries.status().message());
        // Canonical (sorted, unique, capped) and reasons bounded, as MergeQuarantined keeps them.
        qmap[local] = MergeQuarantined(0, BoundReasons(*entries));
      }
    } else if (kind == 'D') {
      const int nf = version >= 2 ? 6 : 5;
      std::string_view f[6];
      size_t start = 0;
      for (int i = 0; i < nf; ++i) {
        size_t sp = i < nf - 1 ? rest.find(' ', start) : rest.size();
        if (sp == std::string_view::npos) return corrupt(line_no, "malformed device line");
        f[i] = rest.substr(start, sp - start);
        start = sp + 1;
      }
      int64_t seq, seen, p, in, q = 0;
      if (!IsValidId(f[0]) || !ParseInt(f[1], &seq) || !ParseInt(f[2], &seen) ||
          !ParseInt(f[3], &p) || !ParseInt(f[4], &in) || (nf == 6 && !ParseInt(f[5], &q)) ||
          !pmap.count(p) || !imap.count(in) || (nf == 6 && !qmap.count(q))) {
        return corrupt(line_no, "malformed device line");
      }
      uint64_t h;
      Shard& sh = ShardFor(f[0], &h);
      std::lock_guard l(sh.mu);
      int64_t idx = sh.Find(f[0], h);
      if (idx < 0) {
        idx = sh.Add(f[0], h);
        devices_.fetch_add(1, std::memory_order_relaxed);
      } else {
        profiles_->mutable_at(sh.rec(static_cast<uint32_t>(idx)).profile)
            .devices.fetch_sub(1, std::memory_order_relaxed);
      }
      DeviceRecord& r = sh.rec(static_cast<uint32_t>(idx));
      r.last_seq = static_cast<uint64_t>(seq);
      r.last_seen_micros = seen;
      r.profile = pmap[p];
      r.installed = imap[in];
      r.quarantined = nf == 6 ? qmap[q] : 0;  // v1: nothing quarantined (set 0)
      profiles_->mutable_at(r.profile).devices.fetch_add(1, std::memory_order_relaxed);
    } else if (kind == 'E') {
      ended = true;
    } else {
      return corrupt(line_no, "unknown line kind");
    }
  }
  if (!ended) return corrupt(line_no, "segment has no end marker");
  return Status::Ok();
}

void FleetInventory::StartFlusher() {
  if (options_.dir.empty() || flusher_.joinable()) return;
  stopping_ = false;
  flusher_ = std::thread([this] { FlusherLoop(); });
}

void FleetInventory::FlusherLoop() {
  std::unique_lock l(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(l, std::chrono::microseconds(options_.flush_interval_micros),
                      [this] { return stopping_; });
    l.unlock();
    Status st = FlushNow();
    if (!st.ok()) std::fprintf(stderr, "ringfence server: fleet flush failed: %s\n", st.ToString().c_str());
    l.lock();
  }
}

void FleetInventory::StopFlusher() {
  {
    std::lock_guard l(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
}

}  // namespace rf::server
