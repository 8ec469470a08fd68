// JSON codec for rollout::ReleaseState, the value the store persists after every accepted
// transition. Versioned ("format": 1); decoding is strict (unknown or missing keys, wrong types,
// unknown phase names are DataLoss) so a record written by a newer server is never misread.
//
//   {"format":1,"release_id":"r-7","phase":"Baking","on_failure":"rollback",
//    "waves":[{"name":"canary","dispatch_us":600000000,"bake_us":1800000000},...],
//    "wave":0,"resume_phase":"Ready","operator_paused":false,"gate_hold":false,
//    "promotion_requested":false,"dispatch_elapsed_us":0,"segment_started_us":..,
//    "bake_started_us":..,"last_event_us":..,"reason":""}
//
// The plan itself is stored as the uploaded YAML and re-parsed with rollout::ParsePlan on load.
#ifndef RINGFENCE_STORE_RELEASE_CODEC_H_
#define RINGFENCE_STORE_RELEASE_CODEC_H_

#include <string>
#include <string_view>

#include "core/status.h"
#include "rollout/release.h"
#include "admission/records.h"

namespace rf::store {

inline constexpr int kReleaseStateFormat = 1;

std::string EncodeReleaseState(const rollout::ReleaseState& state);
Result<rollout::ReleaseState> DecodeReleaseState(std::string_view json);

// "Dispatching" -> Phase::kDispatching (PhaseName's inverse).
Result<rollout::Phase> PhaseFromName(std::string_view name);

// Role names as in the API and the database: author, reviewer, operator, admin, agent.
std::string_view RoleString(admission::Role r);
Result<admission::Role> RoleFromString(std::string_view name);
// "author,reviewer" <-> roles (the database column form).
std::string JoinRoles(const std::vector<admission::Role>& roles);
Result<std::vector<admission::Role>> SplitRoles(std::string_view text);

}  // namespace rf::store

#endif  // RINGFENCE_STORE_RELEASE_CODEC_H_
