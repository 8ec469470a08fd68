// The statements a device signs with its own Ed25519 key (docs/protocol.md "Device
// credentials"); the one definition shared by the agent (signs) and the server (verifies). Each
// starts with its own context line, so a signature of one kind is never valid as the other.
//   enrollment proof: "ringfence-enroll-v1\nDEVICE\nPUBLIC_KEY_BASE64\nTIMESTAMP_S"
//   session request:  "ringfence-session-v1\nDEVICE\nTIMESTAMP_S"
// DEVICE is the device id, PUBLIC_KEY_BASE64 the enrollment body's "public_key" string as sent,
// TIMESTAMP_S the body's "timestamp_s" in decimal.
#ifndef RINGFENCE_CRYPTO_DEVICE_AUTH_H_
#define RINGFENCE_CRYPTO_DEVICE_AUTH_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace rf::crypto {

std::string EnrollProofMessage(std::string_view device_id, std::string_view public_key_b64,
                               int64_t timestamp_s);
std::string SessionRequestMessage(std::string_view device_id, int64_t timestamp_s);

}  // namespace rf::crypto

#endif  // RINGFENCE_CRYPTO_DEVICE_AUTH_H_
