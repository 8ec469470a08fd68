#include "core/stage1.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace rf {

std::string FormatCount(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string DescribeRegexAttack(const RegexAttack& a) {
  auto quote = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c >= 0x20 && c < 0x7f) {
        out += static_cast<char>(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      }
    }
    return out + "\"";
  };
  return "prefix " + quote(a.prefix) + ", pump " + quote(a.pump) + " repeated, suffix " + quote(a.suffix);
}

namespace {

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// "a.b.c.d/n" with canonical octets and no host bits set. Returns an error text or "".
std::string CheckIpv4Prefix(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return "missing '/length' (expected a.b.c.d/n)";
  std::string_view addr = s.substr(0, slash), len = s.substr(slash + 1);
  uint32_t ip = 0;
  int octets = 0;
  size_t i = 0;
  while (i <= addr.size()) {
    size_t dot = addr.find('.', i);
    std::string_view part = addr.substr(i, dot == std::string_view::npos ? addr.size() - i : dot - i);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) {
      return "'" + std::string(addr) + "' is not a dotted-quad IPv4 address";
    }
    int v = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return "'" + std::string(addr) + "' is not a dotted-quad IPv4 address";
      v = v * 10 + (c - '0');
    }
    if (v > 255) return "octet " + std::string(part) + " is over 255";
    ip = (ip << 8) | static_cast<uint32_t>(v);
    ++octets;
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  if (octets != 4) return "'" + std::string(addr) + "' does not have 4 octets";
  if (len.empty() || len.size() > 2 || (len.size() > 1 && len[0] == '0')) {
    return "prefix length '" + std::string(len) + "' is not 0-32";
  }
  int n = 0;
  for (char c : len) {
    if (c < '0' || c > '9') return "prefix length '" + std::string(len) + "' is not 0-32";
    n = n * 10 + (c - '0');
  }
  if (n > 32) return "prefix length " + std::to_string(n) + " is over 32";
  uint32_t host_mask = n == 32 ? 0 : (n == 0 ? 0xffffffffu : (0xffffffffu >> n));
  if (ip & host_mask) return "host bits are set after /" + std::to_string(n);
  return "";
}

std::string CheckGlob(std::string_view s) {
  bool in_class = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[' && !in_class) {
      in_class = true;
      if (i + 1 < s.size() && (s[i + 1] == '!' || s[i + 1] == '^')) ++i;
      if (i + 1 < s.size() && s[i + 1] == ']') ++i;  // "[]...]" keeps a literal ']'
    } else if (s[i] == ']' && in_class) {
      in_class = false;
    }
  }
  return in_class ? "unterminated '[' character class" : "";
}

struct RegexVerdict {
  std::string check;  // empty: fine
  std::string message;
};

class Checker {
 public:
  Checker(const StageOneInput& in, const StageOneOptions& opts, StageOneReport* report)
      : in_(in), type_(*in.type), opts_(opts), report_(report) {}

  void Run() {
    PrecomputeRegexVerdicts();
    CheckItems();
    CheckLimits();
    CheckPrevious();
    if (in_.fleet) CheckConsumers();
    FlushSuppressed();
  }

  void Add(Finding f) {
    size_t& n = per_check_[f.check];
    if (++n > opts_.max_findings_per_check) {
      if (f.severity == Severity::kError) ++suppressed_errors_[f.check];
      else ++suppressed_warnings_[f.check];
      return;
    }
    report_->findings.push_back(std::move(f));
  }

 private:
  static Finding Make(std::string check, const Item* item, const FieldSpec* field, int pos,
                      std::string message) {
    Finding f;
    f.check = std::move(check);
    if (item) f.item = item->id;
    if (field) f.field = field->name;
    f.position = pos;
    f.message = std::move(message);
    return f;
  }

