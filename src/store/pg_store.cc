#include "store/pg_store.h"

#include <libpq-fe.h>
#include <poll.h>

#include <charconv>
#include <optional>
#include <utility>
#include <vector>

#include "store/batch_conditions.h"
#include "store/release_codec.h"
#include "store/row_codec.h"
#include "store/schema_migrations.h"

namespace rf::store {
namespace {

// The schema, step by step (schema_migrations.h); the version reached is in schema_version.
// Differences from SqliteStore's: BIGINT for every integer, BYTEA envelopes, BOOLEAN flags, and
// an identity column `ord` where SQLite's rowid gave load order.
constexpr SchemaMigration kMigrations[] = {
    {1, "initial tables", R"sql(
CREATE TABLE content_types(
  name TEXT NOT NULL, schema_version BIGINT NOT NULL, yaml TEXT NOT NULL,
  created_by TEXT NOT NULL, created_us BIGINT NOT NULL,
  PRIMARY KEY(name, schema_version));
CREATE TABLE bundles(
  sha256 TEXT PRIMARY KEY, channel TEXT NOT NULL, content_type TEXT NOT NULL,
  schema_version BIGINT NOT NULL, version BIGINT NOT NULL, payload_bytes BIGINT NOT NULL,
  envelope BYTEA NOT NULL, report_json TEXT NOT NULL, layer2_report_json TEXT NOT NULL,
  uploaded_by TEXT NOT NULL, uploaded_us BIGINT NOT NULL,
  UNIQUE(channel, version));
CREATE TABLE releases(
  ord BIGINT GENERATED ALWAYS AS IDENTITY,
  release_id TEXT PRIMARY KEY, channel TEXT NOT NULL, content_type TEXT NOT NULL,
  version BIGINT NOT NULL, bundle_sha256 TEXT NOT NULL REFERENCES bundles(sha256),
  plan_yaml TEXT NOT NULL, state_json TEXT NOT NULL, author TEXT NOT NULL,
  created_s BIGINT NOT NULL, started_s BIGINT NOT NULL,
  previous_version BIGINT, previous_sha256 TEXT);
CREATE TABLE approvals(
  ord BIGINT GENERATED ALWAYS AS IDENTITY,
  release_id TEXT NOT NULL REFERENCES releases(release_id), reviewer TEXT NOT NULL,
  role TEXT NOT NULL, keyid TEXT NOT NULL, envelope TEXT NOT NULL, created_us BIGINT NOT NULL,
  PRIMARY KEY(release_id, reviewer));
CREATE TABLE principals(
  name TEXT PRIMARY KEY, roles TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,
  reviewer_key TEXT NOT NULL, created_by TEXT NOT NULL, created_us BIGINT NOT NULL);
CREATE TABLE policies(
  channel TEXT PRIMARY KEY, approvals_required BIGINT NOT NULL, approver_roles TEXT NOT NULL,
  publisher_keys TEXT NOT NULL, publisher_threshold BIGINT NOT NULL);
CREATE TABLE controls(
  channel TEXT NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL,
  pin_previous BOOLEAN NOT NULL, delay_s BIGINT NOT NULL, exclude_early_waves BOOLEAN NOT NULL,
  PRIMARY KEY(channel, attr, value));
CREATE TABLE audit(
  seq BIGINT PRIMARY KEY, time_us BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  subject TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE audit_head(
  id INTEGER PRIMARY KEY CHECK(id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head VALUES (1, 0, repeat('0', 64));
)sql"},
    {2, "controller lease and change sequence", R"sql(
CREATE TABLE controller_lease(
  id INTEGER PRIMARY KEY CHECK(id = 1), holder TEXT NOT NULL, epoch BIGINT NOT NULL,
  expires_us BIGINT NOT NULL);
INSERT INTO controller_lease VALUES (1, '', 0, 0);
CREATE TABLE change_seq(id INTEGER PRIMARY KEY CHECK(id = 1), seq BIGINT NOT NULL);
INSERT INTO change_seq VALUES (1, 0);
)sql"},
    {3, "device credentials shared by the servers", R"sql(
CREATE TABLE device_credentials(
  device_id TEXT PRIMARY KEY, public_key TEXT NOT NULL, epoch BIGINT NOT NULL,
  state TEXT NOT NULL CHECK(state IN ('active', 'revoked', 'reset')), seq BIGINT NOT NULL,
  changed_by TEXT NOT NULL, changed_s BIGINT NOT NULL);
CREATE INDEX device_credentials_seq ON device_credentials(seq);
CREATE TABLE device_credential_changes(
  seq BIGINT PRIMARY KEY, device_id TEXT NOT NULL, public_key TEXT NOT NULL,
  epoch BIGINT NOT NULL, state TEXT NOT NULL, changed_by TEXT NOT NULL, changed_s BIGINT NOT NULL);
CREATE TABLE credential_seq(id INTEGER PRIMARY KEY CHECK(id = 1), seq BIGINT NOT NULL);
INSERT INTO credential_seq VALUES (1, 0);
)sql"},
    {4, "gate evidence summed across replicas", R"sql(
CREATE TABLE gate_counts(
  release_id TEXT NOT NULL, replica TEXT NOT NULL, seq BIGINT NOT NULL,
  updated_us BIGINT NOT NULL, counts TEXT NOT NULL,
  PRIMARY KEY(release_id, replica));
CREATE TABLE gate_evidence(
  release_id TEXT PRIMARY KEY, epoch BIGINT NOT NULL, saved_us BIGINT NOT NULL,
  evidence TEXT NOT NULL);
)sql"},
    {5, "fleet profiles of every replica, for layer 1", R"sql(
CREATE TABLE fleet_profiles(
  replica TEXT PRIMARY KEY, seq BIGINT NOT NULL, updated_us BIGINT NOT NULL,
  profiles TEXT NOT NULL);
)sql"},
    {6, "each replica's fleet summary counts, for the dashboard", R"sql(
ALTER TABLE fleet_profiles ADD COLUMN summary TEXT NOT NULL DEFAULT '';
)sql"},
};

// The channel every committed batch notifies (payload: its change sequence number).
constexpr char kChangeChannel[] = "ringfence_change";
// The channel every committed credential change notifies (payload: its credential sequence).
constexpr char kCredentialChannel[] = "ringfence_credentials";

// pg_advisory_xact_lock key held while migrating ("rf_mig").
constexpr int64_t kMigrationLockKey = 0x72665f6d6967;
// Lock wait allowed while another replica migrates (a long migration is legitimate).
constexpr char kMigrationLockTimeoutMs[] = "600000";

// ----- upserts: keyed by each table's primary key, as SQLite's INSERT OR REPLACE -----

constexpr char kPutType[] =
    "INSERT INTO content_types(name, schema_version, yaml, created_by, created_us)"
    " VALUES($1, $2, $3, $4, $5) ON CONFLICT (name, schema_version) DO UPDATE SET"
    " yaml = EXCLUDED.yaml, created_by = EXCLUDED.created_by, created_us = EXCLUDED.created_us";
constexpr char kPutBundle[] =
    "INSERT INTO bundles(sha256, channel, content_type, schema_version, version, payload_bytes,"
    " envelope, report_json, layer2_report_json, uploaded_by, uploaded_us)"
    " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (sha256) DO UPDATE SET"
    " channel = EXCLUDED.channel, content_type = EXCLUDED.content_type,"
    " schema_version = EXCLUDED.schema_version, version = EXCLUDED.version,"
    " payload_bytes = EXCLUDED.payload_bytes, envelope = EXCLUDED.envelope,"
    " report_json = EXCLUDED.report_json, layer2_report_json = EXCLUDED.layer2_report_json,"
    " uploaded_by = EXCLUDED.uploaded_by, uploaded_us = EXCLUDED.uploaded_us";
constexpr char kPutRelease[] =
    "INSERT INTO releases(release_id, channel, content_type, version, bundle_sha256, plan_yaml,"
    " state_json, author, created_s, started_s, previous_version, previous_sha256)"
    " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (release_id) DO UPDATE"
    " SET channel = EXCLUDED.channel, content_type = EXCLUDED.content_type,"
    " version = EXCLUDED.version, bundle_sha256 = EXCLUDED.bundle_sha256,"
    " plan_yaml = EXCLUDED.plan_yaml, state_json = EXCLUDED.state_json,"
    " author = EXCLUDED.author, created_s = EXCLUDED.created_s, started_s = EXCLUDED.started_s,"
    " previous_version = EXCLUDED.previous_version, previous_sha256 = EXCLUDED.previous_sha256";
constexpr char kPutApproval[] =
    "INSERT INTO approvals(release_id, reviewer, role, keyid, envelope, created_us)"
    " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (release_id, reviewer) DO UPDATE SET"
    " role = EXCLUDED.role, keyid = EXCLUDED.keyid, envelope = EXCLUDED.envelope,"
    " created_us = EXCLUDED.created_us";
constexpr char kPutPrincipal[] =
    "INSERT INTO principals(name, roles, token_sha256, reviewer_key, created_by, created_us)"
    " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET roles = EXCLUDED.roles,"
    " token_sha256 = EXCLUDED.token_sha256, reviewer_key = EXCLUDED.reviewer_key,"
    " created_by = EXCLUDED.created_by, created_us = EXCLUDED.created_us";
constexpr char kPutPolicy[] =
    "INSERT INTO policies(channel, approvals_required, approver_roles, publisher_keys,"
    " publisher_threshold) VALUES($1, $2, $3, $4, $5) ON CONFLICT (channel) DO UPDATE SET"
    " approvals_required = EXCLUDED.approvals_required,"
    " approver_roles = EXCLUDED.approver_roles, publisher_keys = EXCLUDED.publisher_keys,"
    " publisher_threshold = EXCLUDED.publisher_threshold";
constexpr char kPutControl[] =
    "INSERT INTO controls(channel, attr, value, pin_previous, delay_s, exclude_early_waves)"
    " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (channel, attr, value) DO UPDATE SET"
    " pin_previous = EXCLUDED.pin_previous, delay_s = EXCLUDED.delay_s,"
    " exclude_early_waves = EXCLUDED.exclude_early_waves";
constexpr char kDeleteControl[] =
    "DELETE FROM controls WHERE channel = $1 AND attr = $2 AND value = $3";
constexpr char kLockHead[] = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
constexpr char kReadHead[] = "SELECT seq, hash FROM audit_head WHERE id = 1";
constexpr char kPutAudit[] =
    "INSERT INTO audit(seq, time_us, actor, action, subject, details, prev_hash, hash)"
    " VALUES($1, $2, $3, $4, $5, $6, $7, $8)";
constexpr char kPutHead[] = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";
constexpr char kBumpChangeSeq[] = "UPDATE change_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq";
constexpr char kReadChangeSeq[] = "SELECT seq FROM change_seq WHERE id = 1";
constexpr char kNotifyChange[] = "SELECT pg_notify($1, $2)";
constexpr char kShareLeaseEpoch[] = "SELECT epoch FROM controller_lease WHERE id = 1 FOR SHARE";
constexpr char kLockReleaseState[] =
    "SELECT state_json FROM releases WHERE release_id = $1 FOR UPDATE";
// Renews the caller's lease (same holder and epoch: the epoch stays) or takes an expired one (the
// epoch goes up by one): one atomic statement, so two takers cannot both win.
constexpr char kAcquireLease[] =
    "UPDATE controller_lease SET"
    " epoch = CASE WHEN holder = $1 AND epoch = $2 THEN epoch ELSE epoch + 1 END,"
    " holder = $1, expires_us = $3 + $4"
    " WHERE id = 1 AND ((holder = $1 AND epoch = $2) OR expires_us <= $3)"
    " RETURNING epoch, expires_us";
constexpr char kReadLease[] = "SELECT holder, epoch, expires_us FROM controller_lease WHERE id = 1";
constexpr char kReleaseLease[] =
    "UPDATE controller_lease SET expires_us = 0 WHERE id = 1 AND holder = $1 AND epoch = $2";
// Device credentials (migration 3).
constexpr char kBumpCredentialSeq[] =
    "UPDATE credential_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq";
constexpr char kReadCredential[] =
    "SELECT device_id, public_key, epoch, state, seq FROM device_credentials WHERE device_id = $1";
constexpr char kPutCredential[] =
    "INSERT INTO device_credentials(device_id, public_key, epoch, state, seq, changed_by,"
    " changed_s) VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (device_id) DO UPDATE SET"
    " public_key = EXCLUDED.public_key, epoch = EXCLUDED.epoch, state = EXCLUDED.state,"
    " seq = EXCLUDED.seq, changed_by = EXCLUDED.changed_by, changed_s = EXCLUDED.changed_s";
constexpr char kLogCredential[] =
    "INSERT INTO device_credential_changes(seq, device_id, public_key, epoch, state, changed_by,"
    " changed_s) VALUES($1, $2, $3, $4, $5, $6, $7)";
constexpr char kCredentialsPage[] =
    "SELECT device_id, public_key, epoch, state, seq FROM device_credentials"
    " WHERE device_id > $1 ORDER BY device_id LIMIT $2";
constexpr char kCredentialsSince[] =
    "SELECT device_id, public_key, epoch, state, seq FROM device_credentials"
    " WHERE seq > $1 ORDER BY seq LIMIT $2";
constexpr char kReadCredentialSeq[] = "SELECT seq FROM credential_seq WHERE id = 1";
constexpr int64_t kCredentialPageRows = 50'000;

// Gate evidence across replicas (migration 4). A replica's row only moves forward: a repeated or
// late (lower seq) publication changes nothing.
constexpr char kPutGateCounts[] =
    "INSERT INTO gate_counts(release_id, replica, seq, updated_us, counts)"
    " VALUES($1, $2, $3, $4, $5) ON CONFLICT (release_id, replica) DO UPDATE SET"
    " seq = EXCLUDED.seq, updated_us = EXCLUDED.updated_us, counts = EXCLUDED.counts"
    " WHERE gate_counts.seq < EXCLUDED.seq";
constexpr char kReadGateCounts[] =
    "SELECT replica, seq, updated_us, counts FROM gate_counts WHERE release_id = $1"
    " ORDER BY replica";
constexpr char kPutGateEvidence[] =
    "INSERT INTO gate_evidence(release_id, epoch, saved_us, evidence) VALUES($1, $2, $3, $4)"
    " ON CONFLICT (release_id) DO UPDATE SET epoch = EXCLUDED.epoch,"
    " saved_us = EXCLUDED.saved_us, evidence = EXCLUDED.evidence";
constexpr char kReadGateEvidence[] =
    "SELECT epoch, saved_us, evidence FROM gate_evidence WHERE release_id = $1";
constexpr char kDeleteGateCounts[] = "DELETE FROM gate_counts WHERE release_id = $1";
constexpr char kDeleteGateEvidence[] = "DELETE FROM gate_evidence WHERE release_id = $1";

// Fleet profiles of every replica (migration 5; summary: 6), moved forward only as gate_counts'
// rows.
constexpr char kPutFleetProfiles[] =
    "INSERT INTO fleet_profiles(replica, seq, updated_us, profiles, summary)"
    " VALUES($1, $2, $3, $4, $5)"
    " ON CONFLICT (replica) DO UPDATE SET seq = EXCLUDED.seq, updated_us = EXCLUDED.updated_us,"
    " profiles = EXCLUDED.profiles, summary = EXCLUDED.summary WHERE fleet_profiles.seq < EXCLUDED.seq";
constexpr char kReadFleetProfiles[] =
    "SELECT replica, seq, updated_us, profiles, summary FROM fleet_profiles ORDER BY replica";
constexpr char kReadSchemaVersion[] = "SELECT version FROM schema_version WHERE id = 1";
constexpr char kExpireFleetProfiles[] = "DELETE FROM fleet_profiles WHERE updated_us < $1";

constexpr char kReadAudit[] =
    "SELECT seq, time_us, actor, action, subject, details, prev_hash, hash FROM audit"
    " WHERE seq > $1 ORDER BY seq LIMIT $2";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// Bound parameters of one statement. Values travel separately from the SQL text (never spliced
// into it): text format, except Bytes (binary, for BYTEA).
class Params {
 public:
  Params& Text(std::string_view v) { return Add(std::string(v), 0); }
  Params& Bytes(std::string_view v) { return Add(std::string(v), 1); }
  Params& Int(int64_t v) { return Add(std::to_string(v), 0); }
  Params& Bool(bool v) { return Add(v ? "t" : "f", 0); }
  Params& Null() {
    values_.emplace_back(std::nullopt);
    formats_.push_back(0);
    return *this;
  }
  int size() const { return static_cast<int>(values_.size()); }
  // Pointer arrays for PQexecParams; valid while *this is unchanged.
  void Arrays(std::vector<const char*>* v, std::vector<int>* lengths) const {
    for (const auto& x : values_) {
      v->push_back(x ? x->data() : nullptr);
      lengths->push_back(x ? static_cast<int>(x->size()) : 0);
    }
  }
  const int* formats() const { return formats_.data(); }

 private:
  Params& Add(std::string v, int format) {
    values_.emplace_back(std::move(v));
    formats_.push_back(format);
    return *this;
  }
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;
};

// The Status for a failed statement: by SQLSTATE (PostgreSQL manual, appendix A).
Status PgError(PGconn* c, const PGresult* r, std::string_view what) {
  std::string msg = "postgresql: " + std::string(what) + ": ";
  const char* text = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
  std::string detail = text ? text : "";
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  msg += detail.empty() ? "unknown error" : detail;
  if (PQstatus(c) != CONNECTION_OK) return Status::Unavailable(msg + " (connection lost)");
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string_view s = state ? state : "";
  if (s == "23505") return Status::AlreadyExists(msg);
  if (s.substr(0, 2) == "23") return Status::FailedPrecondition(msg);
  if (s == "40001" || s == "40P01" || s == "55P03" || s == "57014") {
    return Status::Aborted(msg + " (retry)");
  }
  if (s.substr(0, 2) == "08" || s.substr(0, 3) == "57P") return Status::Unavailable(msg);
  if (s.substr(0, 2) == "53") return Status::ResourceExhausted(msg);
  if (s.substr(0, 2) == "22" || s.substr(0, 2) == "54") return Status::InvalidArgument(msg);
  if (s == "XX001" || s == "XX002") return Status::DataLoss(msg);
  return Status::Internal(msg);
}

std::string Col(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}

Result<int64_t> ColInt(const PGresult* r, int row, int col) {
  const char* p = PQgetvalue(r, row, col);
  const char* end = p + PQgetlength(r, row, col);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(p, end, v);
  if (ec != std::errc() || ptr != end) {
    return Status::DataLoss("postgresql: column " + std::string(PQfname(r, col)) +
                            " is not an integer");
  }
  return v;
}

bool ColNull(const PGresult* r, int row, int col) { return PQgetisnull(r, row, col) != 0; }
bool ColBool(const PGresult* r, int row, int col) { return PQgetvalue(r, row, col)[0] == 't'; }

// Rows of kReadCredential / kCredentialsPage / kCredentialsSince.
Status CredentialRows(const PGresult* r, std::vector<DeviceCredentialRow>* out) {
  for (int i = 0; i < PQntuples(r); ++i) {
    DeviceCredentialRow row;
    row.device_id = Col(r, i, 0);
    row.public_key_hex = Col(r, i, 1);
    RF_ASSIGN_OR_RETURN(row.epoch, ColInt(r, i, 2));
    row.state = Col(r, i, 3);
    RF_ASSIGN_OR_RETURN(row.seq, ColInt(r, i, 4));
    out->push_back(std::move(row));
  }
  return Status::Ok();
}

}  // namespace

bool IsPostgresUri(std::string_view spec) {
  return spec.starts_with("postgresql://") || spec.starts_with("postgres://");
}

// One libpq connection and the session settings the store relies on. Not thread-safe: the
// owner's mutex guards it.
class PgStore::Conn {
 public:
  ~Conn() { PQfinish(c_); }

  static Result<std::unique_ptr<Conn>> Connect(const std::string& conninfo, int lock_timeout_ms) {
    std::unique_ptr<Conn> conn(new Conn());
    conn->lock_timeout_ms_ = lock_timeout_ms;
    conn->c_ = PQconnectdb(conninfo.c_str());
    if (conn->c_ == nullptr) return Status::ResourceExhausted("postgresql: out of memory");
    RF_RETURN_IF_ERROR(conn->Setup());
    return conn;
  }

  bool lost() const { return PQstatus(c_) != CONNECTION_OK; }
  int backend_pid() const { return PQbackendPID(c_); }

  // Reconnects with the same parameters.
  Status Reset() {
    PQreset(c_);
    return Setup();
  }

  // A statement with bound parameters (extended protocol: one statement, no SQL splicing).
  // `binary_result`: rows in binary format (used for the BYTEA envelope).
  Result<PgResult> Run(const char* sql, const Params& p = Params(), bool binary_result = false) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    p.Arrays(&values, &lengths);
    PgResult r(PQexecParams(c_, sql, p.size(), nullptr, values.data(), lengths.data(), p.formats(),
                            binary_result ? 1 : 0));
    const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      return PgError(c_, r.get(), std::string_view(sql).substr(0, 60));
    }
    return r;
  }

  // Statements without parameters (simple protocol; several may be separated by ';').
  Status Exec(const char* sql, std::string_view what = {}) {
    PgResult r(PQexec(c_, sql));
    const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      return PgError(c_, r.get(), what.empty() ? std::string_view(sql).substr(0, 60) : what);
    }
    return Status::Ok();
  }

