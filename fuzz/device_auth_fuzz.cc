// Fuzzes what authenticates a device (docs/protocol.md "Device credentials"): the enrollment and
// session request bodies (src/server/checkin.cc), the session token parser and the credential
// journal replay (src/server/device_credentials.cc). The first byte picks the parser:
//   0: POST /v1/agent/enroll body   1: POST /v1/agent/session body
//   2: a bearer session token       3: DATA/credentials.log as found on disk
// Oracles: accepted credentials have exactly the key and signature sizes and canonical base64; a
// token the fuzzer made up never verifies (the MAC key is secret) while one the server issued does;
// a journal that loads reloads to the same devices after the repair/compaction Load() wrote.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/crypto.h"
#include "fuzz/fuzz_support.h"
#include "platform/sim_env.h"
#include "server/checkin.h"
#include "server/device_credentials.h"

namespace {

rf::Env MemEnv(rf::MemFilesystem* fs) {
  static rf::SimulatedClock clock;
  static rf::SeededRandom random(1);
  return rf::Env{&clock, fs, &random};
}

void FuzzEnroll(std::string_view body) {
  auto r = rf::server::ParseEnrollRequest(body);
  if (!r.ok()) {
    RF_FUZZ_CHECK(!r.status().message().empty(), "an error without a message");
    return;
  }
  RF_FUZZ_CHECK(rf::server::IsValidId(r->device_id), "bad device id accepted");
  RF_FUZZ_CHECK(r->public_key.size() == 32, "public key of the wrong size accepted");
  RF_FUZZ_CHECK(r->proof.size() == 64, "proof of the wrong size accepted");
  RF_FUZZ_CHECK(rf::crypto::Base64Encode(r->public_key) == r->public_key_b64,
                "non-canonical base64 public key accepted: " + r->public_key_b64);
  RF_FUZZ_CHECK(r->timestamp_s >= 0, "negative timestamp accepted");
}

void FuzzSession(std::string_view body) {
  auto r = rf::server::ParseSessionRequest(body);
  if (!r.ok()) return;
  RF_FUZZ_CHECK(rf::server::IsValidId(r->device_id), "bad device id accepted");
  RF_FUZZ_CHECK(r->signature.size() == 64, "signature of the wrong size accepted");
}

void FuzzToken(std::string_view token) {
  rf::MemFilesystem fs;
  rf::server::DeviceCredentials creds(MemEnv(&fs), {});
  RF_FUZZ_CHECK(creds.Load().ok(), "in-memory credentials do not load");
  rf::crypto::PublicKey key;
  auto reg = creds.Register("d-1", key, 1'000);
  RF_FUZZ_CHECK(reg.ok(), "registration failed");
  RF_FUZZ_CHECK(!creds.VerifySession(token, 1'000).ok(),
                "a token the fuzzer made up verifies: " + std::string(token));
  const std::string issued = creds.IssueSession("d-1", reg->epoch, 1'000);
  RF_FUZZ_CHECK(creds.VerifySession(issued, 1'000).ok(), "an issued token does not verify");
}

void FuzzJournal(std::string_view text) {
  rf::MemFilesystem fs;
  rf::server::DeviceCredentialsOptions o;
  o.journal_path = "/data/credentials.log";
  RF_FUZZ_CHECK(fs.WriteFileAtomic(o.journal_path, text, 0600).ok(), "write");
  size_t devices = 0;
  {
    rf::server::DeviceCredentials creds(MemEnv(&fs), o);
    rf::Status st = creds.Load();
    if (!st.ok()) {
      RF_FUZZ_CHECK(st.code() == rf::StatusCode::kDataLoss, "not DataLoss: " + st.ToString());
      return;
    }
    devices = creds.size();
  }
  rf::server::DeviceCredentials again(MemEnv(&fs), o);
  rf::Status st = again.Load();
  RF_FUZZ_CHECK(st.ok(), "a journal that loaded does not reload: " + st.ToString());
  RF_FUZZ_CHECK(again.size() == devices, "devices changed across a reload");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: FuzzEnroll(input); break;
    case 1: FuzzSession(input); break;
    case 2: FuzzToken(input); break;
    default: FuzzJournal(input); break;
  }
  return 0;
}
