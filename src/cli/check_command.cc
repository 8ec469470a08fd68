// `ringfence check BUNDLE --type TYPE [--fleet FLEET] [--previous PREV] [--format text|json]
//   [--explain ITEM]`
//   layer 2: `[--dynamic --consumer CMD ... [--corpus EVENTS] [--no-static] [--attestation OUT
//   [--key K]] [--cpu-seconds N] [--memory-mb N] [--timeout-ms N]]` (docs/dynamic-checks.md)
#include <chrono>
#include <iostream>
#include <optional>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/stage1.h"
#include "crypto/crypto.h"
#include "crypto/dsse.h"
#include "dynamic/dynamic_check.h"
#include "platform/parallel.h"

namespace rf::cli {
namespace {

struct CheckArgs {
  std::string bundle, type, fleet, previous, format = "text";
  std::string explain;  // item id: print the cost analysis of its regexes, with measured attacks
  // Layer 2.
  bool dynamic = false, no_static = false;
  std::vector<std::string> consumers;
  std::string corpus, attestation, key;
  int64_t cpu_seconds = 2, memory_mb = 1024, timeout_ms = 10'000;
};

// Runs layer 2 and writes the attestation; prints nothing. Exit code on unusable input.
int RunDynamicLayer(Env env, const CheckArgs& a, const ContentType& type, const LoadedBundle& lb,
                    dynamic::DynamicReport* report, std::string* report_json) {
  dynamic::DynamicCheckInput in;
  in.type = &type;
  in.bundle = &lb.bundle;
  in.payload = lb.payload;
  std::string corpus;
  if (!a.corpus.empty()) {
    auto text = ReadInput(env, a.corpus);
    if (!text.ok()) return UsageError(text.status());
    corpus = std::move(*text);
  }
  in.corpus = corpus;
  for (const std::string& c : a.consumers) {
    auto spec = dynamic::ConsumerSpecFromCommandLine(c);
    if (!spec.ok()) return UsageError(spec.status());
    in.consumers.push_back(std::move(*spec));
  }
  std::optional<crypto::SigningKey> key;
  if (!a.key.empty()) {
    auto k = LoadPrivateKey(env, a.key);
    if (!k.ok()) return UsageError(k.status());
    key = std::move(*k);
  }
  dynamic::DynamicCheckOptions options;
  options.limits.cpu_seconds = a.cpu_seconds;
  options.limits.address_space_bytes = a.memory_mb << 20;
  options.wall_timeout_ms = a.timeout_ms;
  auto r = dynamic::RunDynamicChecks(in, options, env);
  if (!r.ok()) return UsageError(r.status());
  *report = std::move(*r);
  *report_json = dynamic::DynamicReportJson(*report);
  if (!a.attestation.empty()) {
    crypto::Envelope att = dynamic::MakeDynamicAttestation(*report_json, key ? &*key : nullptr);
    Status s = env.fs->WriteFileAtomic(a.attestation, crypto::SerializeEnvelope(att), 0644);
    if (!s.ok()) return UsageError(s);
  }
  return kExitOk;
}

std::string Pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

void PrintText(const StageOneReport& r, const LoadedBundle& lb, const std::string& path,
               const std::string& digest, bool fleet_checked) {
  std::cout << (r.accepted ? "ACCEPTED" : "REJECTED") << "  " << path << "\n"
            << "  content_type " << lb.bundle.content_type << ", channel " << lb.bundle.channel
            << ", version " << lb.bundle.version << ", " << FormatCount(static_cast<int64_t>(r.items))
            << " items, " << FormatCount(static_cast<int64_t>(r.payload_bytes))
            << " bytes, sha256 " << digest.substr(0, 16) << "…\n";
  if (!fleet_checked) std::cout << "  (no --fleet: consumer contract not checked)\n";
  if (!r.findings.empty()) {
    size_t wc = 5, wi = 4, wf = 5;
    for (const Finding& f : r.findings) {
      wc = std::max(wc, f.check.size());
      wi = std::max(wi, f.item.size());
      wf = std::max(wf, f.field.size());
    }
    std::cout << "\n"
              << Pad("SEVERITY", 9) << Pad("CHECK", wc + 2) << Pad("ITEM", wi + 2)
              << Pad("FIELD", wf + 2) << Pad("POS", 5) << Pad("DEVICES", 12) << "MESSAGE\n";
    for (const Finding& f : r.findings) {
      std::cout << Pad(f.severity == Severity::kError ? "error" : "warning", 9)
                << Pad(f.check, wc + 2) << Pad(f.item.empty() ? "-" : f.item, wi + 2)
                << Pad(f.field.empty() ? "-" : f.field, wf + 2)
                << Pad(f.position < 0 ? "-" : std::to_string(f.position), 5)
                << Pad(f.devices > 0 ? FormatCount(f.devices) : "-", 12) << f.message << "\n";
    }
  }
  std::cout << "\n" << r.errors << (r.errors == 1 ? " error, " : " errors, ") << r.warnings
            << (r.warnings == 1 ? " warning" : " warnings") << "\n";
}

// `--explain ITEM`: for each regex field of ITEM, the cost verdict under the type's engine and the
// field's regex_mode, the attack (prefix, pump, suffix), and the consumer engine's measured time on
// it at two sizes (docs/stage1-checks.md, regex.cost).
int ExplainItem(Env env, const ContentType& type, const Bundle& bundle, const std::string& id) {
  const Item* item = nullptr;
  for (const Item& it : bundle.items) {
    if (it.id == id) item = &it;
  }
  if (item == nullptr) return UsageError(Status::NotFound("--explain: no item '" + id + "' in the bundle"));
  std::cout << "\nEXPLAIN item " << id << " (regex_engine " << RegexEngineName(type.regex_engine) << ")\n";
  auto now = [&env] { return std::chrono::nanoseconds(env.clock->MonotonicMicros() * 1000); };
  bool any = false;
  for (size_t pos = 0; pos < type.fields.size(); ++pos) {
    const FieldSpec& f = type.fields[pos];
    const FieldValue& v = item->values[pos];
    if (f.type != FieldType::kRegex || v.kind != FieldValue::Kind::kString || v.s.empty()) continue;
    any = true;
    const RegexMode mode = f.regex_mode.value_or(type.regex_mode);
    std::cout << "  field " << f.name << " (" << RegexModeName(mode) << "): " << v.s << "\n";
    if (type.regex_engine == RegexEngine::kRe2) {
      std::cout << "    RE2 runs in linear time; no backtracking cost to explain\n";
      continue;
    }
    RegexCostOptions o;
    o.dialect = type.regex_engine == RegexEngine::kPcre2 ? RegexDialect::kPcre2 : RegexDialect::kEcmaScript;
    o.mode = mode;
    RegexCostReport r = AnalyzeBacktrackingCost(v.s, o);
    if (r.cost == RegexCost::kLinear) {
      std::cout << "    linear: no ambiguity that a failing input can reach\n";
      continue;
    }
    std::cout << "    " << r.reason << "\n";
    if (!r.attack) {
      std::cout << "    no attack string was constructed for this verdict\n";
      continue;
    }
    std::cout << "    attack: " << DescribeRegexAttack(*r.attack) << "\n";
    // Two sizes: exponential grows per pump, polynomial per byte.
    const size_t pump = std::max<size_t>(r.attack->pump.size(), 1);
    const bool exponential = r.cost == RegexCost::kExponential;
    const size_t n1 = exponential ? std::max<size_t>(14 / pump, 4) : std::max<size_t>(1000 / pump, 8);
    const size_t n2 = exponential ? n1 + std::max<size_t>(4 / pump, 2) : 2 * n1;
    for (size_t n : {n1, n2}) {
      auto t = RunRegexAttack(v.s, o.dialect, mode, r.attack->Build(n), now);
      std::cout << "    " << RegexEngineName(type.regex_engine) << " on " << r.attack->Length(n)
                << " bytes (pump x " << n << "): ";
      if (t.ok()) {
        std::cout << (t->count() / 1000) << " us\n";
      } else {
        std::cout << t.status().message() << "\n";
      }
    }
  }
  if (!any) std::cout << "  (no regex fields with a value)\n";
  return kExitOk;
}

int RunCheck(const CheckArgs& a) {
  Env env = PosixEnv();
  if (a.format != "text" && a.format != "json") {
    return UsageError(Status::InvalidArgument("--format must be text or json"));
  }
  if (a.dynamic != !a.consumers.empty()) {
    return UsageError(Status::InvalidArgument("--dynamic needs at least one --consumer, and --consumer needs --dynamic"));
  }
  if ((a.no_static || !a.attestation.empty() || !a.corpus.empty()) && !a.dynamic) {
    return UsageError(Status::InvalidArgument("--no-static, --corpus and --attestation need --dynamic"));
  }
  if (!a.key.empty() && a.attestation.empty()) {
    return UsageError(Status::InvalidArgument("--key signs the --attestation; give both"));
  }
  if (a.cpu_seconds < 1 || a.memory_mb < 0 || a.timeout_ms < 1) {
    return UsageError(Status::InvalidArgument("--cpu-seconds and --timeout-ms must be >= 1, --memory-mb >= 0"));
  }
  auto type = LoadContentType(env, a.type);
  if (!type.ok()) return UsageError(type.status());
  auto lb = LoadBundle(env, a.bundle, *type);
  if (!lb.ok()) return UsageError(lb.status());
  std::optional<Fleet> fleet;
  if (!a.fleet.empty()) {
    auto text = ReadInput(env, a.fleet);
    if (!text.ok()) return UsageError(text.status());
    auto f = ParseFleetJson(*text, a.fleet);
    if (!f.ok()) return UsageError(f.status());
    fleet = std::move(*f);
  }
  std::optional<LoadedBundle> prev;
  if (!a.previous.empty()) {
    auto p = LoadBundle(env, a.previous, *type);
    if (!p.ok()) return UsageError(p.status());
    prev = std::move(*p);
  }
  StageOneInput in;
  in.type = &*type;
  in.bundle = &lb->bundle;
  in.payload_bytes = lb->payload.size();
  if (prev) {
    in.previous = &prev->bundle;
    in.previous_payload_bytes = prev->payload.size();
  }
  if (fleet) in.fleet = &*fleet;
  StageOneOptions options;
  options.parallel_for = [](size_t n, const std::function<void(size_t)>& fn) { ParallelFor(n, fn); };
  StageOneReport report;
  if (!a.no_static) report = RunStageOne(in, std::move(lb->findings), options);
  const std::string digest = crypto::Sha256Hex(lb->payload);
  if (a.dynamic) {
    dynamic::DynamicReport dyn;
    std::string dyn_json;
    if (int rc = RunDynamicLayer(env, a, *type, *lb, &dyn, &dyn_json); rc != kExitOk) return rc;
    const bool accepted = (a.no_static || report.accepted) && dyn.accepted;
    if (a.format == "json") {
      std::cout << "{\"dynamic\":" << dyn_json << ",\"dynamic_sha256\":\""
                << crypto::Sha256Hex(dyn_json) << "\",\"static\":"
                << (a.no_static ? std::string("null") : StageOneReportJson(report, digest))
                << ",\"verdict\":\"" << (accepted ? "accept" : "reject") << "\"}\n";
    } else {
      if (!a.no_static) {
        PrintText(report, *lb, a.bundle, digest, fleet.has_value());
        std::cout << "\n";
      } else {
        std::cout << "(layer 1 static checks skipped: --no-static)\n";
      }
      std::cout << dynamic::DynamicReportText(dyn) << "\n  report sha256 "
                << crypto::Sha256Hex(dyn_json)
                << (a.attestation.empty() ? "" : ", attestation written to " + a.attestation +
                                                     (a.key.empty() ? " (unsigned)" : " (signed)"))
                << "\n\n" << (accepted ? "ACCEPTED" : "REJECTED") << "\n";
    }
    return accepted ? kExitOk : kExitRejected;
  }
  if (!a.explain.empty() && a.format != "text") {
    return UsageError(Status::InvalidArgument("--explain prints text; drop --format json"));
  }
  if (a.format == "json") {
    std::cout << StageOneReportJson(report, digest);
  } else {
    PrintText(report, *lb, a.bundle, digest, fleet.has_value());
  }
  if (!a.explain.empty()) {
    if (int rc = ExplainItem(env, *type, lb->bundle, a.explain); rc != kExitOk) return rc;
  }
  return report.accepted ? kExitOk : kExitRejected;
}

}  // namespace

void RegisterCheckCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* cmd = app.add_subcommand(
      "check",
      "layer 1: static checks of a bundle (source YAML or built) against its content type, the "
      "previous bundle and the fleet's consumers. Exit 0 accepted, 1 rejected, 2 unusable input.");
  cmd->add_option("bundle", args->bundle, "bundle source (.yaml) or built bundle")->required();
  cmd->add_option("--type", args->type, "content type file (.yaml)")->required();
  cmd->add_option("--fleet", args->fleet, "fleet inventory (.json): check the consumer contract");
  cmd->add_option("--previous", args->previous, "the channel's current bundle: growth and version");
  cmd->add_option("--format", args->format, "text or json")->default_str("text");
  cmd->add_option("--explain", args->explain,
                  "item id: explain its regex cost verdicts with an attack string and the engine's "
                  "measured time on it at two sizes");
  cmd->add_flag("--dynamic", args->dynamic, "layer 2: run each --consumer on the content in a sandbox");
  cmd->add_option("--consumer", args->consumers,
                  "consumer command speaking the consumer process protocol (docs/sdk.md); repeatable");
  cmd->add_option("--corpus", args->corpus, "replay corpus: JSON lines of events");
  cmd->add_flag("--no-static", args->no_static, "skip layer 1 (with --dynamic)");
  cmd->add_option("--attestation", args->attestation, "write the layer 2 report as a DSSE envelope");
  cmd->add_option("--key", args->key, "sign the attestation with this private key");
  cmd->add_option("--cpu-seconds", args->cpu_seconds, "layer 2 CPU budget per run")->default_str("2");
  cmd->add_option("--memory-mb", args->memory_mb, "layer 2 address-space limit per run, 0 = none")
      ->default_str("1024");
  cmd->add_option("--timeout-ms", args->timeout_ms, "layer 2 wall-time limit per run")
      ->default_str("10000");
  cmd->callback([args, exit_code] { *exit_code = RunCheck(*args); });
}

}  // namespace rf::cli
