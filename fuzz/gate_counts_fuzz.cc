// Fuzzes the reader of a replica's published gate counts (server::DecodeReplicaCounts), which the
// elected controller runs on every gate_counts row of the shared database.
// Oracles: accepted counts re-encode (EncodeReplicaCounts) to a text that decodes to the same
// counts, and summing them (twice, as two replicas) neither crashes nor overflows.
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
  return 0;
}
