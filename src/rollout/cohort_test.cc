#include "rollout/cohort.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "platform/sim_env.h"

namespace rf::rollout {
namespace {

constexpr int64_t kMinute = 60'000'000;
// RankHasher("release-42").Hash("device-0001"), pinned when the derivation was introduced.
constexpr uint64_t kGoldenHash = 0xaf8a661a21db7218ULL;

Wave MakeWave(std::string name, WaveSize size, int64_t floor = 0) {
  Wave w;
  w.name = std::move(name);
  w.devices = size;
  if (floor > 0) w.stratify = {"os"};
  w.min_per_stratum = floor;
  w.dispatch_micros = 10 * kMinute;
  w.bake_micros = 30 * kMinute;
  return w;
}

// canary 0.01% (floor 50) -> 1% -> 10% -> 100%, holdback 1%.
Plan TestPlan(double holdback = 0.01, int64_t floor = 50) {
  Plan p;
  p.name = "test";
  p.stratify = {"os"};
  p.waves = {MakeWave("canary", WaveSize::Share(0.0001), floor),
             MakeWave("early", WaveSize::Share(0.01)), MakeWave("broad", WaveSize::Share(0.1)),
             MakeWave("all", WaveSize::Share(1.0))};
  p.gate.holdback = holdback;
  return p;
}

struct Dev {
  std::string id;
  std::string stratum;
  double rank;
};

// `sizes[k]` devices in stratum "os=s<k>", ranked for release `release`.
std::vector<Dev> MakeFleet(const std::vector<int>& sizes, std::string_view release = "rel-1") {
  RankHasher h(release);
  std::vector<Dev> out;
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::string stratum = "os=s" + std::to_string(k);
    for (int i = 0; i < sizes[k]; ++i) {
      std::string id = "s" + std::to_string(k) + "-dev-" + std::to_string(i);
      double r = h.Rank(id);
      out.push_back({std::move(id), stratum, r});
    }
  }
  return out;
}

Cohorts BuildOrDie(const Plan& plan, const std::vector<Dev>& fleet) {
  CohortAssigner a(plan);
  for (const Dev& d : fleet) a.AddDevice(a.AddStratum(d.stratum), d.rank);
  Result<Cohorts> c = a.Build();
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *std::move(c) : Cohorts{};
}

// ----- hashing and ranks -----

TEST(SipHashTest, ReferenceVectors) {
  // Key 00 01 .. 0f; messages 00 01 .. (n-1): vectors from the SipHash reference implementation.
  const uint64_t k0 = 0x0706050403020100ULL;
  const uint64_t k1 = 0x0f0e0d0c0b0a0908ULL;
  std::string msg;
  for (int i = 0; i < 15; ++i) msg.push_back(static_cast<char>(i));
  EXPECT_EQ(SipHash24(k0, k1, ""), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 1)), 0x74f839c593dc67fdULL);
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 8)), 0x93f5f5799a932462ULL);
  EXPECT_EQ(SipHash24(k0, k1, msg), 0xa129ca6149be45e5ULL);
}

TEST(RankTest, StableAcrossProcessesAndMachines) {
  // Golden values: a change here reshuffles every in-flight release; version the derivation
  // (kKeyContext) instead of editing these.
  RankHasher h("release-42");
  EXPECT_EQ(h.Hash("device-0001"), kGoldenHash);
  EXPECT_DOUBLE_EQ(CohortRank("release-42", "device-0001"),
                   static_cast<double>(kGoldenHash >> 11) * 0x1.0p-53);
  RankHasher copy = h;
  EXPECT_EQ(copy.Rank("device-0001"), h.Rank("device-0001"));
  EXPECT_EQ(RankHasher("release-42").Rank("x"), h.Rank("x"));
}

TEST(RankTest, IndependentBetweenReleases) {
  RankHasher a("rel-a");
  RankHasher b("rel-b");
  const int n = 20000;
  double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
  int same = 0;
  for (int i = 0; i < n; ++i) {
    std::string id = "d" + std::to_string(i);
    double x = a.Rank(id), y = b.Rank(id);
    same += x == y;
    sa += x, sb += y, sab += x * y, saa += x * x, sbb += y * y;
  }
  double cov = sab / n - (sa / n) * (sb / n);
  double corr = cov / std::sqrt((saa / n - (sa / n) * (sa / n)) * (sbb / n - (sb / n) * (sb / n)));
  EXPECT_EQ(same, 0);
  EXPECT_LT(std::abs(corr), 0.04);  // sd of corr ~ 1/sqrt(n) = 0.007
}

