// Fuzzes layer 2's regex sample generator (src/dynamic/event_synth.h) on patterns up to 512
// bytes. Oracles: it terminates; a generated (non-fallback) sample for a pattern that RE2 accepts
// is matched by it; a fallback returns the pattern itself.
#include <re2/re2.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "dynamic/event_synth.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 512) return 0;
  const std::string pattern(reinterpret_cast<const char*>(data), size);
  rf::dynamic::RegexSample s = rf::dynamic::SampleForRegex(pattern);
  if (!s.generated) {
    RF_FUZZ_CHECK(s.text == pattern, "fallback is not the pattern");
  } else {
    RE2::Options o;
    o.set_log_errors(false);
    RE2 re(pattern, o);
    if (re.ok()) RF_FUZZ_CHECK(RE2::PartialMatch(s.text, re), pattern + " -> " + s.text);
  }
  (void)rf::dynamic::SampleForRegex(pattern, /*stress=*/true);
  return 0;
}
