#include "sim/runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include <boost/json.hpp>

#include "core/content_type.h"
#include "sim/baseline_policies.h"
#include "sim/ringfence_policy.h"

namespace rf::sim {
namespace {

std::string Count(int64_t n) { return FormatCount(n); }

std::string TimeOrDash(const std::optional<int64_t>& t) { return t ? FormatSimTime(*t) : "-"; }

template <typename T>
T Median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];
}

template <typename T>
T Quantile(std::vector<T> v, double q) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

// Median and max of the values that are present.
void MedianMax(const std::vector<std::optional<int64_t>>& v, std::optional<int64_t>* median,
               std::optional<int64_t>* max) {
  std::vector<int64_t> present;
  for (const auto& x : v) {
    if (x) present.push_back(*x);
  }
  if (present.empty()) return;
  *median = Median(present);
  if (max) *max = *std::max_element(present.begin(), present.end());
}

PolicySummary Summarize(std::string policy, std::vector<SimResult> runs) {
  PolicySummary s;
  s.policy = std::move(policy);
  std::vector<int64_t> harmed;
  std::vector<std::optional<int64_t>> halt, full, reach, reach_out;
  for (const SimResult& r : runs) {
    s.mean_exposed += static_cast<double>(r.exposed);
    s.mean_harmed += static_cast<double>(r.harmed);
    harmed.push_back(r.harmed);
    if (r.halted) ++s.halted_runs;
    if (r.full_dispatch_micros) ++s.full_runs;
    halt.push_back(r.halt_micros);
    full.push_back(r.full_dispatch_micros);
    reach.push_back(r.reach_99_micros);
    reach_out.push_back(r.reach_99_outside_holdback_micros);
  }
  const auto n = static_cast<double>(runs.size());
  s.mean_exposed /= n;
  s.mean_harmed /= n;
  s.median_harmed = Median(harmed);
  s.p90_harmed = Quantile(harmed, 0.9);
  s.max_harmed = *std::max_element(harmed.begin(), harmed.end());
  MedianMax(halt, &s.median_halt_micros, &s.max_halt_micros);
  MedianMax(full, &s.median_full_micros, nullptr);
  MedianMax(reach, &s.median_reach_99_micros, &s.max_reach_99_micros);
  MedianMax(reach_out, &s.median_reach_99_outside_holdback_micros,
            &s.max_reach_99_outside_holdback_micros);
  s.runs = std::move(runs);
  return s;
}

// A zero result for a release that layer 1 stopped before any device saw it.
SimResult BlockedResult(const Scenario& scenario, std::string_view policy, uint64_t seed) {
  SimResult r;
  r.scenario = scenario.name;
  r.policy = std::string(policy);
  r.seed = seed;
  r.devices = scenario.fleet.devices;
  r.eligible = scenario.EligibleDevices();
  r.outcome = "not shipped: layer 1 rejected the bundle";
  for (const ScenarioStratum& st : scenario.fleet.strata) {
    StratumOutcome o;
    o.label = st.Label();
    o.eligible = scenario.Eligible(st);
    o.devices = st.devices;
    r.strata.push_back(std::move(o));
  }
  return r;
}

boost::json::value OptSeconds(const std::optional<int64_t>& t) {
  if (!t) return nullptr;
  return static_cast<double>(*t) / 1e6;
}

boost::json::object Layer1Json(const ScenarioRun& run) {
  boost::json::object o;
  o["state"] = std::string(Layer1StateName(run.layer1.state));
  if (run.layer1.state == Layer1Outcome::State::kAccepted ||
      run.layer1.state == Layer1Outcome::State::kRejected) {
    boost::system::error_code ec;
    boost::json::value report = boost::json::parse(StageOneReportJson(run.layer1.report), ec);
    if (!ec) o["report"] = std::move(report);
  }
  o["blocked_release"] = run.blocked_by_layer1;
  return o;
}