  // Waits up to `timeout_ms` for a notification on a channel this session LISTENs to; true if at
  // least one arrived (all pending ones are consumed). Unavailable if the connection is lost.
  Result<bool> WaitForNotification(int timeout_ms) {
    bool got = false;
    auto drain = [&]() -> Status {
      if (PQconsumeInput(c_) == 0) return PgError(c_, nullptr, "LISTEN");
      while (PGnotify* n = PQnotifies(c_)) {
        got = true;
        PQfreemem(n);
      }
      return Status::Ok();
    };
    RF_RETURN_IF_ERROR(drain());
    if (got) return true;
    pollfd p{PQsocket(c_), POLLIN, 0};
    if (p.fd < 0) return Status::Unavailable("postgresql: LISTEN connection lost");
    const int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) RF_RETURN_IF_ERROR(drain());
    if (lost()) return Status::Unavailable("postgresql: LISTEN connection lost");
    return got;
  }

  // COMMIT, checking that the transaction did commit (COMMIT of a failed transaction answers
  // with the tag ROLLBACK).
  Status Commit() {
    PgResult r(PQexec(c_, "COMMIT"));
    const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK) return PgError(c_, r.get(), "COMMIT");
    if (std::string_view(PQcmdStatus(r.get())) != "COMMIT") {
      return Status::Aborted("postgresql: the transaction was rolled back at COMMIT");
    }
    return Status::Ok();
  }

 private:
  Conn() = default;

  Status Setup() {
    if (PQstatus(c_) != CONNECTION_OK) {
      return PgError(c_, nullptr, "cannot connect");
    }
    if (PQsetClientEncoding(c_, "UTF8") != 0) return PgError(c_, nullptr, "client_encoding");
    // Acknowledged = durable: whatever the server's or the role's default, this session's
    // commits wait for the WAL flush.
    RF_RETURN_IF_ERROR(Run("SELECT set_config('synchronous_commit', 'on', false),"
                           " set_config('lock_timeout', $1, false),"
                           " set_config('application_name', 'ringfence', false),"
                           " set_config('client_min_messages', 'warning', false)",
                           Params().Text(std::to_string(lock_timeout_ms_)))
                           .status());
    return Status::Ok();
  }

  PGconn* c_ = nullptr;
  int lock_timeout_ms_ = 0;
};

