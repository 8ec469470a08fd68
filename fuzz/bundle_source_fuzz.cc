// Fuzzes the bundle source decoder (YAML) against the shipped ipc_rule type, runs every stage-1
// check on what it accepts, and checks the canonical round trip: a source that decodes without
// findings must encode to a payload that DecodeBundlePayload accepts and that re-encodes to the
// same bytes (one bundle, one identity).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/stage1.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const rf::fuzz::Samples& s = rf::fuzz::GetSamples();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::vector<rf::Finding> findings;
  rf::Result<rf::Bundle> bundle = rf::DecodeBundleSource(text, "fuzz.yaml", s.type, &findings);
  if (!bundle.ok()) return 0;

  // As CheckBundleSource does: the payload size is taken even when the decoder found problems.
  const std::string payload = rf::EncodeCanonicalPayload(*bundle, s.type);
  const bool clean = findings.empty();

  rf::StageOneInput in;
  in.type = &s.type;
  in.bundle = &*bundle;
  in.payload_bytes = payload.size();
  in.previous = &s.previous;
  in.previous_payload_bytes = s.previous_payload_bytes;
  in.fleet = &s.fleet;
  rf::StageOneReport report = rf::RunStageOne(in, std::move(findings));
  RF_FUZZ_CHECK(report.items == bundle->items.size(), "report item count");
  RF_FUZZ_CHECK(report.errors + report.warnings == report.findings.size(), "finding counts");
  RF_FUZZ_CHECK(report.accepted == (report.errors == 0), "verdict");
  (void)rf::StageOneReportJson(report);

  if (!clean) return 0;
  std::vector<rf::Finding> again;
  rf::Result<rf::Bundle> decoded = rf::DecodeBundlePayload(payload, s.type, &again);
  RF_FUZZ_CHECK(decoded.ok(), "canonical payload refused: " + decoded.status().ToString() +
                                  "\n  payload: " + payload);
  RF_FUZZ_CHECK(again.empty(), "canonical payload decodes with findings: " + again[0].check +
                                   " " + again[0].message + "\n  payload: " + payload);
  RF_FUZZ_CHECK(rf::EncodeCanonicalPayload(*decoded, s.type) == payload,
                "canonical payload does not re-encode identically: " + payload);
  return 0;
}
