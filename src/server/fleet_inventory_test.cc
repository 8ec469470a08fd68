#include "server/fleet_inventory.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "platform/sim_env.h"
#include "testing/test_util.h"

namespace rf::server {
namespace {

EnrollRequest Device(const std::string& id, const std::string& os, int64_t inputs = 20) {
  EnrollRequest e;
  e.device_id = id;
  e.attrs = {{"os", os}, {"agent_version", "7.11"}};
  e.capabilities["ipc_rule"] = ConsumerCapability{{3}, inputs, 0, 0};
  return e;
}

CheckinRequest Checkin(const std::string& id, int64_t seq) {
  CheckinRequest c;
  c.device_id = id;
  c.seq = seq;
  return c;
}

Env TestEnv(Filesystem* fs) {
  static SimulatedClock clock;
  static SeededRandom random(1);
  return Env{&clock, fs, &random};
}

TEST(FleetInventory, RecordIsSmall) {
  EXPECT_EQ(sizeof(DeviceRecord), 40u);
}

TEST(FleetInventory, EnrollCheckinSeqAndUnknown) {
  MemFilesystem fs;
  FleetInventory inv(TestEnv(&fs), {});
  inv.Enroll(Device("d-1", "windows"), 100);
  EXPECT_EQ(inv.DeviceCount(), 1);
  auto r = inv.Checkin(Checkin("d-2", 1), 200);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(inv.Checkin(Checkin("d-1", 5), 200).ok());
  for (int64_t stale : {5, 4, 1}) {
    auto s = inv.Checkin(Checkin("d-1", stale), 300);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kOutOfRange);
  }
  ASSERT_TRUE(inv.Checkin(Checkin("d-1", 6), 300).ok());
  // Re-enrolling keeps the seq: a replay stays refused.
  inv.Enroll(Device("d-1", "linux"), 400);
  EXPECT_EQ(inv.DeviceCount(), 1);
  EXPECT_FALSE(inv.Checkin(Checkin("d-1", 6), 500).ok());
}

TEST(FleetInventory, InventoryGroupsProfilesAndFollowsUpgrades) {
  MemFilesystem fs;
  FleetInventory inv(TestEnv(&fs), {});
  for (int i = 0; i < 30; ++i) inv.Enroll(Device("w-" + std::to_string(i), "windows"), 1);
  for (int i = 0; i < 10; ++i) inv.Enroll(Device("l-" + std::to_string(i), "linux"), 1);
  Fleet f = inv.Inventory();
  ASSERT_EQ(f.strata.size(), 2u);
  int64_t total = 0;
  for (const Stratum& s : f.strata) total += s.devices;
  EXPECT_EQ(total, 40);
  // One windows device upgrades its consumer (new manifest at check-in).
  CheckinRequest c = Checkin("w-0", 1);
  c.capabilities = CapabilityManifest{{"ipc_rule", ConsumerCapability{{3}, 21, 0, 0}}};
  ASSERT_TRUE(inv.Checkin(c, 2).ok());
  f = inv.Inventory();
  ASSERT_EQ(f.strata.size(), 3u);
  for (const Stratum& s : f.strata) {
    if (s.capabilities.at("ipc_rule").inputs == 21) {
      EXPECT_EQ(s.devices, 1);
      EXPECT_EQ(s.attrs.at("os"), "windows");  // attributes kept from the enrollment
    }
  }
}

TEST(FleetInventory, MemoryPerDeviceStaysUnder256Bytes) {
  MemFilesystem fs;
  FleetInventory inv(TestEnv(&fs), {});
  constexpr int kDevices = 200'000;
  for (int i = 0; i < kDevices; ++i) {
    inv.Enroll(Device("device-" + std::to_string(1'000'000 + i), i % 3 ? "windows" : "linux"), 1);
  }
  const double per_device = static_cast<double>(inv.MemoryBytes()) / kDevices;
  std::printf("inventory: %.1f bytes per device (%d devices)\n", per_device, kDevices);
  EXPECT_LT(per_device, 128.0);
}

TEST(FleetInventory, PersistsAndReloadsSegments) {
  testing::TempDir dir;
  Env env = PosixEnv();
  FleetInventoryOptions o;
  o.dir = dir.File("fleet");
  o.max_segments = 3;
  {
    FleetInventory inv(env, o);
    ASSERT_TRUE(inv.Load().ok());
    for (int i = 0; i < 100; ++i) inv.Enroll(Device("d-" + std::to_string(i), "windows"), 10);
    ASSERT_TRUE(inv.FlushNow().ok());
    CheckinRequest c = Checkin("d-7", 9);
    c.channels = {{"291", BundleRef{42, std::string(64, 'b')}, std::nullopt}};
    ASSERT_TRUE(inv.Checkin(c, 20).ok());
    ASSERT_TRUE(inv.FlushNow().ok());
    // More flushes than max_segments: compaction into one full segment.
    for (int k = 0; k < 5; ++k) {
      inv.Enroll(Device("e-" + std::to_string(k), "linux"), 30);
      ASSERT_TRUE(inv.FlushNow().ok());
    }
    inv.Enroll(Device("lost", "linux"), 40);  // never flushed: lost by a crash
  }
  FleetInventory back(env, o);
  ASSERT_TRUE(back.Load().ok());
  // No flusher ran after "lost" enrolled: it is gone, as after a crash (agents re-enroll on 404).
  EXPECT_EQ(back.DeviceCount(), 105);
  auto stale = back.Checkin(Checkin("d-7", 9), 50);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kOutOfRange);
  auto ok = back.Checkin(Checkin("d-7", 10), 50);
  ASSERT_TRUE(ok.ok());
  auto lost = back.Checkin(Checkin("lost", 1), 50);
  EXPECT_EQ(lost.status().code(), StatusCode::kNotFound);
}

