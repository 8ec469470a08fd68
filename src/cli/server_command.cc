#include "cli/server_command.h"

#include <csignal>
#include <iostream>
#include <memory>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <boost/json.hpp>

#include "cli/common.h"
#include "cluster/change_watcher.h"
#include "cluster/cluster_fleet.h"
#include "cluster/leader_lease.h"
#include "cluster/pg_gate_evidence.h"
#include "cluster/pg_credential_store.h"
#include "crypto/crypto.h"
#include "http/transport_policy.h"
#include "server/agent_api.h"
#include "server/controller.h"
#include "server/data_dir.h"
#include "server/event_log.h"
#include "server/device_credentials.h"
#include "server/fleet_admin_api.h"
#include "server/fleet_inventory.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/fleet_summary.h"
#include "server/ui_handler.h"
#include "server/ui_changes.h"
#include "server/ui_fleet.h"
#include "server/ui_history.h"
#include "server/ui_what_if.h"
#ifdef RF_HAVE_SIM
#include "sim/what_if.h"
#endif
#include "dynamic/dynamic_check.h"
#include "service/operator_api.h"
#include "service/release_service.h"
#include "store/open_store.h"
#include "store/pg_store.h"

namespace rf::server {
namespace {

using cli::kExitOk;
using cli::kExitUnusable;


Result<std::pair<std::string, uint16_t>> SplitListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("--listen: expected HOST:PORT, got '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) return Status::InvalidArgument("--listen: bad port in '" + listen + "'");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

// The access log: one line per request. Refusals (4xx) are warnings naming the error the client
// got; check-ins, health and metrics scrapes that succeed are debug (one per device per poll).
void LogRequest(EventLog& log, const HttpRequest& r, const HttpResponse& response, int64_t micros) {
  const bool routine = r.path == "/v1/agent/checkin" || r.path == "/healthz" ||
                       r.path == "/metrics" || r.path.rfind("/v1/bundles/", 0) == 0;
  const LogLevel level = response.status >= 500   ? LogLevel::kError
                         : response.status >= 400 ? LogLevel::kWarn
                         : routine                ? LogLevel::kDebug
                                                  : LogLevel::kInfo;
  if (!log.Enabled(level)) return;
  std::string code, message;
  if (response.status >= 400) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(response.body, ec);
    if (!ec && v.is_object() && v.as_object().contains("error") &&
        v.as_object().at("error").is_object()) {
      const boost::json::object& e = v.as_object().at("error").as_object();
      if (auto* c = e.if_contains("code"); c && c->is_string()) code = std::string(c->as_string());
      if (auto* m = e.if_contains("message"); m && m->is_string()) {
        message = std::string(m->as_string());
      }
    }
  }
  log.Write(level, "http", {{"method", r.method}, {"path", r.path},
                            {"status", int64_t{response.status}}, {"micros", micros},
                            {"error", code}, {"message", message}});
}

// The control plane on `store`: the release service with layer 2 and the demonstration switches
// from the flags, audit entries to the log, the admin and agent principals registered.
Result<std::unique_ptr<service::ReleaseService>> OpenReleaseService(
    const ServerFlags& flags, Env env, store::Store& store, const FleetSource& fleet,
    const ServerSecrets& secrets, EventLog& log, ChangeFeed& changes, std::ostream& err) {
  service::ReleaseServiceOptions service_options;
  for (const std::string& c : flags.consumers) {
    RF_ASSIGN_OR_RETURN(dynamic::ConsumerSpec spec, dynamic::ConsumerSpecFromCommandLine(c));
    service_options.layer2_consumers.push_back(std::move(spec));
  }
  service_options.layer2.limits.address_space_bytes = flags.layer2_memory_mb << 20;
  service_options.layer2_env = env;
  service_options.skip_layer1 = flags.skip_layer1;
  service_options.allow_zero_approvals = flags.allow_unreviewed;
  service_options.on_audit = [&log, &changes](const store::AuditRecord& a) {
    log.Write(LogLevel::kInfo, "audit", {{"actor", a.actor}, {"action", a.action},
                                         {"subject", a.subject}, {"details", a.details_json}});
    changes.Notify();  // the dashboard's long-poll (docs/dashboard.md "Live updates")
  };
  if (flags.skip_layer1) err << "ringfence server: layer 1 is OFF (--skip-layer1)\n";
  if (flags.allow_unreviewed) err << "ringfence server: policies of 0 approvals allowed (--allow-unreviewed)\n";
  if (!flags.consumers.empty()) {
    err << "ringfence server: layer 2 on upload with " << flags.consumers.size() << " consumer build(s)\n";
  }
  RF_ASSIGN_OR_RETURN(auto service, service::ReleaseService::Open(store, fleet, *env.clock,
                                                                  std::move(service_options)));
  RF_RETURN_IF_ERROR(service->principals().Ensure("admin", {Role::kAdmin}, secrets.admin_token));
  RF_RETURN_IF_ERROR(service->principals().Ensure("agent", {Role::kAgent}, secrets.agent_token));
  return service;
}

// Several servers on one PostgreSQL store (docs/deploy.md): the controller lease this process
// competes for and the watcher that reloads what the others commit. Null members on SQLite.
struct ClusterMembership {
  std::unique_ptr<cluster::LeaseKeeper> lease;
  std::unique_ptr<cluster::ChangeWatcher> watcher;
  // Gate evidence summed across the servers (docs/deploy.md "Gate evidence across replicas").
  std::unique_ptr<cluster::PgGateEvidence> evidence;
  std::string name;  // this process in the cluster: the lease holder
  void Stop() {
    if (watcher) watcher->Stop();
    if (lease) lease->Stop();  // hands the lease over at once
  }
};

// This process's name in the cluster (the lease holder, the fleet_profiles and gate_counts rows):
// unique per process.
std::string ReplicaName(Env env) {
  char host[256] = {};
  (void)::gethostname(host, sizeof(host) - 1);
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" +
         std::to_string(env.clock->NowUnixMicros());
}

// Layer 1's fleet (docs/deploy.md "Layer 1 across replicas"): on PostgreSQL this replica's
// inventory merged with the others' published profiles, publishing its own from now on; on SQLite
// the inventory, through the same merge. It names this process in the cluster (replica()).
// A device not heard from for this long is stale on the dashboard (docs/dashboard.md "Fleet").
int64_t StaleAfterMicros(const ServerFlags& flags) {
  return 3 * std::max<int64_t>(1, flags.poll_after_s) * 1'000'000;
}

Result<std::unique_ptr<cluster::ClusterFleet>> OpenLayerOneFleet(const ServerFlags& flags, Env env,
                                                                 store::Store& store,
                                                                 FleetInventory& inventory,
                                                                 EventLog& log) {
  cluster::ClusterFleetOptions o;
  o.replica = ReplicaName(env);
  o.on_error = [&log](const Status& st) {
    log.Write(LogLevel::kWarn, "cluster", {{"message", "layer 1 fleet: " + st.ToString()}});
  };
  // The dashboard's fleet summary counts, published beside the profiles.
  o.summary = [&inventory, clock = env.clock, stale_after = StaleAfterMicros(flags)] {
    return CountFleetSummary(inventory, clock->NowUnixMicros(), stale_after);
  };
  auto* pg = dynamic_cast<store::PgStore*>(&store);
  RF_RETURN_IF_ERROR(cluster::ClusterFleet::Validate(o, pg != nullptr));
  auto fleet = std::make_unique<cluster::ClusterFleet>(inventory, pg, *env.clock, std::move(o));
  fleet->Start();
  return fleet;
}

Result<ClusterMembership> JoinCluster(const ServerFlags& flags, Env env, store::Store& store,
                                      service::ReleaseService& service, const std::string& name,
                                      EventLog& log, std::ostream& err) {
  ClusterMembership m;
  auto* pg = dynamic_cast<store::PgStore*>(&store);
  if (pg == nullptr) return m;  // SQLite: the one server always drives
  cluster::LeaseKeeperOptions lease;
  lease.lease_micros = flags.lease_ms * 1000;
  lease.renew_micros = flags.lease_renew_ms * 1000;
  lease.holder = name;
  RF_RETURN_IF_ERROR(cluster::LeaseKeeper::Validate(lease));
  m.lease = std::make_unique<cluster::LeaseKeeper>(*pg, *env.clock, lease);
  m.evidence = std::make_unique<cluster::PgGateEvidence>(*pg);
  m.name = lease.holder;
  if (Status st = m.lease->Attempt(); !st.ok()) err << "ringfence server: " << st.message() << "\n";
  m.lease->Start();
  cluster::ChangeWatcherOptions watch;
  watch.poll_micros = flags.change_poll_ms * 1000;
  watch.on_error = [&log](const Status& st) {
    log.Write(LogLevel::kWarn, "cluster", {{"message", "change watcher: " + st.ToString()}});
  };
  m.watcher = std::make_unique<cluster::ChangeWatcher>(
      *pg, [&service] { return service.Reload(); }, watch);
  m.watcher->Start();
  err << "ringfence server: shared store: controller lease " << flags.lease_ms << " ms as "
      << lease.holder << "\n";
  return m;
}

// Where the dashboard's history sampler reads (docs/dashboard.md "History"). All references must
// outlive the returned functions.
HistorySources DashboardSources(ReleaseDirectory& directory, Controller& controller,
                                FleetInventory& inventory, service::ReleaseService& service,
                                ChangeFeed& changes) {
  HistorySources s;
  s.changed = [&changes] { changes.Notify(); };
  s.releases = [&directory] { return directory.ActiveReleases(); };
  s.progress = [&controller](std::string_view id) { return controller.Progress(id); };
  s.gate_metrics = [&controller] { return controller.GateMetrics(); };
  s.coverage = [&controller, &inventory](const ReleaseRecord& r) {
    return CoverageFromSnapshot(*controller.snapshot(), inventory, r, controller.Strata(r.release_id));
  };
  s.decisions = [&controller](uint64_t after) { return controller.DecisionsAfter(after); };
  s.known = [&service](std::string_view id) { return service.releases().Get(std::string(id)).ok(); };
  return s;
}

// GET /v1/releases/{id}/what-if: the release's plan on the live fleet, as if its content were bad
// (docs/dashboard.md "What if"). Empty (503) without the simulator.
// The what-if runs on the whole fleet (on PostgreSQL: every replica's published profiles,
// docs/deploy.md "Layer 1 across replicas"), whichever replica answers.
WhatIfApi::Simulate WhatIfSimulator(const FleetSource& fleet, int64_t poll_after_s) {
#ifdef RF_HAVE_SIM
  return [&fleet, poll_after_s](const ReleaseRecord& r, double p,
                                std::string_view signal) -> Result<std::string> {
    sim::WhatIfInput in;
    in.release_id = r.release_id;
    in.content_type = r.content_type;
    in.plan_yaml = r.plan_yaml;
    RF_ASSIGN_OR_RETURN(in.fleet, fleet.WholeFleet());
    in.poll_interval_micros = std::max<int64_t>(1, poll_after_s) * 1'000'000;
    in.p = p;
    for (sim::FailureSignal s : {sim::FailureSignal::kSilence, sim::FailureSignal::kCrash,
                                 sim::FailureSignal::kError}) {
      if (sim::FailureSignalName(s) == signal) in.signal = s;
    }
    return sim::WhatIfJson(in);
  };
#else
  (void)fleet;
  (void)poll_after_s;
  return nullptr;
#endif
}

// Operators' side of the router: the dashboard's files, and `api` for the rest; with several
// servers (`watcher` not null) every API request first sees what any replica acknowledged before
// it (docs/deploy.md "Any replica takes any request"). `ui`, `watcher`, `log` must outlive it.
HttpHandler OperatorHandler(const UiHandler& ui, HttpHandler api, cluster::ChangeWatcher* watcher,
                            EventLog& log) {
  if (watcher != nullptr) {
    api = cluster::CaughtUp(*watcher, std::move(api), [&log](const Status& st) {
      log.Write(LogLevel::kWarn, "cluster",
                {{"message", "catching up before a request: " + st.ToString()}});
    });
  }
  return [&ui, api = std::move(api)](const HttpRequest& r) {
    return UiHandler::Handles(r.path) ? ui.Handle(r) : api(r);
  };
}

}  // namespace

namespace {

// The HTTP server's options from the flags (docs/server.md "Threads and locks").
HttpServerOptions ServerHttpOptions(const ServerFlags& flags,
                                    const std::pair<std::string, uint16_t>& listen, Env env,
                                    size_t max_upload_body_bytes) {
  HttpServerOptions http;
  http.host = listen.first;
  http.port = listen.second;
  http.threads = flags.threads;
  http.header_timeout_micros = flags.header_timeout_ms * 1000;
  http.body_timeout_micros = flags.body_timeout_ms * 1000;
  // The transport must let the largest operator request (a bundle upload) through; the operator API
  // applies its per-endpoint limits (docs/api/openapi.yaml).
  http.max_body_bytes = std::max(http.max_body_bytes, max_upload_body_bytes);
  // The operator executor (docs/server.md "Threads and locks"): everything but the agent API,
  // /healthz and /metrics runs on its own threads, so an upload (layers 1 and 2: seconds) never
  // holds an event loop that answers check-ins. The request waits for its job; no 202.
  http.offload = [](const HttpRequest& r) {
    return !AgentApi::IsAgentPath(r.path) && r.path != "/healthz" && r.path != "/metrics";
  };
  http.offload_threads = 2;
  http.offload_nice = flags.operator_nice;
  http.clock = env.clock;
  http.tls_cert_file = flags.tls_cert;
  http.tls_key_file = flags.tls_key;
  return http;
}

}  // namespace

// The controller's options: tick, state directory, and in a cluster the fencing epoch of the
// lease and the shared gate evidence.
ControllerOptions ControllerOptionsFor(const ServerFlags& flags, Env env,
                                       const ClusterMembership& membership) {
  ControllerOptions o;
  o.tick_micros = flags.tick_ms * 1000;
  if (membership.lease) {
    cluster::LeaseKeeper* lease = membership.lease.get();
    o.fencing_epoch = [lease] { return lease->Epoch(); };
    o.evidence = membership.evidence.get();
    o.replica = membership.name;
  }
  o.fs = env.fs;
  o.state_dir = flags.data + "/controller";  // gate evidence across restarts
  return o;
}

// The listen address, once the flags that need no I/O are checked.
Result<std::pair<std::string, uint16_t>> CheckServerFlags(const ServerFlags& flags) {
  if (flags.data.empty()) return Status::InvalidArgument("--data is required");
  RF_ASSIGN_OR_RETURN(auto listen, SplitListen(flags.listen));
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together");
  }
  RF_RETURN_IF_ERROR(http::CheckListen(listen.first, !flags.tls_cert.empty(), flags.insecure_http));
  return listen;
}