TEST(RankTest, ApproximatelyUniform) {
  RankHasher h("uniformity");
  const int n = 100000, bins = 100;
  std::vector<int> count(bins, 0);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    double r = h.Rank("host-" + std::to_string(i) + ".example.com");
    ASSERT_GE(r, 0.0);
    ASSERT_LT(r, 1.0);
    sum += r;
    ++count[static_cast<int>(r * bins)];
  }
  double chi2 = 0, expected = static_cast<double>(n) / bins;
  for (int c : count) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 148.2);  // chi-square 99.9% quantile, 99 degrees of freedom
  EXPECT_NEAR(sum / n, 0.5, 0.0046);  // 5 standard errors
}

TEST(StratumKeyTest, FormatsAttributesInPlanOrder) {
  std::vector<std::string> stratify = {"os", "agent_version"};
  Attributes attrs = {{"agent_version", "7.11"}, {"os", "windows"}, {"region", "eu"}};
  EXPECT_EQ(StratumKey(stratify, attrs), "os=windows,agent_version=7.11");
  EXPECT_EQ(StratumKey(stratify, {{"os", "linux"}}), "os=linux,agent_version=?");
  EXPECT_EQ(StratumKey(stratify, {{"os", "a,b=c\\"}, {"agent_version", "1"}}),
            "os=a\\,b\\=c\\\\,agent_version=1");
  EXPECT_EQ(StratumKey({}, attrs), "");
}

// ----- floors -----

TEST(CohortTest, FloorsHonouredExactlyEvenForTinyStrata) {
  const std::vector<int> sizes = {1, 3, 20, 49, 50, 51, 200, 5000, 100000};
  Plan plan = TestPlan();
  std::vector<Dev> fleet = MakeFleet(sizes);
  Cohorts c = BuildOrDie(plan, fleet);
  ASSERT_EQ(c.stratum_count(), static_cast<int>(sizes.size()));
  const double hc = 0.99;
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::string key = "os=s" + std::to_string(k);
    int s = c.FindStratum(key);
    ASSERT_GE(s, 0);
    int64_t active = 0, in_wave0 = 0;
    for (const Dev& d : fleet) {
      if (d.stratum != key) continue;
      active += d.rank < hc;
      in_wave0 += c.InWaveOrEarlier(s, d.rank, 0);
    }
    EXPECT_EQ(c.eligible(s), sizes[k]);
    EXPECT_EQ(c.eligible(s) - c.held_back(s), active);
    EXPECT_EQ(in_wave0, std::min<int64_t>(50, active)) << key;
    EXPECT_DOUBLE_EQ(c.ExpectedExposed(s, 0), static_cast<double>(in_wave0)) << key;
  }
}