  void CheckItems() {
    const Bundle& b = *in_.bundle;
    std::unordered_set<std::string_view> ids;
    ids.reserve(b.items.size() * 2);
    // Hash of the unique fields' values -> items with that hash (exact comparison on a hit).
    std::unordered_multimap<uint64_t, const Item*> unique_keys;
    if (!type_.unique_positions.empty()) unique_keys.reserve(b.items.size() * 2);
    // Per-value checks are independent: run them in chunks (in parallel when allowed), then
    // merge in item order so the report does not depend on scheduling.
    constexpr size_t kChunk = 512;
    const size_t chunks = (b.items.size() + kChunk - 1) / kChunk;
    std::vector<std::vector<std::pair<size_t, Finding>>> value_findings(chunks);
    auto check_chunk = [&](size_t c) {
      std::vector<Finding> tmp;
      for (size_t i = c * kChunk; i < std::min(b.items.size(), (c + 1) * kChunk); ++i) {
        const Item& item = b.items[i];
        for (size_t pos = 0; pos < type_.fields.size(); ++pos) {
          CheckValue(item, type_.fields[pos], static_cast<int>(pos), item.values[pos], &tmp);
        }
        for (Finding& f : tmp) value_findings[c].emplace_back(i, std::move(f));
        tmp.clear();
      }
    };
    if (opts_.parallel_for) {
      opts_.parallel_for(chunks, check_chunk);
    } else {
      for (size_t c = 0; c < chunks; ++c) check_chunk(c);
    }
    size_t cursor = 0;  // next unmerged finding of the current chunk (they are in item order)
    for (size_t i = 0; i < b.items.size(); ++i) {
      const Item& item = b.items[i];
      if (!item.id.empty() && item.id[0] != '#' && !ids.insert(item.id).second) {
        Add(Make("item.duplicate_id", &item, nullptr, -1,
                 "item id '" + item.id + "' is used by more than one item"));
      }
      if (i % kChunk == 0) cursor = 0;
      auto& chunk = value_findings[i / kChunk];
      while (cursor < chunk.size() && chunk[cursor].first == i) Add(std::move(chunk[cursor++].second));
      if (!type_.unique_positions.empty()) {
        const uint64_t h = UniqueKeyHash(item);
        const Item* first = nullptr;
        auto [lo, hi] = unique_keys.equal_range(h);
        for (auto it = lo; it != hi && !first; ++it) {
          if (SameUniqueKey(*it->second, item)) first = it->second;
        }
        if (first) {
          std::string names;
          for (const auto& n : type_.limits.unique) names += (names.empty() ? "" : ", ") + n;
          Add(Make("limits.unique", &item, nullptr, -1,
                   "item '" + item.id + "' duplicates item '" + first->id +
                       "' on the unique key (" + names + ")"));
        } else {
          unique_keys.emplace(h, &item);
        }
      }
    }
  }

  // FNV-1a over (kind, value) of each unique field.
  uint64_t UniqueKeyHash(const Item& item) const {
    uint64_t h = 1469598103934665603ULL;
    auto mix = [&h](const void* data, size_t n) {
      const auto* p = static_cast<const unsigned char*>(data);
      for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
    };
    for (int pos : type_.unique_positions) {
      const FieldValue& v = item.values[pos];
      mix(&v.kind, sizeof(v.kind));
      if (v.kind == FieldValue::Kind::kString) {
        mix(v.s.data(), v.s.size());
        const uint64_t n = v.s.size();
        mix(&n, sizeof(n));
      } else if (v.kind == FieldValue::Kind::kInt) {
        mix(&v.i, sizeof(v.i));
      } else if (v.kind == FieldValue::Kind::kBool) {
        mix(&v.b, sizeof(v.b));
      }
    }
    return h;
  }

  bool SameUniqueKey(const Item& a, const Item& b) const {
    for (int pos : type_.unique_positions) {
      const FieldValue& x = a.values[pos];
      const FieldValue& y = b.values[pos];
      if (x.kind != y.kind) return false;
      if (x.kind == FieldValue::Kind::kString && x.s != y.s) return false;
      if (x.kind == FieldValue::Kind::kInt && x.i != y.i) return false;
      if (x.kind == FieldValue::Kind::kBool && x.b != y.b) return false;
    }
    return true;
  }

