// Canonical JSON (docs/bundle-format.md "Canonical payload"): the one byte form of every signed
// statement — bundle payloads, release statements and approvals — for the server, the agent and
// the CLI alike (docs/protocol.md "Signed statements").
//
// A payload is accepted only if re-encoding what was parsed gives back the exact same bytes, so a
// statement has one identity and a verifier never acts on bytes that differ from what was signed.
//
//   RF_ASSIGN_OR_RETURN(boost::json::value v, ParseCanonicalJson(payload));
#ifndef RINGFENCE_PROTOCOL_CANONICAL_JSON_H_
#define RINGFENCE_PROTOCOL_CANONICAL_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "core/status.h"

namespace rf::protocol {

// Keys sorted bytewise, no whitespace, integers in decimal, the minimal string escapes.
// Floating-point numbers have no canonical form here and are encoded with a marker that never
// round-trips, so a payload holding one is refused by ParseCanonicalJson.
std::string EncodeCanonicalJson(const boost::json::value& v);

// Parses `text` and refuses it (InvalidArgument naming the problem) unless it is valid JSON in
// canonical form, at most `max_depth` deep.
Result<boost::json::value> ParseCanonicalJson(std::string_view text, unsigned max_depth = 32);

// Parses ordinary (not necessarily canonical) JSON: InvalidArgument on a syntax error.
Result<boost::json::value> ParseJson(std::string_view text, unsigned max_depth = 32);

// Field access for decoders: each fails with InvalidArgument "<where>: '<key>' ..." when the key is
// missing or of the wrong type.
Result<std::string> GetString(const boost::json::object& o, std::string_view key,
                              std::string_view where);
Result<int64_t> GetInt(const boost::json::object& o, std::string_view key, std::string_view where);
// InvalidArgument naming the first key of `o` that is not in `allowed`.
Status CheckKeys(const boost::json::object& o, std::initializer_list<std::string_view> allowed,
                 std::string_view where);

}  // namespace rf::protocol

#endif  // RINGFENCE_PROTOCOL_CANONICAL_JSON_H_