// A fleet split across three servers, some devices known to two of them (they moved): the merged
// sketches give every server one Cohorts with the cutoffs of one server holding the whole fleet,
// exactly `floor` devices per stratum fleet-wide, and the fleet's size (exact for small strata,
// estimated within a few tens of percent for large ones).
TEST(CohortTest, MergedSketchesGiveTheWholeFleetsCohorts) {
  const std::vector<int> sizes = {1, 3, 20, 200, 5000};
  const Plan plan = TestPlan(0.01, 50);
  const std::vector<Dev> fleet = MakeFleet(sizes);
  const Cohorts whole = BuildOrDie(plan, fleet);
  std::vector<CohortAssigner> servers(3, CohortAssigner(plan, 64));
  for (size_t i = 0; i < fleet.size(); ++i) {
    CohortAssigner& a = servers[i % 3];
    a.AddDevice(a.AddStratum(fleet[i].stratum), fleet[i].rank);
    if (i % 7 == 0) {  // also known to the next server (it moved): one device, one rank
      CohortAssigner& b = servers[(i + 1) % 3];
      b.AddDevice(b.AddStratum(fleet[i].stratum), fleet[i].rank);
    }
  }
  std::map<std::string, std::vector<StratumSketch>> parts;
  for (const CohortAssigner& a : servers) {
    EXPECT_EQ(a.rank_capacity(), 64u);
    for (int s = 0; s < a.stratum_count(); ++s) parts[a.stratum_key(s)].push_back(a.Sketch(s));
  }
  CohortSketch merged;
  for (const auto& [key, p] : parts) merged.push_back({key, MergeSketches(p, 64, 0.99)});
  Result<Cohorts> c = BuildFromSketches(plan, merged, 64);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->stratum_count(), 5);
  for (int s = 0; s < c->stratum_count(); ++s) {
    EXPECT_EQ(c->stratum_key(s), merged[static_cast<size_t>(s)].key);  // the sketch's order
    const int w = whole.FindStratum(c->stratum_key(s));
    ASSERT_GE(w, 0);
    for (int wave = 0; wave < c->wave_count(); ++wave) {
      EXPECT_EQ(c->Cutoff(s, wave), whole.Cutoff(w, wave)) << c->stratum_key(s) << " " << wave;
    }
    if (whole.eligible(w) <= 20) {  // every server's list is complete: exact
      EXPECT_EQ(c->eligible(s), whole.eligible(w)) << c->stratum_key(s);
      EXPECT_EQ(c->held_back(s), whole.held_back(w)) << c->stratum_key(s);
    } else {  // the k-minimum-values estimate; the sum of the shares counts the movers twice
      const double e = static_cast<double>(c->eligible(s));
      EXPECT_NEAR(e / static_cast<double>(whole.eligible(w)), 1.0, 0.3) << c->stratum_key(s);
    }
    // The canary is at the known ranks: its expected exposure is exact (the whole fleet's, which
    // knows only the 50 smallest, adds a hair of extrapolation just above the 50th).
    EXPECT_NEAR(c->ExpectedExposed(s, 0), whole.ExpectedExposed(w, 0), 1e-6) << c->stratum_key(s);
  }
  // One server's own share alone gives a looser floor (the old per-server floor) where the
  // stratum is split and has more than the floor.
  Result<Cohorts> local = servers[0].Build();
  ASSERT_TRUE(local.ok());
  const int big = local->FindStratum("os=s4");
  EXPECT_GT(local->Cutoff(big, 0), c->Cutoff(c->FindStratum("os=s4"), 0));
  for (size_t k = 0; k < sizes.size(); ++k) {
    const std::string key = "os=s" + std::to_string(k);
    const int s = c->FindStratum(key);
    int64_t active = 0, in_wave0 = 0;
    for (const Dev& d : fleet) {
      if (d.stratum != key) continue;
      active += d.rank < 0.99;
      in_wave0 += c->InWaveOrEarlier(s, d.rank, 0);
    }
    EXPECT_EQ(in_wave0, std::min<int64_t>(50, active)) << key;
  }
}

// One server's sketch rebuilds exactly the Cohorts of its own devices.
TEST(CohortTest, OneServersSketchRebuildsItsCohorts) {
  const Plan plan = TestPlan(0.01, 50);
  const std::vector<Dev> fleet = MakeFleet({1, 20, 5000});
  CohortAssigner a(plan);
  for (const Dev& d : fleet) a.AddDevice(a.AddStratum(d.stratum), d.rank);
  CohortSketch own;
  for (int s = 0; s < a.stratum_count(); ++s) {
    const StratumSketch one = a.Sketch(s);
    own.push_back({a.stratum_key(s), MergeSketches(std::span<const StratumSketch>(&one, 1), a.rank_capacity(), 0.99)});
    EXPECT_EQ(own.back().sketch, one);
  }
  Result<Cohorts> direct = a.Build();
  Result<Cohorts> rebuilt = BuildFromSketches(plan, own, 0);
  ASSERT_TRUE(direct.ok() && rebuilt.ok()) << rebuilt.status().ToString();
  for (int s = 0; s < direct->stratum_count(); ++s) {
    EXPECT_EQ(rebuilt->stratum_key(s), direct->stratum_key(s));
    EXPECT_EQ(rebuilt->eligible(s), direct->eligible(s));
    EXPECT_EQ(rebuilt->held_back(s), direct->held_back(s));
    for (int w = 0; w < direct->wave_count(); ++w) {
      EXPECT_EQ(rebuilt->Cutoff(s, w), direct->Cutoff(s, w));
      EXPECT_EQ(rebuilt->ExpectedExposed(s, w), direct->ExpectedExposed(s, w));
    }
  }
}

