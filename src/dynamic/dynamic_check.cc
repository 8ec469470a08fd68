#include "dynamic/dynamic_check.h"

#include <signal.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "crypto/crypto.h"
#include "dynamic/event_synth.h"

namespace rf::dynamic {
namespace {

constexpr size_t kMaxManifestBytes = 64 << 10;
constexpr size_t kMaxDetailBytes = 300;
constexpr size_t kMaxParsedLines = 100'000;

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += sep;
    out += v[i];
  }
  return out;
}

// The last non-empty line of a consumer's stderr, printable ASCII only, bounded.
std::string LastLine(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  const size_t nl = text.rfind('\n');
  std::string_view line = nl == std::string_view::npos ? text : text.substr(nl + 1);
  std::string out;
  for (char c : line.substr(0, kMaxDetailBytes)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

struct ReplayOutput {
  int64_t lines = 0;
  int matched_first = -1;
};

// Parses `replay` output defensively: anything that is not a result line is ignored.
ReplayOutput ParseReplay(std::string_view out, std::string_view own_item) {
  ReplayOutput r;
  size_t parsed = 0;
  while (!out.empty() && parsed++ < kMaxParsedLines) {
    const size_t nl = out.find('\n');
    if (nl == std::string_view::npos) break;  // a partial last line: the consumer died mid-write
    std::string_view line = out.substr(0, nl);
    out.remove_prefix(nl + 1);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    const boost::json::value* event = v.get_object().if_contains("event");
    if (event == nullptr || !event->is_int64()) continue;
    ++r.lines;
    if (event->get_int64() != 1 || own_item.empty()) continue;
    r.matched_first = 0;
    if (const boost::json::value* m = v.get_object().if_contains("matches"); m && m->is_array()) {
      for (const boost::json::value& id : m->get_array()) {
        if (id.is_string() && id.get_string() == own_item) r.matched_first = 1;
      }
    }
  }
  return r;
}

class Runner {
 public:
  Runner(const DynamicCheckInput& in, const DynamicCheckOptions& o, Env env, std::string dir)
      : in_(in), o_(o), env_(env), dir_(std::move(dir)) {
    for (const Item& item : in.bundle->items) {
      std::string lines;
      int64_t n = 0;
      for (const SynthesizedEvent& e : SynthesizeEvents(*in.type, item)) {
        lines += e.json + "\n";
        ++n;
      }
      item_events_.push_back(std::move(lines));
      item_event_counts_.push_back(n);
    }
    std::string_view rest = in.corpus;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      corpus_ += std::string(line) + "\n";
      ++corpus_events_;
    }
  }

  int64_t generated_events() const {
    int64_t n = 0;
    for (int64_t c : item_event_counts_) n += c;
    return n;
  }
  int64_t corpus_events() const { return corpus_events_; }

  Result<ConsumerReport> Check(const ConsumerSpec& spec) {
    ConsumerReport rep;
    rep.name = spec.name.empty() ? Join(spec.argv, " ") : spec.name;
    rep.argv = spec.argv;
    // 1. manifest
    RF_ASSIGN_OR_RETURN(ProcessResult m, Run(spec, {"manifest"}));
    rep.network_isolated = m.network_isolated;
    RunRecord mrec = Record("manifest", m, 0, "");
    if (mrec.outcome == RunOutcome::kPass) {
      std::string text = m.out;
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(text, ec);
      if (ec || !v.is_object() || text.size() > kMaxManifestBytes || m.out_truncated) {
        mrec.outcome = RunOutcome::kError;
        mrec.detail = "manifest is not a JSON object";
      } else {
        rep.manifest = text;
        if (!v.get_object().contains(in_.type->name)) {
          mrec.detail = "the manifest does not list content type " + in_.type->name;
        }
      }
    }
    rep.runs.push_back(std::move(mrec));
    // 2. the bundle as shipped
    std::string all_events;
    int64_t all_count = corpus_events_;
    for (size_t i = 0; i < item_events_.size(); ++i) {
      all_events += item_events_[i];
      all_count += item_event_counts_[i];
    }
    all_events += corpus_;
    RF_ASSIGN_OR_RETURN(RunRecord whole, Replay(spec, "bundle", std::string(in_.payload),
                                                all_events, all_count, ""));
    const bool whole_passed = whole.outcome == RunOutcome::kPass;
    rep.runs.push_back(std::move(whole));
    // 3. items one by one, or bisection
    const size_t n = in_.bundle->items.size();
    if (n <= o_.per_item_limit) {
      for (size_t i = 0; i < n; ++i) RF_RETURN_IF_ERROR(Subset(spec, i, i + 1, &rep));
    } else if (!whole_passed) {
      RF_RETURN_IF_ERROR(Bisect(spec, 0, n, &rep));
    }
    for (const RunRecord& r : rep.runs) {
      if (r.outcome != RunOutcome::kPass) rep.passed = false;
    }
    return rep;
  }

 private:
  Result<ProcessResult> Run(const ConsumerSpec& spec, std::vector<std::string> args) {
    ProcessOptions so;
    so.argv = spec.argv;
    so.argv.insert(so.argv.end(), args.begin(), args.end());
    so.limits = o_.limits;
    so.wall_timeout_ms = o_.wall_timeout_ms;
    so.max_output_bytes = o_.max_output_bytes;
    so.isolate_network = o_.isolate_network;
    so.working_dir = dir_;
    return RunProcess(so);
  }

  RunRecord Record(std::string scope, const ProcessResult& r, int64_t events,
                   std::string_view own_item) {
    RunRecord rec;
    rec.scope = std::move(scope);
    rec.exit_code = r.exit_code;
    rec.signal = r.signal != 0 ? SignalName(r.signal) : "";
    rec.cpu_ms = r.cpu_us() / 1000;
    rec.max_rss_kb = r.max_rss_kb;
    rec.wall_ms = r.wall_us / 1000;
    rec.events = events;
    rec.detail = LastLine(r.err);
    const int64_t budget_us = o_.limits.cpu_seconds * 1'000'000;
    if (r.timed_out) {
      rec.outcome = RunOutcome::kTimeout;
      rec.detail = "wall-time limit of " + std::to_string(o_.wall_timeout_ms) + " ms";
    } else if (r.signal == SIGXCPU ||
               (r.signal == SIGKILL && budget_us > 0 && r.cpu_us() >= budget_us * 9 / 10)) {
      rec.outcome = RunOutcome::kCpuLimit;
      rec.detail = "CPU budget of " + std::to_string(o_.limits.cpu_seconds) + " s";
    } else if (r.signal != 0) {
      rec.outcome = RunOutcome::kCrash;
    } else if (r.exit_code == 0) {
      rec.outcome = RunOutcome::kPass;
    } else if (r.exit_code == 1) {
      rec.outcome = RunOutcome::kRefused;
    } else {
      rec.outcome = RunOutcome::kError;
    }
    if (events > 0) {
      ReplayOutput out = ParseReplay(r.out, own_item);
      rec.events_done = out.lines;
      rec.matched_own_event = out.matched_first;
      if (rec.outcome == RunOutcome::kPass && out.lines != events) {
        rec.outcome = RunOutcome::kError;
        rec.detail = "printed " + std::to_string(out.lines) + " results for " +
                     std::to_string(events) + " events";
      }
    }
    return rec;
  }

  Result<RunRecord> Replay(const ConsumerSpec& spec, std::string scope, const std::string& payload,
                           const std::string& events, int64_t count, std::string_view own_item) {
    const std::string id = std::to_string(files_++);
    const std::string payload_path = dir_ + "/payload-" + id + ".json";
    const std::string events_path = dir_ + "/events-" + id + ".jsonl";
    RF_RETURN_IF_ERROR(env_.fs->WriteFileAtomic(payload_path, payload, 0600));
    RF_RETURN_IF_ERROR(env_.fs->WriteFileAtomic(events_path, events, 0600));
    RF_ASSIGN_OR_RETURN(ProcessResult r, Run(spec, {"replay", payload_path, events_path}));
    (void)env_.fs->Remove(payload_path);
    (void)env_.fs->Remove(events_path);
    return Record(std::move(scope), r, count, own_item);
  }

  // Runs items [lo, hi) as one payload; returns the record (also appended to rep).
  Status Subset(const ConsumerSpec& spec, size_t lo, size_t hi, ConsumerReport* rep,
                bool* passed = nullptr) {
    const std::vector<Item>& items = in_.bundle->items;
    const std::string scope = hi - lo == 1 ? items[lo].id
                                           : "items[" + std::to_string(lo) + ".." +
                                                 std::to_string(hi) + ")";
    Bundle sub = *in_.bundle;
    sub.items.assign(items.begin() + static_cast<ptrdiff_t>(lo),
                     items.begin() + static_cast<ptrdiff_t>(hi));
    for (const Item& item : sub.items) {
      for (const FieldValue& v : item.values) {
        if (v.kind == FieldValue::Kind::kInvalid) {
          RunRecord rec;
          rec.scope = scope;
          rec.outcome = RunOutcome::kError;
          rec.detail = "item " + item.id + " has invalid values (see layer 1); not run";
          rep->runs.push_back(std::move(rec));
          if (passed != nullptr) *passed = false;
          return Status::Ok();
        }
      }
    }
    std::string events;
    int64_t count = corpus_events_;
    for (size_t i = lo; i < hi; ++i) {
      events += item_events_[i];
      count += item_event_counts_[i];
    }
    events += corpus_;
    RF_ASSIGN_OR_RETURN(RunRecord rec,
                        Replay(spec, scope, EncodeCanonicalPayload(sub, *in_.type), events, count,
                               hi - lo == 1 ? std::string_view(items[lo].id) : ""));
    const bool ok = rec.outcome == RunOutcome::kPass;
    if (!ok && hi - lo == 1) rep->failing_items.push_back(items[lo].id);
    if (passed != nullptr) *passed = ok;
    rep->runs.push_back(std::move(rec));
    return Status::Ok();
  }

  Status Bisect(const ConsumerSpec& spec, size_t lo, size_t hi, ConsumerReport* rep) {
    const size_t mid = lo + (hi - lo) / 2;
    for (auto [a, b] : {std::pair{lo, mid}, std::pair{mid, hi}}) {
      if (a == b) continue;
      bool ok = true;
      RF_RETURN_IF_ERROR(Subset(spec, a, b, rep, &ok));
      if (!ok && b - a > 1) RF_RETURN_IF_ERROR(Bisect(spec, a, b, rep));
    }
    return Status::Ok();
  }

  const DynamicCheckInput& in_;
  const DynamicCheckOptions& o_;
  Env env_;
  std::string dir_;
  std::vector<std::string> item_events_;
  std::vector<int64_t> item_event_counts_;
  std::string corpus_;
  int64_t corpus_events_ = 0;
  int files_ = 0;
};

void Key(std::string* out, std::string_view key, bool* first) {
  if (!*first) *out += ',';
  *first = false;
  AppendJsonString(out, key);
  *out += ':';
}
void Int(std::string* out, std::string_view key, int64_t v, bool* first) {
  Key(out, key, first);
  *out += std::to_string(v);
}
void Str(std::string* out, std::string_view key, std::string_view v, bool* first) {
  Key(out, key, first);
  AppendJsonString(out, v);
}
void Bool(std::string* out, std::string_view key, bool v, bool* first) {
  Key(out, key, first);
  *out += v ? "true" : "false";
}
void StrArray(std::string* out, std::string_view key, const std::vector<std::string>& v,
              bool* first) {
  Key(out, key, first);
  *out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) *out += ',';
    AppendJsonString(out, v[i]);
  }
  *out += ']';
}

