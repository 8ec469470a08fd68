#include "agent/consumer.h"

#include "agent/canonical_json.h"
#include "core/fleet.h"

namespace rf::agent {

ConsumerCommand::ConsumerCommand(ConsumerOptions options) : options_(std::move(options)) {}

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

Status SetConsumerCommandLines(std::string_view consumer, std::string_view manifest_args,
                               std::string_view load_args, std::string_view run_args,
                               ConsumerOptions* options) {
  auto c = SplitCommandLine(consumer);
  if (!c.ok()) return c.status().WithPrefix("--consumer");
  if (c->empty()) return Status::InvalidArgument("--consumer is empty");
  auto m = SplitCommandLine(manifest_args);
  if (!m.ok()) return m.status().WithPrefix("--consumer-manifest-args");
  auto l = SplitCommandLine(load_args);
  if (!l.ok()) return l.status().WithPrefix("--consumer-load-args");
  auto r = SplitCommandLine(run_args);
  if (!r.ok()) return r.status().WithPrefix("--consumer-run-args");
  options->argv = std::move(*c);
  options->manifest_args = std::move(*m);
  options->load_args = std::move(*l);
  options->run_args = std::move(*r);
  return Status::Ok();
}

}  // namespace rf::agent
