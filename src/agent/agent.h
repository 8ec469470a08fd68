// ringfence-agent's core: check-in loop, install/revert, pre-flight, apply, and supervision of the
// consumer under the crash-loop guard. Design and worked timeline: docs/agent.md.
//
//   Agent agent(options, PosixEnv(), &sleeper, http.get(), &faults);
//   RF_RETURN_IF_ERROR(agent.Open());
//   agent.Run(&stop_flag);            // or agent.CheckinRound() once
//
// Single-threaded: every method must be called from one thread (Run's stop flag may be set from
// a signal handler or another thread).
#ifndef RINGFENCE_AGENT_AGENT_H_
#define RINGFENCE_AGENT_AGENT_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "agent/agent_state.h"
#include "agent/backoff.h"
#include "agent/consumer.h"
#include "agent/crash_loop_guard.h"
#include "agent/device_key.h"
#include "agent/fault_points.h"
#include "agent/protocol_client.h"
#include "agent/sleeper.h"
#include "agent/state_dir.h"
#include "agent/trust_root.h"
#include "platform/env.h"

namespace rf::agent {

// Exit status of ringfence-agent after a modelled host crash (host_crash_on_consumer_crash).
inline constexpr int kHostCrashExitCode = 86;

struct AgentOptions {
  std::string server_url;  // "http://host:port"; empty = offline (guard and supervision only)
  std::string token;       // the fleet's enrollment token (enrollment only; docs/protocol.md)
  std::string state_dir;   // owned by this agent alone
  TrustRoot trust;
  DeviceInfo device;       // capabilities_json filled by Open() unless set
  ConsumerOptions consumer;
  bool preflight = true;   // run `load` in a child before applying (needs a consumer)
  CrashLoopGuardOptions guard;
  int64_t healthy_after_ms = 10'000;      // consumer uptime after which the host counts as up
  // New content becomes the last known good only after it has run this long in all (clean
  // restarts included; docs/agent.md "Late crashes"): until then it stays on probation, the
  // guard's marker stays, and a crash loop on it reverts to the previous LKG. The default only:
  // the release plan's gate.lkg_after (docs/rollout.md), sent with the install directive
  // (`lkg_after_ms`, docs/protocol.md), is the window of the content it installs.
  int64_t lkg_after_ms = 600'000;
  int64_t restart_delay_ms = 500;         // first consumer restart delay; doubles per crash
  int64_t restart_delay_max_ms = 30'000;  // cap on the above
  int64_t stop_grace_ms = 5'000;          // SIGTERM -> SIGKILL when stopping the consumer
  int64_t poll_default_s = 60;            // until the server says otherwise
  int64_t poll_min_s = 1;                 // clamp on the server's poll_after_s
  int64_t poll_max_s = 3600;
  int64_t backoff_base_ms = 1'000;        // failed check-ins: full-jitter exponential backoff
  int64_t backoff_max_ms = 300'000;
  int64_t tick_ms = 50;                   // supervision granularity of Run()
  // A model of kernel-mode consumers for demonstrations and tests (docs/agent.md "Host-crash
  // model"): a consumer killed by a signal takes the whole host down. Run() returns at once with
  // host_crashed() true, writing nothing and reporting nothing (a crashed host cannot report);
  // check-ins wait while the consumer is loading (the host is not up before its kernel-mode
  // consumer has loaded), so a host that crashes on every boot never checks in again.
  bool host_crash_on_consumer_crash = false;
  ProtocolLimits limits;
};

// Counters for logs, tests and the benchmark.
struct AgentStats {
  int64_t checkins_ok = 0;
  int64_t checkins_failed = 0;
  int64_t applied = 0;
  int64_t refused = 0;
  int64_t directives_rejected = 0;  // malformed directives in check-in responses (skipped)
  int64_t preflight_failed = 0;
  int64_t reverted = 0;
  int64_t consumer_starts = 0;
  int64_t consumer_crashes = 0;    // includes starts ended by a FAILED health report
  int64_t health_degraded = 0;     // DEGRADED reports (each one error at the next check-in)
  int64_t health_failed = 0;       // FAILED reports (handled like a crash)
};

class Agent {
 public:
  // `env`, `sleeper`, `http` (null when offline) and `faults` (nullable) must outlive the agent.
  Agent(AgentOptions options, Env env, Sleeper* sleeper, HttpClient* http, FaultPoints* faults);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Opens and repairs the state directory, asks the consumer for its manifest, and (with a
  // server) loads or creates the device key (STATE/device.key). Must succeed before anything else
  // is called.
  Status Open();

  // One protocol round: enroll if needed (or get a new session with the device key), check in
  // (with the pending health report), then act on
  // every directive. OK when the check-in was answered; install/revert outcomes are not errors
  // (they are reported at the next check-in). Sets the time of the next round.
  Status CheckinRound();

  // One supervision step: reap an exited consumer, declare bundles healthy, or (re)start the
  // consumer under the crash-loop guard, reverting instead when the guard says so.
  void SuperviseStep();

  // Check-ins and supervision until *stop becomes true; then stops the consumer. With
  // host_crash_on_consumer_crash, also returns as soon as the host crashed (host_crashed()).
  void Run(const std::atomic<bool>* stop);
  // True once the consumer crashed under the host-crash model (the process should exit at once).
  bool host_crashed() const { return host_crashed_; }

  const AgentState& state() const { return state_; }
  const AgentStats& stats() const { return stats_; }
  // Monotonic time (micros) of the next check-in.
  int64_t next_checkin_micros() const { return next_checkin_micros_; }
  // Log lines go here (stderr by default).
  void set_log(std::function<void(const std::string&)> log) { log_ = std::move(log); }

 private:
  void Log(const std::string& line);
  // Makes sure the client holds a session: enrolls if not enrolled, else asks for a new session
  // when there is none or it is about to expire (a reset device is enrolled again).
  Status EnsureSession();
  int64_t NowS() { return env_.clock->NowUnixMicros() / 1'000'000; }
  int64_t Mono() { return env_.clock->MonotonicMicros(); }
  Status SaveState();
  // Re-opens the state dir after a failed durable step so memory never runs ahead of disk.
  void Resync();
  void HandleInstall(const Directive& d);
  void HandleRevert(const Directive& d);
  void Refuse(const Directive& d, const std::string& result, const std::string& reason);
  // A directive the check-in response decoder refused: logged, and reported as refused when its
  // channel, version and digest are valid.
  void RejectDirective(const RejectedDirective& r);
  // Stops the consumer (if running) before its content changes or the agent exits. A start on
  // probation that the agent ends itself before the healthy period is forgiven; a consumer that
  // had already ended on its own, or crashed during the stop, is handled as an exit instead.
  void StopConsumer();
  // A consumer exit the agent did not cause: healthy for a one-shot exit 0, otherwise a crash
  // (the guard's marker stays, so the start counts as unclean).
  void HandleConsumerExit(const ChildOutcome& exit, int64_t now);
  // Counts a failed start (crash, or FAILED health) and schedules the restart with backoff.
  void CountConsumerFailure(const std::string& what, int64_t now);
  // Forwards the consumer's output lines to the log and reads its health reports
  // ("health: ok|degraded|failed: detail", docs/sdk.md): DEGRADED adds an error to the next
  // check-in; FAILED sets consumer_failed_.
  void DrainConsumerOutput();
  std::map<std::string, BundleRef> Probation() const;
  std::vector<std::string> ActivePaths() const;
  std::string ActiveKey() const;
  // The content on probation has run lkg_after_ms: it becomes the last known good (the guard's
  // marker is removed).
  void MarkHealthy();
  // Every channel on probation has run its lkg_after window (ChannelState::lkg_after_ms, else
  // AgentOptions::lkg_after_ms) in all, counting the current run's `up_micros`.
  bool ProbationServed(int64_t up_micros) const;
  // Adds the current run's uptime to every probation channel's proven time (a clean stop).
  void AddProvenTime(int64_t up_micros);
  // Host-crash model: the consumer is still loading, so the host is not up and does not check in.
  bool HostBooting() const;

  AgentOptions options_;
  Env env_;
  Sleeper* sleeper_;
  FaultPoints* faults_;
  std::unique_ptr<ProtocolClient> client_;
  std::optional<crypto::SigningKey> device_key_;  // set by Open() when there is a server
  StateDir dir_;
  CrashLoopGuard guard_;
  ConsumerCommand consumer_;
  FullJitterBackoff backoff_;
  AgentState state_;
  AgentStats stats_;
  std::function<void(const std::string&)> log_;

  // The running consumer reported FAILED health (its detail); cleared when that start ends.
  std::optional<std::string> consumer_failed_;
  int64_t poll_after_s_;
  int64_t next_checkin_micros_ = 0;
  // Directives already refused by this process: (channel, sha256, release statement) -> reason.
  std::set<std::string> refused_directives_;

  SupervisedChild child_;
  int64_t child_started_micros_ = 0;
  int64_t next_start_micros_ = 0;
  int64_t restart_delay_ms_ = 0;
  // kOneShot: the active bundles (digests) the last clean run loaded; no re-run until they change.
  std::string oneshot_done_for_;
  bool host_crashed_ = false;
  // An apply (or an unclean stop found at boot) to report at once, before the consumer loads the
  // content (docs/protocol.md "Post-apply confirmation").
  bool report_now_ = false;
  // After a confirmation: when the poll that the apply report started is due (0: none).
  int64_t poll_after_confirmation_micros_ = 0;
};

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_AGENT_H_