std::string Pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s + "  ";
}

}  // namespace

std::string_view RunOutcomeName(RunOutcome o) {
  switch (o) {
    case RunOutcome::kPass: return "pass";
    case RunOutcome::kCrash: return "crash";
    case RunOutcome::kCpuLimit: return "cpu_limit";
    case RunOutcome::kTimeout: return "timeout";
    case RunOutcome::kRefused: return "refused";
    case RunOutcome::kError: return "error";
  }
  return "error";
}

Result<DynamicReport> RunDynamicChecks(const DynamicCheckInput& input,
                                       const DynamicCheckOptions& options, Env env) {
  if (input.type == nullptr || input.bundle == nullptr) {
    return Status::InvalidArgument("dynamic checks need a content type and a bundle");
  }
  if (input.consumers.empty()) return Status::InvalidArgument("dynamic checks need a --consumer");
  for (const ConsumerSpec& c : input.consumers) {
    if (c.argv.empty()) return Status::InvalidArgument("a consumer command is empty");
  }
  std::string dir = options.work_dir;
  const bool own_dir = dir.empty();
  if (own_dir) {
    RF_ASSIGN_OR_RETURN(dir, MakeTempDir("ringfence-dynamic"));
  }
  DynamicReport report;
  report.bundle_sha256 = crypto::Sha256Hex(input.payload);
  report.channel = input.bundle->channel;
  report.content_type = input.bundle->content_type;
  report.version = input.bundle->version;
  report.items = static_cast<int64_t>(input.bundle->items.size());
  report.options = options;
  report.options.work_dir.clear();
  Runner runner(input, options, env, dir);
  report.generated_events = runner.generated_events();
  report.corpus_events = runner.corpus_events();
  Status status;
  for (const ConsumerSpec& spec : input.consumers) {
    Result<ConsumerReport> c = runner.Check(spec);
    if (!c.ok()) {
      status = c.status().WithPrefix("consumer '" + Join(spec.argv, " ") + "'");
      break;
    }
    if (!c->passed) report.accepted = false;
    report.consumers.push_back(std::move(*c));
  }
  if (own_dir) RemoveTree(dir);
  if (!status.ok()) return status;
  return report;
}

