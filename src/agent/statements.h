// The agent's names for the protocol's signed statements and identifier rules. The one definition
// is protocol/statements.h and protocol/identifiers.h (docs/protocol.md "Signed statements");
// nothing is defined here. What the agent accepts is decided by agent/verifier.h.
#ifndef RINGFENCE_AGENT_STATEMENTS_H_
#define RINGFENCE_AGENT_STATEMENTS_H_

#include "protocol/identifiers.h"
#include "protocol/statements.h"

namespace rf::agent {

using protocol::ApprovalStatement;
using protocol::BundleHeader;
using protocol::DecodeApprovalStatement;
using protocol::DecodeBundleHeader;
using protocol::DecodeReleaseStatement;
using protocol::EncodeApprovalStatement;
using protocol::EncodeReleaseStatement;
using protocol::IsSha256Hex;
using protocol::IsValidChannel;
using protocol::kApprovalPayloadType;
using protocol::kReleasePayloadType;
using protocol::ReleaseStatement;

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_STATEMENTS_H_
