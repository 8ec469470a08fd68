#include "server/gate_evidence.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

namespace rf::server {
namespace {

constexpr char kFormat[] = "ringfence-gate-counts-1";
constexpr size_t kMaxCountsBytes = 4u << 20;
// Above any real count, and low enough that sums over thousands of rows cannot overflow.
constexpr size_t kMaxStrata = 10'000;
constexpr int64_t kMaxCount = 1'000'000'000'000'000;

boost::json::array Ints(const std::array<int64_t, rollout::kSignalCount>& a) {
  boost::json::array out;
  for (int64_t v : a) out.emplace_back(v);
  return out;
}

// An int64 member `k` of `o` in [0, max].
Status Count(const boost::json::object& o, const char* k, int64_t* out, std::string_view where,
             int64_t max = kMaxCount) {
  const auto* v = o.if_contains(k);
  if (v == nullptr || !v->is_int64() || v->get_int64() < 0 || v->get_int64() > max) {
    return Status::InvalidArgument("gate counts: " + std::string(where) + "." + k +
                                   " is not an integer in [0, " + std::to_string(max) + "]");
  }
  *out = v->get_int64();
  return Status::Ok();
}

Status Counts3(const boost::json::object& o, const char* k,
               std::array<int64_t, rollout::kSignalCount>* out, std::string_view where) {
  const auto* v = o.if_contains(k);
  if (v == nullptr || !v->is_array() || v->get_array().size() != out->size()) {
    return Status::InvalidArgument("gate counts: " + std::string(where) + "." + k + " is not an "
                                   "array of " + std::to_string(out->size()) + " counts");
  }
  for (size_t i = 0; i < out->size(); ++i) {
    const auto& x = v->get_array()[i];
    if (!x.is_int64() || x.get_int64() < 0 || x.get_int64() > kMaxCount) {
      return Status::InvalidArgument("gate counts: " + std::string(where) + "." + k +
                                     " has a value that is not an integer in [0, 10^15]");
    }
    (*out)[i] = x.get_int64();
  }
  return Status::Ok();
}

constexpr int64_t kRankScale = int64_t{1} << 53;

// The optional sketch of a stratum: {"eligible": n, "held_back": n, "ranks": [...]}, the ranks
// ascending integers in [0, 2^53), each rank * 2^53, no more than the non-holdback devices.
Status Sketch(const boost::json::object& o, std::optional<rollout::StratumSketch>* out,
              std::string_view where) {
  const auto* v = o.if_contains("sketch");
  if (v == nullptr) return Status::Ok();
  const std::string at = std::string(where) + ".sketch";
  if (!v->is_object()) return Status::InvalidArgument("gate counts: " + at + " is not an object");
  const boost::json::object& so = v->get_object();
  rollout::StratumSketch k;
  RF_RETURN_IF_ERROR(Count(so, "eligible", &k.eligible, at));
  RF_RETURN_IF_ERROR(Count(so, "held_back", &k.held_back, at, k.eligible));
  const auto* ranks = so.if_contains("ranks");
  if (ranks == nullptr || !ranks->is_array() ||
      static_cast<int64_t>(ranks->get_array().size()) > k.eligible - k.held_back) {
    return Status::InvalidArgument("gate counts: " + at +
                                   ".ranks is not an array of at most eligible - held_back ranks");
  }
  int64_t prev = -1;
  for (const auto& x : ranks->get_array()) {
    if (!x.is_int64() || x.get_int64() < 0 || x.get_int64() >= kRankScale ||
        x.get_int64() <= prev) {
      return Status::InvalidArgument("gate counts: " + at +
                                     ".ranks is not ascending integers in [0, 2^53)");
    }
    prev = x.get_int64();
    k.smallest.push_back(std::ldexp(static_cast<double>(prev), -53));
  }
  *out = std::move(k);
  return Status::Ok();
}

// A device id in a silence list: a non-empty string of at most 256 bytes.
bool DeviceId(const boost::json::value& v) {
  return v.is_string() && !v.get_string().empty() && v.get_string().size() <= 256;
}

// The optional silence_candidates ([[id, last_seen_us], ...]) and seen_elsewhere ([id, ...]).
Status SilenceIds(const boost::json::object& o, ReplicaCounts* c) {
  if (const auto* v = o.if_contains("silence_candidates"); v != nullptr) {
    if (!v->is_array() || v->get_array().size() > kMaxSilenceIds) {
      return Status::InvalidArgument("gate counts: silence_candidates is not an array of at most " +
                                     std::to_string(kMaxSilenceIds));
    }
    for (const auto& x : v->get_array()) {
      const auto* pair = x.if_array();
      if (pair == nullptr || pair->size() != 2 || !DeviceId((*pair)[0]) || !(*pair)[1].is_int64() ||
          (*pair)[1].get_int64() < 0) {
        return Status::InvalidArgument(
            "gate counts: a silence candidate is not [device id, last check-in micros >= 0]");
      }
      c->silence_candidates.emplace_back(std::string((*pair)[0].get_string()),
                                         (*pair)[1].get_int64());
    }
  }
  if (const auto* v = o.if_contains("seen_elsewhere"); v != nullptr) {
    if (!v->is_array() || v->get_array().size() > kMaxSilenceIds) {
      return Status::InvalidArgument("gate counts: seen_elsewhere is not an array of at most " +
                                     std::to_string(kMaxSilenceIds));
    }
    for (const auto& x : v->get_array()) {
      if (!DeviceId(x)) {
        return Status::InvalidArgument("gate counts: seen_elsewhere has an entry that is not a "
                                       "device id (1-256 bytes)");
      }
      c->seen_elsewhere.emplace_back(x.get_string());
    }
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeReplicaCounts(const ReplicaCounts& c) {
  boost::json::object o;
  o["format"] = kFormat;
  o["replica"] = c.replica;
  o["seq"] = c.seq;
  o["updated_us"] = c.updated_us;
  o["newest_seen_us"] = c.newest_seen_us;
  o["built_us"] = c.built_us;
  boost::json::array strata;
  for (const StratumCounts& s : c.strata) {
    boost::json::object x;
    x["key"] = s.key;
    x["treated_at_risk"] = s.treated_at_risk;
    x["control_at_risk"] = s.control_at_risk;
    x["treated"] = s.treated;
    x["applied"] = s.applied;
    x["treated_silent"] = s.treated_silent;
    x["treated_events"] = Ints(s.treated_events);
    x["control_events"] = Ints(s.control_events);
    if (s.sketch) {
      boost::json::array ranks;
      for (double r : s.sketch->smallest) ranks.emplace_back(static_cast<int64_t>(std::ldexp(r, 53)));
      x["sketch"] = boost::json::object{{"eligible", s.sketch->eligible},
                                        {"held_back", s.sketch->held_back},
                                        {"ranks", std::move(ranks)}};
    }
    strata.emplace_back(std::move(x));
  }
  o["strata"] = std::move(strata);
  if (!c.silence_candidates.empty()) {
    boost::json::array cand;
    for (const auto& [id, seen] : c.silence_candidates) cand.emplace_back(boost::json::array{id, seen});
    o["silence_candidates"] = std::move(cand);
  }
  if (!c.seen_elsewhere.empty()) {
    boost::json::array seen;
    for (const std::string& id : c.seen_elsewhere) seen.emplace_back(id);
    o["seen_elsewhere"] = std::move(seen);
  }
  return boost::json::serialize(o);
}

Result<ReplicaCounts> DecodeReplicaCounts(std::string_view text) {
  if (text.size() > kMaxCountsBytes) {
    return Status::InvalidArgument("gate counts: " + std::to_string(text.size()) +
                                   " bytes, more than " + std::to_string(kMaxCountsBytes));
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return Status::InvalidArgument("gate counts: not a JSON object");
  const boost::json::object& o = v.get_object();
  const auto* format = o.if_contains("format");
  if (format == nullptr || !format->is_string() || format->get_string() != kFormat) {
    return Status::InvalidArgument("gate counts: format is not \"" + std::string(kFormat) + "\"");
  }
  ReplicaCounts c;
  const auto* replica = o.if_contains("replica");
  if (replica == nullptr || !replica->is_string() || replica->get_string().empty()) {
    return Status::InvalidArgument("gate counts: replica is not a non-empty string");
  }
  c.replica = std::string(replica->get_string());
  constexpr int64_t kAny = std::numeric_limits<int64_t>::max();  // not summed
  RF_RETURN_IF_ERROR(Count(o, "seq", &c.seq, "counts", kAny));
  RF_RETURN_IF_ERROR(Count(o, "updated_us", &c.updated_us, "counts", kAny));
  const auto* seen = o.if_contains("newest_seen_us");
  if (seen == nullptr || !seen->is_int64() || seen->get_int64() < -1) {
    return Status::InvalidArgument("gate counts: newest_seen_us is not an integer >= -1");
  }
  c.newest_seen_us = seen->get_int64();
  // Absent in publications of versions without floor summaries (a rolling upgrade).
  if (const auto* built = o.if_contains("built_us"); built != nullptr) {
    if (!built->is_int64() || built->get_int64() < -1) {
      return Status::InvalidArgument("gate counts: built_us is not an integer >= -1");
    }
    c.built_us = built->get_int64();
  }
  const auto* strata = o.if_contains("strata");
  if (strata == nullptr || !strata->is_array()) {
    return Status::InvalidArgument("gate counts: strata is not an array");
  }
  if (strata->get_array().size() > kMaxStrata) {
    return Status::InvalidArgument("gate counts: more than " + std::to_string(kMaxStrata) +
                                   " strata");
  }
  std::set<std::string, std::less<>> keys;
  for (const auto& x : strata->get_array()) {
    if (!x.is_object()) return Status::InvalidArgument("gate counts: a stratum is not an object");
    const boost::json::object& so = x.get_object();
    StratumCounts s;
    const auto* key = so.if_contains("key");
    if (key == nullptr || !key->is_string()) {
      return Status::InvalidArgument("gate counts: a stratum's key is not a string");
    }
    s.key = std::string(key->get_string());
    const std::string where = "stratum '" + s.key + "'";
    RF_RETURN_IF_ERROR(Count(so, "treated_at_risk", &s.treated_at_risk, where));
    RF_RETURN_IF_ERROR(Count(so, "control_at_risk", &s.control_at_risk, where));
    RF_RETURN_IF_ERROR(Count(so, "treated", &s.treated, where));
    RF_RETURN_IF_ERROR(Count(so, "applied", &s.applied, where));
    RF_RETURN_IF_ERROR(Count(so, "treated_silent", &s.treated_silent, where));
    RF_RETURN_IF_ERROR(Counts3(so, "treated_events", &s.treated_events, where));
    RF_RETURN_IF_ERROR(Counts3(so, "control_events", &s.control_events, where));
    RF_RETURN_IF_ERROR(Sketch(so, &s.sketch, where));
    if (!keys.insert(s.key).second) {
      return Status::InvalidArgument("gate counts: " + where + " appears twice");
    }
    c.strata.push_back(std::move(s));
  }
  RF_RETURN_IF_ERROR(SilenceIds(o, &c));
  return c;
}

ReplicaCounts SumReplicaCounts(const std::vector<ReplicaCounts>& rows, int64_t fresh_after_us) {
  ReplicaCounts sum;
  std::map<std::string, size_t, std::less<>> index;
  for (const ReplicaCounts& r : rows) {
    const bool fresh = r.updated_us >= fresh_after_us;
    if (fresh) sum.newest_seen_us = std::max(sum.newest_seen_us, r.newest_seen_us);
    for (const StratumCounts& s : r.strata) {
      auto [it, added] = index.emplace(s.key, sum.strata.size());
      if (added) sum.strata.push_back(StratumCounts{.key = s.key});
      StratumCounts& t = sum.strata[it->second];
      for (int i = 0; i < rollout::kSignalCount; ++i) {
        t.treated_events[i] += s.treated_events[i];
        t.control_events[i] += s.control_events[i];
      }
      if (!fresh) continue;
      t.treated_at_risk += s.treated_at_risk;
      t.control_at_risk += s.control_at_risk;
      t.treated += s.treated;
      t.applied += s.applied;
      t.treated_silent += s.treated_silent;
    }
  }
  return sum;
}

CohortSummary MergeCohortSketches(const std::vector<ReplicaCounts>& rows, size_t capacity,
                                  double holdback_cutoff, int64_t settle_micros, int64_t now_us) {
  CohortSummary out;
  for (const ReplicaCounts& r : rows) {
    if (r.built_us < 0) continue;
    if (out.first_built_us < 0 || r.built_us < out.first_built_us) out.first_built_us = r.built_us;
  }
  if (out.first_built_us < 0) return out;
  const int64_t window_end = out.first_built_us + settle_micros;
  out.settled = now_us >= window_end + settle_micros;
  std::vector<const ReplicaCounts*> in;  // the window's rows, in an order every replica reproduces
  for (const ReplicaCounts& r : rows) {
    if (r.built_us >= 0 && r.built_us <= window_end) in.push_back(&r);
  }
  std::sort(in.begin(), in.end(), [](const ReplicaCounts* a, const ReplicaCounts* b) {
    return std::tie(a->built_us, a->replica) < std::tie(b->built_us, b->replica);
  });
  out.replicas = static_cast<int>(in.size());
  std::vector<std::string> keys;
  std::map<std::string, std::vector<rollout::StratumSketch>, std::less<>> parts;
  for (const ReplicaCounts* r : in) {
    for (const StratumCounts& s : r->strata) {
      if (!s.sketch) continue;
      auto [it, added] = parts.try_emplace(s.key);
      if (added) keys.push_back(s.key);
      it->second.push_back(*s.sketch);
    }
  }
  for (const std::string& key : keys) {
    out.sketch.push_back({key, rollout::MergeSketches(parts[key], capacity, holdback_cutoff)});
  }
  return out;
}

Status LocalGateEvidence::Publish(std::string_view release_id, const ReplicaCounts& counts) {
  std::lock_guard l(mu_);
  auto& rows = rows_[std::string(release_id)];
  auto it = rows.find(counts.replica);
  if (it == rows.end() || it->second.seq < counts.seq) rows[counts.replica] = counts;
  return Status::Ok();
}

Result<std::vector<ReplicaCounts>> LocalGateEvidence::Counts(std::string_view release_id,
                                                             std::string* /*bad*/) {
  std::lock_guard l(mu_);
  std::vector<ReplicaCounts> out;
  auto it = rows_.find(release_id);
  if (it == rows_.end()) return out;
  for (const auto& [replica, c] : it->second) out.push_back(c);
  return out;
}

Status LocalGateEvidence::Forget(std::string_view release_id) {
  std::lock_guard l(mu_);
  auto it = rows_.find(release_id);
  if (it != rows_.end()) rows_.erase(it);
  return Status::Ok();
}

}  // namespace rf::server