boost::json::object RunJson(const SimResult& r) {
  boost::json::object o;
  o["scenario"] = r.scenario;
  o["policy"] = r.policy;
  o["seed"] = r.seed;
  o["devices"] = r.devices;
  o["eligible_devices"] = r.eligible;
  o["devices_exposed"] = r.exposed;
  o["devices_harmed"] = r.harmed;
  o["halted"] = r.halted;
  o["time_to_halt_s"] = OptSeconds(r.halt_micros);
  o["time_to_full_s"] = OptSeconds(r.full_dispatch_micros);
  o["time_to_99pct_applied_s"] = OptSeconds(r.reach_99_micros);
  o["time_to_99pct_applied_outside_holdback_s"] = OptSeconds(r.reach_99_outside_holdback_micros);
  o["held_back_devices"] = r.held_back;
  o["simulated_s"] = static_cast<double>(r.end_micros) / 1e6;
  o["outcome"] = r.outcome;
  boost::json::array strata;
  for (const StratumOutcome& s : r.strata) {
    boost::json::object so;
    so["stratum"] = s.label;
    so["eligible"] = s.eligible;
    so["devices"] = s.devices;
    so["devices_dispatched"] = s.dispatched;
    so["devices_exposed"] = s.exposed;
    so["devices_harmed"] = s.harmed;
    so["halted"] = r.halted;
    so["time_to_halt_s"] = OptSeconds(r.halt_micros);
    so["time_to_full_s"] = OptSeconds(s.full_dispatch_micros);
    strata.push_back(std::move(so));
  }
  o["strata"] = std::move(strata);
  boost::json::array log;
  for (const std::string& line : r.log) log.push_back(boost::json::string(line));
  o["log"] = std::move(log);
  return o;
}

boost::json::object SummaryJson(const PolicySummary& s) {
  boost::json::object o;
  o["runs"] = static_cast<int64_t>(s.runs.size());
  o["mean_devices_exposed"] = s.mean_exposed;
  o["mean_devices_harmed"] = s.mean_harmed;
  o["median_devices_harmed"] = s.median_harmed;
  o["p90_devices_harmed"] = s.p90_harmed;
  o["max_devices_harmed"] = s.max_harmed;
  o["halted_runs"] = s.halted_runs;
  o["median_time_to_halt_s"] = OptSeconds(s.median_halt_micros);
  o["max_time_to_halt_s"] = OptSeconds(s.max_halt_micros);
  o["full_runs"] = s.full_runs;
  o["median_time_to_full_s"] = OptSeconds(s.median_full_micros);
  o["median_time_to_99pct_applied_s"] = OptSeconds(s.median_reach_99_micros);
  o["max_time_to_99pct_applied_s"] = OptSeconds(s.max_reach_99_micros);
  o["median_time_to_99pct_applied_outside_holdback_s"] =
      OptSeconds(s.median_reach_99_outside_holdback_micros);
  o["max_time_to_99pct_applied_outside_holdback_s"] =
      OptSeconds(s.max_reach_99_outside_holdback_micros);
  return o;
}

std::string Header(const ScenarioRun& run) {
  const Scenario& sc = *run.scenario;
  std::string out = "scenario " + sc.name + ": " + Count(sc.fleet.devices) + " devices, " +
                    Count(sc.EligibleDevices()) + " eligible for '" + sc.release.content_type +
                    "'; plan '" + run.plan.name + "'; seed " + std::to_string(run.options.seed);
  if (run.options.runs > 1) {
    out += ".." + std::to_string(run.options.seed + static_cast<uint64_t>(run.options.runs) - 1) +
           " (" + std::to_string(run.options.runs) + " runs)";
  }
  out += "\nlayer 1: ";
  switch (run.layer1.state) {
    case Layer1Outcome::State::kNotApplicable:
      out += "not applicable (the scenario names no type and bundle)";
      break;
    case Layer1Outcome::State::kSkipped:
      out += "skipped (--skip-layer1): the rollout alone";
      break;
    case Layer1Outcome::State::kAccepted:
      out += "accepted (" + std::to_string(run.layer1.report.warnings) + " warnings)";
      break;
    case Layer1Outcome::State::kRejected: {
      const size_t errors = run.layer1.report.errors;
      out += "REJECTED with " + std::to_string(errors) + (errors == 1 ? " error" : " errors") +
             ": the release is never shipped";
      size_t shown = 0;
      for (const Finding& f : run.layer1.report.findings) {
        if (f.severity != Severity::kError || shown == 3) continue;
        ++shown;
        out += "\n  [" + f.check + "] " + (f.item.empty() ? "" : f.item + ": ") + f.message;
      }
      out += "\n  (--skip-layer1 shows what the rollout alone would do)";
      break;
    }
  }
  return out + "\n";
}

