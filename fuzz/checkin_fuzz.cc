// Fuzzes the agent protocol's request parsers (POST /v1/agent/checkin and /v1/agent/enroll): the
// first bytes of every request an agent, or anyone holding the agent token, sends the server.
// Oracles: an accepted check-in respects every protocol limit, and what the server interns from it
// (the profile key of its attributes + manifest, the installed-set key of its channels) round-trips
// through the decoders the fleet inventory replays its segments with.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "server/checkin.h"

namespace {

void CheckProfile(const rf::rollout::Attributes& attrs, const rf::CapabilityManifest& caps) {
  const std::string key = rf::server::EncodeProfileKey(attrs, caps);
  rf::rollout::Attributes a2;
  rf::CapabilityManifest c2;
  rf::Status st = rf::server::ParseProfileKey(key, &a2, &c2);
  RF_FUZZ_CHECK(st.ok(), "profile key refused: " + st.ToString() + "\n  key: " + key);
  RF_FUZZ_CHECK(a2 == attrs, "attributes changed in the profile key round trip: " + key);
  RF_FUZZ_CHECK(rf::server::EncodeProfileKey(a2, c2) == key, "profile key is not stable: " + key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto enroll = rf::server::ParseEnrollRequest(body);
  if (enroll.ok()) {
    RF_FUZZ_CHECK(rf::server::IsValidId(enroll->device_id), "bad device id accepted");
    CheckProfile(enroll->attrs, enroll->capabilities);
  }
  auto r = rf::server::ParseCheckinRequest(body);
  if (!r.ok()) {
    RF_FUZZ_CHECK(!r.status().message().empty(), "an error without a message");
    return 0;
  }
  RF_FUZZ_CHECK(rf::server::IsValidId(r->device_id), "bad device id accepted");
  RF_FUZZ_CHECK(r->seq >= 1, "seq < 1 accepted");
  RF_FUZZ_CHECK(r->crashes >= 0 && r->errors >= 0, "negative health count accepted");
  RF_FUZZ_CHECK(r->apply.size() <= rf::server::kMaxHealthEntries &&
                    r->quarantined.size() <= rf::server::kMaxHealthEntries,
                "health list over the limit accepted");
  RF_FUZZ_CHECK(r->channels.size() <= rf::server::kMaxChannels, "too many channels accepted");
  for (size_t i = 0; i < r->channels.size(); ++i) {
    RF_FUZZ_CHECK(rf::server::IsValidId(r->channels[i].channel), "bad channel accepted");
    RF_FUZZ_CHECK(i == 0 || r->channels[i - 1].channel < r->channels[i].channel,
                  "channels not sorted and unique");
  }
  if (r->attrs) {
    RF_FUZZ_CHECK(r->attrs->size() <= rf::server::kMaxAttrs, "too many attributes accepted");
    CheckProfile(*r->attrs, r->capabilities ? *r->capabilities : rf::CapabilityManifest{});
  }
  const std::string installed = rf::server::EncodeInstalledKey(r->channels);
  auto back = rf::server::ParseInstalledKey(installed);
  RF_FUZZ_CHECK(back.ok(), "installed key refused: " + back.status().ToString() + "\n  " + installed);
  RF_FUZZ_CHECK(*back == r->channels, "channels changed in the installed key round trip: " + installed);
  return 0;
}
