#include "agent/agent.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>

#include "crypto/crypto.h"
#include "rollout/confirmation.h"

namespace rf::agent {

Agent::Agent(AgentOptions options, Env env, Sleeper* sleeper, HttpClient* http, FaultPoints* faults)
    : options_(std::move(options)),
      env_(env),
      sleeper_(sleeper),
      faults_(faults),
      dir_(env.fs, options_.state_dir, &options_.trust, faults),
      guard_(env.fs, options_.state_dir + "/loading.json", options_.guard, faults),
      consumer_(options_.consumer),
      backoff_(options_.backoff_base_ms, options_.backoff_max_ms, env.random),
      poll_after_s_(options_.poll_default_s),
      restart_delay_ms_(options_.restart_delay_ms) {
  if (http && !options_.server_url.empty()) {
    client_ = std::make_unique<ProtocolClient>(http, options_.server_url, options_.token,
                                               options_.limits);
  }
  log_ = [](const std::string& line) { std::fprintf(stderr, "ringfence-agent: %s\n", line.c_str()); };
}

Agent::~Agent() { StopConsumer(); }

void Agent::Log(const std::string& line) {
  if (log_) log_(line);
}

Status Agent::SaveState() { return dir_.Save(state_); }

void Agent::Resync() {
  std::vector<std::string> notes;
  auto s = dir_.Open(&notes);
  for (const auto& n : notes) Log("recovery: " + n);
  if (s.ok()) {
    state_ = std::move(*s);
  } else {
    Log("cannot re-open the state directory: " + s.status().ToString());
  }
}

Status Agent::Open() {
  std::vector<std::string> notes;
  RF_ASSIGN_OR_RETURN(state_, dir_.Open(&notes));
  for (const auto& n : notes) Log("recovery: " + n);
  if (state_.seq == 0) {
    // A fresh (or wiped) device starts its sequence at the wall clock in milliseconds, so its
    // check-ins stay above anything a previous incarnation sent.
    state_.seq = env_.clock->NowUnixMicros() / 1000;
    RF_RETURN_IF_ERROR(SaveState());
  }
  if (env_.fs->Exists(dir_.MarkerPath())) {
    // The previous run ended (agent, consumer or host) while a bundle was on probation.
    Log("found a loading marker from an unclean stop");
    state_.pending.crashes += 1;
    RF_RETURN_IF_ERROR(SaveState());
    report_now_ = true;  // a crashed host that comes back reports the crash at boot
  }
  if (options_.device.capabilities_json.empty()) {
    if (consumer_.configured()) {
      auto m = consumer_.Manifest(env_.clock);
      if (m.ok()) {
        options_.device.capabilities_json = *m;
      } else {
        Log("no capability manifest (the server will not target this device): " + m.status().message());
        options_.device.capabilities_json = "{}";
      }
    } else {
      options_.device.capabilities_json = "{}";
    }
  }
  if (client_) {
    RF_RETURN_IF_ERROR(ValidateDeviceInfo(options_.device));
    // Durable before the first enrollment sends its public key (src/agent/device_key.h).
    RF_ASSIGN_OR_RETURN(device_key_,
                        LoadOrCreateDeviceKey(env_.fs, options_.state_dir + "/device.key", faults_));
  }
  next_checkin_micros_ = Mono();
  next_start_micros_ = Mono();
  return Status::Ok();
}

Status Agent::CheckinRound() {
  if (!client_) return Status::FailedPrecondition("offline: no server configured");
  auto fail = [&](const Status& s) {
    ++stats_.checkins_failed;
    const int64_t delay = backoff_.NextDelayMs();
    next_checkin_micros_ = Mono() + delay * 1000;
    Log(s.ToString() + "; next attempt in " + std::to_string(delay) + " ms");
    return s;
  };
  Result<CheckinResponse> resp = Status::Unavailable("not sent");
  PendingHealth reported;
  report_now_ = false;  // this round carries what was to be reported at once
  // Another attempt only after the server forgot the device (re-enroll), saw a higher seq, or
  // refused the session (a new one).
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Status s = EnsureSession(); !s.ok()) return fail(s);
    // The sequence number is durable before it is used: a replay of it is always stale.
    state_.seq += 1;
    if (Status s = SaveState(); !s.ok()) return fail(s);
    if (faults_) faults_->Hit("checkin.seq.saved");
    reported = state_.pending;
    resp = client_->Checkin(EncodeCheckinRequest(options_.device, state_, state_.seq));
    if (resp.ok()) break;
    if (resp.status().code() == StatusCode::kNotFound) {
      Log(resp.status().ToString() + "; enrolling again");
      state_.enrolled = false;
    } else if (resp.status().code() == StatusCode::kAborted &&
               resp.status().message().find("stale_checkin") != std::string::npos) {
      Log(resp.status().ToString() + "; leaping the sequence number forward");
      state_.seq += 1'000'000;
    } else if (resp.status().code() == StatusCode::kUnauthenticated) {
      Log(resp.status().ToString() + "; asking for a new session");
      client_->ClearSession();
    } else {
      break;
    }
    if (Status s = SaveState(); !s.ok()) return fail(s);
  }
  if (!resp.ok()) return fail(resp.status());
  ++stats_.checkins_ok;
  backoff_.Reset();
  poll_after_s_ = resp->poll_after_s;
  // Drop what the server now has; anything recorded since stays pending.
  state_.pending.crashes -= std::min(state_.pending.crashes, reported.crashes);
  state_.pending.errors -= std::min(state_.pending.errors, reported.errors);
  if (state_.pending.apply.size() >= reported.apply.size()) {
    state_.pending.apply.erase(state_.pending.apply.begin(),
                               state_.pending.apply.begin() + static_cast<long>(reported.apply.size()));
  }
  if (state_.pending.quarantined.size() >= reported.quarantined.size()) {
    state_.pending.quarantined.erase(
        state_.pending.quarantined.begin(),
        state_.pending.quarantined.begin() + static_cast<long>(reported.quarantined.size()));
  }
  if (!reported.empty()) {
    if (Status s = SaveState(); !s.ok()) Log("cannot save state: " + s.ToString());
  }
  // A malformed directive costs only its own channel (protocol/agent_messages.h).
  for (const auto& r : resp->rejected) RejectDirective(r);
  const int64_t applied_before = stats_.applied;
  for (const auto& d : resp->directives) {
    if (d.action == "install") {
      HandleInstall(d);
    } else {
      HandleRevert(d);
    }
  }
  // Post-apply confirmation (docs/protocol.md): report an apply at once; when the server answers
  // an apply report with confirm_after_ms, confirm that much later (jittered), then poll.
  if (stats_.applied > applied_before) {
    report_now_ = true;
    next_checkin_micros_ = Mono();
  } else {
    const int64_t poll = Mono() + JitteredPollDelayMs(poll_after_s_, options_.poll_min_s,
                                                      options_.poll_max_s, env_.random) * 1000;
    if (resp->confirm_after_ms > 0) {
      // The confirmation is an extra check-in: the poll keeps the phase it has from the report.
      next_checkin_micros_ =
          Mono() + rollout::ConfirmationDelayMicros(resp->confirm_after_ms * 1000, env_.random->Uniform());
      poll_after_confirmation_micros_ = std::max(poll, next_checkin_micros_ + 1000);
    } else if (poll_after_confirmation_micros_ > 0) {
      next_checkin_micros_ = std::max(poll_after_confirmation_micros_, Mono() + 1000);
      poll_after_confirmation_micros_ = 0;
    } else {
      next_checkin_micros_ = poll;
    }
  }
  return Status::Ok();
}

