#include "agent/agent_state.h"

#include <algorithm>

#include <boost/json.hpp>

#include "agent/canonical_json.h"

namespace rf::agent {
namespace {

boost::json::object EncodeRef(const BundleRef& r) {
  return {{"version", r.version}, {"sha256", r.sha256}};
}

Result<BundleRef> DecodeRef(const boost::json::value& v, const std::string& w) {
  if (!v.is_object()) return Status::DataLoss(w + " is not an object");
  BundleRef r;
  RF_ASSIGN_OR_RETURN(r.version, GetInt(v.get_object(), "version", w));
  RF_ASSIGN_OR_RETURN(r.sha256, GetString(v.get_object(), "sha256", w));
  if (!IsSha256Hex(r.sha256)) return Status::DataLoss(w + ".sha256 is not a digest");
  return r;
}

boost::json::object EncodeQuarantine(const QuarantineEntry& q) {
  return {{"channel", q.channel}, {"version", q.version}, {"sha256", q.sha256}, {"reason", q.reason}};
}

Result<QuarantineEntry> DecodeQuarantine(const boost::json::value& v, const std::string& w) {
  if (!v.is_object()) return Status::DataLoss(w + " is not an object");
  const auto& o = v.get_object();
  QuarantineEntry q;
  RF_ASSIGN_OR_RETURN(q.channel, GetString(o, "channel", w));
  RF_ASSIGN_OR_RETURN(q.version, GetInt(o, "version", w));
  RF_ASSIGN_OR_RETURN(q.sha256, GetString(o, "sha256", w));
  RF_ASSIGN_OR_RETURN(q.reason, GetString(o, "reason", w));
  return q;
}

boost::json::object EncodeApply(const ApplyResult& a) {
  boost::json::object o{{"channel", a.channel},
                        {"version", a.version},
                        {"sha256", a.sha256},
                        {"result", a.result}};
  if (!a.reason.empty()) o["reason"] = a.reason;
  return o;
}

Result<ApplyResult> DecodeApply(const boost::json::value& v, const std::string& w) {
  if (!v.is_object()) return Status::DataLoss(w + " is not an object");
  const auto& o = v.get_object();
  ApplyResult a;
  RF_ASSIGN_OR_RETURN(a.channel, GetString(o, "channel", w));
  RF_ASSIGN_OR_RETURN(a.version, GetInt(o, "version", w));
  RF_ASSIGN_OR_RETURN(a.sha256, GetString(o, "sha256", w));
  RF_ASSIGN_OR_RETURN(a.result, GetString(o, "result", w));
  if (o.contains("reason")) {
    RF_ASSIGN_OR_RETURN(a.reason, GetString(o, "reason", w));
  }
  return a;
}

template <typename T, typename F>
Result<std::vector<T>> DecodeList(const boost::json::object& o, std::string_view key,
                                  const std::string& w, F decode) {
  std::vector<T> out;
  const auto* v = o.if_contains(key);
  if (!v) return out;
  if (!v->is_array()) return Status::DataLoss(w + "." + std::string(key) + " is not an array");
  for (size_t i = 0; i < v->get_array().size(); ++i) {
    RF_ASSIGN_OR_RETURN(T t, decode(v->get_array()[i],
                                    w + "." + std::string(key) + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

InstalledView AgentState::View(const std::string& channel) const {
  InstalledView v;
  auto it = channels.find(channel);
  if (it != channels.end()) v.current = it->second.current;
  for (const auto& q : quarantined) {
    if (q.channel == channel) v.refused.push_back({q.version, q.sha256});
  }
  return v;
}

void AgentState::Quarantine(const QuarantineEntry& e) {
  bool known = false;
  for (const auto& q : quarantined) {
    if (q.channel == e.channel && q.version == e.version && q.sha256 == e.sha256) known = true;
  }
  if (!known) {
    quarantined.push_back(e);
    if (quarantined.size() > kMaxQuarantineEntries) {
      auto lowest = std::min_element(quarantined.begin(), quarantined.end(),
                                     [](const auto& a, const auto& b) { return a.version < b.version; });
      quarantined.erase(lowest);
    }
  }
  pending.quarantined.push_back(e);
  if (pending.quarantined.size() > kMaxReportEntries) pending.quarantined.erase(pending.quarantined.begin());
}

void AgentState::Report(const ApplyResult& r) {
  pending.apply.push_back(r);
  if (pending.apply.size() > kMaxReportEntries) pending.apply.erase(pending.apply.begin());
}

std::string EncodeAgentState(const AgentState& s) {
  boost::json::object o;
  o["format"] = 1;
  o["seq"] = s.seq;
  o["enrolled"] = s.enrolled;
  boost::json::object chans;
  for (const auto& [name, c] : s.channels) {
    boost::json::object co;
    if (c.current) co["current"] = EncodeRef(*c.current);
    if (c.lkg) co["lkg"] = EncodeRef(*c.lkg);
    if (!c.healthy_sha256.empty()) co["healthy_sha256"] = c.healthy_sha256;
    if (c.proven_ms > 0) co["proven_ms"] = c.proven_ms;
    if (c.lkg_after_ms >= 0) co["lkg_after_ms"] = c.lkg_after_ms;
    chans[name] = std::move(co);
  }
  o["channels"] = std::move(chans);
  boost::json::array q;
  for (const auto& e : s.quarantined) q.push_back(EncodeQuarantine(e));
  o["quarantined"] = std::move(q);
  boost::json::object p;
  p["crashes"] = s.pending.crashes;
  p["errors"] = s.pending.errors;
  boost::json::array pa, pq;
  for (const auto& a : s.pending.apply) pa.push_back(EncodeApply(a));
  for (const auto& e : s.pending.quarantined) pq.push_back(EncodeQuarantine(e));
  p["apply"] = std::move(pa);
  p["quarantined"] = std::move(pq);
  o["pending"] = std::move(p);
  return EncodeCanonicalJson(o) + "\n";
}

Result<AgentState> DecodeAgentState(std::string_view json) {
  const std::string w = "state";
  auto v = ParseJson(json, 8);
  if (!v.ok()) return Status::DataLoss("state file: " + v.status().message());
  if (!v->is_object()) return Status::DataLoss("state file is not a JSON object");
  const auto& o = v->get_object();
  AgentState s;
  RF_ASSIGN_OR_RETURN(int64_t format, GetInt(o, "format", w));
  if (format != 1) return Status::DataLoss("state file: unsupported format");
  RF_ASSIGN_OR_RETURN(s.seq, GetInt(o, "seq", w));
  const auto* en = o.if_contains("enrolled");
  s.enrolled = en && en->is_bool() && en->get_bool();
  if (const auto* ch = o.if_contains("channels")) {
    if (!ch->is_object()) return Status::DataLoss("state: channels is not an object");
    for (const auto& kv : ch->get_object()) {
      const std::string wc = "state.channels." + std::string(kv.key());
      if (!kv.value().is_object()) return Status::DataLoss(wc + " is not an object");
      const auto& co = kv.value().get_object();
      ChannelState c;
      if (const auto* cur = co.if_contains("current")) {
    RF_ASSIGN_OR_RETURN(c.current, DecodeRef(*cur, wc + ".current"));
  }
      if (const auto* lkg = co.if_contains("lkg")) {
    RF_ASSIGN_OR_RETURN(c.lkg, DecodeRef(*lkg, wc + ".lkg"));
  }
      if (co.contains("healthy_sha256")) {
    RF_ASSIGN_OR_RETURN(c.healthy_sha256, GetString(co, "healthy_sha256", wc));
  }
      if (co.contains("proven_ms")) {
        RF_ASSIGN_OR_RETURN(c.proven_ms, GetInt(co, "proven_ms", wc));
        if (c.proven_ms < 0) return Status::DataLoss(wc + ".proven_ms is negative");
      }
      if (co.contains("lkg_after_ms")) {
        RF_ASSIGN_OR_RETURN(c.lkg_after_ms, GetInt(co, "lkg_after_ms", wc));
        if (c.lkg_after_ms < 0) return Status::DataLoss(wc + ".lkg_after_ms is negative");
      }
      s.channels[std::string(kv.key())] = std::move(c);
    }
  }
  RF_ASSIGN_OR_RETURN(s.quarantined, DecodeList<QuarantineEntry>(o, "quarantined", w, DecodeQuarantine));
  if (const auto* p = o.if_contains("pending")) {
    if (!p->is_object()) return Status::DataLoss("state: pending is not an object");
    const auto& po = p->get_object();
    const std::string wp = "state.pending";
    RF_ASSIGN_OR_RETURN(s.pending.crashes, GetInt(po, "crashes", wp));
    RF_ASSIGN_OR_RETURN(s.pending.errors, GetInt(po, "errors", wp));
    RF_ASSIGN_OR_RETURN(s.pending.apply, DecodeList<ApplyResult>(po, "apply", wp, DecodeApply));
    RF_ASSIGN_OR_RETURN(s.pending.quarantined,
                        DecodeList<QuarantineEntry>(po, "quarantined", wp, DecodeQuarantine));
  }
  return s;
}

}  // namespace rf::agent