std::string DynamicReportJson(const DynamicReport& r) {
  std::string out = "{";
  bool f = true;
  Bool(&out, "accepted", r.accepted, &f);
  Str(&out, "bundle_sha256", r.bundle_sha256, &f);
  Str(&out, "channel", r.channel, &f);
  Key(&out, "consumers", &f);
  out += '[';
  for (size_t i = 0; i < r.consumers.size(); ++i) {
    const ConsumerReport& c = r.consumers[i];
    if (i > 0) out += ',';
    out += '{';
    bool cf = true;
    StrArray(&out, "argv", c.argv, &cf);
    StrArray(&out, "failing_items", c.failing_items, &cf);
    Str(&out, "manifest", c.manifest, &cf);
    Str(&out, "name", c.name, &cf);
    Bool(&out, "network_isolated", c.network_isolated, &cf);
    Bool(&out, "passed", c.passed, &cf);
    Key(&out, "runs", &cf);
    out += '[';
    for (size_t k = 0; k < c.runs.size(); ++k) {
      const RunRecord& run = c.runs[k];
      if (k > 0) out += ',';
      out += '{';
      bool rf = true;
      Int(&out, "cpu_ms", run.cpu_ms, &rf);
      Str(&out, "detail", run.detail, &rf);
      Int(&out, "events", run.events, &rf);
      Int(&out, "events_done", run.events_done, &rf);
      Int(&out, "exit_code", run.exit_code, &rf);
      if (run.matched_own_event >= 0) Bool(&out, "matched_own_event", run.matched_own_event == 1, &rf);
      Int(&out, "max_rss_kb", run.max_rss_kb, &rf);
      Str(&out, "outcome", RunOutcomeName(run.outcome), &rf);
      Str(&out, "scope", run.scope, &rf);
      Str(&out, "signal", run.signal, &rf);
      Int(&out, "wall_ms", run.wall_ms, &rf);
      out += '}';
    }
    out += "]}";
  }
  out += ']';
  Str(&out, "content_type", r.content_type, &f);
  Int(&out, "corpus_events", r.corpus_events, &f);
  Int(&out, "generated_events", r.generated_events, &f);
  Int(&out, "items", r.items, &f);
  Key(&out, "limits", &f);
  out += '{';
  bool lf = true;
  const DynamicCheckOptions& o = r.options;
  Int(&out, "address_space_bytes", o.limits.address_space_bytes, &lf);
  Int(&out, "cpu_seconds", o.limits.cpu_seconds, &lf);
  Int(&out, "file_size_bytes", o.limits.file_size_bytes, &lf);
  Bool(&out, "isolate_network", o.isolate_network, &lf);
  Int(&out, "max_output_bytes", static_cast<int64_t>(o.max_output_bytes), &lf);
  Int(&out, "open_files", o.limits.open_files, &lf);
  Int(&out, "per_item_limit", static_cast<int64_t>(o.per_item_limit), &lf);
  Int(&out, "processes", o.limits.processes, &lf);
  Int(&out, "wall_timeout_ms", o.wall_timeout_ms, &lf);
  out += '}';
  Int(&out, "version", r.version, &f);
  out += '}';
  return out;
}

