// Fixtures shared by the service tests and the durability helper: a fake fleet, the shipped
// ipc_rule content type, Channel File 291 and a good variant of it as signed envelopes, plans and
// approval statements. Header-only; test code only.
#ifndef RINGFENCE_SERVICE_TESTING_FIXTURES_H_
#define RINGFENCE_SERVICE_TESTING_FIXTURES_H_

#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>

#include "core/bundle.h"
#include "crypto/dsse.h"
#include "protocol/statements.h"
#include "service/release_service.h"

namespace rf::service::testing {

inline std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(RF_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fleet whose inventory tests set directly. Thread-safe.
class FakeFleet final : public server::FleetSource {
 public:
  Fleet Inventory() const override {
    if (on_inventory) on_inventory();  // e.g. to hold an upload inside layer 1
    std::lock_guard<std::mutex> l(mu_);
    return fleet_;
  }
  // Called at every Inventory(), before it reads; set it before concurrent use.
  std::function<void()> on_inventory;
  int64_t DeviceCount() const override {
    std::lock_guard<std::mutex> l(mu_);
    int64_t n = 0;
    for (const auto& s : fleet_.strata) n += s.devices;
    return n;
  }
  void Set(Fleet f) {
    std::lock_guard<std::mutex> l(mu_);
    fleet_ = std::move(f);
  }

 private:
  mutable std::mutex mu_;
  Fleet fleet_;
};

// Windows agents 7.11 (3.1M devices) whose ipc_rule consumer supplies `inputs_711` inputs, and
// 7.16 (40k devices) supplying all 21.
inline Fleet TwoStrataFleet(int64_t inputs_711) {
  Fleet f;
  Stratum a;
  a.attrs = {{"os", "windows"}, {"agent_version", "7.11"}};
  a.capabilities["ipc_rule"] = ConsumerCapability{{3}, inputs_711, 0, 0};
  a.devices = 3'100'000;
  Stratum b;
  b.attrs = {{"os", "windows"}, {"agent_version", "7.16"}};
  b.capabilities["ipc_rule"] = ConsumerCapability{{3}, 21, 0, 0};
  b.devices = 40'000;
  f.strata = {a, b};
  return f;
}

inline std::string TypeYaml() { return ReadSource("samples/content/ipc_rule.type.yaml"); }
inline std::string PlanYaml() { return ReadSource("samples/plans/emergency.yaml"); }

// Channel File 291 as shipped (`cf291` true: item ipc-0003 sets position 20), or with that value
// replaced by the wildcard; `version` replaces the shipped version.
inline std::string BundleSource(int64_t version, bool cf291) {
  std::string s = ReadSource("samples/content/cf291.bundle.yaml");
  const std::string v = "version: 1291";
  s.replace(s.find(v), v.size(), "version: " + std::to_string(version));
  if (!cf291) {
    const std::string key = "peer_pipe_regex: \"^";
    size_t at = s.rfind(key);
    size_t end = s.find("\"}", at + key.size());
    s.replace(at, end + 1 - at, "peer_pipe_regex: \"*\"");
  }
  return s;
}

// Built bundle envelope text (canonical payload), signed by `key` if given.
inline std::string BuildEnvelope(const std::string& source,
                                 const crypto::SigningKey* key = nullptr) {
  auto type = ParseContentType(TypeYaml(), "type");
  std::vector<Finding> findings;
  auto bundle = DecodeBundleSource(source, "bundle.yaml", *type, &findings);
  crypto::Envelope env;
  env.payload_type = std::string(crypto::kBundlePayloadType);
  env.payload = EncodeCanonicalPayload(*bundle, *type);
  if (key) crypto::SignEnvelope(&env, *key);
  return crypto::SerializeEnvelope(env);
}

inline crypto::SigningKey KeyFromByte(uint8_t b) {
  return *crypto::SigningKey::FromSeed(std::string(32, static_cast<char>(b)));
}

// The approval envelope a reviewer's CLI would produce for `v`.
inline std::string SignApproval(const ReleaseView& v, const std::string& reviewer,
                                const std::string& role, const crypto::SigningKey& key) {
  protocol::ApprovalStatement s;
  s.bundle_sha256 = v.record.bundle_sha256;
  s.channel = v.record.channel;
  s.release_id = v.record.release_id;
  s.reports_sha256 = v.reports_sha256;
  s.reviewer = reviewer;
  s.role = role;
  s.version = v.record.version;
  crypto::Envelope env;
  env.payload_type = std::string(protocol::kApprovalPayloadType);
  env.payload = protocol::EncodeApprovalStatement(s);
  crypto::SignEnvelope(&env, key);
  return crypto::SerializeEnvelope(env);
}

}  // namespace rf::service::testing

#endif  // RINGFENCE_SERVICE_TESTING_FIXTURES_H_
