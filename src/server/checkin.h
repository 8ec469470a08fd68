// The check-in messages as the server uses them. The messages themselves, their limits and their
// strict decoders are the agent protocol's (protocol/agent_messages.h, the one definition; they are
// named here so server code reads rf::server::CheckinRequest); this file adds the server's own
// encodings of decoded values: the interned profile and installed-set keys of the fleet inventory.
//
// Pure: no I/O, no clock reads. Thread-safe.
#ifndef RINGFENCE_SERVER_CHECKIN_H_
#define RINGFENCE_SERVER_CHECKIN_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/fleet.h"
#include "core/status.h"
#include "protocol/agent_messages.h"
#include "protocol/identifiers.h"
#include "rollout/cohort.h"

namespace rf::server {

using protocol::ApplyOutcome;
using protocol::ApplyOutcomeName;
using protocol::ApplyResult;
using protocol::BundleRef;
using protocol::ChannelReport;
using protocol::CheckinRequest;
using protocol::EnrollRequest;
using protocol::IsValidId;
using protocol::kMaxAgentBodyBytes;
using protocol::kMaxAttrs;
using protocol::kMaxChannels;
using protocol::kMaxHealthEntries;
using protocol::kMaxIdBytes;
using protocol::ParseCheckinRequest;
using protocol::ParseEnrollRequest;
using protocol::ParseSessionRequest;
using protocol::QuarantinedVersion;
using protocol::SessionRequest;

// Canonical JSON of a device profile (its attributes and capability manifest):
// {"attrs":{...},"capabilities":{...}} with keys sorted, no whitespace. Two devices have the same
// profile iff these strings are equal; ParseProfileKey inverts it.
std::string EncodeProfileKey(const rollout::Attributes& attrs, const CapabilityManifest& caps);
[[nodiscard]] Status ParseProfileKey(std::string_view key, rollout::Attributes* attrs,
                                     CapabilityManifest* caps);

// Canonical JSON of what a device has installed: {"291":{"current":{...},"lkg":{...}},...}.
// REQUIRES: `channels` sorted by channel (as ParseCheckinRequest returns them).
std::string EncodeInstalledKey(const std::vector<ChannelReport>& channels);
[[nodiscard]] Result<std::vector<ChannelReport>> ParseInstalledKey(std::string_view key);

// Canonical JSON of a device's quarantined versions (the fleet inventory's interned quarantined
// set): [{"channel":..,"reason":..,"sha256":..,"version":..},...], entries in the order given.
// REQUIRES: `entries` sorted by (channel, version, sha256), unique, at most kMaxHealthEntries (as
// FleetInventory keeps them). ParseQuarantinedKey inverts it (DataLoss naming the problem).
std::string EncodeQuarantinedKey(const std::vector<QuarantinedVersion>& entries);
[[nodiscard]] Result<std::vector<QuarantinedVersion>> ParseQuarantinedKey(std::string_view key);

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_CHECKIN_H_
