// Fuzzes the strict decoders of the signed statements (protocol/statements.h): release statements
// (what every device decodes from each directive), approvals (decoded by the server's layer 3 and by
// every device's layer 5) and bundle payload headers. The first byte picks the decoder; the rest is
// the payload. Oracles: an accepted statement re-encodes to exactly the input bytes (one canonical
// encoding: a statement has one identity) and decodes again to the same value; an accepted release
// statement has a valid action, digest, channel and version.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "protocol/identifiers.h"
#include "protocol/statements.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto s = rf::protocol::DecodeReleaseStatement(payload);
      if (!s.ok()) {
        RF_FUZZ_CHECK(!s.status().message().empty(), "an error without a message");
        return 0;
      }
      const std::string again = rf::protocol::EncodeReleaseStatement(*s);
      RF_FUZZ_CHECK(again == payload, "accepted release statement is not its canonical encoding");
      RF_FUZZ_CHECK(*rf::protocol::DecodeReleaseStatement(again) == *s, "round trip changed it");
      RF_FUZZ_CHECK(s->action == "install" || s->action == "revert", "bad action accepted");
      RF_FUZZ_CHECK(rf::protocol::IsSha256Hex(s->bundle_sha256), "bad digest accepted");
      RF_FUZZ_CHECK(rf::protocol::IsValidChannel(s->channel), "bad channel accepted");
      RF_FUZZ_CHECK(s->version >= 1, "version < 1 accepted");
      break;
    }
    case 1: {
      auto s = rf::protocol::DecodeApprovalStatement(payload);
      if (!s.ok()) {
        RF_FUZZ_CHECK(!s.status().message().empty(), "an error without a message");
        return 0;
      }
      const std::string again = rf::protocol::EncodeApprovalStatement(*s);
      RF_FUZZ_CHECK(again == payload, "accepted approval is not its canonical encoding");
      RF_FUZZ_CHECK(*rf::protocol::DecodeApprovalStatement(again) == *s, "round trip changed it");
      break;
    }
    default: {
      auto h = rf::protocol::DecodeBundleHeader(payload);
      if (!h.ok()) {
        RF_FUZZ_CHECK(!h.status().message().empty(), "an error without a message");
        return 0;
      }
      RF_FUZZ_CHECK(h->version >= 1, "version < 1 accepted");
      RF_FUZZ_CHECK(h->items <= payload.size(), "more items than bytes");
      break;
    }
  }
  return 0;
}
