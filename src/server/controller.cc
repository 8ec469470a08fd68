#include "server/controller.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <utility>

#include <boost/json.hpp>

#include "core/bundle.h"
#include "crypto/dsse.h"
#include "rollout/controller_core.h"

namespace rf::server {
namespace {

using rollout::Event;
using rollout::Phase;
using rollout::Verdict;

void Log(const std::string& line) { std::fprintf(stderr, "ringfence server: %s\n", line.c_str()); }

rollout::MetricSpec SpecFor(rollout::Signal s) {
  switch (s) {
    case rollout::Signal::kSilence: return rollout::MetricSpec::Silence();
    case rollout::Signal::kCrash: return rollout::MetricSpec::Crash();
    case rollout::Signal::kError: return rollout::MetricSpec::ErrorIncidence();
  }
  return rollout::MetricSpec::Silence();
}

bool Dispatching(Phase p) { return p == Phase::kDispatching || p == Phase::kBaking; }
bool Live(Phase p) { return Dispatching(p) || p == Phase::kPaused; }

}  // namespace

HealthCounters::HealthCounters(int strata)
    : cells_(std::make_unique<std::atomic<int64_t>[]>(static_cast<size_t>(std::max(strata, 1)) * 4)) {}

// A started release this process drives: cohorts, gate, slot, promotion bookkeeping.
struct Controller::LiveRelease {
  std::string release_id;
  std::string channel;
  std::string sha256;
  int64_t version = 0;
  std::string content_type;
  int64_t schema_version = 0;
  rollout::Plan plan;
  int slot = -1;
  rollout::RankHasher hasher{""};
  std::optional<rollout::Cohorts> cohorts;
  std::unique_ptr<rollout::SequentialGate> gate;
  std::vector<int32_t> profile_stratum;
  std::vector<int8_t> runs_by_installed;  // by installed-set id: 1 runs the release, 0 not, -1 ?
  std::shared_ptr<HealthCounters> health;
  int m_silence = -1, m_crash = -1, m_error = -1;
  std::vector<std::pair<int64_t, int64_t>> treated_history;
  int64_t treated = 0;
  int64_t running = 0;
  std::string gate_state = "watching";
  std::string gate_detail;
  // The promotion bound's hold clock (as in sim::RingfencePolicy).
  int bound_hold_wave = -1;
  int64_t bound_hold_micros = 0;
  int64_t bound_hold_since = -1;
  int64_t evidence_saved_micros = 0;  // last SaveEvidence
  // Per tick, per stratum and arm: alive devices and new silences.
  std::vector<int64_t> alive[2], silenced[2];

  int strata() const { return cohorts ? cohorts->stratum_count() : 0; }
  int32_t StratumOf(uint32_t profile) const {
    return profile < profile_stratum.size() ? profile_stratum[profile] : kIneligible;
  }

  // Extends profile_stratum to every profile the inventory has interned.
  void ExtendProfiles(const FleetInventory& inv) {
    const uint32_t n = inv.profile_count();
    for (uint32_t p = static_cast<uint32_t>(profile_stratum.size()); p < n; ++p) {
      const DeviceProfile& prof = inv.profile(p);
      auto it = prof.capabilities.find(content_type);
      if (it == prof.capabilities.end() || !it->second.SupportsSchema(schema_version)) {
        profile_stratum.push_back(kIneligible);
        continue;
      }
      int s = cohorts ? cohorts->FindStratum(rollout::StratumKey(plan.stratify, prof.attrs)) : -1;
      profile_stratum.push_back(s >= 0 ? s : kNoStratum);
    }
  }

