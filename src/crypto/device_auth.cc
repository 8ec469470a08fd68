#include "crypto/device_auth.h"

namespace rf::crypto {

std::string EnrollProofMessage(std::string_view device_id, std::string_view public_key_b64,
                               int64_t timestamp_s) {
  std::string m = "ringfence-enroll-v1\n";
  m.append(device_id);
  m += '\n';
  m.append(public_key_b64);
  m += '\n';
  m += std::to_string(timestamp_s);
  return m;
}

std::string SessionRequestMessage(std::string_view device_id, int64_t timestamp_s) {
  std::string m = "ringfence-session-v1\n";
  m.append(device_id);
  m += '\n';
  m += std::to_string(timestamp_s);
  return m;
}

}  // namespace rf::crypto