namespace {

using Conn = PgStore::Conn;

Status MigrateInTransaction(Conn& w) {
  RF_RETURN_IF_ERROR(w.Run("SELECT set_config('lock_timeout', $1, true)",
                           Params().Text(kMigrationLockTimeoutMs))
                         .status());
  // One migrator at a time (replicas starting together); released at COMMIT or ROLLBACK.
  RF_RETURN_IF_ERROR(
      w.Run("SELECT pg_advisory_xact_lock($1)", Params().Int(kMigrationLockKey)).status());
  RF_RETURN_IF_ERROR(w.Exec("CREATE TABLE IF NOT EXISTS schema_version("
                            "id INTEGER PRIMARY KEY CHECK(id = 1), version BIGINT NOT NULL)"));
  RF_RETURN_IF_ERROR(
      w.Exec("INSERT INTO schema_version VALUES (1, 0) ON CONFLICT (id) DO NOTHING"));
  RF_ASSIGN_OR_RETURN(PgResult r, w.Run(kReadSchemaVersion));
  RF_ASSIGN_OR_RETURN(int64_t current, ColInt(r.get(), 0, 0));
  RF_ASSIGN_OR_RETURN(auto steps, PendingMigrations(kMigrations, current, "postgresql store"));
  for (const SchemaMigration& m : steps) {
    const std::string what = "schema migration to version " + std::to_string(m.version) + " (" +
                             m.what + ")";
    RF_RETURN_IF_ERROR(w.Exec(m.sql, what));
    RF_RETURN_IF_ERROR(w.Run("UPDATE schema_version SET version = $1 WHERE id = 1",
                             Params().Int(m.version))
                           .status());
  }
  return Status::Ok();
}

Status Migrate(Conn& w) {
  RF_RETURN_IF_ERROR(w.Exec("BEGIN"));
  Status st = MigrateInTransaction(w);
  if (st.ok()) st = w.Commit();
  if (!st.ok()) (void)w.Exec("ROLLBACK");
  return st;
}

// A read-only open: the database must hold exactly this code's schema (nothing is migrated).
Status CheckSchemaForReading(Conn& w) {
  RF_ASSIGN_OR_RETURN(PgResult t, w.Run("SELECT to_regclass('schema_version') IS NOT NULL"));
  if (Col(t.get(), 0, 0) != "t") {
    return Status::FailedPrecondition(
        "postgresql: not a ringfence database (it has no schema_version table)");
  }
  RF_ASSIGN_OR_RETURN(PgResult r, w.Run(kReadSchemaVersion));
  if (PQntuples(r.get()) != 1) {
    return Status::FailedPrecondition("postgresql: the schema_version row is missing");
  }
  RF_ASSIGN_OR_RETURN(int64_t version, ColInt(r.get(), 0, 0));
  const int64_t want = PgStore::SchemaVersion();
  if (version != want) {
    return Status::FailedPrecondition(
        "postgresql: the database's schema version " + std::to_string(version) + " is not " +
        std::to_string(want) + ", this program's; read it with a ringfence of its version (or " +
        "let a server of this version migrate it first)");
  }
  return Status::Ok();
}

Result<AuditHead> HeadFrom(const PGresult* r) {
  if (PQntuples(r) != 1) return Status::DataLoss("postgresql: the audit_head row is missing");
  RF_ASSIGN_OR_RETURN(int64_t seq, ColInt(r, 0, 0));
  return AuditHead{seq, Col(r, 0, 1)};
}

// What the batches of one transaction share (a group commit's, or a batch alone's): the audit
// head and the change number it holds. Taken first, in one order by every writer (no lock cycle):
// the audit head (if any batch is audited), the change sequence; then each batch's rows (the
// controller lease, shared; the expected releases). See the contract in pg_store.h.
struct TxnRows {
  bool audited = false;  // the head is locked and `head` holds it
  AuditHead head;        // the head as the batches written so far left it (written at the end)
  int64_t change_seq = 0;
};

Status BeginTxnRows(Conn& w, bool audited, TxnRows* t) {
  if (audited) {
    RF_ASSIGN_OR_RETURN(PgResult r, w.Run(kLockHead));
    RF_ASSIGN_OR_RETURN(t->head, HeadFrom(r.get()));
    t->audited = true;
  }
  RF_ASSIGN_OR_RETURN(PgResult r, w.Run(kBumpChangeSeq));
  RF_ASSIGN_OR_RETURN(t->change_seq, ColInt(r.get(), 0, 0));
  return Status::Ok();
}

// The head row and the change notification, once per transaction after its batches.
Status FinishTxnRows(Conn& w, const TxnRows& t) {
  if (t.audited) {
    RF_RETURN_IF_ERROR(w.Run(kPutHead, Params().Int(t.head.seq).Text(t.head.hash)).status());
  }
  // Delivered to every listener at COMMIT, and only if it commits.
  return w.Run(kNotifyChange, Params().Text(kChangeChannel).Text(std::to_string(t.change_seq)))
      .status();
}

// Writes one batch inside the open transaction (BeginTxnRows done, audited if `b` is); chains its
// entries on t->head and appends them to *appended.
Status WriteBatchRows(Conn& w, const WriteBatch& b, std::vector<AuditEntry>* appended,
                      TxnRows* t) {
  if (!b.audit.empty() && !t->audited) {
    return Status::Internal("postgresql: an audited batch in a transaction without the head");
  }
  if (b.fencing_epoch != 0) {
    // FOR SHARE: a takeover (which updates the row) waits until this transaction ends, so the
    // epoch checked here is still the lease's when this batch commits.
    RF_ASSIGN_OR_RETURN(PgResult r, w.Run(kShareLeaseEpoch));
    if (PQntuples(r.get()) != 1) return Status::DataLoss("postgresql: controller_lease row missing");
    RF_ASSIGN_OR_RETURN(int64_t current, ColInt(r.get(), 0, 0));
    RF_RETURN_IF_ERROR(CheckFencingEpoch(b.fencing_epoch, current));
  }
  for (const ReleaseExpectation& e : b.expected_releases) {
    RF_ASSIGN_OR_RETURN(PgResult r, w.Run(kLockReleaseState, Params().Text(e.release_id)));
    std::optional<rollout::ReleaseState> stored;
    if (PQntuples(r.get()) == 1) {
      RF_ASSIGN_OR_RETURN(stored, DecodeReleaseState(Col(r.get(), 0, 0)));
    }
    RF_RETURN_IF_ERROR(CheckReleaseExpectation(e, stored));
  }
  for (const auto& ct : b.content_types) {
    RF_RETURN_IF_ERROR(w.Run(kPutType, Params().Text(ct.name).Int(ct.schema_version).Text(ct.yaml)
                                           .Text(ct.created_by).Int(ct.created_us))
                           .status());
  }
  for (const auto& x : b.bundles) {
    RF_RETURN_IF_ERROR(w.Run(kPutBundle, Params().Text(x.sha256).Text(x.channel)
                                             .Text(x.content_type).Int(x.schema_version)
                                             .Int(x.version).Int(x.payload_bytes)
                                             .Bytes(x.envelope).Text(x.report_json)
                                             .Text(x.layer2_report_json).Text(x.uploaded_by)
                                             .Int(x.uploaded_us))
                           .status());
  }
  for (const auto& r : b.releases) {
    Params p;
    p.Text(r.release_id).Text(r.channel).Text(r.content_type).Int(r.version)
        .Text(r.bundle_sha256).Text(r.plan_yaml).Text(EncodeReleaseState(r.state)).Text(r.author)
        .Int(r.created_s).Int(r.started_s);
    if (r.previous) {
      p.Int(r.previous->first).Text(r.previous->second);
    } else {
      p.Null().Null();
    }
    RF_RETURN_IF_ERROR(w.Run(kPutRelease, p).status());
  }
  for (const auto& a : b.approvals) {
    RF_RETURN_IF_ERROR(w.Run(kPutApproval, Params().Text(a.release_id).Text(a.reviewer)
                                               .Text(RoleString(a.role)).Text(a.keyid)
                                               .Text(a.envelope).Int(a.created_us))
                           .status());
  }
  for (const auto& p : b.principals) {
    RF_RETURN_IF_ERROR(w.Run(kPutPrincipal, Params().Text(p.name).Text(JoinRoles(p.roles))
                                                .Text(p.token_sha256).Text(p.reviewer_key)
                                                .Text(p.created_by).Int(p.created_us))
                           .status());
  }
  for (const auto& p : b.policies) {
    RF_RETURN_IF_ERROR(w.Run(kPutPolicy, Params().Text(p.channel).Int(p.approvals_required)
                                             .Text(JoinRoles(p.approver_roles))
                                             .Text(EncodePublisherKeys(p.publisher_keys))
                                             .Int(p.publisher_threshold))
                           .status());
  }
  for (const auto& c : b.controls) {
    RF_RETURN_IF_ERROR(w.Run(kPutControl, Params().Text(c.channel).Text(c.attr).Text(c.value)
                                              .Bool(c.pin_previous).Int(c.delay_s)
                                              .Bool(c.exclude_early_waves))
                           .status());
  }
  for (const auto& k : b.deleted_controls) {
    RF_RETURN_IF_ERROR(
        w.Run(kDeleteControl, Params().Text(k.channel).Text(k.attr).Text(k.value)).status());
  }
  AuditHead& head = t->head;
  for (const auto& rec : b.audit) {
    AuditEntry e = NextAuditEntry(head, rec);
    RF_RETURN_IF_ERROR(w.Run(kPutAudit, Params().Int(e.seq).Int(e.record.time_us)
                                            .Text(e.record.actor).Text(e.record.action)
                                            .Text(e.record.subject).Text(e.record.details_json)
                                            .Text(e.prev_hash).Text(e.hash))
                           .status());
    head = {e.seq, e.hash};
    if (appended) appended->push_back(std::move(e));
  }
  return Status::Ok();
}

// A read-only snapshot transaction on the reader, ended (ROLLBACK: nothing to keep) on scope exit.
class Snapshot {
 public:
  explicit Snapshot(Conn& c) : c_(c) {}
  Status Begin() {
    Status st = c_.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    open_ = st.ok();
    return st;
  }
  ~Snapshot() {
    if (open_) (void)c_.Exec("ROLLBACK");
  }