// Sketches that are not well formed are refused, naming the stratum; small overlapping sketches
// merge exactly; a large one is estimated.
TEST(CohortTest, SketchesAreCheckedAndMergeDistinctDevices) {
  const Plan plan = TestPlan(0.01, 2);
  for (const StratumSketch& bad :
       {StratumSketch{3, 0, {0.2, 0.1}}, StratumSketch{3, 0, {0.1, 0.1}},
        StratumSketch{3, 0, {0.995}}, StratumSketch{3, 0, {-0.1}}, StratumSketch{1, 0, {0.1, 0.2}},
        StratumSketch{9, 0, {0.1, 0.2, 0.3}}, StratumSketch{1, 2, {}}}) {
    CohortAssigner a(plan);
    a.AddSketch("os=s0", bad);
    Result<Cohorts> c = a.Build();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("os=s0"), std::string::npos) << c.status().ToString();
  }
  CohortAssigner twice(plan);
  twice.AddSketch("os=a", StratumSketch{1, 0, {0.1}});
  twice.AddSketch("os=a", StratumSketch{1, 0, {0.1}});
  EXPECT_FALSE(twice.Build().ok());

  // Two complete lists sharing one device: three devices, not four.
  const std::vector<StratumSketch> small = {StratumSketch{3, 1, {0.1, 0.3}},
                                            StratumSketch{2, 0, {0.3, 0.5}}};
  const StratumSketch m = MergeSketches(small, 2, 0.99);
  EXPECT_EQ(m.smallest, (std::vector<double>{0.1, 0.3}));
  EXPECT_EQ(m.eligible - m.held_back, 3);
  EXPECT_EQ(m.held_back, 1);  // 1 * 3/4, rounded

  // 20,000 uniform ranks split in two overlapping halves, 256 kept: about 20,000 (1/sqrt(254)).
  RankHasher h("rel-big");
  CohortAssigner x(plan, 256), y(plan, 256);
  for (int i = 0; i < 20000; ++i) {
    const double r = h.Rank("d" + std::to_string(i));
    if (i < 12000) x.AddDevice(x.AddStratum("k"), r);
    if (i >= 8000) y.AddDevice(y.AddStratum("k"), r);
  }
  const std::vector<StratumSketch> halves = {x.Sketch(0), y.Sketch(0)};
  const StratumSketch big = MergeSketches(halves, 256, 0.99);
  EXPECT_NEAR(static_cast<double>(big.eligible) / 20000.0, 1.0, 0.25);
  EXPECT_LT(big.eligible, 24000);  // the sum of the parts would be 24,000
  EXPECT_EQ(big.smallest.size(), 256u);

  std::vector<double> r = {0.1, 0.3};
  MergeSmallestRanks(std::vector<double>{0.05, 0.1, 0.2}, 3, &r);
  EXPECT_EQ(r, (std::vector<double>{0.05, 0.1, 0.2}));
}

TEST(CohortTest, ProportionalAboveTheFloor) {
  // 0.01% of 10M-equivalent: with a floor of 5, a 1M stratum takes its proportional 100.
  Plan plan = TestPlan(0.01, 5);
  std::vector<Dev> fleet = MakeFleet({200000});
  Cohorts c = BuildOrDie(plan, fleet);
  std::vector<int64_t> cum(static_cast<size_t>(c.wave_count()), 0);
  for (const Dev& d : fleet) {
    for (int w = 0; w < c.wave_count(); ++w) cum[static_cast<size_t>(w)] += c.InWaveOrEarlier(0, d.rank, w);
  }
  EXPECT_DOUBLE_EQ(c.Cutoff(0, 0), 0.0001);
  EXPECT_DOUBLE_EQ(c.Cutoff(0, 1), 0.01);
  EXPECT_DOUBLE_EQ(c.Cutoff(0, 2), 0.1);
  EXPECT_DOUBLE_EQ(c.Cutoff(0, 3), 0.99);  // everything but the holdback
  EXPECT_DOUBLE_EQ(c.Cutoff(0, 4), 1.0);
  // Binomial counts: expected n*q, tolerance 5 standard deviations.
  auto tol = [](double n, double q) { return 5 * std::sqrt(n * q * (1 - q)); };
  EXPECT_NEAR(cum[0], 20, tol(2e5, 1e-4));
  EXPECT_NEAR(cum[1], 2000, tol(2e5, 0.01));
  EXPECT_NEAR(cum[2], 20000, tol(2e5, 0.1));
  EXPECT_NEAR(cum[3], 198000, tol(2e5, 0.01));
  EXPECT_EQ(cum[4], 200000);
  EXPECT_NEAR(c.ExpectedExposed(0, 2), 20000, tol(2e5, 0.1));
  EXPECT_DOUBLE_EQ(c.ExpectedExposed(0, 4), 200000);
}