// Blocks SIGTERM, SIGINT and SIGHUP (TLS certificate reload) in the calling thread, so in every
// thread it starts (threads inherit the mask); the main thread waits for them.
sigset_t BlockServerSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Waits for SIGTERM or SIGINT (blocked in `signals`) and returns it; SIGHUP reloads the TLS
// certificate and waits on.
int WaitForStopSignal(HttpServer& server, const sigset_t& signals, std::ostream& err) {
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    if (!server.tls()) continue;
    if (Status st = server.ReloadTls(); !st.ok()) {
      err << "ringfence server: SIGHUP: TLS reload failed, keeping the old certificate: "
          << st.message() << std::endl;
    } else {
      err << "ringfence server: SIGHUP: TLS certificate reloaded" << std::endl;
    }
  }
  return sig;
}

int RunServer(const ServerFlags& flags, Env env, std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& st) {
    err << "ringfence server: " << st.message() << "\n";
    return kExitUnusable;
  };
  auto listen = CheckServerFlags(flags);
  if (!listen.ok()) return fail(listen.status());

  const sigset_t signals = BlockServerSignals();

  // Whatever this process creates in the data directory (SQLite's database, WAL and shared-memory
  // files included) is private to its user.
  ::umask(077);
  auto log_level = ParseLogLevel(flags.log_level);
  if (!log_level.ok()) return fail(log_level.status().WithPrefix("--log-level"));
  EventLog log(err, *env.clock, *log_level);
  auto data_dir = DataDir::Open(env, flags.data, &err);
  if (!data_dir.ok()) return fail(data_dir.status());
  auto secrets = data_dir->EnsureSecrets();
  if (!secrets.ok()) return fail(secrets.status());
  const std::string& agent_token = secrets->agent_token;
  const crypto::SigningKey& release_key = secrets->release_key;
  const std::string trust = secrets->TrustJson();

  FleetInventoryOptions inv_options;
  inv_options.dir = flags.data + "/fleet";
  inv_options.flush_interval_micros = flags.flush_ms * 1000;
  FleetInventory inventory(env, inv_options);
  if (Status st = inventory.Load(); !st.ok()) return fail(st);
  inventory.StartFlusher();
  auto store = store::OpenServerStore(flags.store, flags.data);
  if (!store.ok()) return fail(store.status());
  // Device credentials: the journal in the data directory, or the shared PostgreSQL store
  // (docs/deploy.md "Device credentials"), followed for the other servers' changes.
  DeviceCredentialsOptions cred_options;
  cred_options.journal_path = flags.data + "/credentials.log";
  cred_options.secret_path = flags.data + "/session.secret";
  cred_options.session_ttl_s = flags.session_ttl_s;
  auto* pg = dynamic_cast<store::PgStore*>(store->get());
  DeviceCredentials credentials(
      env, cred_options, pg ? std::make_unique<cluster::PgCredentialStore>(*pg) : nullptr);
  if (Status st = credentials.Load(); !st.ok()) return fail(st);
  credentials.StartFollower(flags.change_poll_ms * 1000, [&log](const Status& st) {
    log.Write(LogLevel::kWarn, "cluster", {{"message", "credential follower: " + st.ToString()}});
  });
  // The dashboard's long-poll (docs/dashboard.md "Live updates"): the service's audit hook and
  // the history sampler advance it. It answers no request before the HTTP server starts, by when
  // `principals` is set.
  service::ReleaseService* principals = nullptr;
  ChangeFeed changes(*env.clock, [&principals](std::string_view token) {
    return principals->principals().Authenticate(token);
  });
  auto fleet = OpenLayerOneFleet(flags, env, **store, inventory, log);
  if (!fleet.ok()) return fail(fleet.status());
  auto service = OpenReleaseService(flags, env, **store, **fleet, *secrets, log, changes, err);
  if (!service.ok()) return fail(service.status());
  principals = service->get();
  ReleaseDirectory& directory = (*service)->directory();

  auto membership = JoinCluster(flags, env, **store, **service, (*fleet)->replica(), log, err);
  if (!membership.ok()) return fail(membership.status());
  Controller controller(directory, inventory, *env.clock, release_key,
                        ControllerOptionsFor(flags, env, *membership));
  ServerMetrics metrics;
  AgentApiOptions agent_options;
  agent_options.poll_after_s = flags.poll_after_s;
  agent_options.enroll_rate_per_s = flags.enroll_rate;
  agent_options.enroll_burst = flags.enroll_burst;
  AgentApi agent(inventory, credentials, controller, directory, *env.clock, metrics, agent_token,
                 trust, agent_options);
  const service::OperatorApiOptions operator_options;
  service::OperatorApi operator_api(**service, **fleet, &controller, operator_options);
  auto authenticate = [&service](std::string_view token) {
    return (*service)->principals().Authenticate(token);
  };
  FleetAdminApi fleet_admin(credentials, *env.clock, authenticate);
  // The dashboard (docs/dashboard.md): its assets at /ui/, the pictures' history beside the API.
  const UiHandler ui;
  ReleaseHistory history(DashboardSources(directory, controller, inventory, **service, changes),
                         *env.clock, authenticate);
  const WhatIfApi what_if(
      authenticate,
      [&service](std::string_view id) -> Result<ReleaseRecord> {
        RF_ASSIGN_OR_RETURN(auto v, (*service)->releases().Get(std::string(id)));
        return v.record;
      },
      WhatIfSimulator(**fleet, flags.poll_after_s));
  FleetSummaryOptions summary_options;
  summary_options.stale_after_micros = StaleAfterMicros(flags);
  summary_options.whole = [&fleet](FleetSummaryCounts local) {
    return (*fleet)->WholeSummary(std::move(local));
  };
  FleetSummaryApi fleet_summary(inventory, *env.clock, authenticate, summary_options);
  HttpHandler api = [&operator_api, &fleet_admin, &history, &what_if,
                     &fleet_summary](const HttpRequest& r) {
    if (FleetSummaryApi::Handles(r.path)) return fleet_summary.Handle(r);
    if (ReleaseHistory::Handles(r.path)) return history.Handle(r);
    if (WhatIfApi::Handles(r.path)) return what_if.Handle(r);
    return FleetAdminApi::Handles(r.path) ? fleet_admin.Handle(r) : operator_api.Handle(r);
  };
  HttpHandler operator_handler = OperatorHandler(ui, std::move(api), membership->watcher.get(), log);
  Router router(agent, metrics, controller, inventory, *env.clock, agent_token, operator_handler);
  if (Status st = controller.Tick(); !st.ok()) err << "ringfence server: " << st.message() << "\n";
  controller.Start();
  history.Start();
  changes.Start();

  HttpServerOptions http = ServerHttpOptions(flags, *listen, env,
                                             operator_options.max_upload_body_bytes);
  // Long-polls wait holding no thread (docs/server.md "Threads and locks").
  http.defer = [](const HttpRequest& r) { return ChangeFeed::Handles(r.path); };
  http.deferred = [&changes, &log, &env](const HttpRequest& r, Responder respond) {
    const int64_t start = env.clock->MonotonicMicros();
    changes.Handle(r, [respond, &log, &env, start, req = r](HttpResponse response) {
      LogRequest(log, req, response, env.clock->MonotonicMicros() - start);
      respond(std::move(response));
    });
  };
  auto server = HttpServer::Start(http, [&router, &log, &env](const HttpRequest& r) {
    const int64_t start = env.clock->MonotonicMicros();
    HttpResponse response = router.Handle(r);
    LogRequest(log, r, response, env.clock->MonotonicMicros() - start);
    return response;
  });
  // The background work, stopped in this order on every way out once the server was started.
  auto stop_background = [&] {
    history.Stop();
    controller.Stop();
    membership->Stop();
    (*fleet)->Stop();  // its row stays: the consumer versions of its devices still count
    credentials.StopFollower();
    inventory.StopFlusher();  // flushes the last dirty records
  };
  if (!server.ok()) {
    changes.Close();
    stop_background();
    return fail(server.status());
  }
  if ((*server)->tls()) err << "ringfence server: HTTPS only, certificate " << flags.tls_cert << "\n";
  out << "listening on " << (*server)->address() << std::endl;

  const int sig = WaitForStopSignal(**server, signals, err);
  err << "ringfence server: signal " << sig << ", shutting down\n";
  changes.Close();  // waiting long-polls answered now, not at their timeout
  (*server)->Shutdown();
  stop_background();
  err << "ringfence server: stopped\n";
  return kExitOk;
}

