// Fuzzes the reader of a replica's published fleet summary counts
// (server::DecodeFleetSummaryCounts), which every replica runs on the other replicas' rows of the
// shared database for the dashboard's fleet page.
// Oracles: accepted counts re-encode to a text that decodes to the same counts, and the page's
// JSON made from them parses. (The merge, cluster::MergeFleetSummaries, is integer sums and
// maxima over decoded counts, each at most 2^40: cluster_fleet_test.cc.)
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "server/fleet_summary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = rf::server::DecodeFleetSummaryCounts(text);
  if (!c.ok()) return 0;
  const std::string again = rf::server::EncodeFleetSummaryCounts(*c);
  auto c2 = rf::server::DecodeFleetSummaryCounts(again);
  RF_FUZZ_CHECK(c2.ok(), "re-encoded counts refused: " + c2.status().ToString() + "\n  " + again);
  RF_FUZZ_CHECK(rf::server::EncodeFleetSummaryCounts(*c2) == again,
                "counts changed in the round trip: " + again);
  boost::json::error_code ec;
  (void)boost::json::parse(rf::server::FleetSummaryJson(*c, 180'000'000), ec);
  RF_FUZZ_CHECK(!ec, "the page's JSON does not parse: " + again);
  return 0;
}
