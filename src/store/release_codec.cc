#include "store/release_codec.h"

#include "core/bundle.h"
#include "store/strict_json.h"

namespace rf::store {
namespace {

using rollout::Phase;

constexpr Phase kPhases[] = {Phase::kAwaitingApproval, Phase::kReady,    Phase::kDispatching,
                             Phase::kBaking,           Phase::kPaused,   Phase::kHalted,
                             Phase::kRolledBack,       Phase::kCompleted};

void Key(std::string* out, std::string_view k) {
  if (out->back() != '{') *out += ',';
  AppendJsonString(out, k);
  *out += ':';
}

void Str(std::string* out, std::string_view k, std::string_view v) {
  Key(out, k);
  AppendJsonString(out, v);
}

void Int(std::string* out, std::string_view k, int64_t v) {
  Key(out, k);
  *out += std::to_string(v);
}

void Bool(std::string* out, std::string_view k, bool v) {
  Key(out, k);
  *out += v ? "true" : "false";
}

}  // namespace

Result<Phase> PhaseFromName(std::string_view name) {
  for (Phase p : kPhases) {
    if (rollout::PhaseName(p) == name) return p;
  }
  return Status::InvalidArgument("unknown release phase '" + std::string(name) + "'");
}

std::string EncodeReleaseState(const rollout::ReleaseState& s) {
  std::string out = "{";
  Int(&out, "format", kReleaseStateFormat);
  Str(&out, "release_id", s.release_id);
  Str(&out, "phase", rollout::PhaseName(s.phase));
  Str(&out, "on_failure", rollout::FailureActionName(s.on_failure));
  Key(&out, "waves");
  out += '[';
  for (size_t i = 0; i < s.waves.size(); ++i) {
    if (i) out += ',';
    out += '{';
    Str(&out, "name", s.waves[i].name);
    Int(&out, "dispatch_us", s.waves[i].dispatch_micros);
    Int(&out, "bake_us", s.waves[i].bake_micros);
    out += '}';
  }
  out += ']';
  Int(&out, "wave", s.wave);
  Str(&out, "resume_phase", rollout::PhaseName(s.resume_phase));
  Bool(&out, "operator_paused", s.operator_paused);
  Bool(&out, "gate_hold", s.gate_hold);
  Bool(&out, "promotion_requested", s.promotion_requested);
  Int(&out, "dispatch_elapsed_us", s.dispatch_elapsed_micros);
  Int(&out, "segment_started_us", s.segment_started_micros);
  Int(&out, "bake_started_us", s.bake_started_micros);
  Int(&out, "last_event_us", s.last_event_micros);
  Str(&out, "reason", s.reason);
  out += '}';
  return out;
}

Result<rollout::ReleaseState> DecodeReleaseState(std::string_view json) {
  const StatusCode kCode = StatusCode::kDataLoss;
  RF_ASSIGN_OR_RETURN(boost::json::object o, ParseJsonObject(json, "release state", kCode));
  StrictObject r(o, "release state", kCode);
  int64_t format = 0;
  RF_RETURN_IF_ERROR(r.Int("format", &format));
  if (format != kReleaseStateFormat) {
    return Status::DataLoss("release state: format " + std::to_string(format) +
                            " is not supported (this server reads format " +
                            std::to_string(kReleaseStateFormat) + ")");
  }
  rollout::ReleaseState s;
  std::string phase, resume, on_failure;
  RF_RETURN_IF_ERROR(r.String("release_id", &s.release_id));
  RF_RETURN_IF_ERROR(r.String("phase", &phase));
  RF_RETURN_IF_ERROR(r.String("on_failure", &on_failure));
  const boost::json::array* waves = nullptr;
  RF_RETURN_IF_ERROR(r.Array("waves", &waves));
  for (size_t i = 0; i < waves->size(); ++i) {
    if (!(*waves)[i].is_object()) return r.Error("waves", "element is not an object");
    StrictObject w((*waves)[i].as_object(), "release state: waves[" + std::to_string(i) + "]",
                   kCode);
    rollout::WaveTiming t;
    RF_RETURN_IF_ERROR(w.String("name", &t.name));
    RF_RETURN_IF_ERROR(w.Int("dispatch_us", &t.dispatch_micros));
    RF_RETURN_IF_ERROR(w.Int("bake_us", &t.bake_micros));
    RF_RETURN_IF_ERROR(w.Finish());
    s.waves.push_back(std::move(t));
  }
  int64_t wave = 0;
  RF_RETURN_IF_ERROR(r.Int("wave", &wave));
  if (wave < -1 || wave >= static_cast<int64_t>(s.waves.size())) {
    return r.Error("wave", "out of range");
  }
  s.wave = static_cast<int>(wave);
  RF_RETURN_IF_ERROR(r.String("resume_phase", &resume));
  RF_RETURN_IF_ERROR(r.Bool("operator_paused", &s.operator_paused));
  RF_RETURN_IF_ERROR(r.Bool("gate_hold", &s.gate_hold));
  RF_RETURN_IF_ERROR(r.Bool("promotion_requested", &s.promotion_requested));
  RF_RETURN_IF_ERROR(r.Int("dispatch_elapsed_us", &s.dispatch_elapsed_micros));
  RF_RETURN_IF_ERROR(r.Int("segment_started_us", &s.segment_started_micros));
  RF_RETURN_IF_ERROR(r.Int("bake_started_us", &s.bake_started_micros));
  RF_RETURN_IF_ERROR(r.Int("last_event_us", &s.last_event_micros));
  RF_RETURN_IF_ERROR(r.String("reason", &s.reason));
  RF_RETURN_IF_ERROR(r.Finish());
  auto p = PhaseFromName(phase);
  if (!p.ok()) return r.Error("phase", p.status().message());
  s.phase = *p;
  auto rp = PhaseFromName(resume);
  if (!rp.ok()) return r.Error("resume_phase", rp.status().message());
  s.resume_phase = *rp;
  if (on_failure == rollout::FailureActionName(rollout::FailureAction::kRollback)) {
    s.on_failure = rollout::FailureAction::kRollback;
  } else if (on_failure == rollout::FailureActionName(rollout::FailureAction::kPause)) {
    s.on_failure = rollout::FailureAction::kPause;
  } else {
    return r.Error("on_failure", "unknown action '" + on_failure + "'");
  }
  return s;
}

std::string_view RoleString(admission::Role r) { return admission::RoleName(r); }

Result<admission::Role> RoleFromString(std::string_view name) { return admission::ParseRole(name); }

std::string JoinRoles(const std::vector<admission::Role>& roles) {
  return admission::JoinRoleNames(roles);
}

Result<std::vector<admission::Role>> SplitRoles(std::string_view text) {
  std::vector<admission::Role> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    RF_ASSIGN_OR_RETURN(admission::Role r, RoleFromString(part));
    out.push_back(r);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace rf::store
