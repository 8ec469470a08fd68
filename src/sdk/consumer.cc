// The C ABI of include/ringfence/consumer.h: handles, manifest encoding, health plumbing.
#include "ringfence/consumer.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "sdk/internal.h"

struct rf_consumer {
  rf_consumer_ops ops{};
  void* ctx = nullptr;
  std::vector<rf::sdk::CapabilityCopy> caps;
  std::string manifest;

  std::mutex health_mu;  // guards the fields below
  rf_health_callback health_callback = nullptr;
  void* health_user = nullptr;
  rf_health_state health = RF_HEALTH_OK;
  std::string health_detail;
};

namespace rf::sdk {

void WriteMessage(std::string_view m, char* msg, size_t cap) {
  if (msg == nullptr || cap == 0) return;
  const size_t n = std::min(m.size(), cap - 1);
  std::memcpy(msg, m.data(), n);
  msg[n] = '\0';
}

namespace {

bool ValidContentTypeName(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

rf_status OutputString(const std::string& s, char* buf, size_t cap, size_t* needed) {
  if (needed != nullptr) *needed = s.size() + 1;
  if (buf == nullptr || cap < s.size() + 1) return RF_BUFFER_TOO_SMALL;
  std::memcpy(buf, s.c_str(), s.size() + 1);
  return RF_OK;
}

}  // namespace

std::string CopyCapabilities(const rf_capability* caps, size_t n, std::vector<CapabilityCopy>* out) {
  if (caps == nullptr && n > 0) return "capabilities is NULL";
  out->clear();
  for (size_t i = 0; i < n; ++i) {
    const rf_capability& c = caps[i];
    const std::string where = "capability " + std::to_string(i);
    if (c.content_type == nullptr || !ValidContentTypeName(c.content_type)) {
      return where + ": content_type must match [a-z0-9_]+ (1-128 characters)";
    }
    CapabilityCopy copy;
    copy.content_type = c.content_type;
    if (c.schema_versions_count == 0 || c.schema_versions == nullptr) {
      return where + " (" + copy.content_type + "): at least one schema version is required";
    }
    copy.schema_versions.assign(c.schema_versions, c.schema_versions + c.schema_versions_count);
    std::sort(copy.schema_versions.begin(), copy.schema_versions.end());
    if (std::adjacent_find(copy.schema_versions.begin(), copy.schema_versions.end()) !=
        copy.schema_versions.end()) {
      return where + " (" + copy.content_type + "): duplicate schema version";
    }
    if (copy.schema_versions.front() < 0) {
      return where + " (" + copy.content_type + "): negative schema version";
    }
    if (c.inputs < 0 || c.max_items < 0 || c.max_bundle_bytes < 0) {
      return where + " (" + copy.content_type + "): inputs and limits must be >= 0";
    }
    copy.inputs = c.inputs;
    copy.max_items = c.max_items;
    copy.max_bundle_bytes = c.max_bundle_bytes;
    for (const CapabilityCopy& other : *out) {
      if (other.content_type == copy.content_type) {
        return where + ": content type '" + copy.content_type + "' listed twice";
      }
    }
    out->push_back(std::move(copy));
  }
  return "";
}

std::string EncodeManifestJson(std::vector<CapabilityCopy> caps) {
  std::sort(caps.begin(), caps.end(), [](const CapabilityCopy& a, const CapabilityCopy& b) {
    return a.content_type < b.content_type;
  });
  std::string out = "{";
  for (size_t i = 0; i < caps.size(); ++i) {
    const CapabilityCopy& c = caps[i];
    if (i > 0) out += ',';
    // content_type is [a-z0-9_]+: no escaping needed. Keys in bytewise order.
    out += '"' + c.content_type + "\":{\"inputs\":" + std::to_string(c.inputs);
    if (c.max_bundle_bytes > 0) out += ",\"max_bundle_bytes\":" + std::to_string(c.max_bundle_bytes);
    if (c.max_items > 0) out += ",\"max_items\":" + std::to_string(c.max_items);
    out += ",\"schema_versions\":[";
    for (size_t v = 0; v < c.schema_versions.size(); ++v) {
      if (v > 0) out += ',';
      out += std::to_string(c.schema_versions[v]);
    }
    out += "]}";
  }
  out += '}';
  return out;
}

}  // namespace rf::sdk

using rf::sdk::WriteMessage;

extern "C" {

rf_status rf_consumer_create(const rf_consumer_ops* ops, void* ctx, const rf_capability* caps,
                             size_t caps_count, rf_consumer** out, char* msg, size_t msg_cap) {
  if (out == nullptr) {
    WriteMessage("out is NULL", msg, msg_cap);
    return RF_INVALID_ARGUMENT;
  }
  *out = nullptr;
  if (ops == nullptr) {
    WriteMessage("ops is NULL", msg, msg_cap);
    return RF_INVALID_ARGUMENT;
  }
  if (ops->abi_version != RF_SDK_ABI_VERSION) {
    WriteMessage("ops.abi_version is " + std::to_string(ops->abi_version) + ", this SDK is " +
                     std::to_string(RF_SDK_ABI_VERSION),
                 msg, msg_cap);
    return RF_INVALID_ARGUMENT;
  }
  if (ops->validate == nullptr || ops->load == nullptr) {
    WriteMessage("ops.validate and ops.load are required", msg, msg_cap);
    return RF_INVALID_ARGUMENT;
  }
  auto* c = new (std::nothrow) rf_consumer;
  if (c == nullptr) {
    WriteMessage("out of memory", msg, msg_cap);
    return RF_INTERNAL;
  }
  if (std::string err = rf::sdk::CopyCapabilities(caps, caps_count, &c->caps); !err.empty()) {
    delete c;
    WriteMessage(err, msg, msg_cap);
    return RF_INVALID_ARGUMENT;
  }
  c->ops = *ops;
  c->ctx = ctx;
  c->manifest = rf::sdk::EncodeManifestJson(c->caps);
  *out = c;
  return RF_OK;
}

void rf_consumer_destroy(rf_consumer* consumer) { delete consumer; }

rf_status rf_consumer_manifest(const rf_consumer* consumer, char* buf, size_t buf_cap,
                               size_t* needed) {
  if (consumer == nullptr) return RF_INVALID_ARGUMENT;
  return rf::sdk::OutputString(consumer->manifest, buf, buf_cap, needed);
}

rf_status rf_manifest_encode(const rf_capability* caps, size_t caps_count, char* buf,
                             size_t buf_cap, size_t* needed) {
  std::vector<rf::sdk::CapabilityCopy> copy;
  if (!rf::sdk::CopyCapabilities(caps, caps_count, &copy).empty()) return RF_INVALID_ARGUMENT;
  return rf::sdk::OutputString(rf::sdk::EncodeManifestJson(std::move(copy)), buf, buf_cap, needed);
}

rf_status rf_consumer_validate(rf_consumer* consumer, const uint8_t* payload, size_t payload_size,
                               char* msg, size_t msg_cap) {
  if (consumer == nullptr || (payload == nullptr && payload_size > 0)) {
    WriteMessage("consumer or payload is NULL", msg, msg_cap);
    return RF_INVALID_ARGUMENT;
  }
  WriteMessage("", msg, msg_cap);
  return consumer->ops.validate(consumer->ctx, payload, payload_size, msg, msg_cap);
}

rf_status rf_consumer_load(rf_consumer* consumer, const uint8_t* payload, size_t payload_size,
                           char* msg, size_t msg_cap) {
  if (consumer == nullptr || (payload == nullptr && payload_size > 0)) {
    WriteMessage("consumer or payload is NULL", msg, msg_cap);
    return RF_INVALID_ARGUMENT;
  }
  WriteMessage("", msg, msg_cap);
  return consumer->ops.load(consumer->ctx, payload, payload_size, msg, msg_cap);
}

rf_status rf_consumer_match(rf_consumer* consumer, const char* event_json, size_t event_size,
                            rf_match_sink sink, void* sink_ctx, char* msg, size_t msg_cap) {
  if (consumer == nullptr || (event_json == nullptr && event_size > 0)) {
    WriteMessage("consumer or event is NULL", msg, msg_cap);
    return RF_INVALID_ARGUMENT;
  }
  if (consumer->ops.match == nullptr) {
    WriteMessage("this consumer does not implement match", msg, msg_cap);
    return RF_UNIMPLEMENTED;
  }
  WriteMessage("", msg, msg_cap);
  return consumer->ops.match(consumer->ctx, event_json, event_size, sink, sink_ctx, msg, msg_cap);
}

void rf_consumer_set_health_callback(rf_consumer* consumer, rf_health_callback callback,
                                     void* user) {
  if (consumer == nullptr) return;
  std::lock_guard<std::mutex> lock(consumer->health_mu);
  consumer->health_callback = callback;
  consumer->health_user = user;
}

void rf_consumer_report_health(rf_consumer* consumer, rf_health_state state, const char* detail) {
  if (consumer == nullptr) return;
  rf_health_callback cb;
  void* user;
  std::string detail_copy = detail != nullptr ? detail : "";
  {
    std::lock_guard<std::mutex> lock(consumer->health_mu);
    consumer->health = state;
    consumer->health_detail = detail_copy;
    cb = consumer->health_callback;
    user = consumer->health_user;
  }
  // Called outside the lock so a callback may report again or poll without deadlocking.
  if (cb != nullptr) cb(user, state, detail_copy.c_str());
}

rf_health_state rf_consumer_health(rf_consumer* consumer, char* detail, size_t detail_cap) {
  if (consumer == nullptr) {
    WriteMessage("consumer is NULL", detail, detail_cap);
    return RF_HEALTH_FAILED;
  }
  if (consumer->ops.health != nullptr) {
    WriteMessage("", detail, detail_cap);
    return consumer->ops.health(consumer->ctx, detail, detail_cap);
  }
  std::lock_guard<std::mutex> lock(consumer->health_mu);
  WriteMessage(consumer->health_detail, detail, detail_cap);
  return consumer->health;
}

const char* rf_status_name(rf_status status) {
  switch (status) {
    case RF_OK: return "OK";
    case RF_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case RF_REJECTED: return "REJECTED";
    case RF_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case RF_BUFFER_TOO_SMALL: return "BUFFER_TOO_SMALL";
    case RF_INTERNAL: return "INTERNAL";
  }
  return "UNKNOWN";
}

}  // extern "C"
