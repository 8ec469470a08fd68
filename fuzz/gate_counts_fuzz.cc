// Fuzzes the reader of a replica's published gate counts (server::DecodeReplicaCounts), which the
// elected controller runs on every gate_counts row of the shared database.
// Oracles: accepted counts re-encode (EncodeReplicaCounts) to a text that decodes to the same
// counts, and summing them (twice, as two replicas) neither crashes nor overflows; merging their
// cohort sketches gives counts that are consistent (eligible >= held back >= 0, no more ranks
// than capacity).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "server/gate_evidence.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = rf::server::DecodeReplicaCounts(text);
  if (!c.ok()) return 0;
  const std::string again = rf::server::EncodeReplicaCounts(*c);
  auto c2 = rf::server::DecodeReplicaCounts(again);
  RF_FUZZ_CHECK(c2.ok(), "re-encoded counts refused: " + c2.status().ToString() + "\n  " + again);
  RF_FUZZ_CHECK(rf::server::EncodeReplicaCounts(*c2) == again,
                "counts changed in the round trip: " + again);
  rf::server::ReplicaCounts other = *c;
  other.replica += "-2";
  (void)rf::server::SumReplicaCounts({*c, other}, c->updated_us);
  other.built_us = c->built_us;
  const rf::server::CohortSummary m =
      rf::server::MergeCohortSketches({*c, other}, 8, 0.99, 0, c->built_us);
  for (const rf::rollout::KeyedSketch& k : m.sketch) {
    RF_FUZZ_CHECK(k.sketch.held_back >= 0 && k.sketch.eligible >= k.sketch.held_back &&
                      k.sketch.smallest.size() <= 8,
                  "merged sketch of " + k.key + " is inconsistent: " + again);
  }
  return 0;
}
