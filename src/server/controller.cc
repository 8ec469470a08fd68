#include "server/controller.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <boost/json.hpp>

#include "core/bundle.h"
#include "crypto/dsse.h"
#include "rollout/confirmation.h"
#include "rollout/driver.h"

namespace rf::server {
namespace {

using rollout::Event;
using rollout::Phase;
using rollout::Verdict;

void Log(const std::string& line) { std::fprintf(stderr, "ringfence server: %s\n", line.c_str()); }

bool Dispatching(Phase p) { return p == Phase::kDispatching || p == Phase::kBaking; }
bool Live(Phase p) { return Dispatching(p) || p == Phase::kPaused; }

}  // namespace

HealthCounters::HealthCounters(int strata)
    : cells_(std::make_unique<std::atomic<int64_t>[]>(static_cast<size_t>(std::max(strata, 1)) * 4)) {}

void ConfirmationBook::Owe(const std::string& device_id, int64_t deadline_micros) {
  std::lock_guard l(mu_);
  deadline_[device_id] = deadline_micros;
  size_.store(deadline_.size(), std::memory_order_relaxed);
}

void ConfirmationBook::Seen(std::string_view device_id) {
  if (size() == 0) return;  // the common case: nothing owed, no lock
  std::lock_guard l(mu_);
  auto it = deadline_.find(std::string(device_id));
  if (it == deadline_.end()) return;
  deadline_.erase(it);
  size_.store(deadline_.size(), std::memory_order_relaxed);
}

std::unordered_map<std::string, int64_t> ConfirmationBook::Debts() const {
  if (size() == 0) return {};
  std::lock_guard l(mu_);
  return deadline_;
}

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
  // The one driver of the release's gate and promotions (rollout/driver.h); owns the cohorts.
  std::unique_ptr<rollout::ReleaseDriver> driver;
  std::vector<int32_t> profile_stratum;
  std::vector<int8_t> runs_by_installed;  // by installed-set id: 1 runs the release, 0 not, -1 ?
  std::shared_ptr<HealthCounters> health;
  std::shared_ptr<ConfirmationBook> confirmations;  // null when the plan has confirmations off
  int64_t treated = 0;  // offered or running, as of the last sweep
  int64_t running = 0;  // running it (applied), as of the last sweep
  std::string gate_state = "watching";
  std::string gate_detail;
  int64_t evidence_saved_micros = 0;  // last SaveEvidence
  // Per tick: what the sweep counted per stratum, and the newest check-in of the cohort.
  std::vector<rollout::StratumTelemetry> tick;
  int64_t newest_seen_micros = 0;
  // This replica's cumulative events per stratum (by signal) since Build: what it publishes.
  std::vector<std::array<int64_t, rollout::kSignalCount>> cum_treated, cum_control;
  // The elected controller: the summed cumulative events per stratum key already fed to the
  // driver (the next tick feeds what the sum grew by). Saved with the gate state.
  struct Consumed {
    std::array<int64_t, rollout::kSignalCount> treated{}, control{};
  };
  std::map<std::string, Consumed> consumed;
  // Whether this process has driven the release since it last became the controller. With a
  // shared evidence store a server that starts leading first restores the shared gate state.
  bool driving = false;
  // One cohort definition per release (docs/deploy.md "One cohort definition per release"):
  // this replica's sketch of its share of the fleet when it built the release (published with its
  // counts, in the assigner's order, which never changes), when it was built, the sketches' rank
  // capacity, and whether the driver's cohorts are the settled ones of every replica's sketches.
  // Until they are, the driver holds this replica's own cohorts, nothing is offered and the
  // elected controller does not step the release. One server: settled at the build.
  rollout::CohortSketch own_sketch;
  std::vector<int> own_stratum;         // by own_sketch index: the cohorts' stratum, or -1
  std::vector<bool> cohort_is_own;      // by cohorts' stratum: has an own_sketch entry
  size_t rank_capacity = 0;
  int64_t built_us = 0;
  bool cohorts_settled = false;
  // Devices that move between replicas (docs/deploy.md "Devices that move between replicas"; only
  // with a shared evidence store): devices silent here held before their silence counts (id ->
  // last check-in here, the round it was first published in), devices another replica saw after
  // their last check-in here (id -> that check-in; left out of this replica's counts until they
  // check in here again), the other replicas' candidates (id -> their last check-in there), and
  // those of them this replica saw later (the last sweep's answer, published). A round passes each
  // time every other fresh replica has published again (other_seq: the last publication read).
  struct Candidate {
    int64_t last_seen = 0;
    int64_t round = 0;
  };
  int64_t rounds = 0;
  std::map<std::string, int64_t> other_seq;
  std::unordered_map<std::string, Candidate> candidates;
  std::unordered_set<std::string> silent_confirmed;  // treated, silent before, nobody saw them
  std::unordered_map<std::string, int64_t> moved_away;
  std::unordered_map<std::string, int64_t> others_candidates;
  std::vector<std::string> seen_elsewhere;
  const rollout::Cohorts* cohorts() const { return driver ? &driver->cohorts() : nullptr; }
  int strata() const { return driver ? driver->cohorts().stratum_count() : 0; }
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
      int s = driver ? driver->cohorts().FindStratum(rollout::StratumKey(plan.stratify, prof.attrs))
                     : -1;
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

// The driver's way to change a release: through the directory, which persists and audits.
// The commit (a SQLite transaction, and the service's write lock, which an operator mutation may
// hold) runs with mu_ released, so a check-in that needs mu_ (RefreshIfStale) never waits for it;
// tick_mu_ stays held, so no other tick interleaves (lock order: see controller.h).
class Controller::DirectoryPort final : public rollout::TransitionPort {
 public:
  DirectoryPort(ReleaseDirectory& releases, const std::string& release_id, int64_t epoch,
                std::unique_lock<std::mutex>* mu)
      : releases_(releases), release_id_(release_id), epoch_(epoch), mu_(mu) {}
  Result<rollout::TransitionResult> Apply(const Event& e, int64_t now) override {
    mu_->unlock();
    auto result = releases_.ApplyFencedEvent(release_id_, e, now, epoch_);
    mu_->lock();
    if (!result.ok()) {
      return result.status().WithPrefix("release " + release_id_ + ": " +
                                        std::string(rollout::EventKindName(e.kind)));
    }
    return result;
  }