 private:
  Conn& c_;
  bool open_ = false;
};

Result<std::vector<AuditEntry>> ReadAuditPage(Conn& c, int64_t after_seq, size_t limit) {
  RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kReadAudit, Params().Int(after_seq)
                                                        .Int(static_cast<int64_t>(limit))));
  std::vector<AuditEntry> out;
  const PGresult* res = r.get();
  for (int i = 0; i < PQntuples(res); ++i) {
    AuditEntry e;
    RF_ASSIGN_OR_RETURN(e.seq, ColInt(res, i, 0));
    RF_ASSIGN_OR_RETURN(e.record.time_us, ColInt(res, i, 1));
    e.record.actor = Col(res, i, 2);
    e.record.action = Col(res, i, 3);
    e.record.subject = Col(res, i, 4);
    e.record.details_json = Col(res, i, 5);
    e.prev_hash = Col(res, i, 6);
    e.hash = Col(res, i, 7);
    out.push_back(std::move(e));
  }
  return out;
}

// Every record but envelopes and the audit log, from one snapshot.
Result<StoreContents> LoadContents(Conn& conn) {
  Conn* c = &conn;
  Snapshot snap(conn);
  RF_RETURN_IF_ERROR(snap.Begin());
  StoreContents out;
  {
    RF_ASSIGN_OR_RETURN(PgResult r, c->Run("SELECT name, schema_version, yaml, created_by,"
                                           " created_us FROM content_types"
                                           " ORDER BY name, schema_version"));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      ContentTypeRecord t;
      t.name = Col(r.get(), i, 0);
      RF_ASSIGN_OR_RETURN(t.schema_version, ColInt(r.get(), i, 1));
      t.yaml = Col(r.get(), i, 2);
      t.created_by = Col(r.get(), i, 3);
      RF_ASSIGN_OR_RETURN(t.created_us, ColInt(r.get(), i, 4));
      out.content_types.push_back(std::move(t));
    }
  }
  {
    RF_ASSIGN_OR_RETURN(PgResult r,
                        c->Run("SELECT sha256, channel, content_type, schema_version, version,"
                               " payload_bytes, report_json, uploaded_by, uploaded_us,"
                               " layer2_report_json FROM bundles ORDER BY channel, version"));
    const PGresult* res = r.get();
    for (int i = 0; i < PQntuples(res); ++i) {
      BundleRecord b;
      b.sha256 = Col(res, i, 0);
      b.channel = Col(res, i, 1);
      b.content_type = Col(res, i, 2);
      RF_ASSIGN_OR_RETURN(b.schema_version, ColInt(res, i, 3));
      RF_ASSIGN_OR_RETURN(b.version, ColInt(res, i, 4));
      RF_ASSIGN_OR_RETURN(b.payload_bytes, ColInt(res, i, 5));
      b.report_json = Col(res, i, 6);
      b.uploaded_by = Col(res, i, 7);
      RF_ASSIGN_OR_RETURN(b.uploaded_us, ColInt(res, i, 8));
      b.layer2_report_json = Col(res, i, 9);
      out.bundles.push_back(std::move(b));
    }
  }
  {
    RF_ASSIGN_OR_RETURN(PgResult r,
                        c->Run("SELECT release_id, channel, content_type, version, bundle_sha256,"
                               " plan_yaml, state_json, author, created_s, started_s,"
                               " previous_version, previous_sha256 FROM releases ORDER BY ord"));
    const PGresult* res = r.get();
    for (int i = 0; i < PQntuples(res); ++i) {
      admission::ReleaseRecord rel;
      rel.release_id = Col(res, i, 0);
      rel.channel = Col(res, i, 1);
      rel.content_type = Col(res, i, 2);
      RF_ASSIGN_OR_RETURN(rel.version, ColInt(res, i, 3));
      rel.bundle_sha256 = Col(res, i, 4);
      rel.plan_yaml = Col(res, i, 5);
      RF_RETURN_IF_ERROR(DecodeReleaseColumns(Col(res, i, 6), &rel));
      rel.author = Col(res, i, 7);
      RF_ASSIGN_OR_RETURN(rel.created_s, ColInt(res, i, 8));
      RF_ASSIGN_OR_RETURN(rel.started_s, ColInt(res, i, 9));
      if (!ColNull(res, i, 10)) {
        RF_ASSIGN_OR_RETURN(int64_t prev, ColInt(res, i, 10));
        rel.previous = std::make_pair(prev, Col(res, i, 11));
      }
      out.releases.push_back(std::move(rel));
    }
  }
  {
    RF_ASSIGN_OR_RETURN(PgResult r, c->Run("SELECT release_id, reviewer, role, keyid, envelope,"
                                           " created_us FROM approvals ORDER BY created_us, ord"));
    const PGresult* res = r.get();
    for (int i = 0; i < PQntuples(res); ++i) {
      auto role = RoleFromString(Col(res, i, 2));
      if (!role.ok()) return Status::DataLoss("approvals: " + role.status().message());
      RF_ASSIGN_OR_RETURN(int64_t created_us, ColInt(res, i, 5));
      out.approvals.push_back({Col(res, i, 0), Col(res, i, 1), *role, Col(res, i, 3),
                               Col(res, i, 4), created_us});
    }
  }
  {
    RF_ASSIGN_OR_RETURN(PgResult r, c->Run("SELECT name, roles, token_sha256, reviewer_key,"
                                           " created_by, created_us FROM principals"
                                           " ORDER BY name"));
    const PGresult* res = r.get();
    for (int i = 0; i < PQntuples(res); ++i) {
      auto roles = SplitRoles(Col(res, i, 1));
      if (!roles.ok()) return Status::DataLoss("principals: " + roles.status().message());
      RF_ASSIGN_OR_RETURN(int64_t created_us, ColInt(res, i, 5));
      out.principals.push_back({Col(res, i, 0), *roles, Col(res, i, 2), Col(res, i, 3),
                                Col(res, i, 4), created_us});
    }
  }
  {
    RF_ASSIGN_OR_RETURN(PgResult r, c->Run("SELECT channel, approvals_required, approver_roles,"
                                           " publisher_keys, publisher_threshold FROM policies"
                                           " ORDER BY channel"));
    const PGresult* res = r.get();
    for (int i = 0; i < PQntuples(res); ++i) {
      auto roles = SplitRoles(Col(res, i, 2));
      if (!roles.ok()) return Status::DataLoss("policies: " + roles.status().message());
      RF_ASSIGN_OR_RETURN(auto keys, DecodePublisherKeys(Col(res, i, 3)));
      RF_ASSIGN_OR_RETURN(int64_t required, ColInt(res, i, 1));
      RF_ASSIGN_OR_RETURN(int64_t threshold, ColInt(res, i, 4));
      out.policies.push_back({Col(res, i, 0), static_cast<int>(required), *roles, keys,
                              static_cast<int>(threshold)});
    }
  }
  {
    RF_ASSIGN_OR_RETURN(PgResult r, c->Run("SELECT channel, attr, value, pin_previous, delay_s,"
                                           " exclude_early_waves FROM controls"
                                           " ORDER BY channel, attr, value"));
    const PGresult* res = r.get();
    for (int i = 0; i < PQntuples(res); ++i) {
      admission::CustomerControl k;
      k.channel = Col(res, i, 0);
      k.attr = Col(res, i, 1);
      k.value = Col(res, i, 2);
      k.pin_previous = ColBool(res, i, 3);
      RF_ASSIGN_OR_RETURN(k.delay_s, ColInt(res, i, 4));
      k.exclude_early_waves = ColBool(res, i, 5);
      out.controls.push_back(std::move(k));
    }
  }
  RF_ASSIGN_OR_RETURN(PgResult h, c->Run(kReadHead));
  RF_ASSIGN_OR_RETURN(out.audit_head, HeadFrom(h.get()));
  return out;
}

}  // namespace

