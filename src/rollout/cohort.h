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
// Several servers, each with its own share of the fleet (docs/deploy.md "One cohort definition per
// release"): each builds a CohortAssigner over its share and publishes Sketch() per stratum; every
// server merges the sketches of the same replicas (MergeSketches) and builds the one Cohorts of the
// release from them (BuildFromSketches), so the strata, floors, count-sized waves and expected
// exposures are those of the whole fleet, identical on every server.
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

// What one server knew of one stratum of a release when it built the release's cohorts: its
// eligible devices, how many of them are held back, and its smallest non-holdback ranks (ascending,
// distinct, in [0, holdback cutoff), at most the assigner's rank_capacity()). A merge of several
// servers' sketches (MergeSketches) has the same form.
struct StratumSketch {
  int64_t eligible = 0;
  int64_t held_back = 0;
  std::vector<double> smallest;
  bool operator==(const StratumSketch&) const = default;
};
// Sketches by stratum key, in an order every server reproduces (the strata of Cohorts built from it
// are in this order).
struct KeyedSketch {
  std::string key;
  StratumSketch sketch;
  bool operator==(const KeyedSketch&) const = default;
};
using CohortSketch = std::vector<KeyedSketch>;

// Merges `ranks` into `*merged` (both ascending): the union without repeated values (a device has
// one rank per release, so a device counted by two servers counts once), cut to the `capacity`
// smallest.
void MergeSmallestRanks(std::span<const double> ranks, size_t capacity,
                        std::vector<double>* merged);

// Merges several servers' sketches of one stratum whose shares may overlap (a device known to two
// servers is one rank, counted once). The result's `smallest` is the `capacity` smallest ranks of
// the union (exact: the smallest ranks of the union are among each part's smallest). Its device
// counts are exact when every part's list holds all its non-holdback ranks (the stratum is small)
// or there is one part; otherwise the number of distinct non-holdback devices is the k-minimum-
// values estimate (k - 1) * holdback_cutoff / (k-th smallest rank), k = capacity (relative error
// about 1/sqrt(k - 2)), kept between the largest part and the sum of the parts, and the held-back
// count is the parts' sum scaled by the same overlap. Pure; the order of `parts` does not matter.
// REQUIRES: each part is well formed (CohortAssigner::AddSketch's checks) for `capacity` and
// `holdback_cutoff`; capacity >= 2 when some part's list is cut.
StratumSketch MergeSketches(std::span<const StratumSketch> parts, size_t capacity,
                            double holdback_cutoff);

// Builds Cohorts from one pass over the eligible fleet. Memory: O(strata x largest floor).
// The result depends only on the multiset of (stratum key, rank) pairs added, never on the order.
class CohortAssigner {
 public:
  // Copies what it needs from `plan`. Keeps per stratum the rank_capacity() = max(largest
  // min_per_stratum of the plan, `min_ranks`) smallest non-holdback ranks: what a floor needs,
  // and what a sketch of several servers' shares needs to estimate the stratum's size.
  explicit CohortAssigner(const Plan& plan, size_t min_ranks = 0);

  // The index of the stratum with this key, adding it if new (indices in first-seen order).
  // A stratum may be added without devices (it is then simply empty).
  int AddStratum(std::string_view key);
  // Records one ELIGIBLE device (its consumer can take the content). Ineligible devices must not
  // be added: they are then never targeted and never count toward a floor.
  // REQUIRES: 0 <= stratum < number of strata added; 0 <= rank < 1. A violation is reported by
  // Build() (fail-stop), not here, so that this hot loop stays branch-light.
  void AddDevice(int stratum, double rank);

  // Adds a stratum known only by its sketch (MergeSketches of several servers' shares), as if its
  // devices had been added. A stratum may be sketched once and then takes no AddDevice. A sketch
  // whose ranks are not ascending, distinct and below the holdback, that has more ranks than
  // rank_capacity() or than its non-holdback devices, or whose counts are negative or inconsistent,
  // is reported by Build() (naming the stratum), as is a repeated key.
  void AddSketch(std::string_view key, const StratumSketch& sketch);

  // InvalidArgument if the plan has no waves or AddDevice's or AddSketch's contract was violated.
  [[nodiscard]] Result<Cohorts> Build() const;

  // How many of the smallest ranks are kept per stratum (see the constructor).
  size_t rank_capacity() const { return rank_capacity_; }
  double holdback_cutoff() const { return holdback_cutoff_; }
  // Number of strata added, and the key of one.
  int stratum_count() const { return static_cast<int>(strata_.size()); }
  const std::string& stratum_key(int stratum) const {
    return strata_[static_cast<size_t>(stratum)].key;
  }
  // What was added to `stratum`: its eligible and held-back devices and its rank_capacity()
  // smallest non-holdback ranks (fewer if it has fewer), ascending, distinct.
  // REQUIRES: 0 <= stratum < stratum_count().
  StratumSketch Sketch(int stratum) const;

 private:
  struct StratumAccumulator {
    std::string key;
    int64_t eligible = 0;
    int64_t held_back = 0;
    std::vector<double> smallest;  // max-heap of the `rank_capacity_` smallest non-holdback ranks
  };
  Plan plan_;
  double holdback_cutoff_;
  size_t rank_capacity_;  // max(largest min_per_stratum of the plan, min_ranks)
  std::vector<StratumAccumulator> strata_;
  std::map<std::string, int, std::less<>> index_;
  std::string error_;  // first contract violation seen by AddDevice or AddSketch
};

// The one Cohorts of a release built from merged sketches (strata in the sketch's order), as a
// CohortAssigner(plan, min_ranks) that was given them with AddSketch.
[[nodiscard]] Result<Cohorts> BuildFromSketches(const Plan& plan, const CohortSketch& sketch,
                                                size_t min_ranks);

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
