// ringfence agent SDK, C++ wrapper over the C ABI in ringfence/consumer.h. Header-only: a product
// links only the C ABI (library rf_sdk), so the two sides may use different C++ standard libraries.
//
// A product implements ringfence::Consumer once and binds it to a handle:
//
//   class IpcSensor : public ringfence::Consumer {
//    public:
//     std::vector<ringfence::Capability> Capabilities() const override {
//       return {{"ipc_rule", {3}, kSuppliedInputs, kMaxRules, 0}};  // the interpreter's constants
//     }
//     ringfence::Outcome Validate(std::string_view payload) override;
//     ringfence::Outcome Load(std::string_view payload) override;
//   };
//
//   IpcSensor sensor;
//   ringfence::ConsumerHandle handle;
//   if (ringfence::Outcome o = ringfence::ConsumerHandle::Bind(sensor, &handle); !o.ok()) ...;
//   return handle.Main(argc, argv);   // the consumer process protocol (docs/sdk.md)
//
// Exceptions thrown by a Consumer's methods are caught at the C boundary and become RF_INTERNAL.
// Thread-safety: REQUIRES external synchronization (Consumer::ReportHealth included, since it
// records the last state; the C function rf_consumer_report_health alone is thread-safe).
#ifndef RINGFENCE_CONSUMER_HPP_
#define RINGFENCE_CONSUMER_HPP_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringfence/consumer.h"

namespace ringfence {

// The result of an SDK operation: a code and, unless OK, a message for a person.
class [[nodiscard]] Outcome {
 public:
  Outcome() = default;
  Outcome(rf_status code, std::string message) : code_(code), message_(std::move(message)) {}
  static Outcome Ok() { return {}; }
  static Outcome Rejected(std::string m) { return {RF_REJECTED, std::move(m)}; }
  static Outcome Internal(std::string m) { return {RF_INTERNAL, std::move(m)}; }
  static Outcome Unimplemented(std::string m) { return {RF_UNIMPLEMENTED, std::move(m)}; }

  bool ok() const { return code_ == RF_OK; }
  rf_status code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  rf_status code_ = RF_OK;
  std::string message_;
};

// See rf_capability.
struct Capability {
  std::string content_type;
  std::vector<int64_t> schema_versions;
  int64_t inputs = 0;
  int64_t max_items = 0;         // 0 = not declared
  int64_t max_bundle_bytes = 0;  // 0 = not declared
};

enum class Health { kOk = RF_HEALTH_OK, kDegraded = RF_HEALTH_DEGRADED, kFailed = RF_HEALTH_FAILED };

struct HealthReport {
  Health state = Health::kOk;
  std::string detail;
};

// The canonical manifest JSON for `caps` (see rf_manifest_encode); "" if a capability is invalid.
inline std::string EncodeManifest(const std::vector<Capability>& caps);

// What a product implements. Capabilities() must return the same constants the interpreter and
// its integration code use (never a copy typed in by hand); Manifest() is derived from it.
class Consumer {
 public:
  virtual ~Consumer() = default;

  virtual std::vector<Capability> Capabilities() const = 0;
  // Parses and checks a canonical payload as Load would, without changing the active content.
  virtual Outcome Validate(std::string_view payload) = 0;
  // Replaces the active content. On a non-OK outcome the previous content stays active.
  virtual Outcome Load(std::string_view payload) = 0;
  // Optional: evaluates one event (JSON object, field name -> value) against the active content
  // and appends the ids of the matching items. Layer 2 drives the interpreter through this.
  virtual Outcome Match(std::string_view event_json, std::vector<std::string>* matches) {
    (void)event_json;
    (void)matches;
    return Outcome::Unimplemented("this consumer does not implement Match");
  }
  // Optional: polled by the host. Default: the last state passed to ReportHealth.
  virtual HealthReport Health() { return last_health_; }

  // The capability manifest JSON, generated from Capabilities().
  std::string Manifest() const { return EncodeManifest(Capabilities()); }

  // Records `state` (what Health() returns by default) and pushes it to the host's callback, if
  // the consumer is bound and one is set.
  void ReportHealth(ringfence::Health state, const std::string& detail) {
    last_health_ = {state, detail};
    if (handle_ != nullptr) {
      rf_consumer_report_health(handle_, static_cast<rf_health_state>(state), detail.c_str());
    }
  }