int64_t PgStore::SchemaVersion() { return LatestSchemaVersion(kMigrations); }

Result<std::unique_ptr<PgStore>> PgStore::Open(const std::string& conninfo,
                                               const PgStoreOptions& options) {
  std::unique_ptr<PgStore> store(new PgStore());
  store->options_ = options;
  RF_ASSIGN_OR_RETURN(store->writer_, Conn::Connect(conninfo, options.lock_timeout_ms));
  Conn& w = *store->writer_;
  if (options.read_only) {
    RF_RETURN_IF_ERROR(CheckSchemaForReading(w));
  } else {
    RF_ASSIGN_OR_RETURN(PgResult r, w.Run("SELECT current_setting('fsync')"));
    if (Col(r.get(), 0, 0) != "on") {
      return Status::FailedPrecondition(
          "postgresql: the server runs with fsync=off; acknowledged writes would not survive a "
          "crash (docs/deploy.md)");
    }
    RF_RETURN_IF_ERROR(Migrate(w));
  }
  RF_ASSIGN_OR_RETURN(store->reader_, Conn::Connect(conninfo, options.lock_timeout_ms));
  RF_ASSIGN_OR_RETURN(store->lease_, Conn::Connect(conninfo, options.lock_timeout_ms));
  store->conninfo_ = conninfo;
  return store;
}

