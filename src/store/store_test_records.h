// Records for store tests (store_test.cc, pg_store_test.cc): a release with a two-wave plan, a
// bundle, an audit record. Test-only header.
#ifndef RINGFENCE_STORE_STORE_TEST_RECORDS_H_
#define RINGFENCE_STORE_STORE_TEST_RECORDS_H_

#include <string>

#include "rollout/plan.h"
#include "rollout/release.h"
#include "store/store.h"

namespace rf::store::test_records {

inline constexpr char kPlan[] = R"(plan: p
waves:
  - {name: canary, devices: 0.01%, stratify: [os], min_per_stratum: 5, dispatch: 5m, bake: 10m}
  - {name: all, devices: 100%, dispatch: 15m, bake: 30m}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 90s, holdback: 1%}
on_failure: pause
)";

inline admission::ReleaseRecord Release(const std::string& id, const std::string& sha) {
  admission::ReleaseRecord r;
  r.release_id = id;
  r.channel = "291";
  r.content_type = "ipc_rule";
  r.version = 7;
  r.bundle_sha256 = sha;
  r.plan_yaml = kPlan;
  r.plan = *rollout::ParsePlan(kPlan, "plan");
  r.state = rollout::NewRelease(r.plan, id, 1'000'000);
  r.author = "alice";
  r.created_s = 1;
  return r;
}

inline BundleRecord Bundle(const std::string& sha, int64_t version) {
  BundleRecord b;
  b.sha256 = sha;
  b.channel = "291";
  b.content_type = "ipc_rule";
  b.schema_version = 3;
  b.version = version;
  b.payload_bytes = 10;
  b.envelope = "{\"envelope\":\"" + sha + "\"}";
  b.report_json = "{\"verdict\":\"accept\"}";
  b.uploaded_by = "alice";
  return b;
}

inline AuditRecord Audit(const std::string& action, int64_t t) {
  return {"alice", action, "r-1", "{\"k\":\"v\"}", t};
}

}  // namespace rf::store::test_records

#endif  // RINGFENCE_STORE_STORE_TEST_RECORDS_H_