Status Agent::EnsureSession() {
  if (state_.enrolled) {
    const DeviceSession& cur = client_->session();
    if (!cur.token.empty() && cur.expires_s - 60 > NowS()) return Status::Ok();
    auto s = client_->NewSession(options_.device.device_id, *device_key_, NowS());
    if (s.ok()) {
      poll_after_s_ = s->poll_after_s;
      return Status::Ok();
    }
    if (s.status().code() != StatusCode::kNotFound) return s.status();
    Log(s.status().ToString() + "; enrolling again");
    state_.enrolled = false;
  }
  // The key was saved before it was ever sent, so an enrollment interrupted at any point is
  // repeated with the same key (idempotent on the server).
  auto s = client_->Enroll(options_.device, *device_key_, NowS());
  if (faults_) faults_->Hit("enroll.done");
  if (!s.ok()) return s.status();
  state_.enrolled = true;
  poll_after_s_ = s->poll_after_s;
  return SaveState();
}

void Agent::Refuse(const Directive& d, const std::string& result, const std::string& reason) {
  const std::string key = d.channel + "\n" + d.sha256 + "\n" + crypto::Sha256Hex(d.release);
  Log("channel " + d.channel + " version " + std::to_string(d.version) + ": " + result + ": " + reason);
  if (!refused_directives_.insert(key).second) return;  // reported once per process
  if (result == "refused") ++stats_.refused;
  state_.Report({d.channel, d.version, d.sha256, result, reason});
  if (Status s = SaveState(); !s.ok()) Log("cannot save state: " + s.ToString());
}

