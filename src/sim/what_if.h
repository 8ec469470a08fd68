// "What if this content were bad": a planned release's blast radius on the live fleet
// (docs/dashboard.md "What if"). The fleet as devices report it (core Fleet: strata, capabilities,
// device counts) and the release's plan become a simulator scenario in which every device that
// applies the content fails (with probability `p`, showing `signal`, on every boot); the
// ringfence policy (the real rollout core with this plan) and the all-at-once baseline run on it.
//
//   WhatIfInput in;  in.fleet = inventory.Inventory();  in.plan_yaml = r.plan_yaml;  ...
//   RF_ASSIGN_OR_RETURN(std::string json, WhatIfJson(in));   // CompareHtmlData's format
#ifndef RINGFENCE_SIM_WHAT_IF_H_
#define RINGFENCE_SIM_WHAT_IF_H_

#include <cstdint>
#include <string>

#include "core/fleet.h"
#include "core/status.h"
#include "sim/scenario.h"

namespace rf::sim {

struct WhatIfInput {
  std::string release_id;     // names the scenario
  std::string content_type;   // the release's
  std::string plan_yaml;      // the release's plan, as uploaded
  Fleet fleet;                // the live fleet
  int64_t poll_interval_micros = 60'000'000;  // how often devices check in
  double p = 1.0;             // share of devices that fail after applying
  FailureSignal signal = FailureSignal::kCrash;
  uint64_t seed = 1;
};

// The comparison as sim_html.h's CompareHtmlData JSON. InvalidArgument for an unusable plan or
// p outside [0, 1]; FailedPrecondition when no device of the fleet takes the content type.
Result<std::string> WhatIfJson(const WhatIfInput& in);

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_WHAT_IF_H_
