#include "service/releases.h"

#include <algorithm>
#include <optional>

#include "crypto/crypto.h"
#include "protocol/identifiers.h"
#include "service/service_common.h"

namespace rf::service {

using server::Principal;
using server::Role;

namespace {

bool IsSafetyEvent(rollout::EventKind k) {
  return k == rollout::EventKind::kHalt || k == rollout::EventKind::kGateHalt ||
         k == rollout::EventKind::kRollback || k == rollout::EventKind::kPause ||
         k == rollout::EventKind::kGateHold;
}

std::string EventAction(rollout::EventKind k) {
  std::string name(rollout::EventKindName(k));
  std::string out = "release.";
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      if (i) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;  // "release.gate_halt"
}

// Decodes a stored bundle against its registered type. REQUIRES: the write lock (`m`).
Status DecodeStoredBundle(const ServiceState& state, const Model& m, const BundleInfo& info,
                          rf::Bundle* bundle, size_t* payload_bytes) {
  auto type = m.parsed_types.find({info.content_type, info.schema_version});
  if (type == m.parsed_types.end()) {
    return Status::DataLoss("stored bundle " + info.sha256 + " does not decode");
  }
  return state.DecodeStoredBundle(info, *type->second, bundle, payload_bytes);
}

// The channel's newest bundle with version < below_version, decoded (nullopt if none).
// REQUIRES: the write lock (`m`).
Status PreviousBundle(const ServiceState& state, const Model& m, std::string_view channel,
                      int64_t below_version, std::optional<rf::Bundle>* prev,
                      size_t* payload_bytes) {
  const BundleInfo* info = nullptr;
  for (const auto& [sha, b] : m.bundles) {
    if (b.channel == channel && b.version < below_version && (!info || b.version > info->version)) {
      info = &b;
    }
  }
  prev->reset();
  if (info == nullptr) return Status::Ok();
  rf::Bundle b;
  RF_RETURN_IF_ERROR(DecodeStoredBundle(state, m, *info, &b, payload_bytes));
  *prev = std::move(b);
  return Status::Ok();
}

// The release record of a new release `number` of `bundle` under `plan`, created by `actor` at
// `now`; `previous` is the channel's newest Completed release (the "N-1" customers may pin to).
server::ReleaseRecord NewReleaseRecord(const Model& m, const BundleInfo& bundle,
                                       rollout::Plan plan, std::string_view plan_yaml,
                                       int64_t number, const Principal& actor, int64_t now) {
  server::ReleaseRecord r;
  r.release_id = "r-" + std::to_string(number);
  r.channel = bundle.channel;
  r.content_type = bundle.content_type;
  r.version = bundle.version;
  r.bundle_sha256 = bundle.sha256;
  r.plan_yaml = std::string(plan_yaml);
  r.state = rollout::NewRelease(plan, r.release_id, now);
  r.plan = std::move(plan);
  r.author = actor.name;
  r.created_s = now / 1'000'000;
  const server::ReleaseRecord* prev = nullptr;
  for (const auto& [id, x] : m.releases) {
    if (x.channel == r.channel && x.state.phase == rollout::Phase::kCompleted &&
        x.version < r.version && (!prev || x.version > prev->version)) {
      prev = &x;
    }
  }
  if (prev) r.previous = std::make_pair(prev->version, prev->bundle_sha256);
  return r;
}

}  // namespace

Result<rollout::TransitionResult> CommitTransition(ServiceState::Writer& w, std::string_view id,
                                                   const rollout::Event& event, int64_t now,
                                                   const std::string& actor) {
  const Model& m = w.model();
  auto it = m.releases.find(id);
  if (it == m.releases.end()) return Status::NotFound("unknown release " + std::string(id));
  const server::ReleaseRecord& r = it->second;
  if (IsSafetyEvent(event.kind)) now = std::max(now, r.state.last_event_micros);
  RF_ASSIGN_OR_RETURN(rollout::TransitionResult t, rollout::Transition(r.state, event, now));
  // A timer tick that crossed no deadline changes nothing but last_event_micros: not worth an
  // fsync. The stored state stays as it was (time checks only need it not to be in the future).
  rollout::ReleaseState probe = t.state;
  probe.last_event_micros = r.state.last_event_micros;
  if (probe == r.state && t.effects.empty()) return t;

  server::ReleaseRecord updated = r;
  updated.state = t.state;
  if (event.kind == rollout::EventKind::kStart && updated.started_s == 0) {
    updated.started_s = now / 1'000'000;
  }
  std::vector<std::string> texts, effects;
  for (const rollout::Effect& e : t.effects) {
    effects.emplace_back(rollout::EffectKindName(e.kind));
    if (e.kind == rollout::EffectKind::kRecordAudit || e.kind == rollout::EffectKind::kPage) {
      texts.push_back(e.text);
    }
  }
  store::WriteBatch b;
  b.releases.push_back(updated);
  b.audit.push_back({actor, EventAction(event.kind), r.release_id,
                     Details().Str("from", rollout::PhaseName(r.state.phase))
                         .Str("to", rollout::PhaseName(t.state.phase))
                         .Int("wave", t.state.wave).Str("reason", event.reason)
                         .StrList("effects", effects).StrList("notes", texts).Done(),
                     now});
  RF_RETURN_IF_ERROR(w.Commit(std::move(b), [&](Model& mm) {
    mm.releases[updated.release_id] = updated;
  }));
  return t;
}

Result<ReleaseView> Releases::Create(const Principal& actor, std::string_view bundle_sha256,
                                     std::string_view plan_yaml, bool allow_unsafe_plan) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kAuthor, "create releases"));
  if (allow_unsafe_plan) {
    RF_RETURN_IF_ERROR(Require(actor, Role::kAdmin, "override the plan linter (allow_unsafe_plan)"));
  }
  const ReleaseServiceOptions& options = state_.options();
  if (plan_yaml.size() > options.max_yaml_bytes) {
    return Status::ResourceExhausted("plan larger than " +
                                     std::to_string(options.max_yaml_bytes) + " bytes");
  }
  RF_ASSIGN_OR_RETURN(rollout::Plan plan, rollout::ParsePlan(plan_yaml, "plan"));
  rollout::LintOptions lint = options.lint;
  if (!lint.fleet_size) {
    const int64_t n = fleet_.DeviceCount();
    if (n > 0) lint.fleet_size = n;
  }
  // The break-glass: the linter's findings are recorded and audited instead of refusing.
  std::string overridden;
  if (Status lint_st = rollout::CheckPlan(plan, lint); !lint_st.ok()) {
    if (!allow_unsafe_plan) return lint_st;
    overridden = lint_st.message();
  }
  server::ReleaseRecord r;
  Status st;
  {
    auto w = state_.Write();
    const Model& m = w.model();
    auto bit = m.bundles.find(bundle_sha256);
    if (bit == m.bundles.end()) {
      return Status::NotFound("unknown bundle " + std::string(bundle_sha256));
    }
    const BundleInfo& bundle = bit->second;
    // A bundle stored before channel names were checked this way (docs/protocol.md) is never
    // released: devices refuse such a channel.
    RF_RETURN_IF_ERROR(protocol::CheckChannel(bundle.channel, "bundle " + Short(bundle.sha256) +
                                                                  ": channel"));
    const int64_t now = state_.NowMicros();
    const int64_t number = m.last_release_number + 1;
    r = NewReleaseRecord(m, bundle, std::move(plan), plan_yaml, number, actor, now);
    store::WriteBatch b;
    b.releases.push_back(r);
    b.audit.push_back({actor.name, "release.create", r.release_id,
                       Details().Str("bundle_sha256", r.bundle_sha256).Str("channel", r.channel)
                           .Int("version", r.version).Str("plan", r.plan.name)
                           .Str("plan_sha256", crypto::Sha256Hex(plan_yaml)).Done(),
                       now});
    if (!overridden.empty()) {
      b.audit.push_back({actor.name, "release.unsafe_plan", r.release_id,
                         Details().Str("plan", r.plan.name).Str("lint", overridden)
                             .Str("note", "the plan linter was overridden (allow_unsafe_plan) by " +
                                              actor.name)
                             .Done(),
                         now});
    }
    // A channel whose policy requires no approvals (layer 3 off) is Ready at once.
    if (m.PolicyFor(r.channel).approvals_required == 0) {
      auto t = rollout::Transition(r.state, rollout::Event::Approved("policy"), now);
      if (!t.ok()) return t.status();
      r.state = std::move(t->state);
      b.releases.back() = r;
      b.audit.push_back({"system", "release.approved", r.release_id,
                         Details().Str("from", "AwaitingApproval").Str("to", "Ready")
                             .Int("approvals", 0)
                             .Str("note", "channel " + r.channel + " requires no approvals").Done(),
                         now});
    }
    st = w.Commit(std::move(b), [&](Model& mm) {
      mm.releases[r.release_id] = r;
      mm.release_number[r.release_id] = number;
      mm.last_release_number = number;
    });
  }
  if (!st.ok()) return st;
  state_.NotifyChange();
  return Get(r.release_id);
}

