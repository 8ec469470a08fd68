// Identifier rules of the agent protocol and the operator API (docs/protocol.md "Conventions"):
// the one definition of what a channel name, a device id and a digest may be, used by the server
// (upload, release creation, policies, controls, check-ins), the agent (directives, statements,
// its state directory) and the CLI.
//
// Channel names and device ids become file names (the agent's state directory, the server's
// inventory dumps), so "." and ".." are refused everywhere, not only where a path is built.
//
// Pure. Thread-safe.
#ifndef RINGFENCE_PROTOCOL_IDENTIFIERS_H_
#define RINGFENCE_PROTOCOL_IDENTIFIERS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace rf::protocol {

inline constexpr size_t kMaxIdBytes = 128;  // device ids and channels

// The rule in words, for error messages.
inline constexpr std::string_view kIdRule = "1-128 characters of [A-Za-z0-9._:-], not '.' or '..'";

// An identifier: 1-128 characters of [A-Za-z0-9._:-] that is not "." or "..". Channel names and
// device ids follow this rule.
bool IsValidId(std::string_view id);
inline bool IsValidChannel(std::string_view channel) { return IsValidId(channel); }
inline bool IsValidDeviceId(std::string_view device_id) { return IsValidId(device_id); }

// A principal (operator API user) name: 1-64 characters of [a-z0-9._-], not "." or "..".
bool IsValidPrincipalName(std::string_view name);

// 64 lowercase hex digits (a SHA-256 digest as the protocol writes it).
bool IsSha256Hex(std::string_view hex);

// OK, or InvalidArgument "<what> '<value>' is not a valid channel name (1-128 characters of ...)".
// The value is quoted with non-printable bytes escaped and cut at 64 bytes.
Status CheckChannel(std::string_view channel, std::string_view what = "channel");

}  // namespace rf::protocol

#endif  // RINGFENCE_PROTOCOL_IDENTIFIERS_H_