void Agent::RejectDirective(const RejectedDirective& r) {
  ++stats_.directives_rejected;
  const Directive& d = r.directive;
  // Reported as refused when the entry is one the server accepts (a channel such as ".." is not:
  // it would make the server refuse the whole report); logged either way.
  if (IsValidChannel(d.channel) && d.version >= 1 && IsSha256Hex(d.sha256)) {
    Refuse(d, "refused", "malformed directive: " + r.error.message());
  } else {
    Log("malformed directive ignored (other channels still apply): " + r.error.message());
  }
}

void Agent::HandleInstall(const Directive& d) {
  const InstalledView view = state_.View(d.channel);
  if (view.current && view.current->version == d.version && view.current->sha256 == d.sha256) return;
  const std::string key = d.channel + "\n" + d.sha256 + "\n" + crypto::Sha256Hex(d.release);
  if (refused_directives_.count(key)) return;  // same directive, same verdict: do not re-download
  // Cheap checks before any download: anti-rollback on the directive, then the release statement.
  if (Status s = CheckAntiRollback(view, d.version, d.sha256); !s.ok()) {
    if (s.code() != StatusCode::kAlreadyExists) Refuse(d, "refused", s.message());
    return;
  }
  if (auto rs = VerifyReleaseStatement(options_.trust, d.release, "install", d.channel, NowS()); !rs.ok()) {
    Refuse(d, "refused", rs.status().message());
    return;
  }
  if (faults_) faults_->Hit("download.begin");
  InstallCandidate c;
  c.channel = d.channel;
  c.version = d.version;
  c.sha256 = d.sha256;
  c.release_envelope = d.release;
  auto bundle = client_->FetchBundle(d);
  if (!bundle.ok()) {
    // Transport trouble is not a verdict on the bundle: retried at the next check-in.
    Log("channel " + d.channel + ": " + bundle.status().ToString());
    return;
  }
  c.bundle_envelope = std::move(*bundle);
  if (options_.trust.approval_threshold > 0) {
    auto approvals = client_->FetchApprovals(d);
    if (!approvals.ok()) {
      Log("channel " + d.channel + ": " + approvals.status().ToString());
      return;
    }
    c.approval_envelopes = std::move(*approvals);
  }
  if (faults_) faults_->Hit("download.done");
  auto verified = VerifyInstall(options_.trust, c, view, NowS());
  if (faults_) faults_->Hit("verify.done");
  if (!verified.ok()) {
    Refuse(d, "refused", verified.status().message());
    return;
  }
  auto staged = dir_.Stage(*verified);
  if (!staged.ok()) {
    Log("cannot stage the bundle: " + staged.status().ToString());
    return;
  }
  if (options_.preflight && consumer_.configured()) {
    auto outcome = consumer_.Preflight(env_.clock, *staged);
    if (faults_) faults_->Hit("preflight.done");
    if (!outcome.ok() || !outcome->Succeeded()) {
      const std::string reason =
          "pre-flight load " + (outcome.ok() ? outcome->Describe() : outcome.status().message());
      dir_.DropStaged(*staged);
      ++stats_.preflight_failed;
      // Refused for good: a bundle that crashes the consumer's load is never retried.
      state_.Quarantine({d.channel, verified->version, verified->sha256, reason});
      Refuse(d, "preflight_failed", reason);
      return;
    }
  }
  if (consumer_.configured() && child_.running()) {
    // Never change the active slot under a running consumer: one that is still loading would read
    // the new bundle without the guard's marker (an unguarded start of unproven content). It is
    // restarted on the new bundle by SuperviseStep, under the guard.
    StopConsumer();
    next_start_micros_ = Mono();
  }
  if (Status s = dir_.Apply(*verified, d.lkg_after_ms, &state_); !s.ok()) {
    Log("apply failed, nothing changed: " + s.ToString());
    dir_.DropStaged(*staged);
    Resync();
    return;
  }
  dir_.DropStaged(*staged);
  ++stats_.applied;
  Log("channel " + d.channel + ": applied version " + std::to_string(verified->version));
  if (!consumer_.configured()) {
    // Nothing runs the content here, so nothing can crash on it: it is healthy as applied.
    state_.channels[d.channel].healthy_sha256 = verified->sha256;
    (void)SaveState();
  }
}