Result<ReleaseView> Releases::Get(std::string_view release_id) const {
  auto m = state_.Read();
  auto it = m->releases.find(release_id);
  if (it == m->releases.end()) {
    return Status::NotFound("unknown release " + std::string(release_id));
  }
  return m->View(it->second);
}

std::vector<ReleaseView> Releases::List(std::string_view channel_filter) const {
  auto m = state_.Read();
  std::vector<std::pair<int64_t, const server::ReleaseRecord*>> order;
  for (const auto& [id, r] : m->releases) {
    if (channel_filter.empty() || r.channel == channel_filter) {
      order.emplace_back(m->release_number.at(id), &r);
    }
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<ReleaseView> out;
  for (const auto& [n, r] : order) out.push_back(m->View(*r));
  return out;
}

Status Releases::RecheckLayerOne(const Model& m, const server::ReleaseRecord& r,
                                 const Fleet& fleet) const {
  if (state_.options().skip_layer1) return Status::Ok();
  const BundleInfo& info = m.bundles.at(r.bundle_sha256);
  rf::Bundle bundle;
  size_t bytes = 0;
  RF_RETURN_IF_ERROR(DecodeStoredBundle(state_, m, info, &bundle, &bytes));
  std::optional<rf::Bundle> prev;
  size_t prev_bytes = 0;
  RF_RETURN_IF_ERROR(PreviousBundle(state_, m, info.channel, info.version, &prev, &prev_bytes));
  StageOneInput in;
  in.type = m.parsed_types.at({info.content_type, info.schema_version}).get();
  in.bundle = &bundle;
  in.payload_bytes = bytes;
  if (prev) {
    in.previous = &*prev;
    in.previous_payload_bytes = prev_bytes;
  }
  in.fleet = &fleet;
  StageOneReport report = RunStageOne(in, {}, state_.options().stage_one);
  if (report.accepted) return Status::Ok();
  return Status::FailedPrecondition("layer 1 now rejects bundle " + Short(info.sha256) +
                                    " against the current fleet; release " + r.release_id +
                                    " cannot start: " + admission::ErrorSummary(report));
}

Result<rollout::TransitionResult> Releases::OperatorEvent(const Principal& actor,
                                                          std::string_view id,
                                                          rollout::Event event,
                                                          bool check_quorum) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kOperator,
                             std::string(rollout::EventKindName(event.kind)) + " releases"));
  event.actor = actor.name;
  if (event.reason.size() > 1024) return Status::InvalidArgument("reason longer than 1024 bytes");
  Result<rollout::TransitionResult> t = Status::Internal("unset");
  // The fleet layer 1 re-checks against, read before the write lock (on several servers a database
  // read); an error refuses the start, never judged on part of the fleet.
  Fleet fleet;
  if (check_quorum && !state_.options().skip_layer1) {
    RF_ASSIGN_OR_RETURN(fleet, fleet_.WholeFleet());
  }
  {
    auto w = state_.Write();
    if (check_quorum) {
      const Model& m = w.model();
      auto it = m.releases.find(id);
      if (it == m.releases.end()) return Status::NotFound("unknown release " + std::string(id));
      const ReleaseView v = m.View(it->second);
      if (v.approvals_counted < v.approvals_required) {
        return Status::FailedPrecondition(
            "release " + std::string(id) + " has " + std::to_string(v.approvals_counted) +
            " of the " + std::to_string(v.approvals_required) + " approvals (from " +
            store::JoinRoles(v.approver_roles) + ") that channel " + it->second.channel +
            " requires: it cannot start");
      }
      // The fleet may have changed since upload (new consumer versions reported): layer 1 again.
      RF_RETURN_IF_ERROR(RecheckLayerOne(m, it->second, fleet));
    }
    t = CommitTransition(w, id, event, state_.NowMicros(), actor.name);
  }
  if (t.ok()) state_.NotifyChange();
  return t;
}

Result<rollout::TransitionResult> Releases::Start(const Principal& actor, std::string_view id) {
  return OperatorEvent(actor, id, rollout::Event::Start(), /*check_quorum=*/true);
}
Result<rollout::TransitionResult> Releases::Pause(const Principal& actor, std::string_view id,
                                                  std::string_view reason) {
  return OperatorEvent(actor, id, rollout::Event::Pause(std::string(reason)), false);
}
Result<rollout::TransitionResult> Releases::Resume(const Principal& actor, std::string_view id) {
  return OperatorEvent(actor, id, rollout::Event::Resume(), false);
}
Result<rollout::TransitionResult> Releases::Halt(const Principal& actor, std::string_view id,
                                                 std::string_view reason) {
  return OperatorEvent(actor, id, rollout::Event::Halt(std::string(reason)), false);
}
Result<rollout::TransitionResult> Releases::Rollback(const Principal& actor, std::string_view id,
                                                     std::string_view reason) {
  return OperatorEvent(actor, id, rollout::Event::Rollback(std::string(reason)), false);
}

}  // namespace rf::service
