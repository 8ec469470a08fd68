// The agent's names for the protocol's canonical JSON helpers. The one definition is
// protocol/canonical_json.h (docs/protocol.md "Signed statements"); nothing is defined here.
#ifndef RINGFENCE_AGENT_CANONICAL_JSON_H_
#define RINGFENCE_AGENT_CANONICAL_JSON_H_

#include "protocol/canonical_json.h"

namespace rf::agent {

using protocol::CheckKeys;
using protocol::EncodeCanonicalJson;
using protocol::GetInt;
using protocol::GetString;
using protocol::ParseCanonicalJson;
using protocol::ParseJson;

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_CANONICAL_JSON_H_
