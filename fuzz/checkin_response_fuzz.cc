// Fuzzes the agent's decoders of what a server (or anyone on the path to it) answers
// (protocol/agent_messages.h): the check-in response, which every device decodes on every
// check-in, the enrollment/session response and the approvals list. The first byte picks the
// decoder (0: session, 3: approvals, otherwise check-in).
// Oracles: every accepted directive has a valid channel, version and digest and a known action,
// and re-encoded by the server's writer (CheckinResponseWriter) it decodes to the same directive
// (server-encode -> agent-decode round trip); every rejected directive carries an InvalidArgument
// naming the problem; an accepted session has a printable 1-512 byte token.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "protocol/agent_messages.h"
#include "protocol/identifiers.h"

namespace {

void CheckCheckinResponse(std::string_view body) {
  auto r = rf::protocol::DecodeCheckinResponse(body);
  if (!r.ok()) {
    RF_FUZZ_CHECK(!r.status().message().empty(), "an error without a message");
    return;
  }
  RF_FUZZ_CHECK(r->directives.size() + r->rejected.size() <= rf::protocol::kMaxResponseChannels,
                "too many channels accepted");
  for (const auto& x : r->rejected) {
    RF_FUZZ_CHECK(x.error.code() == rf::StatusCode::kInvalidArgument && !x.error.message().empty(),
                  "a rejected directive without a reason");
  }
  RF_FUZZ_CHECK(r->confirm_after_ms >= 0 && r->confirm_after_ms <= rf::protocol::kMaxConfirmAfterMs,
                "confirm_after_ms out of range accepted");
  rf::protocol::CheckinResponseWriter w(r->poll_after_s, r->server_time_s);
  if (r->confirm_after_ms > 0) w.ConfirmAfter(r->confirm_after_ms);
  for (const auto& d : r->directives) {
    RF_FUZZ_CHECK(rf::protocol::IsValidChannel(d.channel), "bad channel accepted");
    RF_FUZZ_CHECK(rf::protocol::IsSha256Hex(d.sha256), "bad digest accepted");
    RF_FUZZ_CHECK(d.version >= 1, "version < 1 accepted");
    RF_FUZZ_CHECK(d.reason.size() <= rf::protocol::kMaxRevertReasonBytes, "long reason kept");
    if (d.action == "install") {
      // The server writes the URLs from the digest; only compare what it writes.
      RF_FUZZ_CHECK(d.lkg_after_ms >= -1 && d.lkg_after_ms <= rf::protocol::kMaxLkgAfterMs,
                    "lkg_after_ms out of range accepted");
      w.Install(d.channel, d.version, d.sha256, d.release, d.lkg_after_ms);
    } else {
      RF_FUZZ_CHECK(d.action == "revert", "unknown action accepted");
      w.Revert(d.channel, d.version, d.sha256, d.reason, d.release);
    }
  }
  const std::string again = std::move(w).Finish();
  auto back = rf::protocol::DecodeCheckinResponse(again);
  RF_FUZZ_CHECK(back.ok(), "the writer's body is refused: " + back.status().ToString());
  RF_FUZZ_CHECK(back->rejected.empty(), "the writer's body has a rejected directive");
  RF_FUZZ_CHECK(back->directives.size() == r->directives.size(), "directives lost");
  RF_FUZZ_CHECK(back->poll_after_s == r->poll_after_s, "poll_after_s changed");
  RF_FUZZ_CHECK(back->confirm_after_ms == r->confirm_after_ms, "confirm_after_ms changed");
  // Boost.JSON keeps the last of duplicate keys; compare by channel.
  for (const auto& d : back->directives) {
    bool found = false;
    for (const auto& o : r->directives) {
      if (o.channel != d.channel) continue;
      found = true;
      RF_FUZZ_CHECK(o.action == d.action && o.version == d.version && o.sha256 == d.sha256 &&
                        o.release == d.release && o.reason == d.reason &&
                        o.lkg_after_ms == d.lkg_after_ms,
                    "directive changed in the round trip on channel " + d.channel);
    }
    RF_FUZZ_CHECK(found, "a directive appeared in the round trip");
  }
}

void CheckSessionResponse(std::string_view body) {
  auto s = rf::protocol::DecodeSessionResponse(body);
  if (!s.ok()) {
    RF_FUZZ_CHECK(!s.status().message().empty(), "an error without a message");
    return;
  }
  RF_FUZZ_CHECK(!s->token.empty() && s->token.size() <= 512, "bad token size accepted");
  for (char c : s->token) RF_FUZZ_CHECK(c > ' ' && c <= '~', "unprintable token accepted");
  auto back = rf::protocol::DecodeSessionResponse(
      rf::protocol::EncodeSessionResponse("d", s->poll_after_s, s->token, s->expires_s));
  RF_FUZZ_CHECK(back.ok() && back->token == s->token && back->expires_s == s->expires_s,
                "session response round trip failed");
}

void CheckApprovalsResponse(std::string_view body) {
  auto a = rf::protocol::DecodeApprovalsResponse(body);
  if (!a.ok()) {
    RF_FUZZ_CHECK(!a.status().message().empty(), "an error without a message");
    return;
  }
  auto back = rf::protocol::DecodeApprovalsResponse(rf::protocol::EncodeApprovalsResponse(*a));
  RF_FUZZ_CHECK(back.ok() && *back == *a, "approvals response round trip failed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 4 == 0) {
    CheckSessionResponse(body);
  } else if (data[0] % 4 == 3) {
    CheckApprovalsResponse(body);
  } else {
    CheckCheckinResponse(body);
  }
  return 0;
}