std::string DynamicReportText(const DynamicReport& r) {
  std::string out = std::string("LAYER 2 ") + (r.accepted ? "ACCEPTED" : "REJECTED") +
                    "  dynamic checks: " + std::to_string(r.items) + " items, " +
                    std::to_string(r.generated_events) + " generated events, " +
                    std::to_string(r.corpus_events) + " corpus events, payload sha256 " +
                    r.bundle_sha256.substr(0, 16) + "…\n";
  for (const ConsumerReport& c : r.consumers) {
    out += "\n  consumer: " + c.name + "  (" + (c.passed ? "passed" : "FAILED") + ", network " +
           (c.network_isolated ? "isolated" : "NOT isolated") + ")\n";
    out += "  manifest: " + (c.manifest.empty() ? std::string("-") : c.manifest) + "\n";
    size_t ws = 8;
    for (const RunRecord& run : c.runs) ws = std::max(ws, run.scope.size());
    out += "    " + Pad("SCOPE", ws) + Pad("OUTCOME", 9) + Pad("SIGNAL", 7) + Pad("EXIT", 4) +
           Pad("EVENTS", 9) + Pad("CPU_MS", 6) + Pad("RSS_KB", 7) + Pad("WALL_MS", 7) + "DETAIL\n";
    for (const RunRecord& run : c.runs) {
      out += "    " + Pad(run.scope, ws) + Pad(std::string(RunOutcomeName(run.outcome)), 9) +
             Pad(run.signal.empty() ? "-" : run.signal, 7) +
             Pad(run.exit_code < 0 ? "-" : std::to_string(run.exit_code), 4) +
             Pad(run.events == 0 ? "-" : std::to_string(run.events_done) + "/" + std::to_string(run.events), 9) +
             Pad(std::to_string(run.cpu_ms), 6) + Pad(std::to_string(run.max_rss_kb), 7) +
             Pad(std::to_string(run.wall_ms), 7) + run.detail + "\n";
    }
    if (!c.failing_items.empty()) out += "  failing items: " + Join(c.failing_items, ", ") + "\n";
  }
  return out;
}

crypto::Envelope MakeDynamicAttestation(std::string report_json, const crypto::SigningKey* key) {
  crypto::Envelope env;
  env.payload_type = std::string(kDynamicReportPayloadType);
  env.payload = std::move(report_json);
  if (key != nullptr) crypto::SignEnvelope(&env, *key);
  return env;
}

Result<ConsumerSpec> ConsumerSpecFromCommandLine(std::string_view command_line) {
  auto argv = SplitCommandLine(command_line);
  if (!argv.ok()) return argv.status().WithPrefix("--consumer");
  if (argv->empty()) return Status::InvalidArgument("--consumer is empty");
  return ConsumerSpec{std::string(command_line), std::move(*argv)};
}

}  // namespace rf::dynamic
