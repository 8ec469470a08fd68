// Cohort assignment: which eligible devices are in which wave of a release.
//
// Every device gets a rank in [0, 1) per release, from a keyed SipHash-2-4 of its id under a key
// derived from the release id: uniform, independent between releases, and identical in every
// process and on every machine (no std::hash). Within each stratum, a wave is a rank threshold:
//
//   device in waves <= w   iff   rank < Cutoff(stratum, w)
//
// so membership is O(1) per device and no list of devices is ever materialised. Ranks at or above
// 1 - holdback are the holdback: never in a plan wave, released by the final holdback wave.
// Cutoffs are proportional (a 1% wave is rank < 0.01 in every stratum) except where a stratum
// floor (`min_per_stratum`) needs more: then the cutoff sits just above the floor-th smallest
// non-holdback rank of that stratum, so the floor holds exactly, even for tiny strata.
// Algorithm and worked example: docs/rollout.md.
//
//   RankHasher hasher(release_id);
//   CohortAssigner assigner(plan);
//   for (const Device& d : fleet) {
//     if (!d.CanConsume(content)) continue;               // ineligible devices are never added
//     int s = assigner.AddStratum(StratumKey(plan.stratify, d.attrs));
//     assigner.AddDevice(s, hasher.Rank(d.id));
//   }
//   RF_ASSIGN_OR_RETURN(Cohorts cohorts, assigner.Build());
//   bool now_targeted = cohorts.InWaveOrEarlier(s, rank, w) &&
//                       rank < cohorts.PacedCutoff(s, w, DispatchElapsedMicros(state, now));
//
// Several servers, each with its own share of the fleet (docs/deploy.md "Cohort floors"): each
// publishes FloorRanks() per stratum, every server merges them all (MergeSmallestRanks) and builds
// its dispatch cutoffs with Build(merged floor ranks), so the floor is the floor-th smallest rank
// of the whole stratum, not of each server's share.
//
// Pure: no I/O, no clock reads. Thread-compatible; a built Cohorts is immutable and may be read
// from many threads.
#ifndef RINGFENCE_ROLLOUT_COHORT_H_
#define RINGFENCE_ROLLOUT_COHORT_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "rollout/plan.h"