  // Appends the findings about one value to *out. Thread-safe (reads only immutable state).
  void CheckValue(const Item& item, const FieldSpec& f, int pos, const FieldValue& v,
                  std::vector<Finding>* out) const {
    using K = FieldValue::Kind;
    if (v.kind == K::kInvalid) return;  // already reported by the decoder
    if (v.kind == K::kAbsent || (v.kind == K::kString && v.s.empty() && f.type != FieldType::kString)) {
      if (f.required) {
        out->push_back(Make("field.required", &item, &f, pos,
                 v.kind == K::kAbsent ? "required field is missing" : "required field is empty"));
      } else if (v.kind == K::kString) {
        out->push_back(Make("field.empty", &item, &f, pos,
                 "empty value; omit the field or use " +
                     (f.wildcard ? "the wildcard '" + *f.wildcard + "'" : std::string("a value"))));
      }
      return;
    }
    if (v.kind == K::kWildcard) return;
    if (v.kind == K::kString && v.s.empty() && f.required) {
      out->push_back(Make("field.required", &item, &f, pos, "required field is empty"));
      return;
    }
    switch (f.type) {
      case FieldType::kInt:
        if ((f.min && v.i < *f.min) || (f.max && v.i > *f.max)) {
          out->push_back(Make("field.range", &item, &f, pos,
                   std::to_string(v.i) + " is outside [" +
                       (f.min ? std::to_string(*f.min) : "-inf") + ", " +
                       (f.max ? std::to_string(*f.max) : "inf") + "]"));
        }
        return;
      case FieldType::kBool:
        return;
      case FieldType::kEnum:
        if (std::find(f.values.begin(), f.values.end(), v.s) == f.values.end()) {
          std::string allowed;
          for (const auto& a : f.values) allowed += (allowed.empty() ? "" : ", ") + a;
          out->push_back(Make("field.enum", &item, &f, pos,
                   "'" + v.s + "' is not one of: " + allowed));
        }
        return;
      case FieldType::kIpv4Prefix: {
        std::string e = CheckIpv4Prefix(v.s);
        if (!e.empty()) out->push_back(Make("field.ipv4_prefix", &item, &f, pos, e));
        return;
      }
      case FieldType::kSha256:
        if (!IsLowerHex64(v.s)) {
          out->push_back(Make("field.sha256", &item, &f, pos, "must be 64 lowercase hex digits"));
        }
        return;
      case FieldType::kString:
      case FieldType::kGlob:
      case FieldType::kRegex:
        break;
    }
    if (f.max_length && static_cast<int64_t>(v.s.size()) > *f.max_length) {
      out->push_back(Make("field.max_length", &item, &f, pos,
               std::to_string(v.s.size()) + " bytes, over max_length " +
                   std::to_string(*f.max_length)));
      return;
    }
    if (f.type == FieldType::kGlob) {
      std::string e = CheckGlob(v.s);
      if (!e.empty()) out->push_back(Make("field.glob", &item, &f, pos, e));
    } else if (f.type == FieldType::kRegex) {
      CheckRegex(item, f, pos, v.s, out);
    }
  }

  // Verdict for one pattern under the type's engine and the field's regex_mode. Pure and
  // thread-safe: called from StageOneOptions::parallel_for workers.
  RegexVerdict ComputeRegexVerdict(std::string_view pattern, RegexMode mode) const {
    if (type_.regex_engine == RegexEngine::kRe2) {
      Status st = CompileRe2(pattern);
      if (!st.ok()) return {"regex.compile", st.message()};
      return {};
    }
    const bool pcre2 = type_.regex_engine == RegexEngine::kPcre2;
    auto compile = [&](std::string_view p) { return pcre2 ? CompilePcre2(p) : CompileEcmaScript(p); };
    // The engine's own syntax error comes first: a pattern consumers cannot compile is refused
    // whatever its cost.
    if (Status st = compile(pattern); !st.ok()) return {"regex.compile", st.message()};
    RegexCostOptions o = opts_.regex_cost;
    o.dialect = pcre2 ? RegexDialect::kPcre2 : RegexDialect::kEcmaScript;
    o.mode = mode;
    RegexCostReport cost = AnalyzeBacktrackingCost(pattern, o);
    if (cost.cost == RegexCost::kLinear) return {};
    std::string msg = cost.reason + "; consumers run " + std::string(RegexEngineName(type_.regex_engine)) +
                      " (" + std::string(RegexModeName(mode)) +
                      "), a backtracking engine, so one input could pin a CPU (Cloudflare, 2019)";
    if (cost.attack) msg += "; attack: " + DescribeRegexAttack(*cost.attack) + " (ringfence check --explain ITEM measures it)";
    return {"regex.cost", msg};
  }

  RegexMode ModeOf(const FieldSpec& f) const { return f.regex_mode.value_or(type_.regex_mode); }

