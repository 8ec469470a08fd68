// The regex-cost corpus: labels it by timing the consumer's real engine, and compares ringfence's
// analysis with recheck on it. Not a unit test (it runs engines on hostile inputs, for minutes).
//
//   regex_corpus_bench label CANDIDATES.tsv RECHECK.jsonl OUT_CORPUS.tsv
//     For every candidate that libstdc++ compiles, times std::regex_search (ECMAScript) on attack
//     strings at two sizes, in a child process killed after a deadline: ringfence's own attack,
//     recheck's, and generic pumps. A pattern is labelled "vulnerable" when some attack times out
//     or takes >= 20 ms at the larger size and grows >= 2.8x when the pumped part doubles
//     (super-linear), else "safe". The corpus line records the label, the source and the proof.
//   regex_corpus_bench compare CORPUS.tsv RECHECK.jsonl
//     Precision/recall of ringfence (search semantics, ecmascript) and of recheck on the same
//     labelled corpus, and ringfence's analysis time per pattern (p50/p99/max).
//   regex_corpus_bench bounds PATTERN_FILE...
//     The analysis time of each file's content (e.g. fuzz/corpus/regex_cost_fuzz/*) in both
//     dialects and both modes, slowest first.
//   regex_corpus_bench verdicts TSV COLUMN
//     Every verdict (cost, degree, attack, reason) on column COLUMN of TSV in both dialects and
//     both modes, one line each: diff two builds' output to see what a change altered.
// Corpus format and provenance: tests/regex_corpus/README.md.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/regex_cost.h"
#include "core/stage1.h"
#include "platform/env.h"

namespace {

struct Attack {
  std::string prefix, pump, suffix;  // pumps beyond the first are folded into `prefix`/`pump`
  std::string origin;
  std::vector<std::pair<std::string, std::string>> extra;  // recheck: more (prefix, pump) pairs
  std::string Build(size_t n) const {
    std::string s = prefix;
    for (size_t i = 0; i < n; ++i) s += pump;
    for (const auto& [p, q] : extra) {
      s += p;
      for (size_t i = 0; i < n; ++i) s += q;
    }
    return s + suffix;
  }
  size_t PumpBytes() const {
    size_t b = pump.size();
    for (const auto& e : extra) b += e.second.size();
    return std::max<size_t>(b, 1);
  }
};

std::vector<std::string> Split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(line);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

std::map<std::string, boost::json::object> ReadRecheck(const std::string& path) {
  std::map<std::string, boost::json::object> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    boost::json::object o = boost::json::parse(line).as_object();
    out[std::string(o.at("pattern").as_string())] = o;
  }
  return out;
}

rf::Env& TheEnv() {
  static rf::Env env = rf::PosixEnv();
  return env;
}

// Runs std::regex_search on `input` in a child process. Returns microseconds, or -1 on timeout.
int64_t TimeSearch(const std::string& pattern, const std::string& input, int timeout_ms) {
  int fds[2];
  if (pipe(fds) != 0) return -2;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto now = [] { return std::chrono::nanoseconds(TheEnv().clock->MonotonicMicros() * 1000); };
    auto r = rf::RunRegexAttack(pattern, rf::RegexDialect::kEcmaScript, rf::RegexMode::kSearch, input, now);
    int64_t us = r.ok() ? r->count() / 1000 : -3;
    (void)!write(fds[1], &us, sizeof us);
    _exit(0);
  }
  close(fds[1]);
  int64_t us = -1;
  const int64_t deadline = TheEnv().clock->MonotonicMicros() + timeout_ms * 1000LL;
  while (true) {
    int status;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      if (read(fds[0], &us, sizeof us) != sizeof us) us = -2;
      break;
    }
    if (TheEnv().clock->MonotonicMicros() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      us = -1;
      break;
    }
    usleep(200);
  }
  close(fds[0]);
  return us;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

