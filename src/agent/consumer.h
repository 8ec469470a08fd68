// The consumer as an external command (docs/sdk.md "The consumer process protocol"): the agent asks
// it for its capability manifest, pre-flights new bundles with it in a limited child process, and
// runs it long-term under supervision.
//
// Each subcommand is an argument template appended to the consumer's argv; "{bundle}" expands to
// one bundle path (the first active one), "{bundles}" to every active bundle path as separate
// arguments. Defaults: `manifest`, `load {bundle}`, `run {bundles}`.
#ifndef RINGFENCE_AGENT_CONSUMER_H_
#define RINGFENCE_AGENT_CONSUMER_H_

#include <string>
#include <string_view>
#include <vector>

#include "agent/child_process.h"
#include "core/status.h"
#include "platform/env.h"

namespace rf::agent {

// How the consumer runs on the device.
enum class RunMode {
  // A service: `run` stays up; healthy after AgentOptions::healthy_after_ms of uptime; any exit is
  // a crash and it is restarted.
  kLongRunning,
  // A load at boot (the SDK's `load FILE` as the run command): exit 0 means the content loaded
  // and is healthy; it runs again only when the active bundles change. A signal or non-zero exit
  // is an unclean start, as in a boot loop.
  kOneShot,
};

struct ConsumerOptions {
  std::vector<std::string> argv;  // e.g. {"/usr/bin/ringfence-sensor", "--mode", "legacy"}; empty: none
  std::vector<std::string> manifest_args = {"manifest"};
  std::vector<std::string> load_args = {"load", "{bundle}"};
  std::vector<std::string> run_args = {"run", "{bundles}"};
  RunMode run_mode = RunMode::kLongRunning;
  ChildLimits preflight_limits = [] {  // manifest and pre-flight: no network where permitted
    ChildLimits l;
    l.isolate_network = true;
    return l;
  }();
  ChildLimits run_limits = {0, 0, 0, 0, 0, 0};  // the long-running consumer: unlimited by default
};

class ConsumerCommand {
 public:
  explicit ConsumerCommand(ConsumerOptions options);
  bool configured() const { return !options_.argv.empty(); }
  const ConsumerOptions& options() const { return options_; }

  // Runs the manifest command; returns its stdout (trimmed) once it decodes as a capability
  // manifest (rf::DecodeCapabilityManifest).
  Result<std::string> Manifest(Clock* clock) const;
  // Runs the load command on `bundle_path` in a limited child process.
  Result<ChildOutcome> Preflight(Clock* clock, const std::string& bundle_path) const;
  // The argv of the long-running consumer for these active bundles.
  std::vector<std::string> RunArgv(const std::vector<std::string>& bundle_paths) const;

 private:
  std::vector<std::string> Expand(const std::vector<std::string>& tmpl,
                                  const std::vector<std::string>& paths) const;
  ConsumerOptions options_;
};

// Sets options->argv and the three argument templates from the agent's command-line flags
// (--consumer, --consumer-manifest-args, --consumer-load-args, --consumer-run-args), each split by
// rf::SplitCommandLine (docs/process.md "Command lines"): the same words layer 2 runs for the same
// --consumer string on the server. InvalidArgument naming the flag otherwise (nothing is set then).
// The program is looked up in PATH when it is started (rf::ResolveExecutable).
Status SetConsumerCommandLines(std::string_view consumer, std::string_view manifest_args,
                               std::string_view load_args, std::string_view run_args,
                               ConsumerOptions* options);

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_CONSUMER_H_
