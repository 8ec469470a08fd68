#include "sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "format/yaml.h"

namespace rf::sim {
namespace {

using yaml::ErrorAt;
using yaml::NodeRef;

// Shares must add up to 1 within this tolerance (they are written with a few decimals).
constexpr double kShareSumTolerance = 1e-6;
// Baseline rates above this (an event every 90 s) are typos, not fleets.
constexpr double kMaxRatePerDay = 1000;

bool IsContentTypeName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// A scalar's text: attribute values are strings whether written as 7.11 or "7.11".
Result<std::string> ScalarText(NodeRef v, std::string_view key) {
  if (!v.IsScalar() || v.IsNull()) return ErrorAt(v, key, "expected a string");
  return std::string(v.Text());
}

Result<double> RequiredNumber(NodeRef map, std::string_view key) {
  if (!map.Get(key)) return ErrorAt(map, key, "required key is missing");
  return yaml::GetDouble(map, key, 0);
}

Result<rollout::Attributes> ParseAttrs(NodeRef attrs) {
  RF_RETURN_IF_ERROR(attrs.IsMapping() ? Status::Ok()
                                       : ErrorAt(attrs, "attrs", "expected a mapping"));
  rollout::Attributes out;
  Status st;
  attrs.ForEachEntry([&](NodeRef k, NodeRef v) {
    if (!st.ok()) return;
    auto text = ScalarText(v, k.Text());
    if (!text.ok()) {
      st = text.status();
      return;
    }
    out.emplace(std::string(k.Text()), *std::move(text));
  });
  RF_RETURN_IF_ERROR(st);
  return out;
}

Result<ConsumerCapability> ParseCapability(NodeRef cap) {
  RF_RETURN_IF_ERROR(yaml::CheckMapping(cap, "capability",
                                        {"schema_versions", "inputs", "max_items",
                                         "max_bundle_bytes"}));
  ConsumerCapability out;
  NodeRef versions = cap.Get("schema_versions");
  if (!versions) return ErrorAt(cap, "schema_versions", "required key is missing");
  if (!versions.IsSequence() || versions.size() == 0) {
    return ErrorAt(versions, "schema_versions", "expected a non-empty list of integers");
  }
  for (NodeRef v : versions.Items()) {
    auto i = v.AsInt();
    if (!i || *i < 0) return ErrorAt(v, "schema_versions", "expected a non-negative integer");
    out.schema_versions.push_back(*i);
  }
  RF_ASSIGN_OR_RETURN(out.inputs, yaml::GetInt(cap, "inputs"));
  RF_ASSIGN_OR_RETURN(out.max_items, yaml::GetInt(cap, "max_items", 0));
  RF_ASSIGN_OR_RETURN(out.max_bundle_bytes, yaml::GetInt(cap, "max_bundle_bytes", 0));
  if (out.inputs < 0) return ErrorAt(cap.Get("inputs"), "inputs", "must be >= 0");
  if (out.max_items < 0) return ErrorAt(cap.Get("max_items"), "max_items", "must be >= 0");
  if (out.max_bundle_bytes < 0) {
    return ErrorAt(cap.Get("max_bundle_bytes"), "max_bundle_bytes", "must be >= 0");
  }
  return out;
}

Result<ScenarioStratum> ParseStratum(NodeRef node) {
  RF_RETURN_IF_ERROR(yaml::CheckMapping(node, "stratum", {"attrs", "share", "capabilities"}));
  ScenarioStratum s;
  s.line = node.line();
  NodeRef attrs = node.Get("attrs");
  if (!attrs) return ErrorAt(node, "attrs", "required key is missing");
  RF_ASSIGN_OR_RETURN(s.attrs, ParseAttrs(attrs));
  RF_ASSIGN_OR_RETURN(s.share, RequiredNumber(node, "share"));
  if (!(s.share > 0 && s.share <= 1)) {
    return ErrorAt(node.Get("share"), "share", "must be in (0, 1]");
  }
  NodeRef caps = node.Get("capabilities");
  if (caps) {
    if (!caps.IsMapping()) return ErrorAt(caps, "capabilities", "expected a mapping");
    Status st;
    caps.ForEachEntry([&](NodeRef k, NodeRef v) {
      if (!st.ok()) return;
      if (!IsContentTypeName(k.Text())) {
        st = ErrorAt(k, k.Text(), "content type names are [a-z0-9_]+");
        return;
      }
      auto cap = ParseCapability(v);
      if (!cap.ok()) {
        st = cap.status();
        return;
      }
      s.capabilities.emplace(std::string(k.Text()), *std::move(cap));
    });
    RF_RETURN_IF_ERROR(st);
  }
  return s;
}

Result<BaselineRates> ParseBaseline(NodeRef node) {
  BaselineRates b;
  if (!node) return b;
  RF_RETURN_IF_ERROR(yaml::CheckMapping(node, "baseline",
                                        {"silence_per_day", "crash_per_day", "error_per_day"}));
  RF_ASSIGN_OR_RETURN(b.silence_per_day, yaml::GetDouble(node, "silence_per_day", 0));
  RF_ASSIGN_OR_RETURN(b.crash_per_day, yaml::GetDouble(node, "crash_per_day", 0));
  RF_ASSIGN_OR_RETURN(b.error_per_day, yaml::GetDouble(node, "error_per_day", 0));
  for (std::string_view key : {"silence_per_day", "crash_per_day", "error_per_day"}) {
    NodeRef v = node.Get(key);
    if (v && !(*v.AsDouble() >= 0 && *v.AsDouble() <= kMaxRatePerDay)) {
      return ErrorAt(v, key, "must be a rate per device per day in [0, 1000]");
    }
  }
  return b;
}

// Largest-remainder rounding: devices per stratum that add up to `total` exactly.
void AssignDeviceCounts(int64_t total, std::vector<ScenarioStratum>& strata) {
  int64_t assigned = 0;
  std::vector<std::pair<double, size_t>> remainders;
  for (size_t i = 0; i < strata.size(); ++i) {
    const double exact = strata[i].share * static_cast<double>(total);
    strata[i].devices = static_cast<int64_t>(std::floor(exact));
    assigned += strata[i].devices;
    remainders.push_back({exact - std::floor(exact), i});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; assigned < total && k < remainders.size(); ++k, ++assigned) {
    ++strata[remainders[k].second].devices;
  }
}

Result<FleetSpec> ParseFleet(NodeRef node) {
  RF_RETURN_IF_ERROR(yaml::CheckMapping(
      node, "fleet", {"devices", "poll_interval", "online", "offline_spell", "strata", "baseline"}));
  FleetSpec f;
  RF_ASSIGN_OR_RETURN(f.devices, yaml::GetInt(node, "devices"));
  if (f.devices < 1) return ErrorAt(node.Get("devices"), "devices", "must be >= 1");
  RF_ASSIGN_OR_RETURN(f.poll_interval_micros, yaml::GetDurationMicros(node, "poll_interval"));
  if (f.poll_interval_micros < 1'000'000) {
    return ErrorAt(node.Get("poll_interval"), "poll_interval", "must be at least 1s");
  }
  RF_ASSIGN_OR_RETURN(f.online, yaml::GetDouble(node, "online", 1.0));
  if (!(f.online > 0 && f.online <= 1)) {
    return ErrorAt(node.Get("online"), "online", "must be in (0, 1]");
  }
  RF_ASSIGN_OR_RETURN(f.offline_spell_micros,
                      yaml::GetDurationMicros(node, "offline_spell", f.poll_interval_micros));
  if (f.offline_spell_micros <= 0) {
    return ErrorAt(node.Get("offline_spell"), "offline_spell", "must be > 0");
  }
  NodeRef strata = node.Get("strata");
  if (!strata) return ErrorAt(node, "strata", "required key is missing");
  if (!strata.IsSequence() || strata.size() == 0) {
    return ErrorAt(strata, "strata", "expected a non-empty list of strata");
  }
  double sum = 0;
  std::set<rollout::Attributes> seen;
  for (NodeRef item : strata.Items()) {
    RF_ASSIGN_OR_RETURN(ScenarioStratum s, ParseStratum(item));
    if (!seen.insert(s.attrs).second) {
      return ErrorAt(item.Get("attrs"), "attrs", "duplicate stratum (same attributes as an earlier one)");
    }
    sum += s.share;
    f.strata.push_back(std::move(s));
  }
  if (std::fabs(sum - 1.0) > kShareSumTolerance) {
    return ErrorAt(strata, "strata", "shares add up to " + std::to_string(sum) + ", not 1");
  }
  AssignDeviceCounts(f.devices, f.strata);
  RF_ASSIGN_OR_RETURN(f.baseline, ParseBaseline(node.Get("baseline")));
  return f;
}

Result<FailureRule> ParseFailure(NodeRef node) {
  RF_RETURN_IF_ERROR(yaml::CheckMapping(node, "failure",
                                        {"match", "p", "after", "signal", "repeats_on_boot"}));
  FailureRule r;
  r.line = node.line();
  NodeRef match = node.Get("match");
  if (match) {
    if (!match.IsMapping()) return ErrorAt(match, "match", "expected a mapping of attributes");
    Status st;
    match.ForEachEntry([&](NodeRef k, NodeRef v) {
      if (!st.ok()) return;
      AttrMatch m;
      m.attr = std::string(k.Text());
      if (v.IsSequence()) {
        if (v.size() == 0) {
          st = ErrorAt(v, k.Text(), "expected a value or a non-empty list of values");
          return;
        }
        for (NodeRef item : v.Items()) {
          auto t = ScalarText(item, k.Text());
          if (!t.ok()) {
            st = t.status();
            return;
          }
          m.values.push_back(*std::move(t));
        }
      } else {
        auto t = ScalarText(v, k.Text());
        if (!t.ok()) {
          st = t.status();
          return;
        }
        m.values.push_back(*std::move(t));
      }
      r.match.push_back(std::move(m));
    });
    RF_RETURN_IF_ERROR(st);
  }
  RF_ASSIGN_OR_RETURN(r.p, RequiredNumber(node, "p"));
  if (!(r.p >= 0 && r.p <= 1)) return ErrorAt(node.Get("p"), "p", "must be in [0, 1]");
  RF_ASSIGN_OR_RETURN(r.after_micros, yaml::GetDurationMicros(node, "after", 0));
  RF_ASSIGN_OR_RETURN(std::string signal, yaml::GetString(node, "signal"));
  if (signal == "silence") {
    r.signal = FailureSignal::kSilence;
  } else if (signal == "crash") {
    r.signal = FailureSignal::kCrash;
  } else if (signal == "error") {
    r.signal = FailureSignal::kError;
  } else {
    return ErrorAt(node.Get("signal"), "signal",
                   "unknown signal '" + signal + "' (allowed: silence, crash, error)");
  }
  RF_ASSIGN_OR_RETURN(r.repeats_on_boot, yaml::GetBool(node, "repeats_on_boot", false));
  return r;
}

Result<ReleaseSpec> ParseRelease(NodeRef node, std::string_view filename) {
  RF_RETURN_IF_ERROR(yaml::CheckMapping(node, "release",
                                        {"content_type", "type", "bundle", "failure"}));
  ReleaseSpec r;
  RF_ASSIGN_OR_RETURN(r.content_type, yaml::GetString(node, "content_type"));
  if (!IsContentTypeName(r.content_type)) {
    return ErrorAt(node.Get("content_type"), "content_type", "content type names are [a-z0-9_]+");
  }
  RF_ASSIGN_OR_RETURN(std::string type, yaml::GetString(node, "type", ""));
  RF_ASSIGN_OR_RETURN(std::string bundle, yaml::GetString(node, "bundle", ""));
  if (type.empty() != bundle.empty()) {
    NodeRef present = type.empty() ? node.Get("bundle") : node.Get("type");
    return ErrorAt(present, type.empty() ? "bundle" : "type",
                   "`type` and `bundle` go together (layer 1 checks the bundle against the type)");
  }
  if (!type.empty()) {
    r.type_path = ResolveRelative(filename, type);
    r.bundle_path = ResolveRelative(filename, bundle);
    r.type_line = node.Get("type").line();
    r.bundle_line = node.Get("bundle").line();
  }
  NodeRef failures = node.Get("failure");
  if (failures) {
    if (!failures.IsSequence()) return ErrorAt(failures, "failure", "expected a list");
    for (NodeRef f : failures.Items()) {
      RF_ASSIGN_OR_RETURN(FailureRule rule, ParseFailure(f));
      r.failures.push_back(std::move(rule));
    }
  }
  return r;
}

}  // namespace

std::string_view FailureSignalName(FailureSignal s) {
  switch (s) {
    case FailureSignal::kSilence:
      return "silence";
    case FailureSignal::kCrash:
      return "crash";
    case FailureSignal::kError:
      return "error";
  }
  return "?";
}

bool FailureRule::Matches(const rollout::Attributes& attrs) const {
  for (const AttrMatch& m : match) {
    auto it = attrs.find(m.attr);
    if (it == attrs.end()) return false;
    bool any = false;
    for (const std::string& v : m.values) any = any || v == it->second;
    if (!any) return false;
  }
  return true;
}

std::string ScenarioStratum::Label() const {
  std::string out;
  for (const auto& [k, v] : attrs) {
    if (!out.empty()) out += ' ';
    out += k + "=" + v;
  }
  return out.empty() ? "(no attributes)" : out;
}

double BaselineRates::PerDay(FailureSignal s) const {
  switch (s) {
    case FailureSignal::kSilence:
      return silence_per_day;
    case FailureSignal::kCrash:
      return crash_per_day;
    case FailureSignal::kError:
      return error_per_day;
  }
  return 0;
}

bool Scenario::Eligible(const ScenarioStratum& s) const {
  return s.capabilities.count(release.content_type) > 0;
}

int64_t Scenario::EligibleDevices() const {
  int64_t n = 0;
  for (const ScenarioStratum& s : fleet.strata) n += Eligible(s) ? s.devices : 0;
  return n;
}

Fleet Scenario::ToFleet() const {
  Fleet out;
  for (const ScenarioStratum& s : fleet.strata) {
    Stratum st;
    st.attrs.insert(s.attrs.begin(), s.attrs.end());
    st.capabilities = s.capabilities;
    st.devices = s.devices;
    out.strata.push_back(std::move(st));
  }
  return out;
}

std::string ResolveRelative(std::string_view base_file, std::string_view relative) {
  if (!relative.empty() && relative.front() == '/') return std::string(relative);
  const size_t slash = base_file.rfind('/');
  if (slash == std::string_view::npos) return std::string(relative);
  return std::string(base_file.substr(0, slash + 1)) + std::string(relative);
}

Result<Scenario> ParseScenario(std::string_view text, std::string_view filename) {
  RF_ASSIGN_OR_RETURN(yaml::Document doc, yaml::Parse(text, filename));
  NodeRef root = doc.root();
  if (!root) {
    return Status::InvalidArgument(std::string(filename) + ":1:1: empty scenario file");
  }
  RF_RETURN_IF_ERROR(yaml::CheckMapping(root, "scenario", {"scenario", "fleet", "release", "plan"}));
  Scenario s;
  s.filename = std::string(filename);
  RF_ASSIGN_OR_RETURN(s.name, yaml::GetString(root, "scenario"));
  NodeRef fleet = root.Get("fleet");
  if (!fleet) return ErrorAt(root, "fleet", "required key is missing");
  RF_ASSIGN_OR_RETURN(s.fleet, ParseFleet(fleet));
  NodeRef release = root.Get("release");
  if (!release) return ErrorAt(root, "release", "required key is missing");
  RF_ASSIGN_OR_RETURN(s.release, ParseRelease(release, filename));
  RF_ASSIGN_OR_RETURN(std::string plan, yaml::GetString(root, "plan"));
  s.plan_path = ResolveRelative(filename, plan);
  s.plan_line = root.Get("plan").line();
  if (s.EligibleDevices() == 0) {
    return ErrorAt(release.Get("content_type"), "content_type",
                   "no stratum's capabilities include '" + s.release.content_type +
                       "': no device could receive this release");
  }
  return s;
}

Result<ScenarioFiles> LoadScenarioFiles(const Scenario& scenario, Filesystem& fs) {
  auto read = [&](const std::string& path, uint32_t line, std::string_view key,
                  std::string* out) -> Status {
    auto text = fs.ReadFile(path, kMaxScenarioFileBytes);
    if (!text.ok()) {
      const Status& st = text.status();
      return Status(st.code(), scenario.filename + ":" + std::to_string(line) + ": key '" +
                                   std::string(key) + "': cannot read '" + path +
                                   "': " + st.message());
    }
    *out = *std::move(text);
    return Status::Ok();
  };
  ScenarioFiles files;
  RF_RETURN_IF_ERROR(read(scenario.plan_path, scenario.plan_line, "plan", &files.plan_text));
  if (!scenario.release.type_path.empty()) {
    RF_RETURN_IF_ERROR(
        read(scenario.release.type_path, scenario.release.type_line, "type", &files.type_text));
    RF_RETURN_IF_ERROR(read(scenario.release.bundle_path, scenario.release.bundle_line, "bundle",
                            &files.bundle_text));
  }
  return files;
}

}  // namespace rf::sim