int Label(const std::string& candidates, const std::string& recheck_path, const std::string& out_path) {
  auto recheck = ReadRecheck(recheck_path);
  std::ifstream in(candidates);
  std::ofstream out(out_path);
  out << "# label<TAB>pattern<TAB>source<TAB>proof (bench/regex_corpus_bench label; libstdc++ "
         "std::regex_search, ECMAScript)\n";
  std::string line;
  int n = 0, vulnerable = 0, skipped = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto cols = Split(line, '\t');
    if (cols.size() < 2) continue;
    const std::string& pattern = cols[0];
    if (!rf::CompileEcmaScript(pattern).ok()) {
      ++skipped;
      continue;
    }
    std::vector<Attack> attacks;
    rf::RegexCostReport ours = rf::AnalyzeBacktrackingCost(pattern);
    if (ours.attack) attacks.push_back({ours.attack->prefix, ours.attack->pump, ours.attack->suffix, "ringfence", {}});
    if (auto it = recheck.find(pattern); it != recheck.end() && it->second.at("attack").is_object()) {
      const auto& a = it->second.at("attack").as_object();
      Attack at;
      at.origin = "recheck";
      at.suffix = std::string(a.at("suffix").as_string());
      const auto& pumps = a.at("pumps").as_array();
      for (size_t i = 0; i < pumps.size(); ++i) {
        std::string p(pumps[i].at("prefix").as_string()), q(pumps[i].at("pump").as_string());
        if (i == 0) at.prefix = p, at.pump = q;
        else at.extra.push_back({p, q});
      }
      // recheck works on UTF-16: keep only attacks that are plain bytes.
      bool ascii = true;
      for (char c : at.Build(1)) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
      if (ascii) attacks.push_back(at);
    }
    for (std::string pump : {"a", "0", " ", "\t", "<", ",", "=", "a ", "aa", "\n"}) {
      for (std::string suffix : {"!", "\x01"}) attacks.push_back({"", pump, suffix, "generic", {}});
    }
    std::string proof = "none";
    bool vuln = false;
    for (const Attack& a : attacks) {
      // Two sizes: about 2,000 and 4,000 pumped bytes (fewer for long pumps).
      const size_t n1 = std::max<size_t>(2000 / a.PumpBytes(), 8), n2 = 2 * n1;
      const int64_t t2 = TimeSearch(pattern, a.Build(n2), 1500);
      if (t2 == -1) {
        vuln = true;
        proof = a.origin + " attack timed out (>1.5 s) at " + std::to_string(a.Build(n2).size()) +
                " bytes: " + Escape(a.prefix) + " + " + Escape(a.pump) + " x " + std::to_string(n2) + " + " +
                Escape(a.suffix);
        break;
      }
      if (t2 < 20000) continue;
      const int64_t t1 = TimeSearch(pattern, a.Build(n1), 1500);
      if (t1 > 0 && static_cast<double>(t2) / static_cast<double>(t1) >= 2.8) {
        vuln = true;
        proof = a.origin + " attack " + std::to_string(t1 / 1000) + " ms at " + std::to_string(a.Build(n1).size()) +
                " bytes, " + std::to_string(t2 / 1000) + " ms at " + std::to_string(a.Build(n2).size()) +
                " bytes: " + Escape(a.prefix) + " + " + Escape(a.pump) + " x n + " + Escape(a.suffix);
        break;
      }
    }
    ++n;
    vulnerable += vuln;
    out << (vuln ? "vulnerable" : "safe") << '\t' << pattern << '\t' << cols[1] << '\t' << proof << '\n';
    out.flush();  // a run cut short still leaves whole lines
    std::fprintf(stderr, "%d %s %s\n", n, vuln ? "VULN" : "safe", pattern.c_str());
  }
  std::printf("labelled %d patterns (%d vulnerable), %d skipped (libstdc++ does not compile them)\n", n,
              vulnerable, skipped);
  return 0;
}

struct Score {
  int tp = 0, fp = 0, fn = 0, tn = 0;
  void Add(bool label, bool flagged) {
    if (label && flagged) ++tp;
    else if (!label && flagged) ++fp;
    else if (label) ++fn;
    else ++tn;
  }
  double Precision() const { return tp + fp ? static_cast<double>(tp) / (tp + fp) : 1.0; }
  double Recall() const { return tp + fn ? static_cast<double>(tp) / (tp + fn) : 1.0; }
};

int Compare(const std::string& corpus, const std::string& recheck_path) {
  auto recheck = ReadRecheck(recheck_path);
  std::ifstream in(corpus);
  std::string line;
  Score ours, theirs;
  std::vector<int64_t> us;
  std::pair<int64_t, std::string> slowest{-1, ""};
  int recheck_missing = 0;
  std::vector<std::string> ours_wrong, theirs_wrong;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto cols = Split(line, '\t');
    const bool label = cols[0] == "vulnerable";
    const std::string& pattern = cols[1];
    const int64_t t0 = TheEnv().clock->MonotonicMicros();
    rf::RegexCostReport r = rf::AnalyzeBacktrackingCost(pattern);
    us.push_back(TheEnv().clock->MonotonicMicros() - t0);
    if (us.back() > slowest.first) slowest = {us.back(), pattern};
    const bool flagged = r.cost != rf::RegexCost::kLinear;
    ours.Add(label, flagged);
    if (label != flagged) ours_wrong.push_back(cols[0] + " " + pattern + "  [" + r.reason + "]");
    auto it = recheck.find(pattern);
    if (it == recheck.end()) {
      ++recheck_missing;
      continue;
    }
    const std::string status(it->second.at("status").as_string());
    const bool rflag = status != "safe";  // vulnerable, unknown or error: not proven safe
    theirs.Add(label, rflag);
    if (label != rflag) theirs_wrong.push_back(cols[0] + " " + pattern + "  [recheck: " + status + "]");
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us.empty() ? 0 : us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))]; };
  std::printf("| checker | precision | recall | TP | FP | FN | TN |\n|---|---|---|---|---|---|---|\n");
  std::printf("| ringfence (ecmascript, search) | %.3f | %.3f | %d | %d | %d | %d |\n", ours.Precision(),
              ours.Recall(), ours.tp, ours.fp, ours.fn, ours.tn);
  std::printf("| recheck 4.5.0 (npm) | %.3f | %.3f | %d | %d | %d | %d |\n", theirs.Precision(),
              theirs.Recall(), theirs.tp, theirs.fp, theirs.fn, theirs.tn);
  std::printf("ringfence analysis time per pattern: p50 %lld us, p99 %lld us, max %lld us (%zu patterns)\n",
              static_cast<long long>(pct(0.5)), static_cast<long long>(pct(0.99)),
              static_cast<long long>(us.empty() ? 0 : us.back()), us.size());
  std::printf("slowest: %s\n", slowest.second.c_str());
  if (recheck_missing) std::printf("recheck results missing for %d patterns\n", recheck_missing);
  std::printf("\nringfence disagrees with the label on:\n");
  for (const auto& s : ours_wrong) std::printf("  %s\n", s.c_str());
  std::printf("\nrecheck disagrees with the label on:\n");
  for (const auto& s : theirs_wrong) std::printf("  %s\n", s.c_str());
  return 0;
}