TEST(CohortTest, CutoffsMonotoneAndEndAtEveryone) {
  Cohorts c = BuildOrDie(TestPlan(), MakeFleet({2, 70, 3000}));
  for (int s = 0; s < c.stratum_count(); ++s) {
    EXPECT_EQ(c.StartCutoff(s, 0), 0.0);
    for (int w = 1; w < c.wave_count(); ++w) {
      EXPECT_LE(c.Cutoff(s, w - 1), c.Cutoff(s, w));
      EXPECT_EQ(c.StartCutoff(s, w), c.Cutoff(s, w - 1));
    }
    for (int w = 0; w + 1 < c.wave_count(); ++w) EXPECT_LE(c.Cutoff(s, w), c.holdback_cutoff());
    EXPECT_EQ(c.Cutoff(s, c.wave_count() - 1), 1.0);
  }
}

// ----- holdback -----

TEST(CohortTest, HoldbackIsItsShareOfEveryStratumAndNeverInEarlierWaves) {
  const std::vector<int> sizes = {50000, 30000, 15000, 5000};
  Plan plan = TestPlan(0.05);
  std::vector<Dev> fleet = MakeFleet(sizes);
  Cohorts c = BuildOrDie(plan, fleet);
  ASSERT_EQ(c.wave_count(), 5);
  const int holdback_wave = 4;
  EXPECT_TRUE(IsHoldbackWave(plan, holdback_wave));
  EXPECT_DOUBLE_EQ(c.holdback_cutoff(), 0.95);
  for (size_t k = 0; k < sizes.size(); ++k) {
    int s = c.FindStratum("os=s" + std::to_string(k));
    int64_t held = 0;
    for (const Dev& d : fleet) {
      if (c.stratum_key(s) != d.stratum) continue;
      const int w = c.WaveOf(s, d.rank);
      const bool is_held = d.rank >= 0.95;
      held += is_held;
      if (is_held) {
        EXPECT_EQ(w, holdback_wave) << d.id;
        for (int e = 0; e < holdback_wave; ++e) EXPECT_FALSE(c.InWaveOrEarlier(s, d.rank, e));
      } else {
        EXPECT_LT(w, holdback_wave) << d.id;
      }
    }
    const double n = sizes[k];
    EXPECT_EQ(c.held_back(s), held);
    EXPECT_NEAR(static_cast<double>(held), 0.05 * n, 5 * std::sqrt(n * 0.05 * 0.95)) << k;
  }
}

TEST(CohortTest, NoHoldbackMeansNoExtraWave) {
  Plan plan = TestPlan(0.0);
  Cohorts c = BuildOrDie(plan, MakeFleet({1000}));
  EXPECT_EQ(c.wave_count(), 4);
  EXPECT_EQ(c.Cutoff(0, 3), 1.0);
  EXPECT_EQ(c.held_back(0), 0);
}

TEST(CohortTest, LastWaveBelowAllWithoutHoldbackLeavesDevicesUntargeted) {
  Plan plan = TestPlan(0.0, 0);
  plan.waves.back().devices = WaveSize::Share(0.5);  // LintPlan refuses this; cohorts stay honest
  Cohorts c = BuildOrDie(plan, MakeFleet({10}));
  EXPECT_EQ(c.WaveOf(0, 0.75), kNotTargeted);
  EXPECT_EQ(c.WaveOf(0, 0.25), 3);
}

// ----- determinism -----

TEST(CohortTest, IndependentOfInsertionOrder) {
  const uint64_t seed = 20240719;
  SCOPED_TRACE("seed " + std::to_string(seed));
  Plan plan = TestPlan();
  std::vector<Dev> fleet = MakeFleet({7, 60, 400, 9000});
  Cohorts a = BuildOrDie(plan, fleet);

  SeededRandom rnd(seed);
  for (size_t i = fleet.size(); i > 1; --i) std::swap(fleet[i - 1], fleet[rnd.Below(i)]);
  CohortAssigner assigner(plan);
  for (int k = 3; k >= 0; --k) assigner.AddStratum("os=s" + std::to_string(k));  // reversed
  for (const Dev& d : fleet) assigner.AddDevice(assigner.AddStratum(d.stratum), d.rank);
  Result<Cohorts> b = assigner.Build();
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->stratum_count(), a.stratum_count());
  EXPECT_EQ(b->stratum_key(0), "os=s3");
  for (int s = 0; s < a.stratum_count(); ++s) {
    int t = b->FindStratum(a.stratum_key(s));
    ASSERT_GE(t, 0);
    EXPECT_EQ(a.eligible(s), b->eligible(t));
    for (int w = 0; w < a.wave_count(); ++w) {
      EXPECT_EQ(a.Cutoff(s, w), b->Cutoff(t, w));
      EXPECT_EQ(a.ExpectedExposed(s, w), b->ExpectedExposed(t, w));
    }
  }
}