namespace rf::rollout {

// "Never exposed": the wave of an ineligible device (and see Cohorts::WaveOf).
inline constexpr int kNotTargeted = -1;

// SipHash-2-4 (Aumasson & Bernstein) of `data` under the 128-bit key (k0, k1), k0 holding key bytes
// 0..7 little-endian. Matches the reference implementation's test vectors.
uint64_t SipHash24(uint64_t k0, uint64_t k1, std::string_view data);

// Ranks of devices for one release. Cheap to copy.
class RankHasher {
 public:
  // The key is derived from "ringfence/cohort/v1" and the release id; changing this derivation
  // reshuffles every in-flight release, so it is versioned.
  explicit RankHasher(std::string_view release_id);
  // 64-bit hash of the device id under the release key.
  uint64_t Hash(std::string_view device_id) const { return SipHash24(k0_, k1_, device_id); }
  // Uniform in [0, 1): the top 53 bits of Hash().
  double Rank(std::string_view device_id) const {
    return static_cast<double>(Hash(device_id) >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t k0_;
  uint64_t k1_;
};

// Same as RankHasher(release_id).Rank(device_id).
double CohortRank(std::string_view release_id, std::string_view device_id);

// Device attributes as reported at check-in ({"os": "windows", "agent_version": "7.11", ...}).
using Attributes = std::map<std::string, std::string, std::less<>>;

// The stratum key of a device: "attr=value" for each attribute of `stratify`, in that order,
// joined by ','. A missing attribute has the value "?" (unknown values form their own stratum);
// '\\', ',' and '=' in values are escaped with '\\'. Empty `stratify` gives "" (one stratum).
std::string StratumKey(std::span<const std::string> stratify, const Attributes& attrs);

// The immutable result: per-stratum rank cutoffs for every wave of a release.
class Cohorts {
 public:
  int stratum_count() const { return static_cast<int>(keys_.size()); }
  // WaveCount(plan): the plan's waves plus the holdback wave (when holdback > 0).
  int wave_count() const { return wave_count_; }
  const std::string& stratum_key(int stratum) const { return keys_[stratum]; }
  // Index of the stratum with this key, or -1. O(strata): look up once per stratum, not per device.
  int FindStratum(std::string_view key) const;
  // Eligible devices added for the stratum, and how many of them are held back.
  int64_t eligible(int stratum) const { return eligible_[stratum]; }
  int64_t held_back(int stratum) const { return held_back_[stratum]; }
  // Ranks >= this are the holdback (1 - gate.holdback).
  double holdback_cutoff() const { return holdback_cutoff_; }

  // Device (of `stratum`, with `rank`) is in waves <= w iff rank < Cutoff(stratum, w).
  // Non-decreasing in w. Cutoff(s, wave_count() - 1) == 1 (every eligible device, at the end)
  // whenever the holdback is > 0 or the last wave is 100% (LintPlan requires both).
  // REQUIRES: 0 <= stratum < stratum_count(), 0 <= wave < wave_count().
  double Cutoff(int stratum, int wave) const { return cutoffs_[Index(stratum, wave)]; }
  // Cutoff(stratum, wave - 1), or 0 for wave 0: where wave `wave`'s new devices start.
  double StartCutoff(int stratum, int wave) const {
    return wave == 0 ? 0.0 : cutoffs_[Index(stratum, wave - 1)];
  }
  bool InWaveOrEarlier(int stratum, double rank, int wave) const {
    return rank < Cutoff(stratum, wave);
  }
  // The wave in which the device is first exposed (smallest w with rank < Cutoff(s, w)), or
  // kNotTargeted if none (only possible for a plan whose last wave is below 100%, without holdback).
  int WaveOf(int stratum, double rank) const;

  // Pacing: the cutoff reached `dispatch_elapsed_micros` into wave `wave`'s dispatch window,
  // linear in time from StartCutoff to Cutoff over WaveDispatchMicros(plan, wave); Cutoff once the
  // window is over (or if it is 0), StartCutoff for elapsed <= 0. Elapsed dispatch time excludes
  // pauses: pass DispatchElapsedMicros(release_state, now) (release.h).
  double PacedCutoff(int stratum, int wave, int64_t dispatch_elapsed_micros) const;

  // Expected number of the stratum's eligible devices in waves <= w. Exact where the ranks below
  // the cutoff are known to the assigner (a floor set the cutoff, the stratum is no larger than the
  // floor, or the cutoff covers the whole stratum); otherwise the expectation given those ranks
  // (a rank threshold gives a binomial count, so the realised number differs by ~sqrt of it).
  double ExpectedExposed(int stratum, int wave) const;

 private:
  friend class CohortAssigner;
  size_t Index(int stratum, int wave) const {
    return static_cast<size_t>(stratum) * static_cast<size_t>(wave_count_) +
           static_cast<size_t>(wave);
  }
  int wave_count_ = 0;
  double holdback_cutoff_ = 1.0;
  std::vector<std::string> keys_;
  std::vector<int64_t> eligible_;
  std::vector<int64_t> held_back_;
  std::vector<double> cutoffs_;           // [stratum * wave_count + wave]
  std::vector<double> expected_;          // [stratum * wave_count + wave]
  std::vector<int64_t> dispatch_micros_;  // per wave
};

// Per stratum key: the smallest non-holdback ranks of the stratum, ascending, distinct (a floor
// summary: CohortAssigner::FloorRanks, merged across servers by MergeSmallestRanks).
using FloorRankMap = std::map<std::string, std::vector<double>, std::less<>>;

// Merges `ranks` into `*merged` (both ascending): the union without repeated values (a device has
// one rank per release, so a device counted by two servers counts once), cut to the `capacity`
// smallest.
void MergeSmallestRanks(std::span<const double> ranks, size_t capacity,
                        std::vector<double>* merged);

// Builds Cohorts from one pass over the eligible fleet. Memory: O(strata x largest floor).
// The result depends only on the multiset of (stratum key, rank) pairs added, never on the order.
class CohortAssigner {
 public:
  // Copies what it needs from `plan`.
  explicit CohortAssigner(const Plan& plan);

  // The index of the stratum with this key, adding it if new (indices in first-seen order).
  // A stratum may be added without devices (it is then simply empty).
  int AddStratum(std::string_view key);
  // Records one ELIGIBLE device (its consumer can take the content). Ineligible devices must not
  // be added: they are then never targeted and never count toward a floor.
  // REQUIRES: 0 <= stratum < number of strata added; 0 <= rank < 1. A violation is reported by
  // Build() (fail-stop), not here, so that this hot loop stays branch-light.
  void AddDevice(int stratum, double rank);

  // InvalidArgument if the plan has no waves or AddDevice's contract was violated.
  [[nodiscard]] Result<Cohorts> Build() const;
  // The same, except that each stratum's floor stands on `floor_ranks[key]` (the stratum's
  // smallest non-holdback ranks fleet-wide, ascending, distinct, in [0, holdback cutoff)) instead
  // of the ranks added here: its cutoff sits just above the min(floor, size)-th of them. A stratum
  // missing from the map gets no floor (only the wave's share): that is how a server holds its
  // floor-based offers until the merged summary is known. Wave shares, eligible counts and
  // ExpectedExposed are still those of the devices added here. InvalidArgument (naming the
  // stratum) if a list is not ascending or has a rank outside [0, holdback cutoff).
  [[nodiscard]] Result<Cohorts> Build(const FloorRankMap& floor_ranks) const;

  // The largest min_per_stratum of the plan: how many ranks per stratum a floor needs.
  size_t floor_capacity() const { return floor_capacity_; }
  // Number of strata added, and the key of one.
  int stratum_count() const { return static_cast<int>(strata_.size()); }
  const std::string& stratum_key(int stratum) const {
    return strata_[static_cast<size_t>(stratum)].key;
  }
  // The floor_capacity() smallest non-holdback ranks added to `stratum` (fewer if it has fewer),
  // ascending. REQUIRES: 0 <= stratum < stratum_count().
  std::vector<double> FloorRanks(int stratum) const;

 private:
  struct StratumAccumulator {
    std::string key;
    int64_t eligible = 0;
    int64_t held_back = 0;
    std::vector<double> smallest;  // max-heap of the `floor_capacity_` smallest non-holdback ranks
  };
  Plan plan_;
  double holdback_cutoff_;
  size_t floor_capacity_;  // largest min_per_stratum of the plan
  std::vector<StratumAccumulator> strata_;
  std::map<std::string, int, std::less<>> index_;
  std::string error_;  // first contract violation seen by AddDevice
  // Build() (floor_ranks null: each stratum's own smallest ranks) and Build(floor_ranks).
  Result<Cohorts> BuildWith(const FloorRankMap* floor_ranks) const;
};

// A convenience for small fleets, tests and tools: the wave in which each device is first exposed,
// or kNotTargeted for an ineligible one. Strata are the devices' `stratum` keys.
struct FleetDevice {
  std::string_view id;
  std::string_view stratum;  // StratumKey(plan.stratify, attrs)
  bool eligible = true;
};
[[nodiscard]] Result<std::vector<int>> AssignWaves(const Plan& plan, std::string_view release_id,
                                                   std::span<const FleetDevice> fleet);

}  // namespace rf::rollout

#endif  // RINGFENCE_ROLLOUT_COHORT_H_