// The analysis time of each file's content as a pattern, in both dialects and both modes (what
// fuzz/regex_cost_fuzz does per input), slowest first: boundedness on hostile patterns.
int Bounds(const std::vector<std::string>& files) {
  std::vector<std::pair<int64_t, std::string>> rows;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string pattern((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (int combo = 0; combo < 4; ++combo) {
      rf::RegexCostOptions o;
      o.dialect = (combo & 1) ? rf::RegexDialect::kPcre2 : rf::RegexDialect::kEcmaScript;
      o.mode = (combo & 2) ? rf::RegexMode::kMatch : rf::RegexMode::kSearch;
      const int64_t t0 = TheEnv().clock->MonotonicMicros();
      rf::RegexCostReport r = rf::AnalyzeBacktrackingCost(pattern, o);
      const int64_t us = TheEnv().clock->MonotonicMicros() - t0;
      rows.push_back({us, f + " " + std::string(rf::RegexDialectName(o.dialect)) + "/" +
                              std::string(rf::RegexModeName(o.mode)) + ": " + r.reason.substr(0, 80)});
    }
  }
  std::sort(rows.rbegin(), rows.rend());
  for (const auto& [us, what] : rows) std::printf("%8lld us  %s\n", static_cast<long long>(us), what.c_str());
  return 0;
}

// Every verdict (cost, degree, attack, reason) of the analysis on column `column` (1-based) of
// each line of `tsv`, in both dialects and both modes: diffing two builds' output shows whether
// a change to the analysis changed any verdict.
int Verdicts(const std::string& tsv, int column) {
  std::ifstream in(tsv, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream cols(line);
    std::string pattern;
    for (int c = 0; c < column; ++c) std::getline(cols, pattern, '\t');
    for (int combo = 0; combo < 4; ++combo) {
      rf::RegexCostOptions o;
      o.dialect = (combo & 1) ? rf::RegexDialect::kPcre2 : rf::RegexDialect::kEcmaScript;
      o.mode = (combo & 2) ? rf::RegexMode::kMatch : rf::RegexMode::kSearch;
      const rf::RegexCostReport r = rf::AnalyzeBacktrackingCost(pattern, o);
      std::string attack = "-";
      if (r.attack) attack = Escape(r.attack->prefix) + " | " + Escape(r.attack->pump) + " | " + Escape(r.attack->suffix);
      std::printf("%s\t%s/%s\t%d\t%d\t%s\t%s\n", Escape(pattern).c_str(),
                  std::string(rf::RegexDialectName(o.dialect)).c_str(), std::string(rf::RegexModeName(o.mode)).c_str(),
                  static_cast<int>(r.cost), r.degree, attack.c_str(), r.reason.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 4 && a[0] == "label") return Label(a[1], a[2], a[3]);
  if (a.size() == 3 && a[0] == "compare") return Compare(a[1], a[2]);
  if (a.size() >= 2 && a[0] == "bounds") return Bounds({a.begin() + 1, a.end()});
  if (a.size() == 3 && a[0] == "verdicts") return Verdicts(a[1], std::max(1, std::atoi(a[2].c_str())));
  std::fprintf(stderr,
               "usage: regex_corpus_bench label CANDIDATES.tsv RECHECK.jsonl OUT.tsv\n"
               "       regex_corpus_bench compare CORPUS.tsv RECHECK.jsonl\n"
               "       regex_corpus_bench bounds PATTERN_FILE...\n"
               "       regex_corpus_bench verdicts TSV COLUMN\n");
  return 2;
}
