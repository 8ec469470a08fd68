// Test helpers for the controller (not part of the server): an in-memory ReleaseDirectory that
// applies rollout::Transition like the real release service, and a plan for it. Used by
// controller_test.cc and controller_cluster_test.cc.
#ifndef RINGFENCE_SERVER_CONTROLLER_TESTING_H_
#define RINGFENCE_SERVER_CONTROLLER_TESTING_H_

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/dsse.h"
#include "rollout/plan.h"
#include "rollout/release.h"
#include "server/interfaces.h"

namespace rf::server {

inline constexpr char kPlan[] = R"(plan: test
waves:
  - {name: canary, devices: 1%, stratify: [os], min_per_stratum: 5, dispatch: 10m, bake: 10m}
  - {name: all, devices: 100%, dispatch: 10m, bake: 10m}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 90s, holdback: 1%}
on_failure: rollback
)";

class FakeDirectory final : public ReleaseDirectory {
 public:
  std::vector<ReleaseRecord> ActiveReleases() const override {
    std::lock_guard l(mu_);
    std::vector<ReleaseRecord> out;
    for (auto it = releases_.rbegin(); it != releases_.rend(); ++it) {
      if (it->state.phase != rollout::Phase::kAwaitingApproval &&
          it->state.phase != rollout::Phase::kReady) {
        out.push_back(*it);
      }
    }
    return out;
  }
  Result<rollout::TransitionResult> ApplyEvent(std::string_view id, const rollout::Event& e,
                                               int64_t now) override {
    if (before_apply) before_apply();  // a slow commit (tests of the lock structure)
    std::function<void()> listener;
    Result<rollout::TransitionResult> r = Status::NotFound("no release");
    {
      std::lock_guard l(mu_);
      for (ReleaseRecord& rec : releases_) {
        if (rec.release_id != id) continue;
        r = rollout::Transition(rec.state, e, now);
        if (r.ok()) {
          rec.state = r->state;
          if (e.kind == rollout::EventKind::kStart) rec.started_s = now / 1'000'000;
          events.push_back(std::string(rollout::EventKindName(e.kind)));
        }
      }
      listener = listener_;
    }
    if (r.ok() && listener) listener();
    return r;
  }
  // Records the fencing epoch each transition carries (controller election).
  Result<rollout::TransitionResult> ApplyFencedEvent(std::string_view id, const rollout::Event& e,
                                                     int64_t now, int64_t epoch) override {
    {
      std::lock_guard l(mu_);
      epochs.push_back(epoch);
    }
    return ApplyEvent(id, e, now);
  }
  std::vector<CustomerControl> Controls() const override {
    std::lock_guard l(mu_);
    return controls;
  }
  Result<std::string> BundleEnvelope(std::string_view sha) const override {
    std::lock_guard l(mu_);
    auto it = envelopes_.find(std::string(sha));
    if (it == envelopes_.end()) return Status::NotFound("no bundle");
    return it->second;
  }
  std::vector<std::string> Approvals(std::string_view) const override { return {}; }
  void SetChangeListener(std::function<void()> listener) override {
    std::lock_guard l(mu_);
    listener_ = std::move(listener);
  }

  // Adds a started release of a fresh bundle with `plan_text` (YAML); returns its sha256.
  std::string AddStartedRelease(const std::string& id, int64_t version, int64_t now,
                                const char* plan_text = kPlan) {
    const std::string payload = R"({"channel":"291","content_type":"ipc_rule","items":[],"schema_version":3,"version":)" +
                                std::to_string(version) + "}";
    const std::string sha = crypto::Sha256Hex(payload);
    crypto::Envelope env{std::string(crypto::kBundlePayloadType), payload, {}};
    ReleaseRecord rec;
    rec.release_id = id;
    rec.channel = "291";
    rec.content_type = "ipc_rule";
    rec.version = version;
    rec.bundle_sha256 = sha;
    auto plan = rollout::ParsePlan(plan_text, "test.yaml");
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    rec.plan = *plan;
    rec.state = rollout::NewRelease(rec.plan, id, now);
    rec.state = rollout::Transition(rec.state, rollout::Event::Approved("bob"), now)->state;
    {
      std::lock_guard l(mu_);
      envelopes_[sha] = crypto::SerializeEnvelope(env);
      releases_.push_back(rec);
    }
    EXPECT_TRUE(ApplyEvent(id, rollout::Event::Start("carol"), now).ok());
    return sha;
  }
  rollout::Phase PhaseOf(const std::string& id) const {
    std::lock_guard l(mu_);
    for (const ReleaseRecord& r : releases_) {
      if (r.release_id == id) return r.state.phase;
    }
    return rollout::Phase::kAwaitingApproval;
  }
  int WaveOf(const std::string& id) const {
    std::lock_guard l(mu_);
    for (const ReleaseRecord& r : releases_) {
      if (r.release_id == id) return r.state.wave;
    }
    return -1;
  }

  std::vector<CustomerControl> controls;
  std::vector<std::string> events;
  std::vector<int64_t> epochs;  // of every ApplyFencedEvent
  std::function<void()> before_apply;  // called at every ApplyEvent, outside the lock; set first

 private:
  mutable std::mutex mu_;
  std::vector<ReleaseRecord> releases_;
  std::map<std::string, std::string> envelopes_;
  std::function<void()> listener_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_CONTROLLER_TESTING_H_
