// Shared set-up for the libFuzzer targets in this folder: the shipped samples they decode against,
// and a check that aborts (so libFuzzer records a crash and saves the input) when an invariant of
// the code under test is broken.
//
// The samples are read once, at first use, from the source tree (RF_SOURCE_DIR is set by
// fuzz/CMakeLists.txt), so the fuzzers always test against the type and fleet that ship.
#ifndef RINGFENCE_FUZZ_FUZZ_SUPPORT_H_
#define RINGFENCE_FUZZ_FUZZ_SUPPORT_H_

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"
#include "core/fleet.h"

// Aborts with a message when `cond` is false. Used for the fuzzers' own oracles (round trips),
// never for input validation.
#define RF_FUZZ_CHECK(cond, msg)                                                       \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: fuzz oracle failed: %s\n  %s\n", __FILE__, __LINE__, \
                   #cond, std::string(msg).c_str());                                   \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace rf::fuzz {

// Reads `relative` (e.g. "samples/content/fleet.json") from the source tree or aborts: a fuzzer
// without its fixture would report nothing useful.
inline std::string ReadSourceFile(std::string_view relative) {
  const std::string path = std::string(RF_SOURCE_DIR) + "/" + std::string(relative);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz set-up: cannot read %s\n", path.c_str());
    std::abort();
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The shipped ipc_rule content type, its fleet and the CF291 sample bundle (used as the
// "previous" bundle so the growth and version checks run too).
struct Samples {
  ContentType type;
  Fleet fleet;
  Bundle previous;
  size_t previous_payload_bytes = 0;
};

inline const Samples& GetSamples() {
  static const Samples* samples = [] {
    auto* s = new Samples;
    auto type = ParseContentType(ReadSourceFile("samples/content/ipc_rule.type.yaml"),
                                 "ipc_rule.type.yaml");
    RF_FUZZ_CHECK(type.ok(), type.status().ToString());
    s->type = std::move(*type);
    auto fleet = ParseFleetJson(ReadSourceFile("samples/content/fleet.json"), "fleet.json");
    RF_FUZZ_CHECK(fleet.ok(), fleet.status().ToString());
    s->fleet = std::move(*fleet);
    std::vector<Finding> findings;
    auto prev = DecodeBundleSource(ReadSourceFile("samples/content/cf291.bundle.yaml"),
                                   "cf291.bundle.yaml", s->type, &findings);
    RF_FUZZ_CHECK(prev.ok() && findings.empty(), "the CF291 sample does not decode cleanly");
    s->previous = std::move(*prev);
    s->previous_payload_bytes = EncodeCanonicalPayload(s->previous, s->type).size();
    return s;
  }();
  return *samples;
}

}  // namespace rf::fuzz

#endif  // RINGFENCE_FUZZ_FUZZ_SUPPORT_H_
