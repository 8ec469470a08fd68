#include "rollout/cohort.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

namespace rf::rollout {
namespace {

inline uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline void SipRound(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1;
  v1 = Rotl(v1, 13);
  v1 ^= v0;
  v0 = Rotl(v0, 32);
  v2 += v3;
  v3 = Rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = Rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = Rotl(v1, 17);
  v1 ^= v2;
  v2 = Rotl(v2, 32);
}

// Little-endian load of n <= 8 bytes, independent of the host's byte order.
inline uint64_t LoadLe(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// Base key of the release-key derivation: the ASCII of "ringfenc" and "e/cohort".
constexpr uint64_t kBaseK0 = 0x636e6566676e6972ULL;
constexpr uint64_t kBaseK1 = 0x74726f686f632f65ULL;
constexpr std::string_view kKeyContext = "ringfence/cohort/v1:";

void AppendEscaped(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '=') out->push_back('\\');
    out->push_back(c);
  }
}

}  // namespace

uint64_t SipHash24(uint64_t k0, uint64_t k1, std::string_view data) {
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
  uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
  uint64_t v3 = k1 ^ 0x7465646279746573ULL;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t n = data.size();
  const size_t full = n & ~static_cast<size_t>(7);
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = LoadLe(p + i, 8);
    v3 ^= m;
    SipRound(v0, v1, v2, v3);
    SipRound(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t b = (static_cast<uint64_t>(n) << 56) | LoadLe(p + full, n - full);
  v3 ^= b;
  SipRound(v0, v1, v2, v3);
  SipRound(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) SipRound(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

RankHasher::RankHasher(std::string_view release_id) {
  std::string msg(kKeyContext);
  msg.append(release_id);
  k0_ = SipHash24(kBaseK0, kBaseK1, msg);
  k1_ = SipHash24(kBaseK1, kBaseK0, msg);
}

double CohortRank(std::string_view release_id, std::string_view device_id) {
  return RankHasher(release_id).Rank(device_id);
}

std::string StratumKey(std::span<const std::string> stratify, const Attributes& attrs) {
  std::string key;
  for (size_t i = 0; i < stratify.size(); ++i) {
    if (i > 0) key.push_back(',');
    AppendEscaped(stratify[i], &key);
    key.push_back('=');
    auto it = attrs.find(stratify[i]);
    if (it == attrs.end()) {
      key.push_back('?');
    } else {
      AppendEscaped(it->second, &key);
    }
  }
  return key;
}

// ----- Cohorts -----

int Cohorts::FindStratum(std::string_view key) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return static_cast<int>(i);
  }
  return -1;
}

int Cohorts::WaveOf(int stratum, double rank) const {
  for (int w = 0; w < wave_count_; ++w) {
    if (rank < Cutoff(stratum, w)) return w;
  }
  return kNotTargeted;
}

double Cohorts::PacedCutoff(int stratum, int wave, int64_t dispatch_elapsed_micros) const {
  const double start = StartCutoff(stratum, wave);
  const double end = Cutoff(stratum, wave);
  const int64_t window = dispatch_micros_[static_cast<size_t>(wave)];
  if (window <= 0 || dispatch_elapsed_micros >= window) return end;
  if (dispatch_elapsed_micros <= 0) return start;
  const double t = static_cast<double>(dispatch_elapsed_micros) / static_cast<double>(window);
  return std::min(end, start + (end - start) * t);
}

double Cohorts::ExpectedExposed(int stratum, int wave) const {
  return expected_[Index(stratum, wave)];
}

// ----- CohortAssigner -----

CohortAssigner::CohortAssigner(const Plan& plan, size_t min_ranks)
    : plan_(plan), holdback_cutoff_(1.0 - plan.gate.holdback), rank_capacity_(min_ranks) {
  for (const Wave& w : plan.waves) {
    rank_capacity_ = std::max(rank_capacity_, static_cast<size_t>(std::max<int64_t>(0, w.min_per_stratum)));
  }
}

int CohortAssigner::AddStratum(std::string_view key) {
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  const int id = static_cast<int>(strata_.size());
  strata_.push_back(StratumAccumulator{std::string(key), 0, 0, {}});
  index_.emplace(std::string(key), id);
  return id;
}

void CohortAssigner::AddDevice(int stratum, double rank) {
  if (stratum < 0 || static_cast<size_t>(stratum) >= strata_.size() || !(rank >= 0.0 && rank < 1.0)) {
    if (error_.empty()) {
      error_ = "AddDevice(" + std::to_string(stratum) + ", " + std::to_string(rank) +
               "): stratum must be one added by AddStratum and rank in [0, 1)";
    }
    return;
  }
  StratumAccumulator& acc = strata_[static_cast<size_t>(stratum)];
  ++acc.eligible;
  if (rank >= holdback_cutoff_) {
    ++acc.held_back;
    return;
  }
  if (rank_capacity_ == 0) return;
  std::vector<double>& heap = acc.smallest;
  if (heap.size() < rank_capacity_) {
    heap.push_back(rank);
    std::push_heap(heap.begin(), heap.end());
  } else if (rank < heap.front()) {
    std::pop_heap(heap.begin(), heap.end());
    heap.back() = rank;
    std::push_heap(heap.begin(), heap.end());
  }
}

void MergeSmallestRanks(std::span<const double> ranks, size_t capacity,
                        std::vector<double>* merged) {
  std::vector<double> out;
  out.reserve(std::min(capacity, merged->size() + ranks.size()));
  std::set_union(merged->begin(), merged->end(), ranks.begin(), ranks.end(),
                 std::back_inserter(out));
  out.erase(std::unique(out.begin(), out.end()), out.end());  // one rank per device
  if (out.size() > capacity) out.resize(capacity);
  *merged = std::move(out);
}

StratumSketch MergeSketches(std::span<const StratumSketch> parts, size_t capacity,
                            double holdback_cutoff) {
  StratumSketch out;
  std::vector<double> all;  // the union of every part's list, uncut
  int64_t sum_active = 0, max_active = 0, sum_held = 0;
  bool complete = true;  // every part's list holds all its non-holdback ranks
  for (const StratumSketch& p : parts) {
    const int64_t active = p.eligible - p.held_back;
    sum_active += active;
    max_active = std::max(max_active, active);
    sum_held += p.held_back;
    complete = complete && static_cast<int64_t>(p.smallest.size()) == active;
    MergeSmallestRanks(p.smallest, std::numeric_limits<size_t>::max(), &all);
  }
  int64_t active = sum_active;
  if (parts.size() > 1) {
    if (complete) {
      active = static_cast<int64_t>(all.size());
    } else if (capacity >= 2 && all.size() >= capacity) {
      const double kth = all[capacity - 1];
      const double estimate = static_cast<double>(capacity - 1) * holdback_cutoff / kth;
      const int64_t low = std::max(max_active, static_cast<int64_t>(all.size()));
      active = std::clamp(static_cast<int64_t>(std::llround(std::min(estimate, 1e15))), low,
                          std::max(low, sum_active));
    }
  }
  // Held-back devices leave no rank in the sketches: their overlap is taken to be that of the rest.
  const int64_t held =
      sum_active > 0 ? static_cast<int64_t>(std::llround(static_cast<double>(sum_held) *
                                                          static_cast<double>(active) /
                                                          static_cast<double>(sum_active)))
                     : sum_held;
  out.eligible = active + held;
  out.held_back = held;
  if (all.size() > capacity) all.resize(capacity);
  out.smallest = std::move(all);
  return out;
}

StratumSketch CohortAssigner::Sketch(int stratum) const {
  const StratumAccumulator& acc = strata_[static_cast<size_t>(stratum)];
  StratumSketch out;
  out.eligible = acc.eligible;
  out.held_back = acc.held_back;
  out.smallest = acc.smallest;
  std::sort(out.smallest.begin(), out.smallest.end());
  // Two ids with one rank (a 2^-53 chance) are one entry: the merge counts ranks, not ids.
  out.smallest.erase(std::unique(out.smallest.begin(), out.smallest.end()), out.smallest.end());
  return out;
}

void CohortAssigner::AddSketch(std::string_view key, const StratumSketch& sketch) {
  auto fail = [&](const std::string& why) {
    if (error_.empty()) error_ = "the sketch of stratum '" + std::string(key) + "' " + why;
  };
  if (index_.count(key) != 0) return fail("repeats a stratum");
  const int s = AddStratum(key);
  const int64_t active = sketch.eligible - sketch.held_back;
  if (sketch.held_back < 0 || active < 0) return fail("has negative counts");
  if (sketch.smallest.size() > rank_capacity_ ||
      static_cast<int64_t>(sketch.smallest.size()) > active) {
    return fail("has more ranks than it may");
  }
  for (size_t i = 0; i < sketch.smallest.size(); ++i) {
    const double r = sketch.smallest[i];
    if (!(r >= 0.0 && r < holdback_cutoff_) || (i > 0 && !(sketch.smallest[i - 1] < r))) {
      return fail("has ranks that are not ascending, distinct and below the holdback");
    }
  }
  StratumAccumulator& acc = strata_[static_cast<size_t>(s)];
  acc.eligible = sketch.eligible;
  acc.held_back = sketch.held_back;
  acc.smallest = sketch.smallest;
  std::make_heap(acc.smallest.begin(), acc.smallest.end());
}

Result<Cohorts> BuildFromSketches(const Plan& plan, const CohortSketch& sketch, size_t min_ranks) {
  CohortAssigner assigner(plan, min_ranks);
  for (const KeyedSketch& k : sketch) assigner.AddSketch(k.key, k.sketch);
  return assigner.Build();
}

Result<Cohorts> CohortAssigner::Build() const {
  if (!error_.empty()) return Status::InvalidArgument("cohorts: " + error_);
  if (plan_.waves.empty()) return Status::InvalidArgument("cohorts: the plan has no waves");
  if (!(plan_.gate.holdback >= 0 && plan_.gate.holdback < 1)) {
    return Status::InvalidArgument("cohorts: holdback must be in [0, 1)");
  }
  Cohorts c;
  c.wave_count_ = WaveCount(plan_);
  c.holdback_cutoff_ = holdback_cutoff_;
  const size_t waves = static_cast<size_t>(c.wave_count_);
  for (int w = 0; w < c.wave_count_; ++w) c.dispatch_micros_.push_back(WaveDispatchMicros(plan_, w));

  int64_t fleet = 0;
  for (const StratumAccumulator& s : strata_) fleet += s.eligible;

  c.keys_.reserve(strata_.size());
  c.cutoffs_.assign(strata_.size() * waves, 0.0);
  c.expected_.assign(strata_.size() * waves, 0.0);
  const double hc = holdback_cutoff_;
  for (size_t si = 0; si < strata_.size(); ++si) {
    const StratumAccumulator& s = strata_[si];
    c.keys_.push_back(s.key);
    c.eligible_.push_back(s.eligible);
    c.held_back_.push_back(s.held_back);
    const int64_t active = s.eligible - s.held_back;  // non-holdback devices
    std::vector<double> known = s.smallest;          // the smallest non-holdback ranks
    std::sort(known.begin(), known.end());
    const double known_max = known.empty() ? 0.0 : known.back();
    const bool all_known = static_cast<int64_t>(known.size()) == active;

    // Expected non-holdback devices with rank < cut: counted where the ranks are known, and
    // beyond the largest known rank the rest are uniform on [known_max, hc).
    auto expected_below = [&](double cut) -> double {
      if (cut >= hc) return static_cast<double>(active);
      if (all_known || cut <= known_max) {
        return static_cast<double>(std::lower_bound(known.begin(), known.end(), cut) - known.begin());
      }
      const double rest = static_cast<double>(active) - static_cast<double>(known.size());
      return static_cast<double>(known.size()) + rest * (cut - known_max) / (hc - known_max);
    };

    double prev = 0.0;
    int64_t floor = 0;
    for (size_t w = 0; w < waves; ++w) {
      double cut;
      if (IsHoldbackWave(plan_, static_cast<int>(w))) {
        cut = 1.0;
      } else {
        const Wave& wave = plan_.waves[w];
        double share = wave.devices.kind == WaveSize::Kind::kShare
                           ? wave.devices.share
                           : static_cast<double>(wave.devices.count) /
                                 static_cast<double>(std::max<int64_t>(fleet, 1));
        cut = std::max(prev, std::min(share, hc));
        floor = std::max(floor, wave.min_per_stratum);  // floors are cumulative, like sizes
        // known.size() is min(capacity, active) >= min(floor, active): the same as before.
        const int64_t f = std::min(floor, static_cast<int64_t>(known.size()));
        if (f > 0) {
          // Just above the f-th smallest rank: exactly the f smallest are below it.
          const double floor_cut = std::nextafter(known[static_cast<size_t>(f - 1)], 2.0);
          cut = std::max(cut, floor_cut);
        }
        cut = std::min(cut, hc);
      }
      const size_t idx = si * waves + w;
      c.cutoffs_[idx] = cut;
      c.expected_[idx] = cut >= 1.0 ? static_cast<double>(s.eligible) : expected_below(cut);
      prev = cut;
    }
  }
  return c;
}

Result<std::vector<int>> AssignWaves(const Plan& plan, std::string_view release_id,
                                     std::span<const FleetDevice> fleet) {
  RankHasher hasher(release_id);
  CohortAssigner assigner(plan);
  std::vector<int> stratum_of(fleet.size(), -1);
  std::vector<double> rank_of(fleet.size(), 0.0);
  for (size_t i = 0; i < fleet.size(); ++i) {
    if (!fleet[i].eligible) continue;
    stratum_of[i] = assigner.AddStratum(fleet[i].stratum);
    rank_of[i] = hasher.Rank(fleet[i].id);
    assigner.AddDevice(stratum_of[i], rank_of[i]);
  }
  RF_ASSIGN_OR_RETURN(Cohorts cohorts, assigner.Build());
  std::vector<int> waves(fleet.size(), kNotTargeted);
  for (size_t i = 0; i < fleet.size(); ++i) {
    if (stratum_of[i] >= 0) waves[i] = cohorts.WaveOf(stratum_of[i], rank_of[i]);
  }
  return waves;
}

}  // namespace rf::rollout
