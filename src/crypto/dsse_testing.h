// Test-only helpers (header-only, so rf_module keeps them out of rf_crypto): a serialized envelope
// rewritten into the other base64 variants DSSE lets signers use, and with other keyids, to check
// that every verifier accepts what docs/bundle-format.md "Envelope" says it accepts.
#ifndef RINGFENCE_CRYPTO_DSSE_TESTING_H_
#define RINGFENCE_CRYPTO_DSSE_TESTING_H_

#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace rf::crypto::testing {

// Standard padded base64 rewritten: '+' '/' -> '-' '_' if `url_safe`, '=' dropped unless `padded`.
inline std::string Rebase64(std::string_view standard, bool url_safe, bool padded) {
  std::string out;
  for (char c : standard) {
    if (c == '=' && !padded) continue;
    if (url_safe && c == '+') c = '-';
    if (url_safe && c == '/') c = '_';
    out += c;
  }
  return out;
}

// `envelope_json` (as SerializeEnvelope writes it) with `payload` and every `sig` rewritten by
// Rebase64. REQUIRES: envelope_json is a well-formed envelope.
inline std::string ReencodeEnvelope(std::string_view envelope_json, bool url_safe, bool padded) {
  boost::json::object o = boost::json::parse(envelope_json).as_object();
  o["payload"] = Rebase64(o["payload"].as_string(), url_safe, padded);
  for (auto& s : o["signatures"].as_array()) {
    auto& sig = s.as_object()["sig"];
    sig = Rebase64(sig.as_string(), url_safe, padded);
  }
  return boost::json::serialize(o) + "\n";
}

// `envelope_json` with signature `i`'s keyid replaced by `keyid`, or removed if `keyid` is null.
inline std::string WithKeyId(std::string_view envelope_json, size_t i, const char* keyid) {
  boost::json::object o = boost::json::parse(envelope_json).as_object();
  auto& s = o["signatures"].as_array().at(i).as_object();
  if (keyid == nullptr) {
    s.erase("keyid");
  } else {
    s["keyid"] = keyid;
  }
  return boost::json::serialize(o) + "\n";
}

}  // namespace rf::crypto::testing

#endif  // RINGFENCE_CRYPTO_DSSE_TESTING_H_
