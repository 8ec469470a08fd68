#include "rollout/plan.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>
#include <utility>

#include "format/yaml.h"

namespace rf::rollout {
namespace {

// m_min, the default wave-0 floor per stratum (docs/gate.md, "Strata and the wave-0 floor").
constexpr int64_t kDefaultMinPerStratum = 50;

std::string FormatPercent(double fraction) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.10g%%", fraction * 100.0);
  return buf;
}

// Parses "12.5%" into 0.125. nullopt unless the whole text is a finite non-negative number
// followed by '%'.
std::optional<double> ParsePercent(std::string_view text) {
  if (text.size() < 2 || text.back() != '%') return std::nullopt;
  std::string_view num = text.substr(0, text.size() - 1);
  double v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || p != num.data() + num.size() || !std::isfinite(v) || v < 0) {
    return std::nullopt;
  }
  return v / 100.0;
}

Result<WaveSize> ParseWaveSize(yaml::NodeRef wave) {
  constexpr std::string_view kKey = "devices";
  yaml::NodeRef v = wave.Get(kKey);
  if (!v || v.IsNull()) return yaml::ErrorAt(wave, kKey, "required key is missing");
  if (!v.IsScalar()) {
    return yaml::ErrorAt(v, kKey, "expected a share such as 1% or a device count such as 1100");
  }
  std::string_view text = v.Text();
  if (!text.empty() && text.back() == '%') {
    auto share = ParsePercent(text);
    if (!share) return yaml::ErrorAt(v, kKey, "'" + std::string(text) + "' is not a percentage");
    if (*share <= 0 || *share > 1) {
      return yaml::ErrorAt(v, kKey, "share '" + std::string(text) + "' must be in (0%, 100%]");
    }
    return WaveSize::Share(*share);
  }
  auto count = v.AsInt();
  if (!count) {
    return yaml::ErrorAt(v, kKey,
                         "'" + std::string(text) +
                             "' is neither a share (write a % sign, e.g. 1%) nor a whole number "
                             "of devices");
  }
  if (*count < 1) return yaml::ErrorAt(v, kKey, "a device count must be at least 1");
  return WaveSize::Count(*count);
}

Result<std::vector<std::string>> ParseStratify(yaml::NodeRef wave) {
  constexpr std::string_view kKey = "stratify";
  yaml::NodeRef v = wave.Get(kKey);
  if (!v.IsSequence() || v.size() == 0) {
    return yaml::ErrorAt(v, kKey, "expected a non-empty list of attribute names");
  }
  std::vector<std::string> out;
  std::set<std::string, std::less<>> seen;
  for (yaml::NodeRef item : v.Items()) {
    if (!item.IsScalar() || item.IsNull() || item.Text().empty()) {
      return yaml::ErrorAt(item, kKey, "attribute names must be non-empty strings");
    }
    if (!seen.insert(std::string(item.Text())).second) {
      return yaml::ErrorAt(item, kKey, "attribute '" + std::string(item.Text()) + "' is listed twice");
    }
    out.emplace_back(item.Text());
  }
  return out;
}

Result<Wave> ParseWave(yaml::NodeRef node) {
  RF_RETURN_IF_ERROR(yaml::CheckMapping(
      node, "wave", {"name", "devices", "stratify", "min_per_stratum", "dispatch", "bake"}));
  Wave w;
  w.line = node.line();
  RF_ASSIGN_OR_RETURN(w.name, yaml::GetString(node, "name"));
  if (w.name.empty()) return yaml::ErrorAt(node.Get("name"), "name", "must not be empty");
  RF_ASSIGN_OR_RETURN(w.devices, ParseWaveSize(node));
  if (node.Get("stratify")) {
    RF_ASSIGN_OR_RETURN(w.stratify, ParseStratify(node));
    RF_ASSIGN_OR_RETURN(w.min_per_stratum,
                        yaml::GetInt(node, "min_per_stratum", kDefaultMinPerStratum));
    if (w.min_per_stratum < 0) {
      return yaml::ErrorAt(node.Get("min_per_stratum"), "min_per_stratum", "must be >= 0");
    }
  } else if (yaml::NodeRef m = node.Get("min_per_stratum")) {
    return yaml::ErrorAt(m, "min_per_stratum",
                         "needs 'stratify' on the same wave (a floor per stratum of what?)");
  }
  RF_ASSIGN_OR_RETURN(w.dispatch_micros, yaml::GetDurationMicros(node, "dispatch"));
  RF_ASSIGN_OR_RETURN(w.bake_micros, yaml::GetDurationMicros(node, "bake"));
  return w;
}

