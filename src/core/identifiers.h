// The identifier rule of ringfence (docs/protocol.md "Conventions", docs/bundle-format.md): the one
// definition of what a channel name, a device id and a bundle item id may be. The agent protocol
// (protocol/identifiers.h) names it for channels and device ids; the bundle decoders
// (core/bundle.h) for item ids.
//
// Identifiers become file names and path segments (the agent's state directory, the server's
// inventory dumps, report paths), so "." and ".." are refused everywhere, not only where a path is
// built.
//
// Pure. Thread-safe.
#ifndef RINGFENCE_CORE_IDENTIFIERS_H_
#define RINGFENCE_CORE_IDENTIFIERS_H_

#include <cstddef>
#include <string_view>

namespace rf {

inline constexpr size_t kMaxIdBytes = 128;

// The rule in words, for error messages.
inline constexpr std::string_view kIdRule = "1-128 characters of [A-Za-z0-9._:-], not '.' or '..'";

// An identifier: 1-128 characters of [A-Za-z0-9._:-] that is not "." or "..".
bool IsValidId(std::string_view id);

// A bundle item id follows the identifier rule.
inline bool IsValidItemId(std::string_view id) { return IsValidId(id); }

}  // namespace rf

#endif  // RINGFENCE_CORE_IDENTIFIERS_H_