TEST(FleetInventory, CorruptSegmentIsRefused) {
  testing::TempDir dir;
  Env env = PosixEnv();
  FleetInventoryOptions o;
  o.dir = dir.File("fleet");
  ASSERT_TRUE(env.fs->CreateDirs(o.dir, 0700).ok());
  testing::WriteFileOrDie(o.dir + "/seg-0000000000000001.fleet",
                          "ringfence-fleet v1 delta\nD d-1 1 2 0 0\nE 1\n");
  FleetInventory inv(env, o);
  Status st = inv.Load();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("seg-0000000000000001.fleet:2"), std::string::npos) << st.message();
}

QuarantinedVersion Q(int64_t version, std::string reason = "3 unclean starts",
                     std::string channel = "291") {
  return QuarantinedVersion{std::move(channel), version,
                            std::string(64, static_cast<char>('a' + version % 6)), std::move(reason)};
}

std::vector<QuarantinedVersion> QuarantinedOf(FleetInventory& inv, std::string_view id) {
  std::vector<QuarantinedVersion> out;
  inv.Sweep([&](const SweepRecord& r) {
    if (r.id == id) out = inv.quarantined(r.quarantined).entries;
  });
  return out;
}

// The agent reports a quarantine once (its pending list), so the device's set is the union of
// every accepted check-in's reports; a check-in without any keeps it.
TEST(FleetInventory, QuarantinedSetIsTheUnionOfReports) {
  MemFilesystem fs;
  FleetInventory inv(TestEnv(&fs), {});
  inv.Enroll(Device("d-1", "windows"), 1);
  inv.Enroll(Device("d-2", "windows"), 1);
  EXPECT_TRUE(QuarantinedOf(inv, "d-1").empty());
  CheckinRequest c = Checkin("d-1", 1);
  c.quarantined = {Q(43)};
  ASSERT_TRUE(inv.Checkin(c, 2).ok());
  EXPECT_EQ(QuarantinedOf(inv, "d-1"), std::vector<QuarantinedVersion>{Q(43)});
  ASSERT_TRUE(inv.Checkin(Checkin("d-1", 2), 3).ok());  // nothing new: the set stays
  EXPECT_EQ(QuarantinedOf(inv, "d-1"), std::vector<QuarantinedVersion>{Q(43)});
  c = Checkin("d-1", 3);
  c.quarantined = {Q(45, "pre-flight failed", "300"), Q(43, "another reason"), Q(44)};
  ASSERT_TRUE(inv.Checkin(c, 4).ok());
  // Sorted by (channel, version, sha256); a known entry keeps its first reason.
  const std::vector<QuarantinedVersion> want = {Q(43), Q(44), Q(45, "pre-flight failed", "300")};
  EXPECT_EQ(QuarantinedOf(inv, "d-1"), want);
  // A refused (stale) check-in changes nothing.
  c = Checkin("d-1", 3);
  c.quarantined = {Q(46)};
  EXPECT_FALSE(inv.Checkin(c, 5).ok());
  EXPECT_EQ(QuarantinedOf(inv, "d-1"), want);
  // Re-enrollment keeps the set; other devices are untouched; equal sets are one interned value.
  inv.Enroll(Device("d-1", "linux"), 6);
  EXPECT_EQ(QuarantinedOf(inv, "d-1"), want);
  EXPECT_TRUE(QuarantinedOf(inv, "d-2").empty());
  c = Checkin("d-2", 1);
  c.quarantined = {Q(44), Q(45, "pre-flight failed", "300"), Q(43)};
  ASSERT_TRUE(inv.Checkin(c, 7).ok());
  uint32_t s1 = 0, s2 = 1;
  inv.Sweep([&](const SweepRecord& r) { (r.id == "d-1" ? s1 : s2) = r.quarantined; });
  EXPECT_EQ(s1, s2);
}

