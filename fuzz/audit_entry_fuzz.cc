// Fuzzes the reader of served audit entries (store::AuditEntryFromJson), which
// `ringfence audit verify --server` runs on whatever a server sends it.
// Oracles: an accepted entry re-serialises (AuditEntryJson) to a text that reads back to the same
// entry, and the chain hash recomputed from it is what the verifier compares (no crash on any
// prev_hash, however malformed).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "store/audit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return 0;
  auto e = rf::store::AuditEntryFromJson(v.as_object());
  if (!e.ok()) return 0;
  const std::string again = rf::store::AuditEntryJson(*e);
  boost::json::value v2 = boost::json::parse(again, ec);
  RF_FUZZ_CHECK(!ec && v2.is_object(), "AuditEntryJson is not a JSON object: " + again);
  auto e2 = rf::store::AuditEntryFromJson(v2.as_object());
  RF_FUZZ_CHECK(e2.ok(), "re-serialised entry refused: " + e2.status().ToString() + "\n  " + again);
  RF_FUZZ_CHECK(*e2 == *e, "entry changed in the round trip: " + again);
  rf::store::AuditChainVerifier verifier;
  (void)verifier.Add(*e);  // any verdict; must not crash on a malformed prev_hash
  return 0;
}