  bool Runs(const FleetInventory& inv, uint32_t installed) {
    if (installed >= runs_by_installed.size()) runs_by_installed.resize(installed + 1, -1);
    int8_t& v = runs_by_installed[installed];
    if (v < 0) {
      const ChannelReport* ch = inv.installed(installed).Find(channel);
      v = ch != nullptr && ch->current && ch->current->sha256 == sha256 ? 1 : 0;
    }
    return v == 1;
  }
};

Controller::Controller(ReleaseDirectory& releases, FleetInventory& inventory, Clock& clock,
                       crypto::SigningKey release_key, ControllerOptions options)
    : releases_(releases),
      inventory_(inventory),
      clock_(clock),
      key_(std::move(release_key)),
      options_(std::move(options)) {
  snapshot_.store(std::make_shared<const DispatchSnapshot>());
  releases_.SetChangeListener([this] {
    change_epoch_.fetch_add(1, std::memory_order_acq_rel);
    // A change the loop made itself (a tick's own transition) is published at the end of that
    // tick; waking the loop for it would tick again at once, and a wave held at its bake end
    // (GatePromoteNotYet) would then be re-asked, and audited, in a tight loop.
    if (std::this_thread::get_id() == loop_thread_.load()) return;
    {
      std::lock_guard l(loop_mu_);
      wake_ = true;
    }
    loop_cv_.notify_all();
  });
  change_epoch_.store(1);  // the empty snapshot (epoch 0) is stale: the first check-in publishes
}

Controller::~Controller() {
  Stop();
  releases_.SetChangeListener([] {});
}

void Controller::Start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    loop_thread_.store(std::this_thread::get_id());
    std::unique_lock l(loop_mu_);
    while (!stopping_) {
      wake_ = false;
      l.unlock();
      Status st = Tick();
      (void)st;  // logged inside
      l.lock();
      loop_cv_.wait_for(l, std::chrono::microseconds(options_.tick_micros),
                        [this] { return stopping_ || wake_; });
    }
  });
}

