// Identifier rules of the agent protocol and the operator API (docs/protocol.md "Conventions"):
// what a channel name, a device id, a principal name and a digest may be, used by the server
// (upload, release creation, policies, controls, check-ins, principals), the agent (directives,
// statements, its state directory) and the CLI. Channel names and device ids follow the one
// identifier rule of core/identifiers.h (which bundle item ids follow too); it is named here, not
// copied.
//
// Channel names, device ids and principal names become file names or path segments (the agent's
// state directory, the server's inventory dumps, API paths), so "." and ".." are refused
// everywhere, not only where a path is built.
//
// Pure. Thread-safe.
#ifndef RINGFENCE_PROTOCOL_IDENTIFIERS_H_
#define RINGFENCE_PROTOCOL_IDENTIFIERS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/identifiers.h"
#include "core/status.h"

namespace rf::protocol {

// An identifier: 1-128 characters of [A-Za-z0-9._:-] that is not "." or ".." (core/identifiers.h;
// kIdRule says it in words). Channel names and device ids follow this rule.
using rf::IsValidId;
using rf::kIdRule;
using rf::kMaxIdBytes;
inline bool IsValidChannel(std::string_view channel) { return IsValidId(channel); }
inline bool IsValidDeviceId(std::string_view device_id) { return IsValidId(device_id); }

// A principal (operator API user) name: 1-64 characters of [a-z0-9._-], not "." or "..".
bool IsValidPrincipalName(std::string_view name);
inline constexpr std::string_view kPrincipalNameRule =
    "1-64 characters of [a-z0-9._-], not '.' or '..'";

// 64 lowercase hex digits (a SHA-256 digest as the protocol writes it).
bool IsSha256Hex(std::string_view hex);

// OK, or InvalidArgument "<what> '<value>' is not a valid channel name (1-128 characters of ...)".
// The value is quoted with non-printable bytes escaped and cut at 64 bytes.
Status CheckChannel(std::string_view channel, std::string_view what = "channel");
// OK, or InvalidArgument "principal name '<value>' is not valid (1-64 characters of ...)", the
// value quoted as by CheckChannel.
Status CheckPrincipalName(std::string_view name);

}  // namespace rf::protocol

#endif  // RINGFENCE_PROTOCOL_IDENTIFIERS_H_
