#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <optional>
#include <utility>

#include "core/bundle.h"
#include "store/batch_conditions.h"
#include "store/release_codec.h"
#include "store/row_codec.h"
#include "store/schema_migrations.h"

namespace rf::store {
namespace {

// The schema, step by step (schema_migrations.h); the version reached is PRAGMA user_version.
constexpr SchemaMigration kMigrations[] = {
    {1, "initial tables", R"sql(
CREATE TABLE IF NOT EXISTS content_types(
  name TEXT NOT NULL, schema_version INTEGER NOT NULL, yaml TEXT NOT NULL,
  created_by TEXT NOT NULL, created_us INTEGER NOT NULL,
  PRIMARY KEY(name, schema_version));
CREATE TABLE IF NOT EXISTS bundles(
  sha256 TEXT PRIMARY KEY, channel TEXT NOT NULL, content_type TEXT NOT NULL,
  schema_version INTEGER NOT NULL, version INTEGER NOT NULL, payload_bytes INTEGER NOT NULL,
  envelope BLOB NOT NULL, report_json TEXT NOT NULL, uploaded_by TEXT NOT NULL,
  uploaded_us INTEGER NOT NULL, UNIQUE(channel, version));
CREATE TABLE IF NOT EXISTS releases(
  release_id TEXT PRIMARY KEY, channel TEXT NOT NULL, content_type TEXT NOT NULL,
  version INTEGER NOT NULL, bundle_sha256 TEXT NOT NULL REFERENCES bundles(sha256),
  plan_yaml TEXT NOT NULL, state_json TEXT NOT NULL, author TEXT NOT NULL,
  created_s INTEGER NOT NULL, started_s INTEGER NOT NULL,
  previous_version INTEGER, previous_sha256 TEXT);
CREATE TABLE IF NOT EXISTS approvals(
  release_id TEXT NOT NULL REFERENCES releases(release_id), reviewer TEXT NOT NULL,
  role TEXT NOT NULL, keyid TEXT NOT NULL, envelope TEXT NOT NULL, created_us INTEGER NOT NULL,
  PRIMARY KEY(release_id, reviewer));
CREATE TABLE IF NOT EXISTS principals(
  name TEXT PRIMARY KEY, roles TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,
  reviewer_key TEXT NOT NULL, created_by TEXT NOT NULL, created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS policies(
  channel TEXT PRIMARY KEY, approvals_required INTEGER NOT NULL, approver_roles TEXT NOT NULL,
  publisher_keys TEXT NOT NULL, publisher_threshold INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS controls(
  channel TEXT NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL,
  pin_previous INTEGER NOT NULL, delay_s INTEGER NOT NULL, exclude_early_waves INTEGER NOT NULL,
  PRIMARY KEY(channel, attr, value));
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  subject TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_head(
  id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
)sql"},
    {2, "bundles.layer2_report_json",
     "ALTER TABLE bundles ADD COLUMN layer2_report_json TEXT NOT NULL DEFAULT ''"},
};

Status SqlError(sqlite3* db, std::string_view what) {
  const int rc = sqlite3_extended_errcode(db);
  std::string msg = "sqlite: " + std::string(what) + ": " + sqlite3_errmsg(db);
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return Status::AlreadyExists(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status::Unavailable(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Status::DataLoss(msg);
    case SQLITE_FULL: return Status::ResourceExhausted(msg);
    default: return Status::Internal(msg);
  }
}

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    Status s = SqlError(db, sql);
    return Status(s.code(), "sqlite: " + msg + " (in: " + std::string(sql).substr(0, 60) + ")");
  }
  return Status::Ok();
}

// A prepared statement, reset after every use.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(s_); }

  Status Prepare(sqlite3* db, const char* sql) {
    db_ = db;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK) {
      return SqlError(db, std::string("prepare ") + sql);
    }
    return Status::Ok();
  }
  Stmt& Text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  // Runs a statement that returns no rows.
  Status Run() {
    int rc = sqlite3_step(s_);
    Status st = rc == SQLITE_DONE ? Status::Ok() : SqlError(db_, sqlite3_sql(s_));
    Reset();
    return st;
  }
  // Steps once: true with a row, false when done. Errors in *status.
  bool Row(Status* status) {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) *status = SqlError(db_, sqlite3_sql(s_));
    return false;
  }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string ColText(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s_, i));
    int n = sqlite3_column_bytes(s_, i);
    return p ? std::string(p, static_cast<size_t>(n)) : std::string();
  }
  int64_t ColInt(int i) const { return sqlite3_column_int64(s_, i); }
  bool ColNull(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* s_ = nullptr;
};