void Controller::Stop() {
  {
    std::lock_guard l(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<int64_t> Controller::SchemaVersionOf(const std::string& sha256) {
  auto it = schema_versions_.find(sha256);
  if (it != schema_versions_.end()) return it->second;
  RF_ASSIGN_OR_RETURN(std::string text, releases_.BundleEnvelope(sha256));
  RF_ASSIGN_OR_RETURN(crypto::Envelope env, crypto::ParseEnvelope(text));
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(env.payload, ec);
  const boost::json::value* sv = (!ec && v.is_object()) ? v.get_object().if_contains("schema_version")
                                                        : nullptr;
  if (sv == nullptr || !sv->is_int64()) {
    return Status::DataLoss("bundle " + sha256 + ": payload has no integer schema_version");
  }
  schema_versions_[sha256] = sv->get_int64();
  return sv->get_int64();
}

std::string Controller::Statement(const ReleaseRecord& r, std::string_view action, int64_t now) {
  CachedStatement& c = statements_[r.release_id];
  if (c.action == action && !c.text.empty() &&
      now - c.issued_micros < options_.statement_resign_micros && now >= c.issued_micros) {
    return c.text;
  }
  const int64_t issued_s = now / 1'000'000;
  const int64_t expires_s = (now + options_.statement_validity_micros) / 1'000'000;
  std::string payload = "{\"action\":\"" + std::string(action) + "\",\"bundle_sha256\":\"" +
                        r.bundle_sha256 + "\",\"channel\":";
  AppendJsonString(&payload, r.channel);
  payload += ",\"expires_s\":" + std::to_string(expires_s) +
             ",\"issued_s\":" + std::to_string(issued_s) + ",\"release_id\":";
  AppendJsonString(&payload, r.release_id);
  payload += ",\"version\":" + std::to_string(r.version) + "}";
  crypto::Envelope env{std::string(kReleasePayloadType), std::move(payload), {}};
  crypto::SignEnvelope(&env, key_);
  std::string text = crypto::SerializeEnvelope(env);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  c = CachedStatement{std::string(action), now, std::move(text)};
  return c.text;
}

Status Controller::Build(const ReleaseRecord& r, int64_t now) {
  uint16_t used = slots_in_use_ | slots_to_clear_;
  int slot = -1;
  for (int i = 0; i < std::min(options_.max_live_releases, 16); ++i) {
    if (!(used & (1u << i))) {
      slot = i;
      break;
    }
  }
  if (slot < 0) {
    return Status::ResourceExhausted("release " + r.release_id + ": more than " +
                                     std::to_string(options_.max_live_releases) +
                                     " releases in flight; it waits for a slot");
  }
  auto live = std::make_unique<LiveRelease>();
  live->release_id = r.release_id;
  live->channel = r.channel;
  live->sha256 = r.bundle_sha256;
  live->version = r.version;
  live->content_type = r.content_type;
  live->plan = r.plan;
  live->slot = slot;
  live->hasher = rollout::RankHasher(r.release_id);
  RF_ASSIGN_OR_RETURN(live->schema_version, SchemaVersionOf(r.bundle_sha256));

  // Cohorts from the inventory as it is now: one pass, every eligible device ranked.
  rollout::CohortAssigner assigner(live->plan);
  std::vector<int32_t> assigner_stratum;  // by profile
  const uint32_t profiles = inventory_.profile_count();
  for (uint32_t p = 0; p < profiles; ++p) {
    const DeviceProfile& prof = inventory_.profile(p);
    auto it = prof.capabilities.find(live->content_type);
    if (it == prof.capabilities.end() || !it->second.SupportsSchema(live->schema_version)) {
      assigner_stratum.push_back(kIneligible);
    } else {
      assigner_stratum.push_back(
          assigner.AddStratum(rollout::StratumKey(live->plan.stratify, prof.attrs)));
    }
  }
  const uint16_t bit = static_cast<uint16_t>(1u << slot);
  const int64_t silence_after = live->plan.gate.silence_after_micros;
  LiveRelease* lr = live.get();
  inventory_.Sweep([&](const SweepRecord& d) {
    *d.offered &= static_cast<uint16_t>(~bit);
    *d.silent &= static_cast<uint16_t>(~bit);
    if (d.profile >= assigner_stratum.size() || assigner_stratum[d.profile] < 0) return;
    assigner.AddDevice(assigner_stratum[d.profile], lr->hasher.Rank(d.id));
    // Already silent at start: not an event of this release.
    if (now - d.last_seen_micros > silence_after) *d.silent |= bit;
    // After a restart the offered bits are gone: devices running the release are treated.
    if (lr->Runs(inventory_, d.installed)) *d.offered |= bit;
  });
  RF_ASSIGN_OR_RETURN(rollout::Cohorts cohorts, assigner.Build());
  live->cohorts.emplace(std::move(cohorts));
  live->ExtendProfiles(inventory_);

  std::vector<rollout::MetricSpec> metrics;
  for (rollout::Signal s : live->plan.gate.signals) {
    const int idx = static_cast<int>(metrics.size());
    if (s == rollout::Signal::kSilence) live->m_silence = idx;
    if (s == rollout::Signal::kCrash) live->m_crash = idx;
    if (s == rollout::Signal::kError) live->m_error = idx;
    metrics.push_back(SpecFor(s));
  }
  rollout::GateOptions gopts = options_.gate;
  gopts.alpha = live->plan.gate.alpha;
  RF_ASSIGN_OR_RETURN(rollout::SequentialGate gate,
                      rollout::SequentialGate::Create(std::move(metrics),
                                                      std::max(1, live->strata()), gopts));
  live->gate = std::make_unique<rollout::SequentialGate>(std::move(gate));
  live->health = std::make_shared<HealthCounters>(std::max(1, live->strata()));
  for (int a = 0; a < 2; ++a) {
    live->alive[a].assign(std::max(1, live->strata()), 0);
    live->silenced[a].assign(std::max(1, live->strata()), 0);
  }
  int64_t eligible = 0;
  for (int s = 0; s < live->strata(); ++s) eligible += live->cohorts->eligible(s);
  Log("release " + r.release_id + ": cohorts built: " + std::to_string(eligible) +
      " eligible devices in " + std::to_string(live->strata()) + " strata, slot " +
      std::to_string(slot));
  RestoreEvidence(*live, now);
  slots_in_use_ |= bit;
  live_[r.release_id] = std::move(live);
  return Status::Ok();
}

std::string Controller::EvidencePath(const std::string& release_id) const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name;  // hex: any release id is a safe file name
  for (unsigned char c : release_id) {
    name += kHex[c >> 4];
    name += kHex[c & 15];
  }
  return options_.state_dir + "/" + name + ".gate.json";
}

std::string Controller::EncodeEvidence(LiveRelease& live, int64_t now) const {
  boost::json::object o;
  o["format"] = "ringfence-gate-evidence-1";
  o["release_id"] = live.release_id;
  o["saved_micros"] = now;
  boost::json::array keys;
  for (int s = 0; s < live.strata(); ++s) keys.emplace_back(live.cohorts->stratum_key(s));
  o["strata"] = std::move(keys);
  boost::json::array history;
  for (const auto& [t, n] : live.treated_history) history.emplace_back(boost::json::array{t, n});
  o["treated_history"] = std::move(history);
  o["bound_hold_wave"] = live.bound_hold_wave;
  o["bound_hold_micros"] =
      live.bound_hold_micros + (live.bound_hold_since >= 0 ? now - live.bound_hold_since : 0);
  o["bound_hold_running"] = live.bound_hold_since >= 0;
  o["gate"] = live.gate->EncodeState();
  live.evidence_saved_micros = now;
  return boost::json::serialize(o);
}

void Controller::WriteEvidence(const std::vector<EvidenceWrite>& writes) {
  for (const EvidenceWrite& w : writes) {
    Status s;
    if (w.text.empty()) {
      s = options_.fs->Remove(w.path);
      if (s.code() == StatusCode::kNotFound) s = Status::Ok();
    } else {
      s = options_.fs->CreateDirs(options_.state_dir, 0700);
      if (s.ok()) s = options_.fs->WriteFileAtomic(w.path, w.text, 0600);
    }
    if (!s.ok()) Log("gate evidence " + w.path + ": " + s.ToString());
  }
}

// Continues the evidence of a release this server drove before it restarted. Anything that does
// not match exactly (other strata, plan, alpha, a damaged file) starts fresh gates, and says so.
void Controller::RestoreEvidence(LiveRelease& live, int64_t now) {
  live.evidence_saved_micros = now;
  if (options_.fs == nullptr || options_.state_dir.empty()) return;
  const std::string path = EvidencePath(live.release_id);
  auto text = options_.fs->ReadFile(path, 64u << 20);
  if (!text.ok()) {
    if (text.status().code() != StatusCode::kNotFound) {
      Log("release " + live.release_id + ": gate evidence unreadable, fresh gates: " +
          text.status().ToString());
    }
    return;
  }
  auto fresh = [&](const std::string& why) {
    Log("release " + live.release_id + ": saved gate evidence not used (" + why +
        "); the gates start fresh");
  };
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*text, ec);
  if (ec || !v.is_object()) return fresh("not JSON");
  const boost::json::object& o = v.get_object();
  auto str = [&](const char* k) {
    const auto* x = o.if_contains(k);
    return x && x->is_string() ? std::string(x->get_string()) : std::string();
  };
  auto num = [&](const char* k, int64_t* out) {
    const auto* x = o.if_contains(k);
    if (!x || !x->is_int64()) return false;
    *out = x->get_int64();
    return true;
  };
  if (str("format") != "ringfence-gate-evidence-1") return fresh("unknown format");
  if (str("release_id") != live.release_id) return fresh("another release's file");
  const auto* keys = o.if_contains("strata");
  if (!keys || !keys->is_array() || keys->get_array().size() != static_cast<size_t>(live.strata())) {
    return fresh("the strata changed");
  }
  for (int s = 0; s < live.strata(); ++s) {
    const auto& k = keys->get_array()[static_cast<size_t>(s)];
    if (!k.is_string() || k.get_string() != live.cohorts->stratum_key(s)) return fresh("the strata changed");
  }
  int64_t saved = 0, hold_wave = 0, hold_micros = 0;
  if (!num("saved_micros", &saved) || !num("bound_hold_wave", &hold_wave) ||
      !num("bound_hold_micros", &hold_micros) || saved > now) {
    return fresh("malformed header");
  }
  std::vector<std::pair<int64_t, int64_t>> history;
  const auto* h = o.if_contains("treated_history");
  if (!h || !h->is_array()) return fresh("malformed treated history");
  for (const auto& e : h->get_array()) {
    if (!e.is_array() || e.get_array().size() != 2 || !e.get_array()[0].is_int64() ||
        !e.get_array()[1].is_int64()) {
      return fresh("malformed treated history");
    }
    history.emplace_back(e.get_array()[0].get_int64(), e.get_array()[1].get_int64());
  }
  if (Status st = live.gate->RestoreState(str("gate")); !st.ok()) return fresh(st.message());
  live.treated_history = std::move(history);
  live.bound_hold_wave = static_cast<int>(hold_wave);
  live.bound_hold_micros = hold_micros;
  const auto* running = o.if_contains("bound_hold_running");
  live.bound_hold_since = running && running->is_bool() && running->get_bool() ? now : -1;
  Log("release " + live.release_id + ": gate evidence restored (saved " +
      std::to_string((now - saved) / 1'000'000) + " s before this start)");
}

Status Controller::Apply(ReleaseRecord& r, LiveRelease* live, const Event& e, int64_t now) {
  auto result = releases_.ApplyEvent(r.release_id, e, now);
  if (!result.ok()) {
    return result.status().WithPrefix("release " + r.release_id + ": " +
                                      std::string(rollout::EventKindName(e.kind)));
  }
  r.state = result->state;
  for (const rollout::Effect& eff : result->effects) {
    switch (eff.kind) {
      case rollout::EffectKind::kRequestPromotion:
        if (live != nullptr) RF_RETURN_IF_ERROR(AnswerPromotion(r, *live, eff.wave, now));
        break;
      case rollout::EffectKind::kPage:
        Log("PAGE: " + eff.text);
        break;
      case rollout::EffectKind::kDispatchWave:   // the snapshot's cutoffs follow the state
      case rollout::EffectKind::kStopDispatch:   // the snapshot hands out nothing new
      case rollout::EffectKind::kRollbackToLkg:  // the snapshot answers "revert"
      case rollout::EffectKind::kRecordAudit:    // persisted by the ReleaseDirectory
        break;
    }
  }
  return Status::Ok();
}

Status Controller::AnswerPromotion(ReleaseRecord& r, LiveRelease& live, int wave, int64_t now) {
  rollout::BakeSummary bake;
  const int64_t bake_micros = rollout::WaveBakeMicros(live.plan, wave);
  bake.baked_devices = rollout::BakedDevices(live.treated_history, bake_micros, now);
  double next = 0;
  for (int s = 0; s < live.strata(); ++s) {
    if (wave + 1 < live.cohorts->wave_count()) {
      next += live.cohorts->ExpectedExposed(s, wave + 1) - live.cohorts->ExpectedExposed(s, wave);
    }
  }
  bake.next_wave_devices = static_cast<int64_t>(std::llround(next));
  if (live.bound_hold_wave != wave) {
    live.bound_hold_wave = wave;
    live.bound_hold_micros = 0;
    live.bound_hold_since = -1;
  }
  bake.promotion_hold_micros =
      live.bound_hold_micros + (live.bound_hold_since >= 0 ? now - live.bound_hold_since : 0);
  bake.max_promotion_hold_micros = static_cast<int64_t>(
      std::llround(options_.max_promotion_hold_bakes * static_cast<double>(bake_micros)));
  const rollout::Decision d = live.gate->DecideAtBakeEnd(rollout::HealthSignals{}, bake);
  if (d.reason == rollout::Reason::kPromotionBoundNotMet) {
    live.bound_hold_micros = bake.promotion_hold_micros;
    live.bound_hold_since = now;
  } else if (live.bound_hold_since >= 0) {
    live.bound_hold_micros += now - live.bound_hold_since;
    live.bound_hold_since = -1;
  }
  const std::string why = rollout::DescribeDecision(d, live.gate->metrics());
  live.gate_state = d.verdict == Verdict::kPromote ? "promote"
                    : d.verdict == Verdict::kHalt  ? "halt"
                                                   : "hold";
  live.gate_detail = why;
  switch (d.verdict) {
    case Verdict::kPromote:
      if (d.reason == rollout::Reason::kPromotionBoundWaived) {
        Log("PAGE: release " + r.release_id + ": promotion of '" +
            rollout::WaveName(live.plan, wave) + "' waived after holding: " + why);
      }
      return Apply(r, &live, Event::GatePromoteOk(wave), now);
    case Verdict::kHalt:
      return Apply(r, &live, Event::GateHalt(why, wave), now);
    case Verdict::kHold:
    case Verdict::kContinue:
      if (d.verdict == Verdict::kHold && d.reason != rollout::Reason::kPromotionBoundNotMet &&
          d.reason != rollout::Reason::kInsufficientExposure) {
        return Apply(r, &live, Event::GateHold(why, wave), now);
      }
      return Apply(r, &live, Event::GatePromoteNotYet(wave), now);
  }
  return Status::Ok();
}

Status Controller::StepGates(std::vector<ReleaseRecord>& releases, int64_t now) {
  // One sweep for every live release: alive devices and new silences per stratum and arm.
  std::vector<LiveRelease*> lives;
  for (auto& [id, live] : live_) {
    live->ExtendProfiles(inventory_);
    for (int a = 0; a < 2; ++a) {
      std::fill(live->alive[a].begin(), live->alive[a].end(), 0);
      std::fill(live->silenced[a].begin(), live->silenced[a].end(), 0);
    }
    live->treated = 0;
    live->running = 0;
    lives.push_back(live.get());
  }
  const uint16_t clear = slots_to_clear_;
  if (!lives.empty() || clear != 0) {
    inventory_.Sweep([&](const SweepRecord& d) {
      if (clear != 0) {
        *d.offered &= static_cast<uint16_t>(~clear);
        *d.silent &= static_cast<uint16_t>(~clear);
      }
      for (LiveRelease* L : lives) {
        const int32_t s = L->StratumOf(d.profile);
        if (s < 0) continue;
        const uint16_t bit = static_cast<uint16_t>(1u << L->slot);
        const bool runs = L->Runs(inventory_, d.installed);
        const bool treated = (*d.offered & bit) || runs;
        if (treated) ++L->treated;
        if (runs) ++L->running;
        if (now - d.last_seen_micros > L->plan.gate.silence_after_micros) {
          if (!(*d.silent & bit)) {
            *d.silent |= bit;
            ++L->silenced[treated][s];
          }
        } else {
          *d.silent &= static_cast<uint16_t>(~bit);
          ++L->alive[treated][s];
        }
      }
    });
  }
  slots_in_use_ &= static_cast<uint16_t>(~clear);
  slots_to_clear_ = 0;

  Status first;
  for (ReleaseRecord& r : releases) {
    auto it = live_.find(r.release_id);
    if (it == live_.end()) continue;
    LiveRelease& L = *it->second;
    L.treated_history.emplace_back(now, L.treated);
    int64_t max_bake = 0;
    for (int w = 0; w < rollout::WaveCount(L.plan); ++w) {
      max_bake = std::max(max_bake, rollout::WaveBakeMicros(L.plan, w));
    }
    while (L.treated_history.size() > 2 && L.treated_history[1].first < now - 2 * max_bake - 60'000'000) {
      L.treated_history.erase(L.treated_history.begin());
    }
    for (int s = 0; s < L.strata(); ++s) {
      const int64_t rt = L.alive[1][s] + L.silenced[1][s];
      const int64_t rc = L.alive[0][s] + L.silenced[0][s];
      Status st = L.gate->SetAtRisk(s, rt, rc);
      auto add = [&](int metric, int64_t x, int64_t y) {
        if (metric < 0 || !st.ok()) return;
        st = L.gate->AddCountEvents(metric, s, std::min(x, rt), std::min(y, rc));
      };
      add(L.m_silence, L.silenced[1][s], L.silenced[0][s]);
      add(L.m_crash, L.health->Drain(s, true, HealthCounters::kCrash),
          L.health->Drain(s, false, HealthCounters::kCrash));
      add(L.m_error, L.health->Drain(s, true, HealthCounters::kError),
          L.health->Drain(s, false, HealthCounters::kError));
      if (!st.ok() && first.ok()) first = st;
    }
    L.gate->Tick();
    if (!Live(r.state.phase)) continue;

    Status st;
    const rollout::Decision d = L.gate->Decide(rollout::HealthSignals{});
    L.gate_state = d.verdict == Verdict::kHalt   ? "halt"
                   : d.verdict == Verdict::kHold ? "hold"
                                                 : "watching";
    L.gate_detail = rollout::DescribeDecision(d, L.gate->metrics());
    if (d.verdict == Verdict::kHalt) {
      std::string why = rollout::DescribeDecision(d, L.gate->metrics());
      if (d.test.stratum >= 0) why += " [" + L.cohorts->stratum_key(d.test.stratum) + "]";
      Log("release " + r.release_id + ": " + why);
      st = Apply(r, &L, Event::GateHalt(why), now);
    } else if (d.verdict == Verdict::kHold) {
      if (!r.state.gate_hold) {
        st = Apply(r, &L, Event::GateHold(rollout::DescribeDecision(d, L.gate->metrics())), now);
      }
    } else if (r.state.phase == Phase::kPaused && r.state.gate_hold) {
      st = Apply(r, &L, Event::GatePromoteNotYet(r.state.wave), now);
    }
    if (st.ok() && !rollout::IsFinished(r.state)) {
      std::optional<int64_t> due = rollout::NextDeadline(r.state);
      if (due && *due <= now) st = Apply(r, &L, Event::Tick(), now);
    }
    if (!st.ok()) {
      Log(st.ToString());
      if (first.ok()) first = st;
    }
  }
  return first;
}

void Controller::Publish(const std::vector<ReleaseRecord>& releases, uint64_t epoch, int64_t now) {
  auto snap = std::make_shared<DispatchSnapshot>();
  snap->epoch = epoch;
  snap->issued_micros = now;
  snap->controls = releases_.Controls();
  for (const ReleaseRecord& r : releases) {
    ReleaseDispatch d;
    d.release_id = r.release_id;
    d.channel = r.channel;
    d.version = r.version;
    d.sha256 = r.bundle_sha256;
    d.phase = r.state.phase;
    d.wave = r.state.wave;
    d.wave_count = static_cast<int>(r.state.waves.size());
    d.started_micros = r.started_s * 1'000'000;
    d.reason = r.state.reason;
    d.hasher = rollout::RankHasher(r.release_id);
    auto it = live_.find(r.release_id);
    if (it != live_.end() && Dispatching(r.state.phase)) {
      LiveRelease& L = *it->second;
      L.ExtendProfiles(inventory_);
      d.slot = L.slot;
      d.profile_stratum = L.profile_stratum;
      d.health = L.health;
      const int64_t elapsed = rollout::DispatchElapsedMicros(r.state, now);
      for (int s = 0; s < L.strata(); ++s) {
        d.cutoff.push_back(L.cohorts->PacedCutoff(s, r.state.wave, elapsed));
      }
    } else if (it != live_.end()) {
      d.slot = it->second->slot;
      d.health = it->second->health;
      d.profile_stratum = it->second->profile_stratum;
    } else if (r.state.phase == Phase::kCompleted) {
      // Every eligible device takes a completed release, whatever its stratum.
      auto schema = SchemaVersionOf(r.bundle_sha256);
      if (schema.ok()) {
        for (uint32_t p = 0; p < inventory_.profile_count(); ++p) {
          const DeviceProfile& prof = inventory_.profile(p);
          auto c = prof.capabilities.find(r.content_type);
          d.profile_stratum.push_back(c != prof.capabilities.end() && c->second.SupportsSchema(*schema)
                                          ? kNoStratum
                                          : kIneligible);
        }
      }
    }
    if (Dispatching(r.state.phase) || r.state.phase == Phase::kCompleted) {
      d.statement = Statement(r, "install", now);
    } else if (r.state.phase == Phase::kRolledBack) {
      d.statement = Statement(r, "revert", now);
    }
    snap->channels[r.channel].push_back(std::move(d));
  }
  snapshot_.store(std::move(snap));
}

Status Controller::Tick() {
  // Evidence files are written after the lock is released: check-ins may need mu_ meanwhile.
  std::vector<EvidenceWrite> writes;
  Status first = TickLocked(&writes);
  WriteEvidence(writes);
  return first;
}

Status Controller::TickLocked(std::vector<EvidenceWrite>* writes) {
  std::lock_guard l(mu_);
  const bool keep = options_.fs != nullptr && !options_.state_dir.empty();
  const int64_t now = clock_.NowUnixMicros();
  const uint64_t epoch = change_epoch_.load(std::memory_order_acquire);
  std::vector<ReleaseRecord> releases = releases_.ActiveReleases();
  Status first;
  for (const ReleaseRecord& r : releases) {
    if (Live(r.state.phase) && !live_.count(r.release_id)) {
      Status st = Build(r, now);
      if (!st.ok()) {
        Log(st.ToString());
        if (first.ok()) first = st;
      }
    }
  }
  Status st = StepGates(releases, now);
  if (first.ok()) first = st;
  // Releases that finished (or left the directory) free their slot and drop their evidence; the
  // others save theirs every save_every_micros.
  for (auto it = live_.begin(); it != live_.end();) {
    auto r = std::find_if(releases.begin(), releases.end(),
                          [&](const ReleaseRecord& x) { return x.release_id == it->first; });
    if (r == releases.end() || !Live(r->state.phase)) {
      slots_to_clear_ |= static_cast<uint16_t>(1u << it->second->slot);
      if (keep) writes->push_back({EvidencePath(it->first), ""});
      it = live_.erase(it);
    } else {
      if (keep && now - it->second->evidence_saved_micros >= options_.save_every_micros) {
        writes->push_back({EvidencePath(it->first), EncodeEvidence(*it->second, now)});
      }
      ++it;
    }
  }
  Publish(releases, epoch, now);
  return first;
}

void Controller::RefreshIfStale() {
  const uint64_t epoch = change_epoch_.load(std::memory_order_acquire);
  if (snapshot_.load()->epoch >= epoch) return;
  std::lock_guard l(mu_);
  if (snapshot_.load()->epoch >= epoch) return;
  const std::vector<ReleaseRecord> releases = releases_.ActiveReleases();
  Publish(releases, epoch, clock_.NowUnixMicros());
}

std::vector<GateMetric> Controller::GateMetrics() const {
  std::lock_guard l(mu_);
  std::vector<GateMetric> out;
  for (const auto& [id, live] : live_) {
    for (int m = 0; m < live->gate->num_metrics(); ++m) {
      const rollout::TestReport rep = live->gate->Report(m, rollout::SequentialGate::kPooled);
      out.push_back({id, live->gate->metric(m).name, rep.e_value(), rep.threshold()});
    }
  }
  return out;
}

std::optional<ReleaseProgress> Controller::Progress(std::string_view release_id) const {
  std::lock_guard l(mu_);
  auto it = live_.find(std::string(release_id));
  if (it == live_.end()) return std::nullopt;
  const LiveRelease& L = *it->second;
  ReleaseProgress p;
  int current_wave = -1;
  const auto snap = snapshot_.load();
  auto ch = snap->channels.find(L.channel);
  if (ch != snap->channels.end()) {
    for (const ReleaseDispatch& d : ch->second) {
      if (d.release_id == L.release_id) current_wave = d.wave;
    }
  }
  for (int s = 0; s < L.strata(); ++s) p.eligible_devices += L.cohorts->eligible(s);
  for (int w = 0; w < L.cohorts->wave_count(); ++w) {
    WaveProgress wp;
    wp.name = rollout::WaveName(L.plan, w);
    double target = 0;
    for (int s = 0; s < L.strata(); ++s) target += L.cohorts->ExpectedExposed(s, w);
    wp.target_devices = static_cast<int64_t>(std::llround(target));
    wp.exposed_devices = w < current_wave    ? std::min(wp.target_devices, L.treated)
                         : w == current_wave ? L.treated
                                             : 0;
    p.waves.push_back(std::move(wp));
  }
  p.exposed_devices = L.treated;
  p.applied_devices = L.running;
  p.gate_state = L.gate_state;
  p.gate_detail = L.gate_detail;
  for (int m = 0; m < L.gate->num_metrics(); ++m) {
    const rollout::TestReport pooled = L.gate->Report(m, rollout::SequentialGate::kPooled);
    p.harmed_devices += pooled.treated_events;
    p.e_threshold = pooled.threshold();
    p.max_e_value = std::max(p.max_e_value, pooled.e_value());
    for (int s = 0; s < L.gate->num_strata(); ++s) {
      p.max_e_value = std::max(p.max_e_value, L.gate->Report(m, s).e_value());
    }
  }
  return p;
}

}  // namespace rf::server