TEST(CohortTest, SameRanksAndWavesInTwoComputations) {
  std::vector<FleetDevice> fleet;
  std::vector<std::string> ids;
  for (int i = 0; i < 3000; ++i) ids.push_back("node-" + std::to_string(i));
  for (int i = 0; i < 3000; ++i) fleet.push_back({ids[i], i % 3 == 0 ? "os=linux" : "os=win", true});
  Result<std::vector<int>> a = AssignWaves(TestPlan(), "rel-7", fleet);
  Result<std::vector<int>> b = AssignWaves(TestPlan(), "rel-7", fleet);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  Result<std::vector<int>> other = AssignWaves(TestPlan(), "rel-8", fleet);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*a, *other);  // a different release draws different canaries
}

// ----- eligibility -----

TEST(CohortTest, IneligibleDevicesAreNeverTargetedNorCounted) {
  // Stratum "old": 30 eligible devices among 500 that cannot take the content; "none": only
  // ineligible devices; "big": 20,000 eligible.
  std::vector<std::string> ids;
  std::vector<FleetDevice> fleet;
  for (int i = 0; i < 20000; ++i) ids.push_back("big-" + std::to_string(i));
  for (int i = 0; i < 530; ++i) ids.push_back("old-" + std::to_string(i));
  for (int i = 0; i < 100; ++i) ids.push_back("none-" + std::to_string(i));
  size_t i = 0;
  for (; i < 20000; ++i) fleet.push_back({ids[i], "os=big", true});
  for (int j = 0; j < 530; ++j, ++i) fleet.push_back({ids[i], "os=old", j < 30});
  for (int j = 0; j < 100; ++j, ++i) fleet.push_back({ids[i], "os=none", false});

  Result<std::vector<int>> waves = AssignWaves(TestPlan(), "rel-x", fleet);
  ASSERT_TRUE(waves.ok()) << waves.status().ToString();
  ASSERT_EQ(waves->size(), fleet.size());
  RankHasher h("rel-x");
  int old_canaries = 0, old_active = 0, big_canaries = 0;
  for (size_t d = 0; d < fleet.size(); ++d) {
    const int w = (*waves)[d];
    if (!fleet[d].eligible) {
      EXPECT_EQ(w, kNotTargeted) << fleet[d].id;
      continue;
    }
    EXPECT_NE(w, kNotTargeted);
    if (fleet[d].stratum == "os=old") {
      old_active += h.Rank(fleet[d].id) < 0.99;
      old_canaries += w == 0;
    }
    if (fleet[d].stratum == "os=big") big_canaries += w == 0;
  }
  // The floor of 50 is filled from eligible devices only: all of "old"'s non-held-back 30.
  EXPECT_EQ(old_canaries, old_active);
  EXPECT_GE(old_active, 25);
  EXPECT_EQ(big_canaries, 50);

  // The ineligible devices do not influence anyone else's wave.
  std::vector<FleetDevice> eligible_only;
  std::vector<int> expected;
  for (size_t d = 0; d < fleet.size(); ++d) {
    if (!fleet[d].eligible) continue;
    eligible_only.push_back(fleet[d]);
    expected.push_back((*waves)[d]);
  }
  Result<std::vector<int>> again = AssignWaves(TestPlan(), "rel-x", eligible_only);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, expected);
}

// ----- sizes as counts -----