 private:
  ReleaseDirectory& releases_;
  const std::string& release_id_;
  const int64_t epoch_;               // fencing epoch of the tick (0: unfenced)
  std::unique_lock<std::mutex>* mu_;  // the tick's hold on Controller::mu_
};

Controller::Controller(ReleaseDirectory& releases, FleetInventory& inventory, Clock& clock,
                       crypto::SigningKey release_key, ControllerOptions options)
    : releases_(releases),
      inventory_(inventory),
      clock_(clock),
      key_(std::move(release_key)),
      options_(std::move(options)) {
  evidence_ = options_.evidence != nullptr ? options_.evidence : &own_evidence_;
  replica_ = options_.replica.empty() ? "local" : options_.replica;
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
  std::string payload = protocol::EncodeReleaseStatement(
      {std::string(action), r.bundle_sha256, r.channel, expires_s, issued_s, r.release_id, r.version});
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

  // This replica's share of the fleet as it is now: one pass, every eligible device ranked. With
  // other replicas the sketches keep enough ranks to estimate a stratum's size (kSketchRanks).
  rollout::CohortAssigner assigner(live->plan, evidence_->shared() ? kSketchRanks : 0);
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
  if (live->plan.gate.confirm_after_micros > 0) {
    live->confirmations = std::make_shared<ConfirmationBook>();
  }
  // This replica's sketch, and the cohorts: with its own sketch alone, settled at once on one
  // server; on several, this replica's own cohorts until every replica's sketch is in.
  live->rank_capacity = assigner.rank_capacity();
  live->built_us = now;
  ReplicaCounts own;
  own.replica = replica_;
  own.built_us = now;
  for (int s = 0; s < assigner.stratum_count(); ++s) {
    live->own_sketch.push_back({assigner.stratum_key(s), assigner.Sketch(s)});
    own.strata.push_back(StratumCounts{.key = assigner.stratum_key(s),
                                       .sketch = live->own_sketch.back().sketch});
  }
  RF_RETURN_IF_ERROR(SettleCohorts(*live, {own}, now));
  if (!live->cohorts_settled) {
    RF_ASSIGN_OR_RETURN(rollout::Cohorts cohorts, assigner.Build());
    RF_RETURN_IF_ERROR(InstallCohorts(*live, std::move(cohorts)));
  }
  int64_t eligible = 0;
  for (int s = 0; s < live->strata(); ++s) eligible += live->cohorts()->eligible(s);
  Log("release " + r.release_id + ": cohorts built: " + std::to_string(eligible) +
      " eligible devices in " + std::to_string(live->strata()) + " strata, slot " +
      std::to_string(slot) + (live->cohorts_settled ? "" : " (this replica's share, until the "
                                                             "replicas' sketches settle)"));
  if (!evidence_->shared()) {  // shared: restored from the store when this server leads
    RestoreEvidence(*live, now);
    live->driving = true;
  }
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
  o["format"] = "ringfence-gate-evidence-3";
  o["release_id"] = live.release_id;
  o["saved_micros"] = now;
  boost::json::array keys;
  for (int s = 0; s < live.strata(); ++s) keys.emplace_back(live.cohorts()->stratum_key(s));
  o["strata"] = std::move(keys);
  const rollout::DriverMemory m = live.driver->Memory(now);
  boost::json::array history;
  for (const auto& [t, n] : m.applied_history) history.emplace_back(boost::json::array{t, n});
  o["applied_history"] = std::move(history);
  o["bound_hold_wave"] = m.bound_hold_wave;
  o["bound_hold_micros"] = m.bound_hold_micros;
  o["bound_hold_running"] = m.bound_hold_running;
  o["exposure_hold_since"] = m.exposure_hold_since;
  o["exposure_paged_wave"] = m.exposure_paged_wave;
  o["gate_hold_since"] = m.gate_hold_since;
  o["gate_hold_paged"] = m.gate_hold_paged;
  o["gate"] = live.driver->EncodeGate();
  boost::json::object consumed;
  for (const auto& [key, c] : live.consumed) {
    boost::json::array t, k;
    for (int i = 0; i < rollout::kSignalCount; ++i) {
      t.emplace_back(c.treated[static_cast<size_t>(i)]);
      k.emplace_back(c.control[static_cast<size_t>(i)]);
    }
    consumed[key] = boost::json::array{t, k};
  }
  o["consumed"] = std::move(consumed);
  live.evidence_saved_micros = now;
  return boost::json::serialize(o);
}

void Controller::WriteEvidence(const std::vector<EvidenceWrite>& writes) {
  for (const EvidenceWrite& w : writes) {
    Status s;
    if (w.path.empty()) {  // the shared evidence store
      s = w.text.empty() ? evidence_->Forget(w.release_id)
                         : evidence_->SaveGate(w.release_id, w.epoch, w.now, w.text);
      if (!s.ok()) Log("release " + w.release_id + ": shared gate evidence: " + s.ToString());
      continue;
    }
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
// not match exactly (other strata, plan, alpha, a damaged file, an older format) starts fresh
// gates, and says so.
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
  RestoreEvidenceText(live, *text, "saved", now);
}

void Controller::RestoreEvidenceText(LiveRelease& live, const std::string& text,
                                     const std::string& where, int64_t now) {
  auto fresh = [&](const std::string& why) {
    Log("release " + live.release_id + ": " + where + " gate evidence not used (" + why +
        "); the gates start fresh");
  };
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
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
  auto flag = [&](const char* k) {
    const auto* x = o.if_contains(k);
    return x && x->is_bool() && x->get_bool();
  };
  const std::string format = str("format");
  if (format != "ringfence-gate-evidence-3" && format != "ringfence-gate-evidence-2") {
    return fresh("unknown format");
  }
  if (str("release_id") != live.release_id) return fresh("another release's file");
  const auto* keys = o.if_contains("strata");
  if (!keys || !keys->is_array() || keys->get_array().size() != static_cast<size_t>(live.strata())) {
    return fresh("the strata changed");
  }
  for (int s = 0; s < live.strata(); ++s) {
    const auto& k = keys->get_array()[static_cast<size_t>(s)];
    if (!k.is_string() || k.get_string() != live.cohorts()->stratum_key(s)) {
      return fresh("the strata changed");
    }
  }
  int64_t saved = 0, hold_wave = 0, exposure_paged = 0;
  rollout::DriverMemory m;
  if (!num("saved_micros", &saved) || !num("bound_hold_wave", &hold_wave) ||
      !num("bound_hold_micros", &m.bound_hold_micros) ||
      !num("exposure_hold_since", &m.exposure_hold_since) ||
      !num("exposure_paged_wave", &exposure_paged) ||
      !num("gate_hold_since", &m.gate_hold_since) || (saved > now && !evidence_->shared())) {
    return fresh("malformed header");
  }
  m.bound_hold_wave = static_cast<int>(hold_wave);
  m.exposure_paged_wave = static_cast<int>(exposure_paged);
  m.bound_hold_running = flag("bound_hold_running");
  m.gate_hold_paged = flag("gate_hold_paged");
  const auto* h = o.if_contains("applied_history");
  if (!h || !h->is_array()) return fresh("malformed applied history");
  for (const auto& e : h->get_array()) {
    if (!e.is_array() || e.get_array().size() != 2 || !e.get_array()[0].is_int64() ||
        !e.get_array()[1].is_int64()) {
      return fresh("malformed applied history");
    }
    m.applied_history.emplace_back(e.get_array()[0].get_int64(), e.get_array()[1].get_int64());
  }
  // The events already fed, summed over replicas. Only a shared store's: one server's counts
  // start again from zero in a new process (and its file is its own).
  std::map<std::string, LiveRelease::Consumed> consumed;
  if (evidence_->shared()) {
    const auto* c = o.if_contains("consumed");
    if (!c || !c->is_object()) return fresh("no consumed events");
    for (const auto& [key, val] : c->get_object()) {
      LiveRelease::Consumed x;
      const auto* arms = val.if_array();
      if (!arms || arms->size() != 2) return fresh("malformed consumed events");
      for (size_t arm = 0; arm < 2; ++arm) {
        const auto* a = (*arms)[arm].if_array();
        if (!a || a->size() != static_cast<size_t>(rollout::kSignalCount)) {
          return fresh("malformed consumed events");
        }
        for (size_t i = 0; i < a->size(); ++i) {
          if (!(*a)[i].is_int64() || (*a)[i].get_int64() < 0) {
            return fresh("malformed consumed events");
          }
          (arm == 0 ? x.treated : x.control)[i] = (*a)[i].get_int64();
        }
      }
      consumed[std::string(key)] = x;
    }
  }
  if (Status st = live.driver->Restore(str("gate"), m, now); !st.ok()) return fresh(st.message());
  live.consumed = std::move(consumed);
  Log("release " + live.release_id + ": " + where + " gate evidence restored (saved " +
      std::to_string((now - saved) / 1'000'000) + " s before)");
}

// The sweep: per live release and stratum, the devices alive in each arm, new silences, treated
// (offered or running), applied (running) and silent treated devices, and the cohort's newest
// check-in. One pass over the inventory for every live release.
void Controller::SweepInventory(int64_t now) {
  std::vector<LiveRelease*> lives;
  for (auto& [id, live] : live_) {
    live->ExtendProfiles(inventory_);
    std::fill(live->tick.begin(), live->tick.end(), rollout::StratumTelemetry{});
    live->newest_seen_micros = std::numeric_limits<int64_t>::min();
    lives.push_back(live.get());
  }
  const uint16_t clear = slots_to_clear_;
  if (lives.empty() && clear == 0) return;
  constexpr int kSilence = static_cast<int>(rollout::Signal::kSilence);
  // Devices owing a post-apply confirmation: silent exactly when it is overdue (rollout::IsSilent).
  std::vector<std::unordered_map<std::string, int64_t>> debts(lives.size());
  for (size_t i = 0; i < lives.size(); ++i) {
    if (lives[i]->confirmations) debts[i] = lives[i]->confirmations->Debts();
    lives[i]->seen_elsewhere.clear();
  }
  const bool shared = evidence_->shared();
  inventory_.Sweep([&](const SweepRecord& d) {
    if (clear != 0) {
      *d.offered &= static_cast<uint16_t>(~clear);
      *d.silent &= static_cast<uint16_t>(~clear);
    }
    std::string key;  // the id, made only when a map is looked up
    auto id = [&]() -> const std::string& {
      if (key.empty()) key.assign(d.id);
      return key;
    };
    for (size_t i = 0; i < lives.size(); ++i) {
      LiveRelease* L = lives[i];
      const int32_t s = L->StratumOf(d.profile);
      if (s < 0) continue;
      if (!L->moved_away.empty()) {  // it checks in elsewhere: counted there, until it is back
        auto m = L->moved_away.find(id());
        if (m != L->moved_away.end()) {
          if (d.last_seen_micros <= m->second) continue;
          L->moved_away.erase(m);
        }
      }
      if (!L->others_candidates.empty()) {  // another replica's candidate seen here since
        auto o = L->others_candidates.find(id());
        if (o != L->others_candidates.end() && d.last_seen_micros > o->second &&
            L->seen_elsewhere.size() < kMaxSilenceIds) {
          L->seen_elsewhere.push_back(id());
        }
      }
      rollout::StratumTelemetry& t = L->tick[static_cast<size_t>(s)];
      L->newest_seen_micros = std::max(L->newest_seen_micros, d.last_seen_micros);
      const uint16_t bit = static_cast<uint16_t>(1u << L->slot);
      const bool runs = L->Runs(inventory_, d.installed);
      const bool treated = (*d.offered & bit) || runs;
      int64_t deadline = -1;
      if (!debts[i].empty()) {
        auto debt = debts[i].find(std::string(d.id));
        if (debt != debts[i].end()) deadline = debt->second;
      }
      bool silent = rollout::IsSilent(L->plan.gate, now, d.last_seen_micros, deadline);
      // With several replicas a silence here may be a device that checks in elsewhere now. A new
      // silence, and a treated device silent since before (e.g. since this replica's build: it
      // counts as "treated without data"), is held until the other replicas have had a look.
      const bool was_silent = (*d.silent & bit) != 0;
      if (shared && silent && (!was_silent || (treated && !L->silent_confirmed.count(id())))) {
        auto c = L->candidates.find(id());
        if (c == L->candidates.end()) {
          if (L->candidates.size() < kMaxSilenceIds) {
            L->candidates.emplace(id(), LiveRelease::Candidate{d.last_seen_micros, L->rounds});
            silent = false;
          }
        } else if (L->rounds - c->second.round < kSilenceRounds) {
          silent = false;
        } else {  // nobody saw it since: a silence (an event unless it was one already)
          L->candidates.erase(c);
          if (was_silent) L->silent_confirmed.insert(id());
        }
      } else if (shared && !silent) {
        if (!L->candidates.empty()) L->candidates.erase(id());
        if (!L->silent_confirmed.empty()) L->silent_confirmed.erase(id());
      }
      if (treated) {
        ++t.treated;
        t.applied += runs;
        t.treated_silent += silent;
      }
      int64_t& at_risk = treated ? t.treated_at_risk : t.control_at_risk;
      if (silent) {
        if (!(*d.silent & bit)) {  // a new silence: an event, and at risk until it happened
          *d.silent |= bit;
          ++at_risk;
          ++(treated ? t.treated_events : t.control_events)[kSilence];
        }
      } else {
        *d.silent &= static_cast<uint16_t>(~bit);
        ++at_risk;
      }
    }
  });
  slots_in_use_ &= static_cast<uint16_t>(~clear);
  slots_to_clear_ = 0;
}

ReplicaCounts Controller::CountTick(LiveRelease& L, int64_t now) {
  ReplicaCounts c;
  c.replica = replica_;
  c.updated_us = now;
  c.built_us = L.built_us;
  c.newest_seen_us = L.newest_seen_micros == std::numeric_limits<int64_t>::min()
                         ? -1
                         : std::max<int64_t>(0, L.newest_seen_micros);
  auto counts = [&](int s) {
    rollout::StratumTelemetry& t = L.tick[static_cast<size_t>(s)];
    for (auto [signal, metric] : {std::pair{rollout::Signal::kCrash, HealthCounters::kCrash},
                                  std::pair{rollout::Signal::kError, HealthCounters::kError}}) {
      t.treated_events[static_cast<int>(signal)] = L.health->Drain(s, true, metric);
      t.control_events[static_cast<int>(signal)] = L.health->Drain(s, false, metric);
    }
    StratumCounts x;
    x.key = L.cohorts()->stratum_key(s);
    x.treated_at_risk = t.treated_at_risk;
    x.control_at_risk = t.control_at_risk;
    x.treated = t.treated;
    x.applied = t.applied;
    x.treated_silent = t.treated_silent;
    for (int i = 0; i < rollout::kSignalCount; ++i) {
      L.cum_treated[static_cast<size_t>(s)][static_cast<size_t>(i)] += t.treated_events[i];
      L.cum_control[static_cast<size_t>(s)][static_cast<size_t>(i)] += t.control_events[i];
    }
    x.treated_events = L.cum_treated[static_cast<size_t>(s)];
    x.control_events = L.cum_control[static_cast<size_t>(s)];
    return x;
  };
  // This replica's sketched strata first, in its assigner's order (the order the merge sees never
  // changes), then the cohorts' other strata.
  for (size_t i = 0; i < L.own_sketch.size(); ++i) {
    StratumCounts x = L.own_stratum[i] >= 0 ? counts(L.own_stratum[i])
                                            : StratumCounts{.key = L.own_sketch[i].key};
    x.sketch = L.own_sketch[i].sketch;
    c.strata.push_back(std::move(x));
  }
  for (int s = 0; s < L.strata(); ++s) {
    if (!L.cohort_is_own[static_cast<size_t>(s)]) c.strata.push_back(counts(s));
  }
  for (const auto& [id, cand] : L.candidates) c.silence_candidates.emplace_back(id, cand.last_seen);
  c.seen_elsewhere = L.seen_elsewhere;
  return c;
}

void Controller::NoteOtherReplicas(LiveRelease& L, const std::vector<ReplicaCounts>& rows,
                                   int64_t now) {
  L.others_candidates.clear();
  bool all_again = true;  // every other fresh replica published since the last read
  for (const ReplicaCounts& r : rows) {
    if (r.replica == replica_) continue;
    // A replica that stopped publishing (it died) does not hold the rounds up. Its lists still
    // count: an answer "seen there after its last check-in here" stays true.
    if (r.updated_us >= now - options_.evidence_fresh_micros) {
      auto [seq, added] = L.other_seq.try_emplace(r.replica, r.seq);
      if (!added) {
        all_again = all_again && r.seq > seq->second;
        seq->second = std::max(seq->second, r.seq);
      }
    }
    for (const auto& [id, last_seen] : r.silence_candidates) {
      int64_t& t = L.others_candidates[id];
      t = std::max(t, last_seen);
    }
    for (const std::string& id : r.seen_elsewhere) {
      auto c = L.candidates.find(id);
      if (c == L.candidates.end()) continue;
      // It checks in there now: not silent, its confirmation (if owed) paid there.
      L.moved_away[id] = c->second.last_seen;
      L.candidates.erase(c);
      if (L.confirmations) L.confirmations->Seen(id);
    }
  }
  if (all_again) ++L.rounds;
}

Status Controller::InstallCohorts(LiveRelease& L, rollout::Cohorts cohorts) {
  RF_ASSIGN_OR_RETURN(std::unique_ptr<rollout::ReleaseDriver> driver,
                      rollout::ReleaseDriver::Create(L.plan, std::move(cohorts), options_.driver));
  const rollout::Cohorts& c = driver->cohorts();
  const int strata = c.stratum_count();
  auto health = std::make_shared<HealthCounters>(std::max(1, strata));
  std::vector<std::array<int64_t, rollout::kSignalCount>> cum_treated(static_cast<size_t>(strata)),
      cum_control(static_cast<size_t>(strata));
  // What check-ins recorded, and this replica's cumulative events (published: they must never
  // shrink), move to the new cohorts by stratum key.
  for (int s = 0; L.driver && s < L.strata(); ++s) {
    const int n = c.FindStratum(L.cohorts()->stratum_key(s));
    if (n < 0) continue;
    for (bool treated : {true, false}) {
      for (auto m : {HealthCounters::kCrash, HealthCounters::kError}) {
        health->Add(n, treated, m, L.health->Drain(s, treated, m));
      }
    }
    cum_treated[static_cast<size_t>(n)] = L.cum_treated[static_cast<size_t>(s)];
    cum_control[static_cast<size_t>(n)] = L.cum_control[static_cast<size_t>(s)];
  }
  L.driver = std::move(driver);
  L.health = std::move(health);
  L.cum_treated = std::move(cum_treated);
  L.cum_control = std::move(cum_control);
  L.tick.assign(static_cast<size_t>(strata), {});
  L.profile_stratum.clear();
  L.ExtendProfiles(inventory_);
  L.own_stratum.clear();
  L.cohort_is_own.assign(static_cast<size_t>(strata), false);
  for (const rollout::KeyedSketch& k : L.own_sketch) {
    const int n = c.FindStratum(k.key);
    L.own_stratum.push_back(n);
    if (n >= 0) L.cohort_is_own[static_cast<size_t>(n)] = true;
  }
  return Status::Ok();
}

Status Controller::SettleCohorts(LiveRelease& L, const std::vector<ReplicaCounts>& rows,
                                 int64_t now) {
  if (L.cohorts_settled) return Status::Ok();
  // One server: its own sketch is the whole fleet's.
  const int64_t settle =
      evidence_->shared() ? std::max<int64_t>(0, options_.floor_settle_micros) : 0;
  const CohortSummary f =
      MergeCohortSketches(rows, L.rank_capacity, 1.0 - L.plan.gate.holdback, settle, now);
  if (!f.settled) return Status::Ok();  // nothing offered yet
  Result<rollout::Cohorts> built = rollout::BuildFromSketches(L.plan, f.sketch, L.rank_capacity);
  if (!built.ok()) {  // sketches that do not fit this plan: nothing is offered
    return built.status().WithPrefix("release " + L.release_id + ": the replicas' cohort sketches");
  }
  RF_RETURN_IF_ERROR(InstallCohorts(L, *std::move(built)));
  L.cohorts_settled = true;
  if (settle > 0) {
    int64_t eligible = 0;
    for (int s = 0; s < L.strata(); ++s) eligible += L.cohorts()->eligible(s);
    Log("release " + L.release_id + ": cohorts settled on the sketches of " +
        std::to_string(f.replicas) + " replica(s): " + std::to_string(eligible) +
        " eligible devices in " + std::to_string(L.strata()) + " strata");
  }
  return Status::Ok();
}

rollout::DriverTick Controller::TickFromSum(LiveRelease& L, const ReplicaCounts& sum,
                                            int64_t now) {
  rollout::DriverTick tick;
  tick.now_micros = now;
  tick.observed_micros = now;  // check-ins are ingested as they arrive
  // Telemetry lag: the age of the cohort's newest check-in (docs/gate.md, "The release driver").
  tick.telemetry_lag_seconds =
      sum.newest_seen_us < 0 ? 0
                             : static_cast<double>(std::max<int64_t>(0, now - sum.newest_seen_us)) / 1e6;
  std::map<std::string_view, const StratumCounts*> by_key;
  for (const StratumCounts& x : sum.strata) by_key[x.key] = &x;
  L.treated = L.running = 0;
  for (int s = 0; s < L.strata(); ++s) {
    const std::string key = L.cohorts()->stratum_key(s);
    rollout::StratumTelemetry t;
    auto it = by_key.find(key);
    if (it != by_key.end()) {
      const StratumCounts& x = *it->second;
      t.treated_at_risk = x.treated_at_risk;
      t.control_at_risk = x.control_at_risk;
      t.treated = x.treated;
      t.applied = x.applied;
      t.treated_silent = x.treated_silent;
      // What the sum of the replicas' cumulative events grew by since the last tick fed it.
      LiveRelease::Consumed& c = L.consumed[key];
      for (size_t i = 0; i < static_cast<size_t>(rollout::kSignalCount); ++i) {
        t.treated_events[i] = std::max<int64_t>(0, x.treated_events[i] - c.treated[i]);
        t.control_events[i] = std::max<int64_t>(0, x.control_events[i] - c.control[i]);
        c.treated[i] = std::max(c.treated[i], x.treated_events[i]);
        c.control[i] = std::max(c.control[i], x.control_events[i]);
      }
    }
    L.treated += t.treated;
    L.running += t.applied;
    L.tick[static_cast<size_t>(s)] = t;
    tick.strata.push_back(t);
  }
  return tick;
}

Status Controller::StepGates(std::vector<ReleaseRecord>& releases, int64_t now, bool leads,
                             int64_t epoch, std::unique_lock<std::mutex>* mu) {
  SweepInventory(now);
  // This replica's counts of every live release, published (and, on the leader, every replica's
  // read back) with mu_ released: check-ins may need it meanwhile (tick_mu_ keeps live_ as is).
  struct Work {
    ReleaseRecord* record = nullptr;
    LiveRelease* live = nullptr;
    ReplicaCounts own;
    Result<std::vector<ReplicaCounts>> rows = std::vector<ReplicaCounts>();
    std::string bad;  // a row of another replica that did not decode
    // The shared gate state, read when this server starts leading the release.
    Result<std::optional<std::string>> gate = std::optional<std::string>();
  };
  std::vector<Work> work;
  ++publish_seq_;
  for (ReleaseRecord& r : releases) {
    auto it = live_.find(r.release_id);
    if (it == live_.end()) continue;
    Work w;
    w.record = &r;
    w.live = it->second.get();
    w.own = CountTick(*it->second, now);
    w.own.seq = publish_seq_;
    work.push_back(std::move(w));
  }
  mu->unlock();
  for (Work& w : work) {
    if (Status st = evidence_->Publish(w.record->release_id, w.own); !st.ok()) {
      Log("release " + w.record->release_id + ": publishing gate counts: " + st.ToString());
    }
    // This server now leads: it continues the previous leader's gate state, saved in the store.
    // (tick_mu_ keeps driving and cohorts_settled as they are while mu_ is released.)
    if (leads && evidence_->shared() && !w.live->driving) {
      w.gate = evidence_->LoadGate(w.record->release_id);
    }
    // The leader sums every replica's counts; any replica reads them until its cohorts settle,
    // and, with several, for the silences of devices that move between them.
    if (leads || !w.live->cohorts_settled || evidence_->shared()) {
      w.rows = evidence_->Counts(w.record->release_id, &w.bad);
    }
  }
  mu->lock();
  Status first;
  for (Work& w : work) {
    ReleaseRecord& r = *w.record;
    LiveRelease& L = *w.live;
    std::vector<ReplicaCounts> rows;  // every replica's latest, this one's as counted now
    if (w.rows.ok()) {
      if (evidence_->shared()) NoteOtherReplicas(L, *w.rows, now);
      for (ReplicaCounts& x : *w.rows) {
        if (x.replica != replica_) rows.push_back(std::move(x));
      }
      rows.push_back(w.own);  // whatever its publication did
      if (Status st = SettleCohorts(L, rows, now); !st.ok()) Log(st.ToString());
    }
    if (!leads) {
      L.driving = false;
      L.treated = L.running = 0;
      for (const StratumCounts& x : w.own.strata) {
        L.treated += x.treated;
        L.running += x.applied;
      }
      L.gate_state = "follower";
      L.gate_detail = "another server is the elected controller and drives this release";
      continue;
    }
    if (!w.bad.empty()) Log("release " + r.release_id + ": " + w.bad + " (skipped)");
    if (!L.cohorts_settled) {  // the gate would count exposure by cohorts about to change
      L.gate_state = "settling";
      L.gate_detail = "the release's cohorts are settled from every replica's sketch " +
                      std::to_string(2 * options_.floor_settle_micros / 1'000'000) +
                      " s after the first replica built them; nothing is offered until then";
      continue;
    }
    if (evidence_->shared() && !L.driving) {
      if (!w.gate.ok()) {
        Log("release " + r.release_id + ": shared gate evidence unreadable, fresh gates: " +
            w.gate.status().ToString());
      } else if (*w.gate) {
        RestoreEvidenceText(L, **w.gate, "shared", now);
      }
      L.driving = true;
    }
    if (!w.rows.ok()) {
      // Without every replica's counts the gate would decide on part of the fleet: no step.
      Log("release " + r.release_id + ": reading the replicas' gate counts: " +
          w.rows.status().ToString() + "; the gate waits");
      if (first.ok()) first = w.rows.status();
      continue;
    }
    const ReplicaCounts sum = SumReplicaCounts(rows, now - options_.evidence_fresh_micros);
    rollout::DriverTick tick = TickFromSum(L, sum, now);
    rollout::DriverOutput out;
    DirectoryPort port(releases_, r.release_id, epoch, mu);
    Status st = L.driver->Step(tick, r.state, port, &out);
    for (const rollout::DriverTransition& x : out.transitions) {
      r.state = x.result.state;
      for (const rollout::Effect& eff : x.result.effects) {
        switch (eff.kind) {
          case rollout::EffectKind::kPage:
            Log("PAGE: " + eff.text);
            break;
          case rollout::EffectKind::kRequestPromotion:  // answered by the driver
          case rollout::EffectKind::kDispatchWave:      // the snapshot's cutoffs follow the state
          case rollout::EffectKind::kStopDispatch:      // the snapshot hands out nothing new
          case rollout::EffectKind::kRollbackToLkg:     // the snapshot answers "revert"
          case rollout::EffectKind::kRecordAudit:       // persisted by the ReleaseDirectory
            break;
        }
      }
    }
    for (const std::string& note : out.notes) Log("release " + r.release_id + ": " + note);
    if (!out.gate_state.empty()) {
      L.gate_state = out.gate_state;
      L.gate_detail = out.gate_detail;
    }
    if (!out.transitions.empty()) {  // the evidence the decision stood on, for the dashboard
      DecisionEvidence d;
      d.seq = ++decision_seq_;
      d.release_id = r.release_id;
      d.t_us = now;
      d.phase = std::string(rollout::PhaseName(r.state.phase));
      d.wave = r.state.wave;
      d.progress = ProgressLocked(L);
      d.metrics = MetricsLocked(L);
      decisions_.push_back(std::move(d));
      while (decisions_.size() > kMaxDecisions) decisions_.pop_front();
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
    d.gate = r.plan.gate;
    auto it = live_.find(r.release_id);
    if (it != live_.end() && Dispatching(r.state.phase)) {
      LiveRelease& L = *it->second;
      L.ExtendProfiles(inventory_);
      d.slot = L.slot;
      d.profile_stratum = L.profile_stratum;
      d.health = L.health;
      d.confirmations = L.confirmations;
      const int64_t elapsed = rollout::DispatchElapsedMicros(r.state, now);
      for (int s = 0; s < L.strata(); ++s) {
        // Nothing is offered until the cohorts are the cluster's (one server: from the build).
        d.cutoff.push_back(L.cohorts_settled ? L.cohorts()->PacedCutoff(s, r.state.wave, elapsed)
                                             : 0.0);
      }
    } else if (it != live_.end()) {
      d.slot = it->second->slot;
      d.health = it->second->health;
      d.confirmations = it->second->confirmations;
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
  // Decide under mu_; the driver's commits release it (DirectoryPort). Lock order: controller.h.
  std::lock_guard t(tick_mu_);
  std::unique_lock l(mu_);
  // Where the gate state is kept: the shared evidence store (several servers), else the data
  // directory's state_dir (if set).
  const bool shared = evidence_->shared();
  const bool keep = shared || (options_.fs != nullptr && !options_.state_dir.empty());
  const int64_t now = clock_.NowUnixMicros();
  const int64_t fence = options_.fencing_epoch ? options_.fencing_epoch() : 0;
  const bool leads = !options_.fencing_epoch || fence != 0;
  if (options_.fencing_epoch && fence != led_epoch_) {
    Log(leads ? "controller: elected, driving releases (fencing epoch " + std::to_string(fence) + ")"
              : std::string("controller: following (another server drives releases)"));
    led_epoch_ = fence;
  }
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
  Status st = StepGates(releases, now, leads, fence, &l);
  if (first.ok()) first = st;
  // Releases that finished (or left the directory) free their slot and drop their evidence; the
  // others save theirs every save_every_micros.
  for (auto it = live_.begin(); it != live_.end();) {
    auto r = std::find_if(releases.begin(), releases.end(),
                          [&](const ReleaseRecord& x) { return x.release_id == it->first; });
    if (r == releases.end() || !Live(r->state.phase)) {
      slots_to_clear_ |= static_cast<uint16_t>(1u << it->second->slot);
      if (shared) {
        if (leads) writes->push_back({it->first, "", "", 0, now});  // one server forgets it
      } else {
        (void)evidence_->Forget(it->first);  // in memory
        if (keep) writes->push_back({it->first, EvidencePath(it->first), "", 0, now});
      }
      it = live_.erase(it);
    } else {
      if (keep && leads && it->second->driving &&
          now - it->second->evidence_saved_micros >= options_.save_every_micros) {
        writes->push_back({it->first, shared ? "" : EvidencePath(it->first),
                           EncodeEvidence(*it->second, now), fence, now});
      }
      ++it;
    }
  }
  // What is published is read afresh (epoch first): while mu_ was released for a commit, a
  // check-in may have published a change made meanwhile (an operator halt), and the releases read
  // at the start of this tick must not replace it.
  const uint64_t epoch = change_epoch_.load(std::memory_order_acquire);
  Publish(releases_.ActiveReleases(), epoch, now);
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

std::vector<GateMetric> Controller::MetricsLocked(const LiveRelease& L) const {
  std::vector<GateMetric> out;
  for (int m = 0; m < L.driver->gate().num_metrics(); ++m) {
    const rollout::TestReport rep = L.driver->gate().Report(m, rollout::SequentialGate::kPooled);
    out.push_back({L.release_id, L.driver->gate().metric(m).name, rep.e_value(), rep.threshold()});
  }
  return out;
}

std::vector<GateMetric> Controller::GateMetrics() const {
  std::lock_guard l(mu_);
  std::vector<GateMetric> out;
  for (const auto& [id, live] : live_) {
    std::vector<GateMetric> m = MetricsLocked(*live);
    out.insert(out.end(), std::make_move_iterator(m.begin()), std::make_move_iterator(m.end()));
  }
  return out;
}

std::optional<ReleaseProgress> Controller::Progress(std::string_view release_id) const {
  std::lock_guard l(mu_);
  auto it = live_.find(std::string(release_id));
  if (it == live_.end()) return std::nullopt;
  return ProgressLocked(*it->second);
}

std::vector<StratumStatus> Controller::Strata(std::string_view release_id) const {
  std::lock_guard l(mu_);
  std::vector<StratumStatus> out;
  auto it = live_.find(std::string(release_id));
  if (it == live_.end() || it->second->cohorts() == nullptr) return out;
  const LiveRelease& L = *it->second;
  int current_wave = 0;
  const auto snap = snapshot_.load();
  auto ch = snap->channels.find(L.channel);
  if (ch != snap->channels.end()) {
    for (const ReleaseDispatch& d : ch->second) {
      if (d.release_id == L.release_id) current_wave = std::max(0, d.wave);
    }
  }
  int64_t floor = 0;  // floors are cumulative (rollout/plan.h)
  for (int w = 0; w <= current_wave && w < static_cast<int>(L.plan.waves.size()); ++w) {
    floor = std::max(floor, L.plan.waves[static_cast<size_t>(w)].min_per_stratum);
  }
  for (int s = 0; s < L.strata(); ++s) {
    StratumStatus st;
    st.key = L.cohorts()->stratum_key(s);
    st.eligible = L.cohorts()->eligible(s);
    st.held_back = L.cohorts()->held_back(s);
    st.treated = static_cast<size_t>(s) < L.tick.size() ? L.tick[static_cast<size_t>(s)].treated : 0;
    st.floor = floor;
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<DecisionEvidence> Controller::DecisionsAfter(uint64_t after) const {
  std::lock_guard l(mu_);
  std::vector<DecisionEvidence> out;
  for (const DecisionEvidence& d : decisions_) {
    if (d.seq > after) out.push_back(d);
  }
  return out;
}

ReleaseProgress Controller::ProgressLocked(const LiveRelease& L) const {
  ReleaseProgress p;
  int current_wave = -1;
  const auto snap = snapshot_.load();
  auto ch = snap->channels.find(L.channel);
  if (ch != snap->channels.end()) {
    for (const ReleaseDispatch& d : ch->second) {
      if (d.release_id == L.release_id) current_wave = d.wave;
    }
  }
  for (int s = 0; s < L.strata(); ++s) p.eligible_devices += L.cohorts()->eligible(s);
  for (int w = 0; w < L.cohorts()->wave_count(); ++w) {
    WaveProgress wp;
    wp.name = rollout::WaveName(L.plan, w);
    double target = 0;
    for (int s = 0; s < L.strata(); ++s) target += L.cohorts()->ExpectedExposed(s, w);
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
  for (int m = 0; m < L.driver->gate().num_metrics(); ++m) {
    const rollout::TestReport pooled = L.driver->gate().Report(m, rollout::SequentialGate::kPooled);
    p.harmed_devices += pooled.treated_events;
    p.e_threshold = pooled.threshold();
    p.max_e_value = std::max(p.max_e_value, pooled.e_value());
    for (int s = 0; s < L.driver->gate().num_strata(); ++s) {
      p.max_e_value = std::max(p.max_e_value, L.driver->gate().Report(m, s).e_value());
    }
  }
  return p;
}

}  // namespace rf::server