  // Analyses every distinct (pattern, mode) of the bundle once, in parallel when the caller
  // allows it.
  void PrecomputeRegexVerdicts() {
    std::vector<std::pair<std::string_view, RegexMode>> patterns;
    for (const Item& item : in_.bundle->items) {
      for (size_t pos = 0; pos < type_.fields.size(); ++pos) {
        const FieldSpec& f = type_.fields[pos];
        const FieldValue& v = item.values[pos];
        if (f.type != FieldType::kRegex || v.kind != FieldValue::Kind::kString || v.s.empty()) continue;
        if (f.max_length && static_cast<int64_t>(v.s.size()) > *f.max_length) continue;
        const RegexMode mode = ModeOf(f);
        auto& index = regex_index_[static_cast<int>(mode)];
        if (index.emplace(v.s, patterns.size()).second) patterns.push_back({v.s, mode});
      }
    }
    regex_verdicts_.resize(patterns.size());
    auto work = [&](size_t i) {
      regex_verdicts_[i] = ComputeRegexVerdict(patterns[i].first, patterns[i].second);
    };
    if (opts_.parallel_for) {
      opts_.parallel_for(patterns.size(), work);
    } else {
      for (size_t i = 0; i < patterns.size(); ++i) work(i);
    }
  }

  void CheckRegex(const Item& item, const FieldSpec& f, int pos, const std::string& pattern,
                  std::vector<Finding>* out) const {
    const auto& index = regex_index_[static_cast<int>(ModeOf(f))];
    auto it = index.find(pattern);
    const RegexVerdict& verdict = regex_verdicts_[it->second];  // precomputed for every pattern
    if (!verdict.check.empty()) out->push_back(Make(verdict.check, &item, &f, pos, verdict.message));
  }

  void CheckLimits() {
    const auto& lim = type_.limits;
    const size_t items = in_.bundle->items.size();
    if (lim.max_items > 0 && static_cast<int64_t>(items) > lim.max_items) {
      Add(Make("limits.max_items", nullptr, nullptr, -1,
               FormatCount(static_cast<int64_t>(items)) + " items, over the content type's max_items " +
                   FormatCount(lim.max_items)));
    }
    if (lim.max_bundle_bytes > 0 && static_cast<int64_t>(in_.payload_bytes) > lim.max_bundle_bytes) {
      Add(Make("limits.max_bundle_bytes", nullptr, nullptr, -1,
               FormatCount(static_cast<int64_t>(in_.payload_bytes)) +
                   " bytes, over the content type's max_bundle_bytes " +
                   FormatCount(lim.max_bundle_bytes)));
    }
  }

