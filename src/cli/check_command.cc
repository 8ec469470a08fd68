// `ringfence check BUNDLE --type TYPE [--fleet FLEET] [--previous PREV] [--format text|json]`
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/stage1.h"
#include "crypto/crypto.h"
#include "platform/parallel.h"

namespace rf::cli {
namespace {

struct CheckArgs {
  std::string bundle, type, fleet, previous, format = "text";
};

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

int RunCheck(const CheckArgs& a) {
  Env env = PosixEnv();
  if (a.format != "text" && a.format != "json") {
    return UsageError(Status::InvalidArgument("--format must be text or json"));
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
  StageOneReport report = RunStageOne(in, std::move(lb->findings), options);
  const std::string digest = crypto::Sha256Hex(lb->payload);
  if (a.format == "json") {
    std::cout << StageOneReportJson(report, digest);
  } else {
    PrintText(report, *lb, a.bundle, digest, fleet.has_value());
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
  cmd->callback([args, exit_code] { *exit_code = RunCheck(*args); });
}

}  // namespace rf::cli
