// Fuzzes the built-bundle decoder (canonical JSON) against the shipped ipc_rule type. Whatever it
// accepts without findings must be canonical: re-encoding gives back the input bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/stage1.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const rf::fuzz::Samples& s = rf::fuzz::GetSamples();
  const std::string_view json(reinterpret_cast<const char*>(data), size);

  std::vector<rf::Finding> findings;
  rf::Result<rf::Bundle> bundle = rf::DecodeBundlePayload(json, s.type, &findings);
  if (!bundle.ok()) return 0;
  for (const rf::Item& item : bundle->items) {
    RF_FUZZ_CHECK(item.values.size() == s.type.fields.size(), "item has the wrong value count");
  }
  if (findings.empty()) {
    RF_FUZZ_CHECK(rf::EncodeCanonicalPayload(*bundle, s.type) == json,
                  "accepted payload is not canonical");
  }
  rf::StageOneInput in;
  in.type = &s.type;
  in.bundle = &*bundle;
  in.payload_bytes = json.size();
  in.fleet = &s.fleet;
  rf::StageOneReport report = rf::RunStageOne(in, std::move(findings));
  RF_FUZZ_CHECK(report.accepted == (report.errors == 0), "verdict");
  return 0;
}
