// Internal to rf_sdk: shared by consumer.cc and consumer_main.cc. Not part of the public SDK.
#ifndef RINGFENCE_SDK_INTERNAL_H_
#define RINGFENCE_SDK_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ringfence/consumer.h"

namespace rf::sdk {

struct CapabilityCopy {
  std::string content_type;
  std::vector<int64_t> schema_versions;  // sorted, unique
  int64_t inputs = 0, max_items = 0, max_bundle_bytes = 0;
};

// Validates and copies; returns "" or the reason the capabilities are malformed.
std::string CopyCapabilities(const rf_capability* caps, size_t n, std::vector<CapabilityCopy>* out);
// Canonical manifest JSON (docs/sdk.md).
std::string EncodeManifestJson(std::vector<CapabilityCopy> caps);
// NUL-terminated, truncated copy into (msg, cap); no-op when msg is NULL or cap is 0.
void WriteMessage(std::string_view m, char* msg, size_t cap);

// The protocol's FILE: a canonical payload, or a DSSE envelope holding one (signatures are not
// checked). Returns "" and sets *payload, or the reason it is unusable.
std::string ExtractPayload(std::string text, std::string* payload);

}  // namespace rf::sdk

#endif  // RINGFENCE_SDK_INTERNAL_H_
