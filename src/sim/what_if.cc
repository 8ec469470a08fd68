#include "sim/what_if.h"

#include <algorithm>

#include "sim/runner.h"
#include "sim/sim_html.h"

namespace rf::sim {

Result<std::string> WhatIfJson(const WhatIfInput& in) {
  if (!(in.p >= 0 && in.p <= 1)) return Status::InvalidArgument("p must be between 0 and 1");
  Scenario sc;
  sc.name = "what if " + in.release_id + " were bad";
  sc.filename = "(live fleet)";
  sc.release.content_type = in.content_type;
  FailureRule bad;
  bad.p = in.p;
  bad.signal = in.signal;
  bad.repeats_on_boot = true;
  sc.release.failures.push_back(bad);
  sc.fleet.poll_interval_micros = in.poll_interval_micros;
  int64_t total = 0;
  for (const Stratum& s : in.fleet.strata) total += s.devices;
  if (total <= 0) return Status::FailedPrecondition("the fleet has no devices");
  sc.fleet.devices = total;
  for (const Stratum& s : in.fleet.strata) {
    if (s.devices <= 0) continue;
    ScenarioStratum st;
    st.attrs = rollout::Attributes(s.attrs.begin(), s.attrs.end());
    st.capabilities = s.capabilities;
    st.devices = s.devices;
    st.share = static_cast<double>(s.devices) / static_cast<double>(total);
    sc.fleet.strata.push_back(std::move(st));
  }
  if (sc.EligibleDevices() == 0) {
    return Status::FailedPrecondition("no device of the fleet takes content type '" +
                                      in.content_type + "'");
  }
  ScenarioFiles files;
  files.plan_text = in.plan_yaml;
  RunOptions options;
  options.policies = {"ringfence", "all-at-once"};
  options.seed = in.seed;
  // The engine's tick may not exceed the poll interval (fast test fleets poll every second).
  options.simulation.tick_micros = std::min(options.simulation.tick_micros, in.poll_interval_micros);
  RF_ASSIGN_OR_RETURN(ScenarioRun run, RunScenario(sc, files, options));
  return CompareHtmlData(run);
}

}  // namespace rf::sim
