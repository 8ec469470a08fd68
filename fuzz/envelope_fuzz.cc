// Fuzzes the DSSE envelope parser and its base64 decoder. An accepted envelope must survive
// SerializeEnvelope -> ParseEnvelope unchanged, also re-encoded in URL-safe unpadded base64, and
// serializing is then a fixed point. The input is also decoded as base64 text on its own: an
// accepted text is the canonical encoding of its bytes in one of the four RFC 4648 variants, and
// the strict decoder accepts exactly the standard padded ones (docs/bundle-format.md "Envelope").
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "crypto/dsse_testing.h"
#include "fuzz/fuzz_support.h"

namespace {

bool SameEnvelope(const rf::crypto::Envelope& a, const rf::crypto::Envelope& b) {
  if (a.payload_type != b.payload_type || a.payload != b.payload ||
      a.signatures.size() != b.signatures.size()) {
    return false;
  }
  for (size_t i = 0; i < a.signatures.size(); ++i) {
    if (a.signatures[i].keyid != b.signatures[i].keyid || a.signatures[i].sig != b.signatures[i].sig) {
      return false;
    }
  }
  return true;
}

// `text` in standard padded form: URL-safe characters mapped back, '=' added to a multiple of 4.
std::string StandardPadded(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (out.size() % 4 != 0) out += '=';
  return out;
}

void CheckBase64(std::string_view text) {
  const rf::Result<std::string> any = rf::crypto::Base64DecodeAnyVariant(text);
  const rf::Result<std::string> strict = rf::crypto::Base64Decode(text);
  if (strict.ok()) {
    RF_FUZZ_CHECK(any.ok() && *any == *strict, "strict decoder accepted what the DSSE one refused");
    RF_FUZZ_CHECK(rf::crypto::Base64Encode(*strict) == text,
                  "strict decoder accepted a non-canonical text");
  }
  if (!any.ok()) return;
  const bool standard = text.find_first_of("+/") != std::string_view::npos;
  const bool url_safe = text.find_first_of("-_") != std::string_view::npos;
  RF_FUZZ_CHECK(!(standard && url_safe), "accepted a text mixing both alphabets");
  const std::string canonical = rf::crypto::Base64Encode(*any);
  RF_FUZZ_CHECK(StandardPadded(text) == canonical,
                "accepted a non-canonical text; canonical: " + canonical);
  RF_FUZZ_CHECK(strict.ok() == (text == canonical), "strict decoder refused its canonical form");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  CheckBase64(json);
  rf::Result<rf::crypto::Envelope> env = rf::crypto::ParseEnvelope(json);
  if (!env.ok()) return 0;
  for (const auto& s : env->signatures) RF_FUZZ_CHECK(s.sig.size() == 64, "signature size");
  const std::string text = rf::crypto::SerializeEnvelope(*env);
  rf::Result<rf::crypto::Envelope> back = rf::crypto::ParseEnvelope(text);
  RF_FUZZ_CHECK(back.ok(), "serialized envelope refused: " + back.status().ToString() +
                               "\n  text: " + text);
  RF_FUZZ_CHECK(SameEnvelope(*env, *back), "envelope changed in the round trip: " + text);
  RF_FUZZ_CHECK(rf::crypto::SerializeEnvelope(*back) == text, "serialization is not stable");
  const std::string url =
      rf::crypto::testing::ReencodeEnvelope(text, /*url_safe=*/true, /*padded=*/false);
  rf::Result<rf::crypto::Envelope> from_url = rf::crypto::ParseEnvelope(url);
  RF_FUZZ_CHECK(from_url.ok() && SameEnvelope(*env, *from_url),
                "URL-safe unpadded re-encoding refused or changed: " + url);
  (void)rf::crypto::PreAuthEncoding(env->payload_type, env->payload);
  return 0;
}
