#include "server/fleet_inventory.h"

#include <atomic>
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
