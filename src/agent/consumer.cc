#include "agent/consumer.h"

#include <unistd.h>

#include <cstdlib>

#include "agent/canonical_json.h"
#include "core/fleet.h"

namespace rf::agent {

std::string ResolveExecutable(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string_view p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!p.empty()) {
    auto colon = p.find(':');
    std::string dir(p.substr(0, colon));
    p = colon == std::string_view::npos ? std::string_view() : p.substr(colon + 1);
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

ConsumerCommand::ConsumerCommand(ConsumerOptions options) : options_(std::move(options)) {
  if (!options_.argv.empty()) options_.argv[0] = ResolveExecutable(options_.argv[0]);
}

std::vector<std::string> ConsumerCommand::Expand(const std::vector<std::string>& tmpl,
                                                 const std::vector<std::string>& paths) const {
  std::vector<std::string> out = options_.argv;
  for (const auto& t : tmpl) {
    if (t == "{bundle}") {
      if (!paths.empty()) out.push_back(paths.front());
    } else if (t == "{bundles}") {
      out.insert(out.end(), paths.begin(), paths.end());
    } else {
      out.push_back(t);
    }
  }
  return out;
}

Result<std::string> ConsumerCommand::Manifest(Clock* clock) const {
  if (!configured()) return Status::FailedPrecondition("no consumer command configured");
  RF_ASSIGN_OR_RETURN(ChildOutcome o, RunChild(clock, Expand(options_.manifest_args, {}),
                                               options_.preflight_limits));
  if (!o.Succeeded()) return Status::Unavailable("consumer manifest command: " + o.Describe());
  std::string text = o.out;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  auto v = ParseJson(text, 8);
  if (!v.ok()) return v.status().WithPrefix("consumer manifest");
  auto m = DecodeCapabilityManifest(*v, "consumer manifest");
  if (!m.ok()) return m.status();
  return text;
}

Result<ChildOutcome> ConsumerCommand::Preflight(Clock* clock, const std::string& bundle_path) const {
  if (!configured()) return Status::FailedPrecondition("no consumer command configured");
  return RunChild(clock, Expand(options_.load_args, {bundle_path}), options_.preflight_limits);
}

std::vector<std::string> ConsumerCommand::RunArgv(const std::vector<std::string>& bundle_paths) const {
  return Expand(options_.run_args, bundle_paths);
}

}  // namespace rf::agent