TEST(FleetInventory, QuarantinedSetIsCappedDroppingTheLowestVersion) {
  MemFilesystem fs;
  FleetInventory inv(TestEnv(&fs), {});
  inv.Enroll(Device("d-1", "windows"), 1);
  int64_t seq = 0;
  for (int64_t v = 100; v < 100 + 3 * 20; v += 20) {  // three reports of 20 versions each
    CheckinRequest c = Checkin("d-1", ++seq);
    for (int64_t i = 0; i < 20; ++i) c.quarantined.push_back(Q(v + i));
    ASSERT_TRUE(inv.Checkin(c, 2).ok());
  }
  const auto got = QuarantinedOf(inv, "d-1");
  ASSERT_EQ(got.size(), FleetInventory::kMaxQuarantinedPerDevice);
  EXPECT_EQ(got.front().version, 160 - static_cast<int64_t>(FleetInventory::kMaxQuarantinedPerDevice));
  EXPECT_EQ(got.back().version, 159);
}

// Reasons are device text: only a bounded vocabulary of them is kept, so a fleet whose devices all
// give different reasons does not make one interned set per device.
TEST(FleetInventory, QuarantineReasonsAreBounded) {
  MemFilesystem fs;
  FleetInventory inv(TestEnv(&fs), {});
  const int n = static_cast<int>(FleetInventory::kMaxQuarantineReasons) + 10;
  for (int i = 0; i < n; ++i) {
    const std::string id = "d-" + std::to_string(i);
    inv.Enroll(Device(id, "windows"), 1);
    CheckinRequest c = Checkin(id, 1);
    c.quarantined = {Q(43, "crash at 0x" + std::to_string(i))};
    ASSERT_TRUE(inv.Checkin(c, 2).ok());
  }
  EXPECT_EQ(QuarantinedOf(inv, "d-0")[0].reason, "crash at 0x0");
  EXPECT_EQ(QuarantinedOf(inv, "d-" + std::to_string(n - 1))[0].reason, "");
  std::set<uint32_t> sets;
  inv.Sweep([&](const SweepRecord& r) { sets.insert(r.quarantined); });
  EXPECT_EQ(sets.size(), FleetInventory::kMaxQuarantineReasons + 1);
}