PgStore::~PgStore() = default;

// One caller's batch in the group commit queue (guarded by write_mu_ while queued).
struct PgStore::Pending {
  const WriteBatch* batch;
  std::vector<AuditEntry>* appended;
  Status status;
  bool done = false;
};

Status PgStore::Apply(const WriteBatch& batch, std::vector<AuditEntry>* appended) {
  std::unique_lock<std::mutex> l(write_mu_);
  if (!sticky_.ok()) return sticky_;
  if (options_.read_only) {
    return Status::FailedPrecondition("postgresql: the store was opened for reading only");
  }
  if (batch.empty()) return Status::Ok();
  Pending p{&batch, appended, Status::Ok()};
  queue_.push_back(&p);
  write_cv_.wait(l, [&] { return p.done || !leader_active_; });
  if (p.done) return p.status;
  if (!sticky_.ok()) {
    // The last leader failed stop while these waited: none of them is written.
    for (Pending* q : queue_) {
      q->status = sticky_;
      q->done = true;
    }
    queue_.clear();
    write_cv_.notify_all();
    return sticky_;
  }
  // Leader: commit everything queued so far in one transaction, on the writer connection.
  leader_active_ = true;
  std::vector<Pending*> group(queue_.begin(), queue_.end());
  queue_.clear();
  l.unlock();
  int64_t written = 0;
  const Status failed = CommitGroup(group, &written);
  l.lock();
  if (!failed.ok()) sticky_ = failed;
  if (written > 0) {
    ++commits_;
    batches_ += written;
  }
  for (Pending* q : group) q->done = true;
  leader_active_ = false;
  write_cv_.notify_all();
  return p.status;
}

Status PgStore::CommitGroup(const std::vector<Pending*>& group, int64_t* written) {
  Conn& w = *writer_;
  std::vector<size_t> appended_before;
  bool audited = false;
  for (const Pending* q : group) {
    appended_before.push_back(q->appended ? q->appended->size() : 0);
    audited |= !q->batch->audit.empty();
  }
  auto undo = [&](size_t i) {
    if (group[i]->appended) group[i]->appended->resize(appended_before[i]);
  };
  // A batch alone is its transaction (no savepoint: its failure is the transaction's).
  const bool alone = group.size() == 1;
  int64_t ok = 0;  // batches written
  TxnRows t;
  Status st = w.lost() ? Status::Unavailable("postgresql: connection lost while idle")
                       : w.Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
  if (st.ok()) st = BeginTxnRows(w, audited, &t);
  for (size_t i = 0; st.ok() && i < group.size(); ++i) {
    const AuditHead head_before = t.head;
    Status bs = alone ? Status::Ok() : w.Exec("SAVEPOINT rf_batch");
    if (bs.ok()) bs = WriteBatchRows(w, *group[i]->batch, group[i]->appended, &t);
    if (bs.ok() && !alone) bs = w.Exec("RELEASE SAVEPOINT rf_batch");
    if (bs.ok()) {
      ++ok;
    } else if (alone || w.lost()) {
      st = bs;
    } else {
      // Only this batch is undone (its rows and audit entries); the others in the group still
      // commit. If the undo itself fails, the whole group fails.
      group[i]->status = bs;
      undo(i);
      t.head = head_before;
      st = w.Exec("ROLLBACK TO SAVEPOINT rf_batch");
      if (st.ok()) st = w.Exec("RELEASE SAVEPOINT rf_batch");
    }
  }
  if (st.ok() && ok == 0) {
    // Every batch was refused (each has its status): nothing to commit.
    st = w.Exec("ROLLBACK");
    if (st.ok()) return Status::Ok();
  } else if (st.ok()) {
    st = FinishTxnRows(w, t);
  }
  if (st.ok()) {
    // Recorded as ours before COMMIT, so the change watcher never takes the notification of this
    // commit for another server's change (it may arrive before Commit returns). While the
    // transaction is open it holds the change_seq row, so no other writer can take the number;
    // after a refused COMMIT it is withdrawn at once.
    {
      std::lock_guard<std::mutex> l(own_mu_);
      own_seqs_.insert(t.change_seq);
    }
    if (options_.before_commit_for_test) options_.before_commit_for_test(w.backend_pid());
    st = w.Commit();
    if (st.ok()) {
      *written = ok;
      return Status::Ok();
    }
    std::lock_guard<std::mutex> l(own_mu_);
    own_seqs_.erase(t.change_seq);
  }
  // Nothing of the group is stored: every batch not refused already gets the group's error.
  for (size_t i = 0; i < group.size(); ++i) {
    if (!group[i]->status.ok()) continue;
    undo(i);
    group[i]->status = st;
  }
  if (!w.lost()) {
    // The server refused a statement or the COMMIT: the transaction is (or is now) rolled back.
    Status rb = w.Exec("ROLLBACK");
    if (rb.ok() || !w.lost()) return Status::Ok();
  }
  // Whether an interrupted COMMIT took effect cannot be known: fail stop (store.h).
  const Status sticky = Status::Unavailable("store failed, restart required: " + st.message());
  for (Pending* q : group) q->status = sticky;
  return sticky;
}

int64_t PgStore::commits() const {
  std::lock_guard<std::mutex> l(write_mu_);
  return commits_;
}

int64_t PgStore::batches_committed() const {
  std::lock_guard<std::mutex> l(write_mu_);
  return batches_;
}

int64_t PgStore::waiting() const {
  std::lock_guard<std::mutex> l(write_mu_);
  return static_cast<int64_t>(queue_.size());
}