 private:
  friend class ConsumerHandle;
  rf_consumer* handle_ = nullptr;  // set while bound
  HealthReport last_health_;
};

// Owns an rf_consumer* bound to a Consumer. The Consumer must outlive the handle. Movable.
class ConsumerHandle {
 public:
  ConsumerHandle() = default;
  ~ConsumerHandle() { Reset(); }
  ConsumerHandle(ConsumerHandle&& o) noexcept { *this = std::move(o); }
  ConsumerHandle& operator=(ConsumerHandle&& o) noexcept {
    if (this != &o) {
      Reset();
      std::swap(handle_, o.handle_);
      std::swap(consumer_, o.consumer_);
      std::swap(health_callback_, o.health_callback_);
      if (health_callback_) {
        rf_consumer_set_health_callback(handle_, &ConsumerHandle::HealthTrampoline,
                                        health_callback_.get());
      }
    }
    return *this;
  }
  ConsumerHandle(const ConsumerHandle&) = delete;
  ConsumerHandle& operator=(const ConsumerHandle&) = delete;

  // Binds `consumer`. Fails (RF_INVALID_ARGUMENT) when its capabilities are malformed.
  static Outcome Bind(Consumer& consumer, ConsumerHandle* out) {
    std::vector<Capability> caps;
    try {
      caps = consumer.Capabilities();
    } catch (...) {
      return Outcome::Internal("Capabilities() threw");
    }
    std::vector<rf_capability> c_caps;
    for (const Capability& c : caps) {
      c_caps.push_back({c.content_type.c_str(), c.schema_versions.data(), c.schema_versions.size(),
                        c.inputs, c.max_items, c.max_bundle_bytes});
    }
    static const rf_consumer_ops kOps = {RF_SDK_ABI_VERSION, &ValidateTrampoline,
                                         &LoadTrampoline, &MatchTrampoline, &HealthPollTrampoline};
    char msg[512] = {0};
    rf_consumer* h = nullptr;
    rf_status s = rf_consumer_create(&kOps, &consumer, c_caps.data(), c_caps.size(), &h, msg,
                                     sizeof msg);
    if (s != RF_OK) return Outcome(s, msg);
    out->Reset();
    out->handle_ = h;
    out->consumer_ = &consumer;
    consumer.handle_ = h;
    return Outcome::Ok();
  }

  rf_consumer* get() const { return handle_; }

  std::string Manifest() const {
    size_t needed = 0;
    if (rf_consumer_manifest(handle_, nullptr, 0, &needed) != RF_BUFFER_TOO_SMALL) return "";
    std::string out(needed, '\0');
    if (rf_consumer_manifest(handle_, out.data(), out.size(), &needed) != RF_OK) return "";
    out.resize(needed - 1);
    return out;
  }
  Outcome Validate(std::string_view payload) {
    char msg[1024] = {0};
    rf_status s = rf_consumer_validate(handle_, Bytes(payload), payload.size(), msg, sizeof msg);
    return Outcome(s, s == RF_OK ? "" : msg);
  }
  Outcome Load(std::string_view payload) {
    char msg[1024] = {0};
    rf_status s = rf_consumer_load(handle_, Bytes(payload), payload.size(), msg, sizeof msg);
    return Outcome(s, s == RF_OK ? "" : msg);
  }
  Outcome Match(std::string_view event_json, std::vector<std::string>* matches) {
    char msg[1024] = {0};
    rf_status s = rf_consumer_match(handle_, event_json.data(), event_json.size(),
                                    &ConsumerHandle::SinkTrampoline, matches, msg, sizeof msg);
    return Outcome(s, s == RF_OK ? "" : msg);
  }
  HealthReport Health() const {
    char detail[512] = {0};
    rf_health_state s = rf_consumer_health(handle_, detail, sizeof detail);
    return {static_cast<ringfence::Health>(s), detail};
  }
  // Called for every ReportHealth of the bound consumer; empty function to remove.
  void SetHealthCallback(std::function<void(ringfence::Health, std::string_view)> callback) {
    if (!callback) {
      rf_consumer_set_health_callback(handle_, nullptr, nullptr);
      health_callback_.reset();
      return;
    }
    auto fn = std::make_unique<HealthFn>(std::move(callback));
    rf_consumer_set_health_callback(handle_, &ConsumerHandle::HealthTrampoline, fn.get());
    health_callback_ = std::move(fn);
  }
  // The consumer process protocol (rf_consumer_main).
  int Main(int argc, char** argv) { return rf_consumer_main(handle_, argc, argv); }