TEST(FleetInventory, QuarantinedSetsPersistAcrossReload) {
  testing::TempDir dir;
  Env env = PosixEnv();
  FleetInventoryOptions o;
  o.dir = dir.File("fleet");
  o.max_segments = 2;
  const std::vector<QuarantinedVersion> want = {Q(43, "reason with \"quotes\"\nand a newline"),
                                                Q(44, "")};
  {
    FleetInventory inv(env, o);
    ASSERT_TRUE(inv.Load().ok());
    for (int i = 0; i < 10; ++i) inv.Enroll(Device("d-" + std::to_string(i), "windows"), 10);
    ASSERT_TRUE(inv.FlushNow().ok());
    CheckinRequest c = Checkin("d-3", 1);
    c.quarantined = {want[1], want[0]};
    ASSERT_TRUE(inv.Checkin(c, 20).ok());
    ASSERT_TRUE(inv.FlushNow().ok());  // a delta segment
    for (int k = 0; k < 3; ++k) {      // then compaction into one full segment
      ASSERT_TRUE(inv.Checkin(Checkin("d-5", k + 1), 30).ok());
      ASSERT_TRUE(inv.FlushNow().ok());
    }
  }
  FleetInventory back(env, o);
  ASSERT_TRUE(back.Load().ok());
  EXPECT_EQ(back.DeviceCount(), 10);
  EXPECT_EQ(QuarantinedOf(back, "d-3"), want);
  EXPECT_TRUE(QuarantinedOf(back, "d-5").empty());
  // What is kept keeps growing from the reloaded set.
  CheckinRequest c = Checkin("d-3", 2);
  c.quarantined = {Q(45)};
  ASSERT_TRUE(back.Checkin(c, 40).ok());
  EXPECT_EQ(QuarantinedOf(back, "d-3").size(), 3u);
}

// A data directory written before quarantined sets existed (segment format v1) still loads: its
// devices have quarantined nothing, and the next flush writes v2 next to it.
TEST(FleetInventory, OldFormatSegmentLoads) {
  testing::TempDir dir;
  Env env = PosixEnv();
  FleetInventoryOptions o;
  o.dir = dir.File("fleet");
  ASSERT_TRUE(env.fs->CreateDirs(o.dir, 0700).ok());
  const std::string sha(64, 'b');
  // As the v1 writer wrote it (a full segment, then a delta).
  testing::WriteFileOrDie(
      o.dir + "/seg-0000000000000001.fleet",
      "ringfence-fleet v1 full\n"
      "P 0 {\"attrs\":{\"agent_version\":\"7.11\",\"os\":\"windows\"},\"capabilities\":"
      "{\"ipc_rule\":{\"inputs\":20,\"schema_versions\":[3]}}}\n"
      "I 0 {}\n"
      "I 1 {\"291\":{\"current\":{\"sha256\":\"" + sha + "\",\"version\":42}}}\n"
      "D d-1 7 100 0 0\n"
      "D d-2 9 200 0 1\n"
      "E 2\n");
  testing::WriteFileOrDie(o.dir + "/seg-0000000000000002.fleet",
                          "ringfence-fleet v1 delta\n"
                          "P 0 {\"attrs\":{\"os\":\"linux\"},\"capabilities\":{}}\n"
                          "I 0 {}\n"
                          "D d-3 1 300 0 0\n"
                          "E 1\n");
  {
    FleetInventory inv(env, o);
    ASSERT_TRUE(inv.Load().ok());
    EXPECT_EQ(inv.DeviceCount(), 3);
    int64_t seen = 0;
    inv.Sweep([&](const SweepRecord& r) {
      EXPECT_EQ(r.quarantined, 0u) << r.id;
      if (r.id == "d-2") {
        ++seen;
        EXPECT_EQ(r.last_seen_micros, 200);
        ASSERT_EQ(inv.installed(r.installed).channels.size(), 1u);
        EXPECT_EQ(inv.installed(r.installed).channels[0].current->version, 42);
        EXPECT_EQ(inv.profile(r.profile).attrs.at("os"), "windows");
      }
    });
    EXPECT_EQ(seen, 1);
    EXPECT_EQ(inv.Checkin(Checkin("d-2", 9), 400).status().code(), StatusCode::kOutOfRange);
    CheckinRequest c = Checkin("d-2", 10);
    c.quarantined = {Q(43)};
    ASSERT_TRUE(inv.Checkin(c, 400).ok());
    ASSERT_TRUE(inv.FlushNow().ok());
  }
  auto third = env.fs->ReadFile(o.dir + "/seg-0000000000000003.fleet", 1 << 20);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->starts_with("ringfence-fleet v2 delta\n")) << *third;
  FleetInventory back(env, o);  // v1, v1, v2
  ASSERT_TRUE(back.Load().ok());
  EXPECT_EQ(back.DeviceCount(), 3);
  EXPECT_EQ(QuarantinedOf(back, "d-2"), std::vector<QuarantinedVersion>{Q(43)});
  EXPECT_TRUE(QuarantinedOf(back, "d-1").empty());
}