  void CheckPrevious() {
    if (!in_.previous) return;
    const Bundle& prev = *in_.previous;
    const Bundle& b = *in_.bundle;
    if (prev.channel != b.channel) {
      Add(Make("previous.channel", nullptr, nullptr, -1,
               "previous bundle is for channel '" + prev.channel + "', this one for '" +
                   b.channel + "'"));
    }
    if (b.version <= prev.version) {
      Add(Make("previous.version", nullptr, nullptr, -1,
               "version " + std::to_string(b.version) +
                   " is not greater than the previous bundle's " + std::to_string(prev.version) +
                   " (agents refuse older or equal versions)"));
    }
    if (!type_.limits.max_growth) return;
    const double g = *type_.limits.max_growth;
    auto growth = [&](std::string check, double before, double now, std::string what) {
      if (before <= 0) return;
      double rel = (now - before) / before;
      if (rel > g + 1e-12) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%+.1f%%", rel * 100);
        char lim[32];
        std::snprintf(lim, sizeof(lim), "%.1f%%", g * 100);
        Add(Make(std::move(check), nullptr, nullptr, -1,
                 what + " grew " + buf + " over the previous bundle (" +
                     FormatCount(static_cast<int64_t>(before)) + " -> " +
                     FormatCount(static_cast<int64_t>(now)) + "), over max_growth " + lim));
      }
    };
    growth("limits.growth", static_cast<double>(prev.items.size()),
           static_cast<double>(b.items.size()), "item count");
    growth("limits.growth", static_cast<double>(in_.previous_payload_bytes),
           static_cast<double>(in_.payload_bytes), "bundle size");
  }

  struct Group {
    std::vector<const Stratum*> strata;
    int64_t devices = 0;
    void Add(const Stratum* s) {
      strata.push_back(s);
      devices += s->devices;
    }
    std::vector<std::string> Labels() const {
      std::vector<std::string> out;
      for (const Stratum* s : strata) out.push_back(s->Label());
      return out;
    }
    std::string Describe() const {
      std::string out;
      for (const Stratum* s : strata) {
        if (!out.empty()) out += "; ";
        out += s->Label() + " (" + FormatCount(s->devices) + " devices)";
      }
      return out;
    }
  };

  Finding Consumer(std::string check, const Item* item, const FieldSpec* field, int pos,
                   const Group& g, std::string message) {
    Finding f = Make(std::move(check), item, field, pos, std::move(message));
    f.devices = g.devices;
    f.strata = g.Labels();
    return f;
  }

  void CheckConsumers() {
    const Bundle& b = *in_.bundle;
    std::vector<std::pair<const Stratum*, const ConsumerCapability*>> consumers;
    Group unsupported;
    for (const Stratum& s : in_.fleet->strata) {
      if (s.devices <= 0) continue;  // not present in the fleet
      auto it = s.capabilities.find(type_.name);
      if (it == s.capabilities.end()) continue;
      if (!it->second.SupportsSchema(b.schema_version)) {
        unsupported.Add(&s);
        continue;
      }
      consumers.push_back({&s, &it->second});
    }
    if (consumers.empty() && unsupported.strata.empty()) {
      Finding f = Make("consumer.none", nullptr, nullptr, -1,
                       "no device in the fleet consumes content type " + type_.name);
      f.severity = Severity::kWarning;
      Add(std::move(f));
      return;
    }
    if (!unsupported.strata.empty()) {
      Add(Consumer("consumer.schema_version", nullptr, nullptr, -1, unsupported,
                   FormatCount(unsupported.devices) + " devices cannot parse schema_version " +
                       std::to_string(b.schema_version) + ": " + unsupported.Describe()));
    }
    // Inputs: group consumers by how many inputs they supply.
    std::map<int64_t, Group> by_inputs;
    for (auto [s, cap] : consumers) by_inputs[cap->inputs].Add(s);
    const int64_t min_inputs = by_inputs.empty() ? INT64_MAX : by_inputs.begin()->first;
    const int nfields = static_cast<int>(type_.fields.size());
    if (min_inputs < nfields) {
      // Group of strata with inputs <= pos, cached per position.
      std::vector<Group> short_of(nfields);
      for (int pos = static_cast<int>(min_inputs); pos < nfields; ++pos) {
        for (const auto& [inputs, g] : by_inputs) {
          if (inputs > pos) break;
          for (const Stratum* s : g.strata) short_of[pos].Add(s);
        }
      }
      for (const Item& item : b.items) {
        for (int pos = static_cast<int>(min_inputs); pos < nfields; ++pos) {
          if (!item.values[pos].IsConcrete()) continue;
          const Group& g = short_of[pos];
          const FieldSpec& f = type_.fields[pos];
          Add(Consumer("consumer.inputs", &item, &f, pos, g,
                       "non-wildcard value in field " + f.name + " at position " +
                           std::to_string(pos) + ", but " + FormatCount(g.devices) +
                           " devices run consumers that supply at most " + std::to_string(pos) +
                           " inputs (positions 0.." + std::to_string(pos - 1) +
                           ") and would read past their input array: " + g.Describe()));
        }
      }
    }
    // Grouped by the limit each consumer build has, so the finding states every limit broken.
    std::map<int64_t, Group> too_many, too_big;
    int64_t too_many_devices = 0, too_big_devices = 0;
    for (auto [s, cap] : consumers) {
      if (cap->max_items > 0 && static_cast<int64_t>(b.items.size()) > cap->max_items) {
        too_many[cap->max_items].Add(s);
        too_many_devices += s->devices;
      }
      if (cap->max_bundle_bytes > 0 && static_cast<int64_t>(in_.payload_bytes) > cap->max_bundle_bytes) {
        too_big[cap->max_bundle_bytes].Add(s);
        too_big_devices += s->devices;
      }
    }
    auto report_limit = [&](std::string check, const std::map<int64_t, Group>& by_limit,
                            int64_t devices, int64_t actual, const std::string& what,
                            const std::string& unit) {
      if (by_limit.empty()) return;
      Group all;
      std::string limits;
      for (const auto& [limit, g] : by_limit) {
        for (const Stratum* s : g.strata) all.Add(s);
        if (!limits.empty()) limits += "; ";
        limits += "limit " + FormatCount(limit) + " " + unit + " on " + g.Describe();
      }
      Add(Consumer(std::move(check), nullptr, nullptr, -1, all,
                   FormatCount(actual) + " " + unit + " exceed the " + what + " of consumers on " +
                       FormatCount(devices) + " devices (" + limits + ")"));
    };
    report_limit("consumer.max_items", too_many, too_many_devices,
                 static_cast<int64_t>(b.items.size()), "preallocated item limit", "items");
    report_limit("consumer.max_bundle_bytes", too_big, too_big_devices,
                 static_cast<int64_t>(in_.payload_bytes), "bundle size limit", "bytes");
  }

  void FlushSuppressed() {
    for (int sev = 0; sev < 2; ++sev) {
      for (const auto& [check, n] : sev == 0 ? suppressed_errors_ : suppressed_warnings_) {
        Finding f;
        f.check = check;
        f.severity = sev == 0 ? Severity::kError : Severity::kWarning;
        f.message = "... and " + FormatCount(static_cast<int64_t>(n)) + " more " +
                    (sev == 0 ? "errors" : "warnings") + " of this kind";
        report_->findings.push_back(std::move(f));
      }
    }
  }

  const StageOneInput& in_;
  const ContentType& type_;
  const StageOneOptions& opts_;
  StageOneReport* report_;
  std::unordered_map<std::string, size_t> per_check_;
  std::map<std::string, size_t> suppressed_errors_, suppressed_warnings_;
  // Distinct patterns (views into the bundle, which outlives the checker) -> their verdicts.
  std::unordered_map<std::string_view, size_t> regex_index_[2];  // by RegexMode
  std::vector<RegexVerdict> regex_verdicts_;
};

}  // namespace