 private:
  using HealthFn = std::function<void(ringfence::Health, std::string_view)>;

  void Reset() {
    if (consumer_ != nullptr) consumer_->handle_ = nullptr;
    rf_consumer_destroy(handle_);
    handle_ = nullptr;
    consumer_ = nullptr;
    health_callback_.reset();
  }
  static const uint8_t* Bytes(std::string_view s) {
    return reinterpret_cast<const uint8_t*>(s.data());
  }
  static void CopyMessage(const std::string& m, char* msg, size_t cap) {
    if (msg == nullptr || cap == 0) return;
    size_t n = m.size() < cap - 1 ? m.size() : cap - 1;
    m.copy(msg, n);
    msg[n] = '\0';
  }
  template <typename F>
  static rf_status Guard(char* msg, size_t cap, F&& f) {
    try {
      Outcome o = f();
      if (!o.ok()) CopyMessage(o.message(), msg, cap);
      return o.code();
    } catch (const std::exception& e) {
      CopyMessage(std::string("consumer threw: ") + e.what(), msg, cap);
    } catch (...) {
      CopyMessage("consumer threw an unknown exception", msg, cap);
    }
    return RF_INTERNAL;
  }
  static rf_status ValidateTrampoline(void* ctx, const uint8_t* p, size_t n, char* msg,
                                      size_t cap) {
    return Guard(msg, cap, [&] {
      return static_cast<Consumer*>(ctx)->Validate({reinterpret_cast<const char*>(p), n});
    });
  }
  static rf_status LoadTrampoline(void* ctx, const uint8_t* p, size_t n, char* msg, size_t cap) {
    return Guard(msg, cap, [&] {
      return static_cast<Consumer*>(ctx)->Load({reinterpret_cast<const char*>(p), n});
    });
  }
  static rf_status MatchTrampoline(void* ctx, const char* e, size_t n, rf_match_sink sink,
                                   void* sink_ctx, char* msg, size_t cap) {
    return Guard(msg, cap, [&] {
      std::vector<std::string> ids;
      Outcome o = static_cast<Consumer*>(ctx)->Match({e, n}, &ids);
      if (o.ok() && sink != nullptr) {
        for (const std::string& id : ids) sink(sink_ctx, id.data(), id.size());
      }
      return o;
    });
  }
  static rf_health_state HealthPollTrampoline(void* ctx, char* detail, size_t cap) {
    try {
      HealthReport r = static_cast<Consumer*>(ctx)->Health();
      CopyMessage(r.detail, detail, cap);
      return static_cast<rf_health_state>(r.state);
    } catch (...) {
      CopyMessage("Health() threw", detail, cap);
      return RF_HEALTH_FAILED;
    }
  }
  static void SinkTrampoline(void* sink_ctx, const char* id, size_t n) {
    static_cast<std::vector<std::string>*>(sink_ctx)->emplace_back(id, n);
  }
  static void HealthTrampoline(void* user, rf_health_state s, const char* detail) {
    try {
      (*static_cast<HealthFn*>(user))(static_cast<ringfence::Health>(s),
                                      detail != nullptr ? detail : "");
    } catch (...) {
      // A host callback must not throw into the product; the report is dropped.
    }
  }

  rf_consumer* handle_ = nullptr;
  Consumer* consumer_ = nullptr;
  std::unique_ptr<HealthFn> health_callback_;
};

inline std::string EncodeManifest(const std::vector<Capability>& caps) {
  std::vector<rf_capability> c;
  for (const Capability& x : caps) {
    c.push_back({x.content_type.c_str(), x.schema_versions.data(), x.schema_versions.size(),
                 x.inputs, x.max_items, x.max_bundle_bytes});
  }
  size_t needed = 0;
  if (rf_manifest_encode(c.data(), c.size(), nullptr, 0, &needed) != RF_BUFFER_TOO_SMALL) {
    return "";
  }
  std::string out(needed, '\0');
  if (rf_manifest_encode(c.data(), c.size(), out.data(), out.size(), &needed) != RF_OK) return "";
  out.resize(needed - 1);
  return out;
}

}  // namespace ringfence

#endif  // RINGFENCE_CONSUMER_HPP_