TEST(FleetInventory, SegmentOfAnUnknownVersionOrBadQuarantineIsRefused) {
  testing::TempDir dir;
  Env env = PosixEnv();
  FleetInventoryOptions o;
  o.dir = dir.File("fleet");
  ASSERT_TRUE(env.fs->CreateDirs(o.dir, 0700).ok());
  const std::string profile =
      "P 0 {\"attrs\":{\"os\":\"linux\"},\"capabilities\":{}}\nI 0 {}\n";
  struct Case {
    std::string text, error;
  };
  for (const Case& k : {
           Case{"ringfence-fleet v3 full\n" + profile + "E 0\n", "unsupported fleet segment version"},
           Case{"ringfence-fleet v2 full\n" + profile + "Q 0 [{\"channel\":\"291\"}]\nE 0\n",
                "quarantined[0].version"},
           Case{"ringfence-fleet v2 full\n" + profile + "D d-1 1 2 0 0 0\nE 1\n",
                "malformed device line"},  // no Q 0 table line
           Case{"ringfence-fleet v1 full\n" + profile + "Q 0 []\nE 0\n", "unknown line kind"},
       }) {
    testing::WriteFileOrDie(o.dir + "/seg-0000000000000001.fleet", k.text);
    FleetInventory inv(env, o);
    Status st = inv.Load();
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << k.text;
    EXPECT_NE(st.message().find(k.error), std::string::npos) << st.message();
  }
}

// Interned values are read without a lock while other threads intern new ones (past the first
// 1024-value chunk of the table) and check in with changing installed sets (the per-thread cache).
TEST(FleetInventory, ConcurrentInterningAndLockFreeReads) {
  MemFilesystem fs;
  FleetInventory inv(TestEnv(&fs), {});
  constexpr int kThreads = 4, kPerThread = 800;  // 3200 distinct profiles
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      int64_t total = 0;
      for (const Stratum& s : inv.Inventory().strata) total += s.devices;
      EXPECT_LE(total, kThreads * kPerThread);
      const uint32_t n = inv.profile_count();
      if (n > 0) {
        EXPECT_FALSE(inv.profile(n - 1).key.empty());
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&inv, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "d-" + std::to_string(t) + "-" + std::to_string(i);
        inv.Enroll(Device(id, "os-" + std::to_string(t * kPerThread + i)), 1);
        for (int64_t seq = 1; seq <= 3; ++seq) {
          CheckinRequest c = Checkin(id, seq);
          ChannelReport ch;
          ch.channel = "291";
          ch.current = BundleRef{seq + (i % 3), std::string(64, static_cast<char>('a' + seq))};
          c.channels = {ch};
          auto r = inv.Checkin(c, 2);
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          const InstalledSet& set = inv.installed(r->installed);
          ASSERT_EQ(set.channels.size(), 1u);
          EXPECT_EQ(set.channels[0], ch);
          EXPECT_EQ(inv.profile(r->profile).attrs.at("os"),
                    "os-" + std::to_string(t * kPerThread + i));
        }
      }
    });
  }
  for (std::thread& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(inv.DeviceCount(), kThreads * kPerThread);
  EXPECT_EQ(inv.profile_count(), static_cast<uint32_t>(kThreads * kPerThread));
  int64_t total = 0;
  for (const Stratum& s : inv.Inventory().strata) total += s.devices;
  EXPECT_EQ(total, kThreads * kPerThread);
}

}  // namespace
}  // namespace rf::server