// Runs `use(Conn&)` on `conn` under `mu`; if it fails because the connection was lost (libpq
// notices only on use), reconnects and runs it once more (callers pass idempotent work).
template <typename F>
auto PgStore::Use(std::mutex& mu, std::unique_ptr<Conn>& conn, F&& use) {
  std::lock_guard<std::mutex> l(mu);
  if (conn->lost()) (void)conn->Reset();
  auto result = use(*conn);
  if (!result.ok() && conn->lost() && conn->Reset().ok()) result = use(*conn);
  return result;
}

template <typename F>
auto PgStore::Read(F&& read) {
  return Use(read_mu_, reader_, std::forward<F>(read));
}

template <typename F>
auto PgStore::UseEvidence(F&& use) {
  {
    std::lock_guard<std::mutex> l(evidence_mu_);
    if (!evidence_) {
      auto c = Conn::Connect(conninfo_, options_.lock_timeout_ms);
      if (!c.ok()) return decltype(use(*evidence_))(c.status());
      evidence_ = std::move(*c);
    }
  }
  return Use(evidence_mu_, evidence_, std::forward<F>(use));
}

Result<LeaseGrant> PgStore::AcquireLease(const std::string& holder, int64_t held_epoch,
                                         int64_t now_us, int64_t lease_us) {
  return Use(lease_mu_, lease_, [&](Conn& c) -> Result<LeaseGrant> {
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kAcquireLease, Params().Text(holder).Int(held_epoch)
                                                             .Int(now_us).Int(lease_us)));
    LeaseGrant g;
    if (PQntuples(r.get()) == 1) {
      g.granted = true;
      g.holder = holder;
      RF_ASSIGN_OR_RETURN(g.epoch, ColInt(r.get(), 0, 0));
      RF_ASSIGN_OR_RETURN(g.expires_us, ColInt(r.get(), 0, 1));
      return g;
    }
    RF_ASSIGN_OR_RETURN(PgResult cur, c.Run(kReadLease));
    if (PQntuples(cur.get()) != 1) return Status::DataLoss("postgresql: controller_lease row missing");
    g.holder = Col(cur.get(), 0, 0);
    RF_ASSIGN_OR_RETURN(g.epoch, ColInt(cur.get(), 0, 1));
    RF_ASSIGN_OR_RETURN(g.expires_us, ColInt(cur.get(), 0, 2));
    return g;
  });
}

Status PgStore::ReleaseLease(const std::string& holder, int64_t epoch) {
  return Use(lease_mu_, lease_, [&](Conn& c) -> Result<bool> {
           RF_RETURN_IF_ERROR(c.Run(kReleaseLease, Params().Text(holder).Int(epoch)).status());
           return true;
         })
      .status();
}

Result<int64_t> PgStore::ChangeSeq() {
  return Read([](Conn& c) -> Result<int64_t> {
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kReadChangeSeq));
    if (PQntuples(r.get()) != 1) return Status::DataLoss("postgresql: change_seq row missing");
    return ColInt(r.get(), 0, 0);
  });
}

bool PgStore::OwnChanges(int64_t after, int64_t through) {
  std::lock_guard<std::mutex> l(own_mu_);
  // Nothing at or below `after` is asked about again: forget it.
  own_seqs_.erase(own_seqs_.begin(), own_seqs_.upper_bound(after));
  for (int64_t s = after + 1; s <= through; ++s) {
    if (!own_seqs_.count(s)) return false;
  }
  return true;
}

Result<bool> PgStore::WaitOn(std::mutex& mu, std::unique_ptr<Conn>& conn, const char* channel,
                             int timeout_ms) {
  std::lock_guard<std::mutex> l(mu);
  if (!conn || conn->lost()) {
    if (!conn) {
      RF_ASSIGN_OR_RETURN(conn, Conn::Connect(conninfo_, options_.lock_timeout_ms));
    } else {
      RF_RETURN_IF_ERROR(conn->Reset());
    }
    RF_RETURN_IF_ERROR(conn->Exec((std::string("LISTEN ") + channel).c_str()));
    return true;  // changes while not listening are unknown: report one
  }
  return conn->WaitForNotification(timeout_ms);
}

Result<bool> PgStore::WaitForChange(int timeout_ms) {
  return WaitOn(listen_mu_, listen_, kChangeChannel, timeout_ms);
}

Result<bool> PgStore::WaitForCredentialChange(int timeout_ms) {
  return WaitOn(cred_listen_mu_, cred_listen_, kCredentialChannel, timeout_ms);
}

Status PgStore::LoadDeviceCredentials(const std::function<void(const DeviceCredentialRow&)>& row,
                                      int64_t* seq) {
  return Read([&](Conn& c) -> Result<bool> {
           Snapshot snap(c);  // the rows and the sequence they reflect, from one snapshot
           RF_RETURN_IF_ERROR(snap.Begin());
           RF_ASSIGN_OR_RETURN(PgResult s, c.Run(kReadCredentialSeq));
           if (PQntuples(s.get()) != 1) {
             return Status::DataLoss("postgresql: credential_seq row missing");
           }
           RF_ASSIGN_OR_RETURN(*seq, ColInt(s.get(), 0, 0));
           std::string after;
           for (;;) {
             RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kCredentialsPage, Params().Text(after).Int(
                                                                        kCredentialPageRows)));
             std::vector<DeviceCredentialRow> page;
             RF_RETURN_IF_ERROR(CredentialRows(r.get(), &page));
             for (const DeviceCredentialRow& x : page) row(x);
             if (static_cast<int64_t>(page.size()) < kCredentialPageRows) break;
             after = page.back().device_id;
           }
           return true;
         })
      .status();
}

Result<std::vector<DeviceCredentialRow>> PgStore::DeviceCredentialsSince(int64_t after_seq,
                                                                         size_t limit) {
  return Read([&](Conn& c) -> Result<std::vector<DeviceCredentialRow>> {
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kCredentialsSince, Params().Int(after_seq).Int(
                                                                 static_cast<int64_t>(limit))));
    std::vector<DeviceCredentialRow> out;
    RF_RETURN_IF_ERROR(CredentialRows(r.get(), &out));
    return out;
  });
}

namespace {

// The body of ChangeDeviceCredential inside its open transaction.
Result<std::optional<DeviceCredentialRow>> ChangeCredentialInTransaction(
    Conn& c, std::string_view device_id, std::string_view actor, int64_t now_s,
    const DeviceCredentialDecide& decide, bool* changed) {
  // First: the sequence row. Every credential change takes it, so they commit one at a time, in
  // sequence order, and the device's row read below cannot change before this one commits.
  RF_ASSIGN_OR_RETURN(PgResult s, c.Run(kBumpCredentialSeq));
  if (PQntuples(s.get()) != 1) return Status::DataLoss("postgresql: credential_seq row missing");
  RF_ASSIGN_OR_RETURN(int64_t seq, ColInt(s.get(), 0, 0));
  RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kReadCredential, Params().Text(device_id)));
  std::vector<DeviceCredentialRow> rows;
  RF_RETURN_IF_ERROR(CredentialRows(r.get(), &rows));
  std::optional<DeviceCredentialRow> current;
  if (!rows.empty()) current = std::move(rows.front());
  RF_ASSIGN_OR_RETURN(std::optional<DeviceCredentialRow> next, decide(current));
  if (!next) return current;  // nothing to write: the caller rolls back (the number is unused)
  next->device_id = std::string(device_id);
  next->seq = seq;
  RF_RETURN_IF_ERROR(c.Run(kPutCredential, Params().Text(device_id).Text(next->public_key_hex)
                                               .Int(next->epoch).Text(next->state).Int(seq)
                                               .Text(actor).Int(now_s))
                         .status());
  // The history (who revoked or reset what, when), as the journal keeps it on SQLite.
  RF_RETURN_IF_ERROR(c.Run(kLogCredential, Params().Int(seq).Text(device_id)
                                               .Text(next->public_key_hex).Int(next->epoch)
                                               .Text(next->state).Text(actor).Int(now_s))
                         .status());
  RF_RETURN_IF_ERROR(
      c.Run(kNotifyChange, Params().Text(kCredentialChannel).Text(std::to_string(seq))).status());
  *changed = true;
  return next;
}

}  // namespace