StageOneReport RunStageOne(const StageOneInput& input, std::vector<Finding> decode_findings,
                           const StageOneOptions& options) {
  StageOneReport report;
  report.items = input.bundle->items.size();
  report.payload_bytes = input.payload_bytes;
  Checker checker(input, options, &report);
  for (Finding& f : decode_findings) checker.Add(std::move(f));
  checker.Run();
  for (const Finding& f : report.findings) {
    if (f.severity == Severity::kError) ++report.errors;
    else ++report.warnings;
  }
  report.accepted = report.errors == 0;
  return report;
}

Result<StageOneReport> CheckBundleSource(const ContentType& type, std::string_view source_text,
                                         std::string_view filename, const Fleet* fleet,
                                         const StageOneOptions& options) {
  std::vector<Finding> decode;
  RF_ASSIGN_OR_RETURN(Bundle b, DecodeBundleSource(source_text, filename, type, &decode));
  StageOneInput in;
  in.type = &type;
  in.bundle = &b;
  in.payload_bytes = EncodeCanonicalPayload(b, type).size();
  in.fleet = fleet;
  return RunStageOne(in, std::move(decode), options);
}

std::string StageOneReportJson(const StageOneReport& report, std::string_view digest) {
  std::string out = "{\"verdict\":";
  out += report.accepted ? "\"accept\"" : "\"reject\"";
  if (!digest.empty()) {
    out += ",\"bundle_sha256\":";
    AppendJsonString(&out, digest);
  }
  out += ",\"items\":" + std::to_string(report.items);
  out += ",\"payload_bytes\":" + std::to_string(report.payload_bytes);
  out += ",\"errors\":" + std::to_string(report.errors);
  out += ",\"warnings\":" + std::to_string(report.warnings);
  out += ",\"findings\":[";
  for (size_t i = 0; i < report.findings.size(); ++i) {
    const Finding& f = report.findings[i];
    if (i) out += ',';
    out += "{\"check\":";
    AppendJsonString(&out, f.check);
    out += ",\"severity\":";
    out += f.severity == Severity::kError ? "\"error\"" : "\"warning\"";
    out += ",\"item\":";
    AppendJsonString(&out, f.item);
    out += ",\"field\":";
    AppendJsonString(&out, f.field);
    out += ",\"position\":";
    out += f.position < 0 ? "null" : std::to_string(f.position);
    out += ",\"message\":";
    AppendJsonString(&out, f.message);
    out += ",\"devices\":" + std::to_string(f.devices);
    out += ",\"strata\":[";
    for (size_t s = 0; s < f.strata.size(); ++s) {
      if (s) out += ',';
      AppendJsonString(&out, f.strata[s]);
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace rf
