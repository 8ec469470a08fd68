// Fuzzes the DSSE envelope parser. An accepted envelope must survive SerializeEnvelope ->
// ParseEnvelope unchanged, and serializing is then a fixed point.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/dsse.h"
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  rf::Result<rf::crypto::Envelope> env = rf::crypto::ParseEnvelope(json);
  if (!env.ok()) return 0;
  for (const auto& s : env->signatures) RF_FUZZ_CHECK(s.sig.size() == 64, "signature size");
  const std::string text = rf::crypto::SerializeEnvelope(*env);
  rf::Result<rf::crypto::Envelope> back = rf::crypto::ParseEnvelope(text);
  RF_FUZZ_CHECK(back.ok(), "serialized envelope refused: " + back.status().ToString() +
                               "\n  text: " + text);
  RF_FUZZ_CHECK(SameEnvelope(*env, *back), "envelope changed in the round trip: " + text);
  RF_FUZZ_CHECK(rf::crypto::SerializeEnvelope(*back) == text, "serialization is not stable");
  (void)rf::crypto::PreAuthEncoding(env->payload_type, env->payload);
  return 0;
}