Result<GateSettings> ParseGate(yaml::NodeRef node) {
  RF_RETURN_IF_ERROR(
      yaml::CheckMapping(node, "gate", {"alpha", "signals", "silence_after", "confirm_after", "lkg_after",
                                          "holdback"}));
  GateSettings g;
  if (yaml::NodeRef a = node.Get("alpha")) {
    auto d = a.AsDouble();
    if (!d || !std::isfinite(*d)) return yaml::ErrorAt(a, "alpha", "expected a number such as 0.01");
    g.alpha = *d;
  }
  if (yaml::NodeRef s = node.Get("signals")) {
    if (!s.IsSequence()) {
      return yaml::ErrorAt(s, "signals", "expected a list of: silence, crash, error");
    }
    g.signals.clear();
    for (yaml::NodeRef item : s.Items()) {
      std::optional<Signal> sig;
      if (item.IsScalar()) sig = SignalFromName(item.Text());
      if (!sig) {
        return yaml::ErrorAt(item, "signals",
                             "unknown signal '" + std::string(item.IsScalar() ? item.Text() : "") +
                                 "' (known: silence, crash, error)");
      }
      for (Signal seen : g.signals) {
        if (seen == *sig) {
          return yaml::ErrorAt(item, "signals",
                               "signal '" + std::string(item.Text()) + "' is listed twice");
        }
      }
      g.signals.push_back(*sig);
    }
  }
  RF_ASSIGN_OR_RETURN(g.silence_after_micros,
                      yaml::GetDurationMicros(node, "silence_after", g.silence_after_micros));
  RF_ASSIGN_OR_RETURN(g.confirm_after_micros,
                      yaml::GetDurationMicros(node, "confirm_after", g.confirm_after_micros));
  RF_ASSIGN_OR_RETURN(g.lkg_after_micros,
                      yaml::GetDurationMicros(node, "lkg_after", g.lkg_after_micros));
  if (yaml::NodeRef h = node.Get("holdback")) {
    std::optional<double> share;
    if (h.IsScalar()) share = ParsePercent(h.Text());
    if (!share) return yaml::ErrorAt(h, "holdback", "expected a share such as 1%");
    if (*share >= 1) return yaml::ErrorAt(h, "holdback", "must be below 100%");
    g.holdback = *share;
  }
  return g;
}

}  // namespace

std::string WaveSize::ToString() const {
  return kind == Kind::kShare ? FormatPercent(share) : std::to_string(count);
}

std::string_view SignalName(Signal s) {
  switch (s) {
    case Signal::kSilence:
      return "silence";
    case Signal::kCrash:
      return "crash";
    case Signal::kError:
      return "error";
  }
  return "?";
}