TEST(CohortTest, AbsoluteCountsAreSharesOfTheEligibleFleet) {
  Plan plan = TestPlan(0.01, 0);
  plan.waves[0].devices = WaveSize::Count(1000);  // of 100,000: 1% in every stratum
  plan.waves[0].stratify.clear();
  std::vector<Dev> fleet = MakeFleet({60000, 40000});
  Cohorts c = BuildOrDie(plan, fleet);
  EXPECT_DOUBLE_EQ(c.Cutoff(0, 0), 0.01);
  EXPECT_DOUBLE_EQ(c.Cutoff(1, 0), 0.01);
  int64_t n = 0;
  for (const Dev& d : fleet) n += c.InWaveOrEarlier(c.FindStratum(d.stratum), d.rank, 0);
  EXPECT_NEAR(n, 1000, 5 * std::sqrt(1e5 * 0.01 * 0.99));
}

// ----- pacing -----

TEST(CohortTest, PacingIsLinearInDispatchTime) {
  Plan plan = TestPlan(0.01, 5);
  std::vector<Dev> fleet = MakeFleet({100000});
  Cohorts c = BuildOrDie(plan, fleet);
  const int w = 2;  // 1% -> 10% over 10 minutes
  const int64_t window = 10 * kMinute;
  EXPECT_DOUBLE_EQ(c.PacedCutoff(0, w, -5), 0.01);
  EXPECT_DOUBLE_EQ(c.PacedCutoff(0, w, 0), 0.01);
  EXPECT_DOUBLE_EQ(c.PacedCutoff(0, w, window / 2), 0.055);
  EXPECT_DOUBLE_EQ(c.PacedCutoff(0, w, window / 4), 0.0325);
  EXPECT_DOUBLE_EQ(c.PacedCutoff(0, w, window), 0.1);
  EXPECT_DOUBLE_EQ(c.PacedCutoff(0, w, 10 * window), 0.1);
  // Devices newly handed out in each tenth of the window: about a tenth of the wave each.
  std::vector<int> per_tenth(10, 0);
  for (const Dev& d : fleet) {
    for (int t = 0; t < 10; ++t) {
      const double lo = c.PacedCutoff(0, w, window * t / 10);
      const double hi = c.PacedCutoff(0, w, window * (t + 1) / 10);
      if (d.rank >= lo && d.rank < hi) ++per_tenth[static_cast<size_t>(t)];
    }
  }
  for (int t = 0; t < 10; ++t) EXPECT_NEAR(per_tenth[static_cast<size_t>(t)], 900, 5 * 30) << t;
}

TEST(CohortTest, ZeroDispatchWindowHandsOutAtOnce) {
  Plan plan = TestPlan();
  plan.waves[1].dispatch_micros = 0;
  Cohorts c = BuildOrDie(plan, MakeFleet({1000}));
  EXPECT_EQ(c.PacedCutoff(0, 1, 0), c.Cutoff(0, 1));
  EXPECT_LT(c.PacedCutoff(0, 2, 0), c.Cutoff(0, 2));
  // The holdback wave is paced over the last plan wave's window.
  EXPECT_DOUBLE_EQ(c.PacedCutoff(0, 4, 5 * kMinute), 0.995);
}

// ----- contract violations -----

TEST(CohortTest, BuildRefusesContractViolations) {
  Plan plan = TestPlan();
  for (double bad : {-0.1, 1.0, std::numeric_limits<double>::quiet_NaN()}) {
    CohortAssigner a(plan);
    a.AddDevice(a.AddStratum("os=x"), 0.5);
    a.AddDevice(0, bad);
    Result<Cohorts> c = a.Build();
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), ::testing::HasSubstr("rank in [0, 1)"));
  }
  CohortAssigner a(plan);
  a.AddDevice(0, 0.5);  // no stratum added
  EXPECT_FALSE(a.Build().ok());

  Plan empty = plan;
  empty.waves.clear();
  CohortAssigner e(empty);
  EXPECT_FALSE(e.Build().ok());
}

TEST(CohortTest, EmptyStrataAndEmptyFleet) {
  CohortAssigner a(TestPlan());
  EXPECT_EQ(a.AddStratum("os=a"), 0);
  EXPECT_EQ(a.AddStratum("os=b"), 1);
  EXPECT_EQ(a.AddStratum("os=a"), 0);
  Result<Cohorts> c = a.Build();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->stratum_count(), 2);
  EXPECT_EQ(c->FindStratum("os=b"), 1);
  EXPECT_EQ(c->FindStratum("os=c"), -1);
  EXPECT_EQ(c->eligible(1), 0);
  EXPECT_EQ(c->ExpectedExposed(1, 0), 0.0);
  EXPECT_EQ(c->Cutoff(1, c->wave_count() - 1), 1.0);
}

}  // namespace
}  // namespace rf::rollout