std::string Pad(std::string s, size_t width, bool right) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

}  // namespace

const std::vector<std::string>& PolicyNames() {
  static const std::vector<std::string> kNames = {"ringfence",      "all-at-once", "appconfig-canary",
                                                  "argo-threshold", "kayenta",     "phased-7day"};
  return kNames;
}

Result<RolloutPolicyPtr> MakePolicy(std::string_view name, const rollout::Plan& plan,
                                    const RingfencePolicyOptions& ringfence) {
  if (name == "ringfence") {
    return RolloutPolicyPtr(std::make_unique<RingfencePolicy>(plan, ringfence));
  }
  if (name == "all-at-once") return RolloutPolicyPtr(std::make_unique<AllAtOncePolicy>());
  if (name == "appconfig-canary") return RolloutPolicyPtr(std::make_unique<AppConfigCanaryPolicy>());
  if (name == "argo-threshold") return RolloutPolicyPtr(std::make_unique<ArgoThresholdPolicy>());
  if (name == "kayenta") return RolloutPolicyPtr(std::make_unique<KayentaPolicy>());
  if (name == "phased-7day") return RolloutPolicyPtr(std::make_unique<PhasedReleasePolicy>());
  std::string known;
  for (const std::string& n : PolicyNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::InvalidArgument("unknown policy '" + std::string(name) + "' (known: " + known + ")");
}

std::string_view Layer1StateName(Layer1Outcome::State s) {
  switch (s) {
    case Layer1Outcome::State::kNotApplicable:
      return "not_applicable";
    case Layer1Outcome::State::kSkipped:
      return "skipped";
    case Layer1Outcome::State::kAccepted:
      return "accepted";
    case Layer1Outcome::State::kRejected:
      return "rejected";
  }
  return "?";
}

Result<Layer1Outcome> RunLayer1(const Scenario& scenario, const ScenarioFiles& files) {
  Layer1Outcome out;
  if (scenario.release.bundle_path.empty()) return out;
  RF_ASSIGN_OR_RETURN(ContentType type,
                      ParseContentType(files.type_text, scenario.release.type_path));
  if (type.name != scenario.release.content_type) {
    return Status::InvalidArgument(scenario.filename + ":" +
                                   std::to_string(scenario.release.type_line) +
                                   ": key 'type': the type file defines '" + type.name +
                                   "', the release ships '" + scenario.release.content_type + "'");
  }
  const Fleet fleet = scenario.ToFleet();
  RF_ASSIGN_OR_RETURN(out.report, CheckBundleSource(type, files.bundle_text,
                                                    scenario.release.bundle_path, &fleet));
  out.state = out.report.accepted ? Layer1Outcome::State::kAccepted
                                  : Layer1Outcome::State::kRejected;
  return out;
}

Result<ScenarioRun> RunScenario(const Scenario& scenario, const ScenarioFiles& files,
                                const RunOptions& options) {
  if (options.runs < 1) return Status::InvalidArgument("--runs must be at least 1");
  if (options.policies.empty()) return Status::InvalidArgument("no policy to run");
  ScenarioRun run;
  run.scenario = &scenario;
  run.options = options;
  RF_ASSIGN_OR_RETURN(run.plan, rollout::ParsePlan(files.plan_text, scenario.plan_path));
  // Unknown policy names fail before any work.
  for (const std::string& name : options.policies) {
    RF_RETURN_IF_ERROR(MakePolicy(name, run.plan).status());
  }
  if (options.skip_layer1) {
    run.layer1.state = scenario.release.bundle_path.empty() ? Layer1Outcome::State::kNotApplicable
                                                            : Layer1Outcome::State::kSkipped;
  } else {
    RF_ASSIGN_OR_RETURN(run.layer1, RunLayer1(scenario, files));
    run.blocked_by_layer1 = run.layer1.state == Layer1Outcome::State::kRejected;
  }
  SimulationOptions sim = options.simulation;
  sim.silence_after_micros = run.plan.gate.silence_after_micros;
  sim.confirm_after_micros = run.plan.gate.confirm_after_micros;
  for (const std::string& name : options.policies) {
    std::vector<SimResult> results;
    for (int i = 0; i < options.runs; ++i) {
      const uint64_t seed = options.seed + static_cast<uint64_t>(i);
      if (run.blocked_by_layer1) {
        results.push_back(BlockedResult(scenario, name, seed));
        continue;
      }
      RF_ASSIGN_OR_RETURN(RolloutPolicyPtr policy, MakePolicy(name, run.plan, options.ringfence));
      auto r = RunSimulation(scenario, *policy, sim, seed);
      if (!r.ok()) return r.status().WithPrefix("policy " + name + ", seed " + std::to_string(seed));
      results.push_back(*std::move(r));
    }
    run.policies.push_back(Summarize(name, std::move(results)));
  }
  return run;
}

CompareTable BuildCompareTable(const ScenarioRun& run) {
  const bool many = run.options.runs > 1;
  CompareTable t;
  t.head = {"policy", many ? "exposed(mean)" : "exposed", many ? "harmed(mean)" : "harmed",
            many ? "harmed(p90)" : "", "halted", many ? "t_halt(med)" : "t_halt",
            many ? "t_full(med)" : "t_full", many ? "t_99%(med)" : "t_99%", "outcome"};
  for (const PolicySummary& p : run.policies) {
    std::vector<std::string> row;
    row.push_back(p.policy);
    if (many) {
      row.push_back(Count(std::llround(p.mean_exposed)));
      row.push_back(Count(std::llround(p.mean_harmed)));
      row.push_back(Count(p.p90_harmed));
      row.push_back(std::to_string(p.halted_runs) + "/" + std::to_string(p.runs.size()));
    } else {
      const SimResult& r = p.runs.front();
      row.push_back(Count(r.exposed));
      row.push_back(Count(r.harmed));
      row.push_back("");
      row.push_back(r.halted ? "yes" : "no");
    }
    row.push_back(TimeOrDash(p.median_halt_micros));
    row.push_back(TimeOrDash(p.median_full_micros));
    row.push_back(TimeOrDash(p.median_reach_99_micros));
    row.push_back(many ? "" : p.runs.front().outcome);
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string FormatCompareTable(const ScenarioRun& run) {
  std::string out = Header(run);
  CompareTable t = BuildCompareTable(run);
  const std::vector<std::string>& head = t.head;
  const std::vector<std::vector<std::string>>& rows = t.rows;
  std::vector<size_t> width(head.size(), 0);
  for (size_t i = 0; i < head.size(); ++i) width[i] = head[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (width[i] == 0) continue;
      const bool last = i + 1 == cells.size();
      l += Pad(cells[i], last ? 0 : width[i], i > 0 && !last) + (last ? "" : "  ");
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    return l + "\n";
  };
  out += line(head);
  for (const auto& row : rows) out += line(row);
  out += "t_halt: time from release to halt; t_full: every eligible device offered the release; "
         "t_99%: 99% of eligible devices applied it.\n";
  return out;
}

std::string FormatText(const ScenarioRun& run) {
  if (run.policies.size() != 1) return FormatCompareTable(run);
  std::string out = Header(run);
  const PolicySummary& p = run.policies.front();
  if (run.options.runs > 1) {
    out += "policy " + p.policy + ", " + std::to_string(p.runs.size()) + " runs:\n";
    out += "  devices harmed: mean " + Count(std::llround(p.mean_harmed)) + ", median " +
           Count(p.median_harmed) + ", p90 " + Count(p.p90_harmed) + ", max " +
           Count(p.max_harmed) + "\n";
    out += "  devices exposed: mean " + Count(std::llround(p.mean_exposed)) + "\n";
    out += "  halted: " + std::to_string(p.halted_runs) + " of " + std::to_string(p.runs.size()) +
           " runs; time to halt median " + TimeOrDash(p.median_halt_micros) + ", max " +
           TimeOrDash(p.max_halt_micros) + "\n";
    out += "  every device offered the release: " + std::to_string(p.full_runs) + " of " +
           std::to_string(p.runs.size()) + " runs; median " + TimeOrDash(p.median_full_micros) +
           "\n";
    out += "  99% of eligible applied: median " + TimeOrDash(p.median_reach_99_micros) +
           ", max " + TimeOrDash(p.max_reach_99_micros) + "; 99% outside the holdback: median " +
           TimeOrDash(p.median_reach_99_outside_holdback_micros) + ", max " +
           TimeOrDash(p.max_reach_99_outside_holdback_micros) + "\n";
    return out;
  }
  const SimResult& r = p.runs.front();
  out += "policy " + r.policy + ": " + r.outcome + "\n";
  out += "  exposed " + Count(r.exposed) + ", harmed " + Count(r.harmed) + ", halted " +
         (r.halt_micros ? "at " + FormatSimTime(*r.halt_micros) : std::string("no")) +
         ", every device offered: " + TimeOrDash(r.full_dispatch_micros) +
         ", 99% applied: " + TimeOrDash(r.reach_99_micros) +
         (r.held_back > 0 ? " (outside the " + Count(r.held_back) +
                                "-device holdback: " +
                                TimeOrDash(r.reach_99_outside_holdback_micros) + ")"
                          : std::string()) +
         ", simulated " + FormatSimTime(r.end_micros) + "\n";
  size_t label = 7;
  for (const StratumOutcome& s : r.strata) label = std::max(label, s.label.size());
  out += "  " + Pad("stratum", label, false) + "  " + Pad("devices", 11, true) + "  " +
         Pad("dispatched", 11, true) + "  " + Pad("exposed", 11, true) + "  " +
         Pad("harmed", 11, true) + "\n";
  for (const StratumOutcome& s : r.strata) {
    out += "  " + Pad(s.label, label, false) + "  " + Pad(Count(s.devices), 11, true) + "  " +
           Pad(s.eligible ? Count(s.dispatched) : "ineligible", 11, true) + "  " +
           Pad(Count(s.exposed), 11, true) + "  " + Pad(Count(s.harmed), 11, true) + "\n";
  }
  if (!r.log.empty()) {
    out += "decisions:\n";
    for (const std::string& l : r.log) out += "  " + l + "\n";
  }
  return out;
}

std::string FormatJson(const ScenarioRun& run) {
  if (run.policies.size() == 1 && run.options.runs == 1) {
    boost::json::object o = RunJson(run.policies.front().runs.front());
    o["plan"] = run.plan.name;
    o["layer1"] = Layer1Json(run);
    return boost::json::serialize(o) + "\n";
  }
  boost::json::object o;
  o["scenario"] = run.scenario->name;
  o["plan"] = run.plan.name;
  o["seed"] = run.options.seed;
  o["runs"] = run.options.runs;
  o["layer1"] = Layer1Json(run);
  boost::json::array policies;
  for (const PolicySummary& p : run.policies) {
    boost::json::object po;
    po["policy"] = p.policy;
    po["summary"] = SummaryJson(p);
    boost::json::array runs;
    for (const SimResult& r : p.runs) runs.push_back(RunJson(r));
    po["runs"] = std::move(runs);
    policies.push_back(std::move(po));
  }
  o["policies"] = std::move(policies);
  return boost::json::serialize(o) + "\n";
}

}  // namespace rf::sim