std::optional<Signal> SignalFromName(std::string_view name) {
  for (Signal s : {Signal::kSilence, Signal::kCrash, Signal::kError}) {
    if (SignalName(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view FailureActionName(FailureAction a) {
  return a == FailureAction::kRollback ? "rollback" : "pause";
}

Result<Plan> ParsePlan(std::string_view text, std::string_view filename) {
  RF_ASSIGN_OR_RETURN(yaml::Document doc, yaml::Parse(text, filename));
  yaml::NodeRef root = doc.root();
  if (!root) {
    return Status::InvalidArgument(std::string(filename) + ":1:1: the plan is empty");
  }
  if (!root.IsMapping()) {
    return yaml::ErrorAt(root, "", "a plan must be a mapping with keys plan, waves, gate, on_failure");
  }
  RF_RETURN_IF_ERROR(yaml::CheckMapping(root, "plan", {"plan", "waves", "gate", "on_failure"}));
  Plan plan;
  plan.filename = std::string(filename);
  RF_ASSIGN_OR_RETURN(plan.name, yaml::GetString(root, "plan"));
  if (plan.name.empty()) return yaml::ErrorAt(root.Get("plan"), "plan", "must not be empty");

  yaml::NodeRef waves = root.Get("waves");
  if (!waves) return yaml::ErrorAt(root, "waves", "required key is missing");
  if (!waves.IsSequence() || waves.size() == 0) {
    return yaml::ErrorAt(waves, "waves", "expected a non-empty list of waves");
  }
  std::set<std::string, std::less<>> names;
  uint32_t stratified_line = 0;  // line of the first wave with `stratify`
  bool stratified = false;
  for (yaml::NodeRef node : waves.Items()) {
    if (!node.IsMapping()) {
      return yaml::ErrorAt(node, "waves", "each wave must be a mapping such as {name: canary, ...}");
    }
    RF_ASSIGN_OR_RETURN(Wave w, ParseWave(node));
    if (!names.insert(w.name).second) {
      return yaml::ErrorAt(node.Get("name"), "name", "wave name '" + w.name + "' is used twice");
    }
    plan.waves.push_back(std::move(w));
    const Wave& added = plan.waves.back();
    if (added.stratify.empty()) continue;
    if (!stratified) {
      plan.stratify = added.stratify;
      stratified = true;
      stratified_line = added.line;
    } else if (added.stratify != plan.stratify) {
      return yaml::ErrorAt(node.Get("stratify"), "stratify",
                           "every stratified wave must use the same attributes (as the wave on "
                           "line " + std::to_string(stratified_line) + "); strata are "
                           "fixed for a release");
    }
  }

  if (yaml::NodeRef gate = root.Get("gate")) {
    if (!gate.IsMapping()) return yaml::ErrorAt(gate, "gate", "expected a mapping");
    root.ForEachEntry([&](yaml::NodeRef k, yaml::NodeRef) {
      if (k.Text() == "gate") plan.gate_line = k.line();  // the key's line, not the first value's
    });
    RF_ASSIGN_OR_RETURN(plan.gate, ParseGate(gate));
  }
  if (yaml::NodeRef f = root.Get("on_failure")) {
    std::string_view t = f.IsScalar() ? f.Text() : "";
    if (t == "rollback") {
      plan.on_failure = FailureAction::kRollback;
    } else if (t == "pause") {
      plan.on_failure = FailureAction::kPause;
    } else {
      return yaml::ErrorAt(f, "on_failure",
                           "expected rollback or pause, got '" + std::string(t) + "'");
    }
  }
  return plan;
}

int WaveCount(const Plan& plan) {
  return static_cast<int>(plan.waves.size()) + (plan.gate.holdback > 0 ? 1 : 0);
}

bool IsHoldbackWave(const Plan& plan, int wave) {
  return plan.gate.holdback > 0 && wave == static_cast<int>(plan.waves.size());
}

int64_t WaveDispatchMicros(const Plan& plan, int wave) {
  if (IsHoldbackWave(plan, wave)) return plan.waves.back().dispatch_micros;
  return plan.waves[static_cast<size_t>(wave)].dispatch_micros;
}

int64_t WaveBakeMicros(const Plan& plan, int wave) {
  if (IsHoldbackWave(plan, wave)) return 0;
  return plan.waves[static_cast<size_t>(wave)].bake_micros;
}

std::string WaveName(const Plan& plan, int wave) {
  if (IsHoldbackWave(plan, wave)) return "holdback";
  return plan.waves[static_cast<size_t>(wave)].name;
}

// ----- linter -----

namespace {

class Linter {
 public:
  Linter(const Plan& plan, const LintOptions& options) : plan_(plan), options_(options) {}

  std::vector<LintFinding> Run() {
    PlanRules();
    for (size_t i = 0; i < plan_.waves.size(); ++i) WaveRules(static_cast<int>(i));
    return std::move(findings_);
  }

 private:
  // Cumulative share of wave w if it can be known: shares directly, counts via the fleet size.
  std::optional<double> ShareOf(const WaveSize& s) const {
    if (s.kind == WaveSize::Kind::kShare) return s.share;
    if (options_.fleet_size && *options_.fleet_size > 0) {
      return static_cast<double>(s.count) / static_cast<double>(*options_.fleet_size);
    }
    return std::nullopt;
  }

  std::string Where(uint32_t line) const {
    if (line == 0) return plan_.filename.empty() ? "" : plan_.filename + ": ";
    return plan_.filename + ":" + std::to_string(line) + ": ";
  }

  void AddPlan(std::string rule, std::string reason) {
    findings_.push_back({std::move(rule), -1, Where(plan_.gate_line) + std::move(reason)});
  }
  void AddWave(std::string rule, int w, std::string reason) {
    const Wave& wave = plan_.waves[static_cast<size_t>(w)];
    findings_.push_back({std::move(rule), w,
                         Where(wave.line) + "wave '" + wave.name + "': " + std::move(reason)});
  }

  void PlanRules() {
    const GateSettings& g = plan_.gate;
    if (!(g.alpha > 0 && g.alpha <= options_.max_alpha)) {
      AddPlan("alpha-range", "gate alpha " + FormatDouble(g.alpha) + " must be in (0, " +
                                 FormatDouble(options_.max_alpha) +
                                 "]: it is the false-halt budget of the whole release");
    }
    if (!(g.holdback > 0 && g.holdback <= options_.max_holdback)) {
      AddPlan("holdback-range",
              "gate holdback " + FormatPercent(g.holdback) + " must be in (0%, " +
                  FormatPercent(options_.max_holdback) +
                  "]: without a holdback the last wave has no control group; with a large one "
                  "too many devices wait");
    }
    bool silence = false;
    for (Signal s : g.signals) silence = silence || s == Signal::kSilence;
    if (!silence) {
      AddPlan("silence-signal",
              "gate signals must include silence: a crashed or boot-looping host cannot report "
              "anything else");
    }
    if (g.silence_after_micros <= 0) {
      AddPlan("silence-after", "gate silence_after must be positive");
    }
    if (g.confirm_after_micros < 0 || g.confirm_after_micros > kMaxConfirmAfterMicros) {
      AddPlan("confirm-after", "gate confirm_after must be 0 (off) to 1h");
    }
    if (g.lkg_after_micros < 0 || g.lkg_after_micros > kMaxLkgAfterMicros) {
      AddPlan("lkg-after", "gate lkg_after must be 0 to 7d");
    }
    if (plan_.waves.empty()) {
      AddPlan("last-wave-all", "the plan has no waves");
      return;
    }
    const Wave& last = plan_.waves.back();
    if (!(last.devices.kind == WaveSize::Kind::kShare && last.devices.share >= 1.0)) {
      AddWave("last-wave-all", static_cast<int>(plan_.waves.size() - 1),
              "the last wave must be 100% (it is " + last.devices.ToString() +
                  "); otherwise part of the fleet never gets the release");
    }
  }

  void WaveRules(int w) {
    const Wave& wave = plan_.waves[static_cast<size_t>(w)];
    if (w == 0) {
      if (wave.stratify.empty() || wave.min_per_stratum < 1) {
        AddWave("first-wave-stratified", w,
                "the first wave must be stratified with min_per_stratum >= 1, so every stratum "
                "of the fleet is in the canary");
      }
      std::optional<double> share = ShareOf(wave.devices);
      if (share && *share > options_.max_first_wave_share) {
        AddWave("first-wave-size", w,
                "the first wave is " + wave.devices.ToString() + " (" + FormatPercent(*share) +
                    " of the fleet); at most " + FormatPercent(options_.max_first_wave_share) +
                    " may be exposed before anything was observed");
      }
    }
    if (wave.bake_micros <= 0) {
      AddWave("bake-required", w, "every wave needs a bake (> 0) before promotion");
    }
    if (wave.dispatch_micros <= 0) {
      AddWave("dispatch-required", w,
              "every wave needs a dispatch window (> 0): handing a wave out at once exposes all "
              "of it before the first failure can be seen");
    }
    if (w > 0) {
      const WaveSize& prev = plan_.waves[static_cast<size_t>(w - 1)].devices;
      const WaveSize& cur = wave.devices;
      bool increasing = true;
      if (prev.kind == cur.kind) {
        increasing = cur.kind == WaveSize::Kind::kShare ? cur.share > prev.share
                                                        : cur.count > prev.count;
      } else if (auto a = ShareOf(prev), b = ShareOf(cur); a && b) {
        increasing = *b > *a;
      }
      if (!increasing) {
        AddWave("increasing-sizes", w,
                "cumulative size " + cur.ToString() + " must be larger than the previous wave's " +
                    prev.ToString());
      }
    }
    // A non-final wave at or above 1 - holdback already covers everything but the holdback.
    if (w + 1 < static_cast<int>(plan_.waves.size()) && plan_.gate.holdback > 0) {
      std::optional<double> share = ShareOf(wave.devices);
      if (share && *share >= 1.0 - plan_.gate.holdback) {
        AddWave("holdback-shadows-wave", w,
                "a wave of " + wave.devices.ToString() + " before the last one leaves nothing for "
                "later waves but the " + FormatPercent(plan_.gate.holdback) + " holdback");
      }
    }
  }

  static std::string FormatDouble(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.10g", v);
    return buf;
  }

  const Plan& plan_;
  const LintOptions& options_;
  std::vector<LintFinding> findings_;
};

}  // namespace

std::vector<LintFinding> LintPlan(const Plan& plan, const LintOptions& options) {
  return Linter(plan, options).Run();
}

Status CheckPlan(const Plan& plan, const LintOptions& options) {
  std::vector<LintFinding> findings = LintPlan(plan, options);
  if (findings.empty()) return Status::Ok();
  std::string m = "unsafe plan '" + plan.name + "': ";
  for (size_t i = 0; i < findings.size(); ++i) {
    if (i > 0) m += "; ";
    m += findings[i].message + " [" + findings[i].rule + "]";
  }
  return Status::FailedPrecondition(std::move(m));
}

}  // namespace rf::rollout