void Agent::HandleRevert(const Directive& d) {
  auto rs = VerifyReleaseStatement(options_.trust, d.release, "revert", d.channel, NowS());
  if (!rs.ok()) {
    Refuse(d, "refused", "revert directive: " + rs.status().message());
    return;
  }
  if (rs->version != d.version || rs->bundle_sha256 != d.sha256) {
    Refuse(d, "refused", "revert directive does not match its signed release statement");
    return;
  }
  for (const auto& q : state_.quarantined) {
    if (q.channel == d.channel && q.version == d.version && q.sha256 == d.sha256) return;
  }
  const std::string reason = "revert directive" + (d.reason.empty() ? "" : ": " + d.reason);
  const auto it = state_.channels.find(d.channel);
  if (it != state_.channels.end() && it->second.current &&
      it->second.current->version == d.version && it->second.current->sha256 == d.sha256) {
    if (child_.running()) {  // stopped before its content changes (see HandleInstall)
      StopConsumer();
      next_start_micros_ = Mono();
    }
    if (Status s = dir_.Revert(d.channel, reason, "reverted", &state_); !s.ok()) {
      Log("revert failed: " + s.ToString());
      Resync();
      return;
    }
    ++stats_.reverted;
    Log("channel " + d.channel + ": reverted version " + std::to_string(d.version) + " (" + reason + ")");
    return;
  }
  // Not running it: remember never to take it.
  state_.Quarantine({d.channel, d.version, d.sha256, reason});
  if (Status s = SaveState(); !s.ok()) Log("cannot save state: " + s.ToString());
}

std::map<std::string, BundleRef> Agent::Probation() const {
  std::map<std::string, BundleRef> p;
  for (const auto& [ch, c] : state_.channels) {
    if (c.current && c.current->sha256 != c.healthy_sha256) p[ch] = *c.current;
  }
  return p;
}

std::vector<std::string> Agent::ActivePaths() const {
  std::vector<std::string> paths;
  for (const auto& [ch, c] : state_.channels) {
    if (c.current) paths.push_back(dir_.ActivePath(ch));
  }
  return paths;
}

std::string Agent::ActiveKey() const {
  std::string key;
  for (const auto& [ch, c] : state_.channels) {
    if (c.current) key += ch + "=" + c.current->sha256 + ";";
  }
  return key;
}

bool Agent::ProbationServed(int64_t up_micros) const {
  for (const auto& [ch, ref] : Probation()) {
    const ChannelState& c = state_.channels.at(ch);
    // The plan's window when the install directive carried one, else the agent's default.
    const int64_t window = c.lkg_after_ms >= 0 ? c.lkg_after_ms : options_.lkg_after_ms;
    if (c.proven_ms + up_micros / 1000 < window) return false;
  }
  return true;
}

void Agent::AddProvenTime(int64_t up_micros) {
  const auto probation = Probation();
  if (probation.empty() || up_micros <= 0) return;
  for (const auto& [ch, ref] : probation) state_.channels[ch].proven_ms += up_micros / 1000;
  if (Status s = SaveState(); !s.ok()) Log("cannot save state: " + s.ToString());
}