int RunRotateSecrets(const std::string& data, const RotateOptions& what, Env env,
                     std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& st) {
    err << "ringfence server rotate-secrets: " << st.message() << "\n";
    return kExitUnusable;
  };
  if (data.empty()) return fail(Status::InvalidArgument("--data is required"));
  if (!env.fs->Exists(data)) return fail(Status::NotFound(data + ": no such data directory"));
  ::umask(077);
  auto dir = DataDir::Open(env, data, &err);  // fails while a server runs on it
  if (!dir.ok()) return fail(dir.status());
  auto secrets = dir->RotateSecrets(what);
  if (!secrets.ok()) return fail(secrets.status());
  if (what.admin_token) out << "admin token: new, in " << data << "/admin.token\n";
  if (what.agent_token) {
    out << "fleet token: new, in " << data << "/agent.token (enrolls new devices; give it to "
        << "new installs)\n";
  }
  if (what.release_key) {
    out << "release key: new, key id " << secrets->release_key.KeyId() << "\n"
        << "trust root (install as the agents' trust.json; agents refuse statements of the new key "
        << "until they have it):\n"
        << secrets->TrustJson() << "\n";
  }
  out << "the server uses them from its next start\n";
  return kExitOk;
}

void RegisterServerCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* cmd = app.add_subcommand("server", "run the ringfence server (operator + agent API)");
  cmd->add_option("--data", flags->data, "data directory (created on first start)")->required();
  cmd->add_option("--store", flags->store,
                  "control-plane store: a postgresql:// URI (docs/deploy.md); default SQLite in --data");
  cmd->add_option("--listen", flags->listen, "HOST:PORT to listen on (port 0: any free port)");
  cmd->add_option("--threads", flags->threads, "HTTP worker threads")->check(CLI::Range(1, 256));
  cmd->add_option("--operator-nice", flags->operator_nice,
                  "nice increment of operator work (uploads, layer 2) below check-ins; 0: none")
      ->check(CLI::Range(0, 19));
  cmd->add_option("--poll-after", flags->poll_after_s, "seconds agents wait between check-ins")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--header-timeout-ms", flags->header_timeout_ms,
                  "close connections whose request header takes longer")
      ->check(CLI::Range(10, 3'600'000));
  cmd->add_option("--body-timeout-ms", flags->body_timeout_ms,
                  "close connections whose request body takes longer")
      ->check(CLI::Range(10, 3'600'000));
  cmd->add_option("--tick-ms", flags->tick_ms, "controller period")->check(CLI::Range(10, 60'000));
  cmd->add_option("--flush-ms", flags->flush_ms, "fleet inventory flush period")
      ->check(CLI::Range(10, 600'000));
  cmd->add_option("--enroll-rate", flags->enroll_rate,
                  "enrollments adding a device credential per second (429 beyond the burst)")
      ->check(CLI::Range(0.001, 1e6));
  cmd->add_option("--enroll-burst", flags->enroll_burst, "burst of the enrollment rate limit")
      ->check(CLI::Range(1.0, 1e9));
  cmd->add_option("--session-ttl", flags->session_ttl_s,
                  "seconds a device's session token is valid (then it signs a new request)")
      ->check(CLI::Range(int64_t{10}, int64_t{30} * 86400));
  cmd->add_option("--consumer", flags->consumers,
                  "layer 2 on upload: a consumer build's command (docs/sdk.md); repeatable");
  cmd->add_option("--layer2-memory-mb", flags->layer2_memory_mb,
                  "address-space limit of each layer-2 run (0: none, e.g. for ASan consumers)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--log-level", flags->log_level,
                  "stderr log: debug (every request), info (operator requests and audited "
                  "changes), warn (refusals), error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd->add_option("--lease-ms", flags->lease_ms,
                  "shared store: controller lease length; a dead leader is replaced within it "
                  "plus --lease-renew-ms")
      ->check(CLI::Range(int64_t{200}, int64_t{600'000}));
  cmd->add_option("--lease-renew-ms", flags->lease_renew_ms,
                  "shared store: how often the leader renews (and others try) the lease")
      ->check(CLI::Range(int64_t{50}, int64_t{300'000}));
  cmd->add_option("--change-poll-ms", flags->change_poll_ms,
                  "shared store: longest wait before looking for other servers' changes "
                  "(notifications bring them at once)")
      ->check(CLI::Range(int64_t{10}, int64_t{60'000}));
  cmd->add_flag("--skip-layer1", flags->skip_layer1,
                "demonstrations only: no layer 1 on upload or start (audited per upload)");
  cmd->add_flag("--allow-unreviewed", flags->allow_unreviewed,
                "demonstrations only: an admin may set channel policies of 0 approvals");
  cmd->add_option("--tls-cert", flags->tls_cert,
                  "serve HTTPS with this PEM certificate chain (reloaded on SIGHUP)");
  cmd->add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert (reloaded on SIGHUP)");
  cmd->add_flag("--insecure-http", flags->insecure_http,
                "allow plain HTTP on a non-loopback --listen address (tokens travel unencrypted)");
  auto rotate = std::make_shared<RotateOptions>();
  auto only = std::make_shared<std::vector<std::string>>();
  CLI::App* rot = cmd->add_subcommand(
      "rotate-secrets",
      "replace the admin token, the fleet (agent) token and the release key of a stopped server's "
      "data directory (docs/server.md)");
  rot->fallthrough();  // --data belongs to `server`
  rot->add_option("--only", *only, "replace only these: admin-token, agent-token, release-key")
      ->check(CLI::IsMember({"admin-token", "agent-token", "release-key"}));
  CLI::App* copy = cmd->add_subcommand(
      "copy-store",
      "copy a stopped SQLite server's control plane and device credentials into a new "
      "PostgreSQL database given with --store (docs/deploy.md)");
  copy->fallthrough();  // --data and --store belong to `server`
  cmd->callback([flags, rot, copy, rotate, only, exit_code] {
    if (copy->parsed()) {
      *exit_code = RunCopyStore(flags->data, flags->store, PosixEnv(), std::cout, std::cerr);
      return;
    }
    if (rot->parsed()) {
      if (!only->empty()) {
        auto has = [&](const char* s) { return std::find(only->begin(), only->end(), s) != only->end(); };
        *rotate = {has("admin-token"), has("agent-token"), has("release-key")};
      }
      *exit_code = RunRotateSecrets(flags->data, *rotate, PosixEnv(), std::cout, std::cerr);
      return;
    }
    *exit_code = RunServer(*flags, PosixEnv(), std::cout, std::cerr);
  });
}

}  // namespace rf::server