Result<std::optional<DeviceCredentialRow>> PgStore::ChangeDeviceCredential(
    std::string_view device_id, std::string_view actor, int64_t now_s,
    const DeviceCredentialDecide& decide) {
  std::lock_guard<std::mutex> l(cred_mu_);
  if (!cred_) {
    RF_ASSIGN_OR_RETURN(cred_, Conn::Connect(conninfo_, options_.lock_timeout_ms));
  }
  auto attempt = [&]() -> Result<std::optional<DeviceCredentialRow>> {
    if (cred_->lost()) RF_RETURN_IF_ERROR(cred_->Reset());
    RF_RETURN_IF_ERROR(cred_->Exec("BEGIN ISOLATION LEVEL READ COMMITTED"));
    bool changed = false;
    auto result = ChangeCredentialInTransaction(*cred_, device_id, actor, now_s, decide, &changed);
    Status st = result.status();
    if (st.ok() && changed) st = cred_->Commit();
    if (!st.ok() || !changed) {
      if (!cred_->lost()) (void)cred_->Exec("ROLLBACK");
      if (!st.ok()) return st;
    }
    return result;
  };
  auto result = attempt();
  // A connection lost on the way (the database restarted, failed over): whether a COMMIT in
  // flight took effect is unknown, so the change runs once more on a new connection; its decision
  // is made again from the row as it then is (idempotent for every DeviceCredentials verb).
  if (!result.ok() && cred_->lost()) result = attempt();
  return result;
}

Result<StoreContents> PgStore::Load() {
  return Read([](Conn& c) { return LoadContents(c); });
}

Result<std::string> PgStore::BundleEnvelope(std::string_view sha256) {
  return Read([sha256](Conn& c) -> Result<std::string> {
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run("SELECT envelope FROM bundles WHERE sha256 = $1",
                                          Params().Text(sha256), /*binary_result=*/true));
    if (PQntuples(r.get()) == 0) return Status::NotFound("unknown bundle " + std::string(sha256));
    return Col(r.get(), 0, 0);  // binary BYTEA: the bytes themselves
  });
}

Result<std::vector<AuditEntry>> PgStore::ReadAudit(int64_t after_seq, size_t limit) {
  return Read([&](Conn& c) { return ReadAuditPage(c, after_seq, limit); });
}

Result<AuditHead> PgStore::RecordedAuditHead() {
  return Read([](Conn& c) -> Result<AuditHead> {
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kReadHead));
    return HeadFrom(r.get());
  });
}

Result<AuditVerification> PgStore::VerifyAudit() {
  return Read([](Conn& c) -> Result<AuditVerification> {
    Snapshot snap(c);  // the log and its head from one snapshot
    RF_RETURN_IF_ERROR(snap.Begin());
    AuditChainVerifier v;
    int64_t after = 0;
    for (;;) {
      RF_ASSIGN_OR_RETURN(auto page, ReadAuditPage(c, after, 4096));
      if (page.empty()) break;
      for (const AuditEntry& e : page) RF_RETURN_IF_ERROR(v.Add(e));
      after = page.back().seq;
    }
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kReadHead));
    RF_ASSIGN_OR_RETURN(AuditHead head, HeadFrom(r.get()));
    return v.Finish(head);
  });
}

Status PgStore::PutGateCounts(std::string_view release_id, const GateCountsRow& row) {
  return UseEvidence([&](Conn& c) -> Result<bool> {
           RF_RETURN_IF_ERROR(c.Run(kPutGateCounts, Params().Text(release_id).Text(row.replica)
                                                        .Int(row.seq).Int(row.updated_us)
                                                        .Text(row.counts))
                                  .status());
           return true;
         })
      .status();
}

Result<std::vector<GateCountsRow>> PgStore::GateCounts(std::string_view release_id) {
  return UseEvidence([&](Conn& c) -> Result<std::vector<GateCountsRow>> {
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kReadGateCounts, Params().Text(release_id)));
    std::vector<GateCountsRow> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      GateCountsRow row;
      row.replica = Col(r.get(), i, 0);
      RF_ASSIGN_OR_RETURN(row.seq, ColInt(r.get(), i, 1));
      RF_ASSIGN_OR_RETURN(row.updated_us, ColInt(r.get(), i, 2));
      row.counts = Col(r.get(), i, 3);
      out.push_back(std::move(row));
    }
    return out;
  });
}

Status PgStore::PutGateEvidence(std::string_view release_id, const GateEvidenceRow& row) {
  return UseEvidence([&](Conn& c) -> Result<bool> {
           RF_RETURN_IF_ERROR(c.Exec("BEGIN ISOLATION LEVEL READ COMMITTED"));
           auto body = [&]() -> Status {
             // FOR SHARE: a takeover waits for this transaction, so the epoch checked here is
             // still the lease's at COMMIT (as for a fenced batch).
             RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kShareLeaseEpoch));
             if (PQntuples(r.get()) != 1) {
               return Status::DataLoss("postgresql: controller_lease row missing");
             }
             RF_ASSIGN_OR_RETURN(int64_t current, ColInt(r.get(), 0, 0));
             RF_RETURN_IF_ERROR(CheckFencingEpoch(row.epoch, current));
             RF_RETURN_IF_ERROR(c.Run(kPutGateEvidence, Params().Text(release_id).Int(row.epoch)
                                                            .Int(row.saved_us).Text(row.evidence))
                                    .status());
             return c.Commit();
           };
           Status st = body();
           if (!st.ok()) {
             if (!c.lost()) (void)c.Exec("ROLLBACK");
             return st;
           }
           return true;
         })
      .status();
}

Result<std::optional<GateEvidenceRow>> PgStore::GateEvidence(std::string_view release_id) {
  return UseEvidence([&](Conn& c) -> Result<std::optional<GateEvidenceRow>> {
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kReadGateEvidence, Params().Text(release_id)));
    if (PQntuples(r.get()) == 0) return std::optional<GateEvidenceRow>();
    GateEvidenceRow row;
    RF_ASSIGN_OR_RETURN(row.epoch, ColInt(r.get(), 0, 0));
    RF_ASSIGN_OR_RETURN(row.saved_us, ColInt(r.get(), 0, 1));
    row.evidence = Col(r.get(), 0, 2);
    return std::optional<GateEvidenceRow>(std::move(row));
  });
}

Status PgStore::DeleteGateEvidence(std::string_view release_id) {
  return UseEvidence([&](Conn& c) -> Result<bool> {
           RF_RETURN_IF_ERROR(c.Run(kDeleteGateCounts, Params().Text(release_id)).status());
           RF_RETURN_IF_ERROR(c.Run(kDeleteGateEvidence, Params().Text(release_id)).status());
           return true;
         })
      .status();
}

Status PgStore::PutFleetProfiles(const FleetProfilesRow& row) {
  return UseEvidence([&](Conn& c) -> Result<bool> {
           RF_RETURN_IF_ERROR(c.Run(kPutFleetProfiles, Params().Text(row.replica).Int(row.seq)
                                                           .Int(row.updated_us).Text(row.profiles)
                                                           .Text(row.summary))
                                  .status());
           return true;
         })
      .status();
}

Result<std::vector<FleetProfilesRow>> PgStore::FleetProfiles() {
  return UseEvidence([&](Conn& c) -> Result<std::vector<FleetProfilesRow>> {
    RF_ASSIGN_OR_RETURN(PgResult r, c.Run(kReadFleetProfiles));
    std::vector<FleetProfilesRow> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      FleetProfilesRow row;
      row.replica = Col(r.get(), i, 0);
      RF_ASSIGN_OR_RETURN(row.seq, ColInt(r.get(), i, 1));
      RF_ASSIGN_OR_RETURN(row.updated_us, ColInt(r.get(), i, 2));
      row.profiles = Col(r.get(), i, 3);
      row.summary = Col(r.get(), i, 4);
      out.push_back(std::move(row));
    }
    return out;
  });
}

Status PgStore::ExpireFleetProfiles(int64_t before_us) {
  return UseEvidence([&](Conn& c) -> Result<bool> {
           RF_RETURN_IF_ERROR(c.Run(kExpireFleetProfiles, Params().Int(before_us)).status());
           return true;
         })
      .status();
}

}  // namespace rf::store