void Agent::MarkHealthy() {
  restart_delay_ms_ = options_.restart_delay_ms;
  const auto probation = Probation();
  if (probation.empty()) return;
  for (const auto& [ch, ref] : probation) {
    state_.channels[ch].healthy_sha256 = ref.sha256;
    state_.channels[ch].proven_ms = 0;
  }
  if (Status s = SaveState(); !s.ok()) {
    Log("cannot save state: " + s.ToString());
    return;
  }
  if (faults_) faults_->Hit("guard.healthy.saved");
  if (Status s = guard_.Clear(); !s.ok()) Log("guard: " + s.ToString());
  Log("consumer healthy with the new content");
}

void Agent::StopConsumer() {
  if (!child_.running()) return;
  // Ended on its own before we asked (a crash not yet seen by SuperviseStep): not forgivable.
  if (auto exit = child_.Poll()) {
    HandleConsumerExit(*exit, Mono());
    return;
  }
  DrainConsumerOutput();
  const bool on_probation = !Probation().empty();
  const int64_t up = Mono() - child_started_micros_;
  const ChildOutcome o = child_.Stop(env_.clock, options_.stop_grace_ms);
  DrainConsumerOutput();
  const bool ended_by_us = o.signal == SIGTERM || o.signal == SIGKILL || o.exit_code == 0;
  if (!ended_by_us || consumer_failed_) {
    // It crashed while stopping, or had reported FAILED: that start stays unclean.
    HandleConsumerExit(o, Mono());
    return;
  }
  if (on_probation) {
    // Stopped by the agent before the content was promoted: not an unclean start, and the run
    // counts toward lkg_after ("clean restarts included").
    AddProvenTime(up);
    if (Status s = guard_.ForgiveLastStart(); !s.ok()) Log("guard: " + s.ToString());
  }
}

void Agent::DrainConsumerOutput() {
  const int64_t errors_before = state_.pending.errors;
  for (const std::string& line : child_.TakeOutputLines()) {
    Log("consumer: " + line);
    constexpr std::string_view kHealth = "health: ";
    if (line.compare(0, kHealth.size(), kHealth) != 0) continue;
    std::string_view rest = std::string_view(line).substr(kHealth.size());
    const size_t colon = rest.find(':');
    const std::string_view state = rest.substr(0, colon);
    std::string detail;
    if (colon != std::string_view::npos) {
      detail = std::string(rest.substr(colon + 1));
      if (!detail.empty() && detail.front() == ' ') detail.erase(0, 1);
    }
    if (state == "degraded") {
      ++stats_.health_degraded;
      state_.pending.errors += 1;
    } else if (state == "failed") {
      ++stats_.health_failed;
      if (!consumer_failed_) consumer_failed_ = detail.empty() ? "no detail" : detail;
    }
  }
  if (state_.pending.errors != errors_before) {
    if (Status s = SaveState(); !s.ok()) Log("cannot save state: " + s.ToString());
  }
}

void Agent::CountConsumerFailure(const std::string& what, int64_t now) {
  ++stats_.consumer_crashes;
  state_.pending.crashes += 1;
  (void)SaveState();
  Log("consumer " + what);
  next_start_micros_ = now + restart_delay_ms_ * 1000;
  restart_delay_ms_ = std::min(restart_delay_ms_ * 2, options_.restart_delay_max_ms);
}

void Agent::HandleConsumerExit(const ChildOutcome& exit, int64_t now) {
  DrainConsumerOutput();  // its last words, including a FAILED report just before it ended
  const std::optional<std::string> failed = std::move(consumer_failed_);
  consumer_failed_.reset();
  if (failed) {
    CountConsumerFailure("reported health FAILED (" + *failed + "), then " + exit.Describe(), now);
    return;
  }
  if (options_.consumer.run_mode == RunMode::kOneShot && exit.exit_code == 0) {
    oneshot_done_for_ = ActiveKey();
    MarkHealthy();
    return;
  }
  if (options_.host_crash_on_consumer_crash && exit.signal > 0) {
    // The host goes down with its kernel-mode consumer: nothing is written or reported; the
    // guard's marker (written before the start) is what survives the "reboot".
    host_crashed_ = true;
    Log("host crash (model): consumer " + exit.Describe());
    return;
  }
  CountConsumerFailure("exited: " + exit.Describe(), now);
}