Result<sqlite3*> OpenDb(const std::string& path, bool read_only, int busy_timeout_ms) {
  sqlite3* db = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used under our own locks
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status s = Status::Unavailable("sqlite: cannot open " + path + ": " +
                                   (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  sqlite3_extended_result_codes(db, 1);
  return db;
}

}  // namespace

struct SqliteStore::Pending {
  const WriteBatch* batch;
  std::vector<AuditEntry>* appended;
  Status status;
  bool done = false;
};

class SqliteStore::Writer {
 public:
  sqlite3* db = nullptr;
  AuditHead head;  // of the committed log (plus the open transaction's appends)
  Stmt begin, commit, rollback, savepoint, release_sp, rollback_sp;
  Stmt put_type, put_bundle, put_release, put_approval, put_principal, put_policy, put_control,
      del_control, put_audit, put_head, get_release_state;

  ~Writer() { sqlite3_close_v2(db); }  // v2: closes once the member statements are finalized

  Status Prepare() {
    RF_RETURN_IF_ERROR(begin.Prepare(db, "BEGIN IMMEDIATE"));
    RF_RETURN_IF_ERROR(commit.Prepare(db, "COMMIT"));
    RF_RETURN_IF_ERROR(rollback.Prepare(db, "ROLLBACK"));
    RF_RETURN_IF_ERROR(savepoint.Prepare(db, "SAVEPOINT batch"));
    RF_RETURN_IF_ERROR(release_sp.Prepare(db, "RELEASE batch"));
    RF_RETURN_IF_ERROR(rollback_sp.Prepare(db, "ROLLBACK TO batch"));
    RF_RETURN_IF_ERROR(put_type.Prepare(db,
        "INSERT OR REPLACE INTO content_types VALUES(?1,?2,?3,?4,?5)"));
    RF_RETURN_IF_ERROR(put_bundle.Prepare(db,
        "INSERT OR REPLACE INTO bundles VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"));
    RF_RETURN_IF_ERROR(put_release.Prepare(db,
        "INSERT OR REPLACE INTO releases VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"));
    RF_RETURN_IF_ERROR(put_approval.Prepare(db,
        "INSERT OR REPLACE INTO approvals VALUES(?1,?2,?3,?4,?5,?6)"));
    RF_RETURN_IF_ERROR(put_principal.Prepare(db,
        "INSERT OR REPLACE INTO principals VALUES(?1,?2,?3,?4,?5,?6)"));
    RF_RETURN_IF_ERROR(put_policy.Prepare(db,
        "INSERT OR REPLACE INTO policies VALUES(?1,?2,?3,?4,?5)"));
    RF_RETURN_IF_ERROR(put_control.Prepare(db,
        "INSERT OR REPLACE INTO controls VALUES(?1,?2,?3,?4,?5,?6)"));
    RF_RETURN_IF_ERROR(del_control.Prepare(db,
        "DELETE FROM controls WHERE channel=?1 AND attr=?2 AND value=?3"));
    RF_RETURN_IF_ERROR(put_audit.Prepare(db,
        "INSERT INTO audit VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"));
    RF_RETURN_IF_ERROR(put_head.Prepare(db,
        "INSERT OR REPLACE INTO audit_head VALUES(1,?1,?2)"));
    RF_RETURN_IF_ERROR(get_release_state.Prepare(db,
        "SELECT state_json FROM releases WHERE release_id=?1"));
    return Status::Ok();
  }

  // Writes one batch inside the open transaction. Appends chained entries to *appended.
  Status Write(const WriteBatch& b, std::vector<AuditEntry>* appended) {
    // The conditions first (store.h). One process writes a SQLite database, so they hold unless
    // the caller's model is wrong; checked all the same, as every store does.
    RF_RETURN_IF_ERROR(CheckFencingEpoch(b.fencing_epoch, 0));
    for (const auto& e : b.expected_releases) {
      Status st;
      get_release_state.Text(1, e.release_id);
      std::optional<std::string> json;
      if (get_release_state.Row(&st)) json = get_release_state.ColText(0);
      get_release_state.Reset();
      RF_RETURN_IF_ERROR(st);
      std::optional<rollout::ReleaseState> stored;
      if (json) {
        RF_ASSIGN_OR_RETURN(stored, DecodeReleaseState(*json));
      }
      RF_RETURN_IF_ERROR(CheckReleaseExpectation(e, stored));
    }
    for (const auto& t : b.content_types) {
      RF_RETURN_IF_ERROR(put_type.Text(1, t.name).Int(2, t.schema_version).Text(3, t.yaml)
                             .Text(4, t.created_by).Int(5, t.created_us).Run());
    }
    for (const auto& x : b.bundles) {
      RF_RETURN_IF_ERROR(put_bundle.Text(1, x.sha256).Text(2, x.channel).Text(3, x.content_type)
                             .Int(4, x.schema_version).Int(5, x.version).Int(6, x.payload_bytes)
                             .Blob(7, x.envelope).Text(8, x.report_json).Text(9, x.uploaded_by)
                             .Int(10, x.uploaded_us).Text(11, x.layer2_report_json).Run());
    }
    for (const auto& r : b.releases) {
      put_release.Text(1, r.release_id).Text(2, r.channel).Text(3, r.content_type)
          .Int(4, r.version).Text(5, r.bundle_sha256).Text(6, r.plan_yaml)
          .Text(7, EncodeReleaseState(r.state)).Text(8, r.author).Int(9, r.created_s)
          .Int(10, r.started_s);
      if (r.previous) {
        put_release.Int(11, r.previous->first).Text(12, r.previous->second);
      } else {
        put_release.Null(11).Null(12);
      }
      RF_RETURN_IF_ERROR(put_release.Run());
    }
    for (const auto& a : b.approvals) {
      RF_RETURN_IF_ERROR(put_approval.Text(1, a.release_id).Text(2, a.reviewer)
                             .Text(3, RoleString(a.role)).Text(4, a.keyid).Text(5, a.envelope)
                             .Int(6, a.created_us).Run());
    }
    for (const auto& p : b.principals) {
      RF_RETURN_IF_ERROR(put_principal.Text(1, p.name).Text(2, JoinRoles(p.roles))
                             .Text(3, p.token_sha256).Text(4, p.reviewer_key)
                             .Text(5, p.created_by).Int(6, p.created_us).Run());
    }
    for (const auto& p : b.policies) {
      RF_RETURN_IF_ERROR(put_policy.Text(1, p.channel).Int(2, p.approvals_required)
                             .Text(3, JoinRoles(p.approver_roles))
                             .Text(4, EncodePublisherKeys(p.publisher_keys)).Int(5, p.publisher_threshold)
                             .Run());
    }
    for (const auto& c : b.controls) {
      RF_RETURN_IF_ERROR(put_control.Text(1, c.channel).Text(2, c.attr).Text(3, c.value)
                             .Int(4, c.pin_previous).Int(5, c.delay_s)
                             .Int(6, c.exclude_early_waves).Run());
    }
    for (const auto& k : b.deleted_controls) {
      RF_RETURN_IF_ERROR(del_control.Text(1, k.channel).Text(2, k.attr).Text(3, k.value).Run());
    }
    for (const auto& rec : b.audit) {
      AuditEntry e = NextAuditEntry(head, rec);
      RF_RETURN_IF_ERROR(put_audit.Int(1, e.seq).Int(2, e.record.time_us).Text(3, e.record.actor)
                             .Text(4, e.record.action).Text(5, e.record.subject)
                             .Text(6, e.record.details_json).Text(7, e.prev_hash)
                             .Text(8, e.hash).Run());
      head = {e.seq, e.hash};
      if (appended) appended->push_back(std::move(e));
    }
    if (!b.audit.empty()) RF_RETURN_IF_ERROR(put_head.Int(1, head.seq).Text(2, head.hash).Run());
    return Status::Ok();
  }
};

class SqliteStore::Reader {
 public:
  sqlite3* db = nullptr;
  ~Reader() { sqlite3_close_v2(db); }
};

namespace {

Result<AuditHead> ReadHead(sqlite3* db) {
  Stmt s;
  RF_RETURN_IF_ERROR(s.Prepare(db, "SELECT seq, hash FROM audit_head WHERE id = 1"));
  Status st;
  if (s.Row(&st)) return AuditHead{s.ColInt(0), s.ColText(1)};
  RF_RETURN_IF_ERROR(st);
  return AuditHead{};
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       const SqliteStoreOptions& options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore());
  store->read_only_ = options.read_only;
  if (!options.read_only) {
    store->writer_ = std::make_unique<Writer>();
    RF_ASSIGN_OR_RETURN(store->writer_->db, OpenDb(path, false, options.busy_timeout_ms));
    sqlite3* db = store->writer_->db;
    RF_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=WAL"));
    RF_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous=FULL"));
    RF_RETURN_IF_ERROR(Exec(db, "PRAGMA foreign_keys=ON"));
    int64_t version = 0;
    {
      Stmt v;
      RF_RETURN_IF_ERROR(v.Prepare(db, "PRAGMA user_version"));
      Status st;
      if (v.Row(&st)) version = v.ColInt(0);
      RF_RETURN_IF_ERROR(st);
    }
    RF_ASSIGN_OR_RETURN(auto steps, PendingMigrations(kMigrations, version, path));
    if (!steps.empty()) {
      RF_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
      Status st;
      for (const SchemaMigration& m : steps) {
        st = Exec(db, m.sql);
        // PRAGMA takes no bound parameters; the version is this code's constant.
        if (st.ok()) st = Exec(db, ("PRAGMA user_version=" + std::to_string(m.version)).c_str());
        if (!st.ok()) {
          st = st.WithPrefix("schema migration to version " + std::to_string(m.version) + " (" +
                             m.what + ")");
          break;
        }
      }
      if (st.ok()) st = Exec(db, "COMMIT");
      if (!st.ok()) {
        (void)Exec(db, "ROLLBACK");
        return st;
      }
    }
    RF_RETURN_IF_ERROR(store->writer_->Prepare());
    RF_ASSIGN_OR_RETURN(store->writer_->head, ReadHead(db));
  }
  store->reader_ = std::make_unique<Reader>();
  RF_ASSIGN_OR_RETURN(store->reader_->db, OpenDb(path, true, options.busy_timeout_ms));
  if (options.read_only) {
    // Fail early on a file that is not a ringfence database.
    RF_RETURN_IF_ERROR(ReadHead(store->reader_->db).status().WithPrefix(path));
  }
  return store;
}

SqliteStore::~SqliteStore() = default;

Status SqliteStore::Apply(const WriteBatch& batch, std::vector<AuditEntry>* appended) {
  if (read_only_) return Status::FailedPrecondition("store opened read-only");
  Pending p{&batch, appended, Status::Ok()};
  std::unique_lock<std::mutex> l(mu_);
  if (!sticky_.ok()) return sticky_;
  queue_.push_back(&p);
  cv_.wait(l, [&] { return p.done || !leader_active_; });
  if (p.done) return p.status;
  // Leader: commit everything queued so far in one transaction.
  leader_active_ = true;
  std::deque<Pending*> group;
  group.swap(queue_);
  l.unlock();
  CommitGroup(group);
  l.lock();
  for (Pending* q : group) q->done = true;
  leader_active_ = false;
  cv_.notify_all();
  return p.status;
}

void SqliteStore::CommitGroup(std::deque<Pending*>& group) {
  Writer& w = *writer_;
  const AuditHead before = w.head;
  Status st = w.begin.Run();
  const bool begin_failed = !st.ok();
  size_t written = 0;
  if (st.ok()) {
    for (Pending* q : group) {
      const AuditHead batch_before = w.head;
      const size_t appended_before = q->appended ? q->appended->size() : 0;
      Status bs = w.savepoint.Run();
      if (bs.ok()) bs = w.Write(*q->batch, q->appended);
      if (bs.ok()) {
        bs = w.release_sp.Run();
        if (bs.ok()) ++written;
      } else {
        // Only this batch is undone; the others in the group still commit.
        Status rs = w.rollback_sp.Run();
        if (rs.ok()) rs = w.release_sp.Run();
        w.head = batch_before;
        if (q->appended) q->appended->resize(appended_before);
        if (!rs.ok()) st = rs;
      }
      q->status = bs;
      if (!st.ok()) break;
    }
  }
  if (st.ok()) st = w.commit.Run();
  std::lock_guard<std::mutex> l(mu_);
  if (begin_failed) {
    // BEGIN IMMEDIATE itself failed (e.g. another process held the lock past busy_timeout):
    // nothing was written, so this is transient, not a reason to stop.
    for (Pending* q : group) q->status = Status::Aborted("store busy, retry: " + st.message());
    return;
  }
  if (!st.ok()) {
    // The outcome on disk is unknown (e.g. fsync failed): fail stop, like leveldb.
    (void)w.rollback.Run();
    w.head = before;
    sticky_ = Status::Unavailable("store failed, restart required: " + st.message());
    for (Pending* q : group) q->status = sticky_;
    return;
  }
  ++commits_;
  batches_ += static_cast<int64_t>(written);
}

int64_t SqliteStore::commits() const {
  std::lock_guard<std::mutex> l(mu_);
  return commits_;
}

int64_t SqliteStore::batches_committed() const {
  std::lock_guard<std::mutex> l(mu_);
  return batches_;
}

Result<StoreContents> SqliteStore::Load() {
  std::lock_guard<std::mutex> l(read_mu_);
  sqlite3* db = reader_->db;
  RF_RETURN_IF_ERROR(Exec(db, "BEGIN"));  // one consistent snapshot
  struct EndTxn {
    sqlite3* db;
    ~EndTxn() { (void)Exec(db, "COMMIT"); }
  } end{db};
  StoreContents c;
  Status st;
  {
    Stmt s;
    RF_RETURN_IF_ERROR(s.Prepare(db, "SELECT name, schema_version, yaml, created_by, created_us "
                                     "FROM content_types ORDER BY name, schema_version"));
    while (s.Row(&st)) {
      c.content_types.push_back({s.ColText(0), s.ColInt(1), s.ColText(2), s.ColText(3), s.ColInt(4)});
    }
    RF_RETURN_IF_ERROR(st);
  }
  {
    Stmt s;
    RF_RETURN_IF_ERROR(s.Prepare(db,
        "SELECT sha256, channel, content_type, schema_version, version, payload_bytes, report_json,"
        " uploaded_by, uploaded_us, layer2_report_json FROM bundles ORDER BY channel, version"));
    while (s.Row(&st)) {
      BundleRecord b;
      b.sha256 = s.ColText(0);
      b.channel = s.ColText(1);
      b.content_type = s.ColText(2);
      b.schema_version = s.ColInt(3);
      b.version = s.ColInt(4);
      b.payload_bytes = s.ColInt(5);
      b.report_json = s.ColText(6);
      b.uploaded_by = s.ColText(7);
      b.uploaded_us = s.ColInt(8);
      b.layer2_report_json = s.ColText(9);
      c.bundles.push_back(std::move(b));
    }
    RF_RETURN_IF_ERROR(st);
  }
  {
    Stmt s;
    RF_RETURN_IF_ERROR(s.Prepare(db,
        "SELECT release_id, channel, content_type, version, bundle_sha256, plan_yaml, state_json,"
        " author, created_s, started_s, previous_version, previous_sha256 FROM releases"
        " ORDER BY rowid"));
    while (s.Row(&st)) {
      admission::ReleaseRecord r;
      r.release_id = s.ColText(0);
      r.channel = s.ColText(1);
      r.content_type = s.ColText(2);
      r.version = s.ColInt(3);
      r.bundle_sha256 = s.ColText(4);
      r.plan_yaml = s.ColText(5);
      RF_RETURN_IF_ERROR(DecodeReleaseColumns(s.ColText(6), &r));
      r.author = s.ColText(7);
      r.created_s = s.ColInt(8);
      r.started_s = s.ColInt(9);
      if (!s.ColNull(10)) r.previous = std::make_pair(s.ColInt(10), s.ColText(11));
      c.releases.push_back(std::move(r));
    }
    RF_RETURN_IF_ERROR(st);
  }
  {
    Stmt s;
    RF_RETURN_IF_ERROR(s.Prepare(db, "SELECT release_id, reviewer, role, keyid, envelope,"
                                     " created_us FROM approvals ORDER BY created_us, rowid"));
    while (s.Row(&st)) {
      auto role = RoleFromString(s.ColText(2));
      if (!role.ok()) return Status::DataLoss("approvals: " + role.status().message());
      c.approvals.push_back({s.ColText(0), s.ColText(1), *role, s.ColText(3), s.ColText(4),
                             s.ColInt(5)});
    }
    RF_RETURN_IF_ERROR(st);
  }
  {
    Stmt s;
    RF_RETURN_IF_ERROR(s.Prepare(db, "SELECT name, roles, token_sha256, reviewer_key, created_by,"
                                     " created_us FROM principals ORDER BY name"));
    while (s.Row(&st)) {
      auto roles = SplitRoles(s.ColText(1));
      if (!roles.ok()) return Status::DataLoss("principals: " + roles.status().message());
      c.principals.push_back({s.ColText(0), *roles, s.ColText(2), s.ColText(3), s.ColText(4),
                              s.ColInt(5)});
    }
    RF_RETURN_IF_ERROR(st);
  }
  {
    Stmt s;
    RF_RETURN_IF_ERROR(s.Prepare(db, "SELECT channel, approvals_required, approver_roles,"
                                     " publisher_keys, publisher_threshold FROM policies"
                                     " ORDER BY channel"));
    while (s.Row(&st)) {
      auto roles = SplitRoles(s.ColText(2));
      if (!roles.ok()) return Status::DataLoss("policies: " + roles.status().message());
      RF_ASSIGN_OR_RETURN(auto keys, DecodePublisherKeys(s.ColText(3)));
      c.policies.push_back({s.ColText(0), static_cast<int>(s.ColInt(1)), *roles, keys,
                            static_cast<int>(s.ColInt(4))});
    }
    RF_RETURN_IF_ERROR(st);
  }
  {
    Stmt s;
    RF_RETURN_IF_ERROR(s.Prepare(db, "SELECT channel, attr, value, pin_previous, delay_s,"
                                     " exclude_early_waves FROM controls"
                                     " ORDER BY channel, attr, value"));
    while (s.Row(&st)) {
      admission::CustomerControl k;
      k.channel = s.ColText(0);
      k.attr = s.ColText(1);
      k.value = s.ColText(2);
      k.pin_previous = s.ColInt(3) != 0;
      k.delay_s = s.ColInt(4);
      k.exclude_early_waves = s.ColInt(5) != 0;
      c.controls.push_back(std::move(k));
    }
    RF_RETURN_IF_ERROR(st);
  }
  RF_ASSIGN_OR_RETURN(c.audit_head, ReadHead(db));
  return c;
}

Result<std::string> SqliteStore::BundleEnvelope(std::string_view sha256) {
  std::lock_guard<std::mutex> l(read_mu_);
  Stmt s;
  RF_RETURN_IF_ERROR(s.Prepare(reader_->db, "SELECT envelope FROM bundles WHERE sha256 = ?1"));
  s.Text(1, sha256);
  Status st;
  if (s.Row(&st)) return s.ColText(0);
  RF_RETURN_IF_ERROR(st);
  return Status::NotFound("unknown bundle " + std::string(sha256));
}

namespace {

Result<std::vector<AuditEntry>> ReadAuditPage(sqlite3* db, int64_t after_seq, size_t limit) {
  Stmt s;
  RF_RETURN_IF_ERROR(s.Prepare(db,
      "SELECT seq, time_us, actor, action, subject, details, prev_hash, hash FROM audit"
      " WHERE seq > ?1 ORDER BY seq LIMIT ?2"));
  s.Int(1, after_seq).Int(2, static_cast<int64_t>(limit));
  std::vector<AuditEntry> out;
  Status st;
  while (s.Row(&st)) {
    AuditEntry e;
    e.seq = s.ColInt(0);
    e.record.time_us = s.ColInt(1);
    e.record.actor = s.ColText(2);
    e.record.action = s.ColText(3);
    e.record.subject = s.ColText(4);
    e.record.details_json = s.ColText(5);
    e.prev_hash = s.ColText(6);
    e.hash = s.ColText(7);
    out.push_back(std::move(e));
  }
  RF_RETURN_IF_ERROR(st);
  return out;
}

}  // namespace

Result<std::vector<AuditEntry>> SqliteStore::ReadAudit(int64_t after_seq, size_t limit) {
  std::lock_guard<std::mutex> l(read_mu_);
  return ReadAuditPage(reader_->db, after_seq, limit);
}

Result<AuditVerification> SqliteStore::VerifyAudit() {
  std::lock_guard<std::mutex> l(read_mu_);
  sqlite3* db = reader_->db;
  RF_RETURN_IF_ERROR(Exec(db, "BEGIN"));  // the log and its head from one snapshot
  struct EndTxn {
    sqlite3* db;
    ~EndTxn() { (void)Exec(db, "COMMIT"); }
  } end{db};
  AuditChainVerifier v;
  int64_t after = 0;
  for (;;) {
    RF_ASSIGN_OR_RETURN(auto page, ReadAuditPage(db, after, 4096));
    if (page.empty()) break;
    for (const AuditEntry& e : page) RF_RETURN_IF_ERROR(v.Add(e));
    after = page.back().seq;
  }
  RF_ASSIGN_OR_RETURN(AuditHead head, ReadHead(db));
  return v.Finish(head);
}

Result<AuditHead> SqliteStore::RecordedAuditHead() {
  std::lock_guard<std::mutex> l(read_mu_);
  return ReadHead(reader_->db);
}

}  // namespace rf::store