void Agent::SuperviseStep() {
  if (!consumer_.configured()) return;
  const int64_t now = Mono();
  if (child_.running()) {
    if (auto exit = child_.Poll()) {
      HandleConsumerExit(*exit, now);
      return;
    }
    DrainConsumerOutput();
    if (consumer_failed_) {
      // "The agent treats FAILED like a crash" (docs/sdk.md): the consumer is not evaluating
      // content; stop it and count the start as unclean (the guard's marker stays).
      const ChildOutcome o = child_.Stop(env_.clock, options_.stop_grace_ms);
      HandleConsumerExit(o, now);
      return;
    }
    const int64_t up = now - child_started_micros_;
    if (options_.consumer.run_mode == RunMode::kLongRunning && up >= options_.healthy_after_ms * 1000) {
      restart_delay_ms_ = options_.restart_delay_ms;  // the host is up; crashes start over
      // Late crashes are never promoted: the content becomes the LKG only after lkg_after of
      // clean running (docs/agent.md "Late crashes"); until then the guard's marker stays.
      if (!Probation().empty() && ProbationServed(up)) MarkHealthy();
    }
    return;
  }
  if (options_.consumer.run_mode == RunMode::kOneShot && oneshot_done_for_ == ActiveKey()) return;
  if (now < next_start_micros_) return;
  std::vector<std::string> paths = ActivePaths();
  if (paths.empty()) return;  // nothing to interpret yet
  auto probation = Probation();
  auto decision = guard_.BeforeStart(probation);
  if (!decision.ok()) {
    Log("guard: " + decision.status().ToString());
    next_start_micros_ = now + restart_delay_ms_ * 1000;
    return;
  }
  if (decision->quarantine) {
    const std::string reason = std::to_string(decision->unclean_starts) + " unclean starts";
    for (const auto& [ch, ref] : probation) {
      if (Status s = dir_.Revert(ch, reason, "reverted", &state_); !s.ok()) {
        Log("revert failed: " + s.ToString());
        Resync();
        return;
      }
      ++stats_.reverted;
      Log("channel " + ch + ": quarantined version " + std::to_string(ref.version) + " after " +
          reason + ", reverted to LKG");
    }
    next_start_micros_ = now;
    return;
  }
  if (faults_) faults_->Hit("consumer.start");
  if (Status s = child_.Start(consumer_.RunArgv(paths), options_.consumer.run_limits); !s.ok()) {
    Log("cannot start the consumer: " + s.ToString());
    next_start_micros_ = now + restart_delay_ms_ * 1000;
    return;
  }
  ++stats_.consumer_starts;
  child_started_micros_ = now;
  oneshot_done_for_.clear();  // whatever ran before is no longer what the consumer holds
}

bool Agent::HostBooting() const {
  if (!options_.host_crash_on_consumer_crash || !child_.running()) return false;
  if (options_.consumer.run_mode == RunMode::kOneShot) return true;
  // Long-running: until the consumer on new content has been up for the healthy period (the
  // content stays on probation longer, until lkg_after, but the host is up).
  return !Probation().empty() &&
         env_.clock->MonotonicMicros() - child_started_micros_ < options_.healthy_after_ms * 1000;
}

void Agent::Run(const std::atomic<bool>* stop) {
  while (!stop->load()) {
    // An apply or a crash found at boot is reported before the consumer (re)loads the content.
    if (client_ && report_now_ && Mono() >= next_checkin_micros_) (void)CheckinRound();
    SuperviseStep();
    if (host_crashed_) return;  // the consumer is gone already; a crashed host stops nothing
    const bool booting = HostBooting();
    if (client_ && !booting && Mono() >= next_checkin_micros_) (void)CheckinRound();
    if (stop->load()) break;
    int64_t wait = options_.tick_ms * 1000;
    if (client_ && !booting) wait = std::min(wait, std::max<int64_t>(0, next_checkin_micros_ - Mono()));
    sleeper_->SleepMicros(std::max<int64_t>(wait, 1000));
  }
  StopConsumer();
}

}  // namespace rf::agent
