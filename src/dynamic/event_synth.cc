#include "dynamic/event_synth.h"

#include <bitset>
#include <memory>

#include <re2/re2.h>

namespace rf::dynamic {
namespace {

constexpr size_t kMaxSampleBytes = 64 << 10;
constexpr int kMaxNesting = 100;

// Recursive-descent generator over the common subset of ECMAScript and RE2 syntax. Not a
// validator: it produces one plausible matching string, and gives up (ok = false) on what it does
// not model (lookaround, backreferences, inline flags, unicode escapes beyond ASCII).
class Generator {
 public:
  Generator(std::string_view p, bool stress) : p_(p), stress_(stress) {}

  RegexSample Run() {
    std::string out = Alternation(false);
    if (i_ < p_.size()) ok_ = false;  // an unbalanced ')'
    if (stress_) out += '!';
    if (out.size() > kMaxSampleBytes) ok_ = false;
    return {std::move(out), ok_};
  }

 private:
  bool More() const { return i_ < p_.size() && ok_; }

  std::string Alternation(bool pumped) {
    if (++depth_ > kMaxNesting) {
      ok_ = false;
      return "";
    }
    std::string first = Sequence(pumped);
    while (More() && p_[i_] == '|') {
      ++i_;
      (void)Sequence(pumped);  // parsed for syntax; the first alternative is used
    }
    --depth_;
    return first;
  }

  std::string Sequence(bool pumped) {
    std::string out;
    while (More() && p_[i_] != '|' && p_[i_] != ')') {
      const size_t atom_start = i_;
      std::string atom = Atom(pumped);
      const size_t atom_end = i_;
      int64_t min = 1, max = 1;
      if (!Quantifier(&min, &max)) {
        out += atom;
      } else {
        int64_t reps = min;
        bool pump = false;
        if (stress_ && !pumped && (max < 0 || max > 1)) {
          reps = std::max<int64_t>(min, max < 0 ? kStressRepetitions
                                                : std::min<int64_t>(max, kStressRepetitions));
          pump = true;
        }
        if (reps > 1000) {
          ok_ = false;
          return out;
        }
        const size_t after = i_;
        for (int64_t r = 0; r < reps && ok_; ++r) {
          if (pump) {  // regenerate the atom with nested repetitions at their minimum
            i_ = atom_start;
            out += Atom(true);
            i_ = atom_end;
          } else {
            out += atom;
          }
          if (out.size() > kMaxSampleBytes) ok_ = false;
        }
        i_ = after;
      }
    }
    return out;
  }

  // Parses a quantifier after an atom (and a lazy/possessive suffix). max < 0: unbounded.
  bool Quantifier(int64_t* min, int64_t* max) {
    if (i_ >= p_.size()) return false;
    const char c = p_[i_];
    if (c == '*') *min = 0, *max = -1;
    else if (c == '+') *min = 1, *max = -1;
    else if (c == '?') *min = 0, *max = 1;
    else if (c == '{') {
      size_t j = i_ + 1;
      auto number = [&](int64_t* v) {
        size_t s = j;
        *v = 0;
        while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9' && j - s < 6) *v = *v * 10 + (p_[j++] - '0');
        return j > s;
      };
      if (!number(min)) return false;  // a literal '{'
      *max = *min;
      if (j < p_.size() && p_[j] == ',') {
        ++j;
        if (!number(max)) *max = -1;
      }
      if (j >= p_.size() || p_[j] != '}') return false;
      i_ = j;
    } else {
      return false;
    }
    ++i_;
    if (i_ < p_.size() && (p_[i_] == '?' || p_[i_] == '+')) ++i_;
    return true;
  }

  std::string Atom(bool pumped) {
    const char c = p_[i_++];
    switch (c) {
      case '^':
      case '$':
        return "";
      case '.':
        return "x";
      case '(': {
        if (i_ < p_.size() && p_[i_] == '?') {
          if (p_.substr(i_, 2) == "?:") {
            i_ += 2;
          } else if (p_.substr(i_, 2) == "?<" && i_ + 2 < p_.size() && p_[i_ + 2] != '=' &&
                     p_[i_ + 2] != '!') {
            i_ = p_.find('>', i_);
            if (i_ == std::string_view::npos) return Fail();
            ++i_;
          } else if (p_.substr(i_, 3) == "?P<") {
            i_ = p_.find('>', i_);
            if (i_ == std::string_view::npos) return Fail();
            ++i_;
          } else {
            return Fail();  // lookaround, inline flags
          }
        }
        std::string inner = Alternation(pumped);
        if (i_ >= p_.size() || p_[i_] != ')') return Fail();
        ++i_;
        return inner;
      }
      case '[':
        return Class();
      case '\\':
        return Escape(nullptr);
      case '*':
      case '+':
      case '?':
      case ')':
        return Fail();
      default:
        return std::string(1, c);
    }
  }

  // After a backslash. With `set`, adds the escape's characters to it (inside a class).
  std::string Escape(std::bitset<256>* set) {
    if (i_ >= p_.size()) return Fail();
    const char c = p_[i_++];
    auto cls = [&](auto pred, char sample) {
      if (set != nullptr) {
        for (int b = 0; b < 256; ++b) {
          if (pred(b)) set->set(static_cast<size_t>(b));
        }
      }
      return std::string(1, sample);
    };
    auto digit = [](int b) { return b >= '0' && b <= '9'; };
    auto word = [](int b) {
      return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_';
    };
    auto space = [](int b) { return b == ' ' || (b >= '\t' && b <= '\r'); };
    std::string lit;
    switch (c) {
      case 'd': return cls(digit, '0');
      case 'D': return cls([&](int b) { return !digit(b); }, 'a');
      case 'w': return cls(word, 'a');
      case 'W': return cls([&](int b) { return !word(b); }, '!');
      case 's': return cls(space, ' ');
      case 'S': return cls([&](int b) { return !space(b); }, 'a');
      case 'b':
      case 'B':
        if (set == nullptr) return "";
        lit = c == 'b' ? "\b" : "B";
        break;
      case 'n': lit = "\n"; break;
      case 't': lit = "\t"; break;
      case 'r': lit = "\r"; break;
      case 'f': lit = "\f"; break;
      case 'v': lit = "\v"; break;
      case '0': lit = std::string(1, '\0'); break;
      case 'x': {
        if (i_ + 2 > p_.size()) return Fail();
        const std::string hex(p_.substr(i_, 2));
        char* end = nullptr;
        const long v = std::strtol(hex.c_str(), &end, 16);
        if (end != hex.c_str() + 2) return Fail();
        i_ += 2;
        lit = std::string(1, static_cast<char>(v));
        break;
      }
      default:
        if ((c >= '1' && c <= '9') || c == 'c' || c == 'u' || c == 'p' || c == 'P' || c == 'k') {
          return Fail();  // backreference, control, unicode: not modelled
        }
        lit = std::string(1, c);
    }
    if (set != nullptr) set->set(static_cast<unsigned char>(lit[0]));
    return lit;
  }

  std::string Class() {
    std::bitset<256> set;
    bool negated = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negated = true;
      ++i_;
    }
    bool first = true;
    while (true) {
      if (i_ >= p_.size()) return Fail();
      char c = p_[i_];
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      ++i_;
      int lo;
      if (c == '\\') {
        std::bitset<256> before = set;
        std::string e = Escape(&set);
        if (!ok_) return "";
        if ((set ^ before).count() > 1) continue;  // a class escape like \d
        lo = static_cast<unsigned char>(e[0]);
      } else if (c == '[' && i_ < p_.size() && p_[i_] == ':') {
        return Fail();  // POSIX classes
      } else {
        lo = static_cast<unsigned char>(c);
      }
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        int hi = static_cast<unsigned char>(p_[i_++]);
        if (hi == '\\') {
          if (i_ >= p_.size()) return Fail();
          hi = static_cast<unsigned char>(p_[i_++]);
        }
        if (hi < lo) return Fail();
        for (int b = lo; b <= hi; ++b) set.set(static_cast<size_t>(b));
      } else {
        set.set(static_cast<size_t>(lo));
      }
    }
    for (char pref : std::string_view("a0A_x-. !")) {
      if (set.test(static_cast<unsigned char>(pref)) != negated) return std::string(1, pref);
    }
    for (int b = 32; b < 127; ++b) {
      if (set.test(static_cast<size_t>(b)) != negated) return std::string(1, static_cast<char>(b));
    }
    return Fail();
  }

  std::string Fail() {
    ok_ = false;
    return "";
  }

  std::string_view p_;
  bool stress_;
  size_t i_ = 0;
  int depth_ = 0;
  bool ok_ = true;
};

std::string GlobSample(std::string_view glob) {
  std::string out;
  for (char c : glob) {
    if (c == '*') continue;
    out += c == '?' ? 'x' : c;
  }
  return out;
}

std::string PrefixSample(std::string_view prefix) {
  return std::string(prefix.substr(0, prefix.find('/')));
}

void AppendValue(std::string* out, const FieldSpec& spec, const FieldValue& v,
                 const std::string* override_text) {
  AppendJsonString(out, spec.name);
  *out += ':';
  if (override_text != nullptr) {
    AppendJsonString(out, *override_text);
    return;
  }
  switch (v.kind) {
    case FieldValue::Kind::kInt:
      *out += std::to_string(v.i);
      return;
    case FieldValue::Kind::kBool:
      *out += v.b ? "true" : "false";
      return;
    default:
      break;
  }
  std::string text = v.s;
  if (spec.type == FieldType::kRegex) text = SampleForRegex(v.s).text;
  else if (spec.type == FieldType::kGlob) text = GlobSample(v.s);
  else if (spec.type == FieldType::kIpv4Prefix) text = PrefixSample(v.s);
  AppendJsonString(out, text);
}

std::string EventJson(const ContentType& type, const Item& item, int override_pos,
                      const std::string* override_text) {
  std::string out = "{";
  bool first = true;
  for (size_t pos = 0; pos < type.fields.size(); ++pos) {
    const FieldValue& v = item.values[pos];
    if (!v.IsConcrete() || v.kind == FieldValue::Kind::kInvalid) continue;
    if (!first) out += ',';
    first = false;
    AppendValue(&out, type.fields[pos], v,
                static_cast<int>(pos) == override_pos ? override_text : nullptr);
  }
  out += '}';
  return out;
}

}  // namespace

RegexSample SampleForRegex(std::string_view pattern, bool stress) {
  RegexSample s = Generator(pattern, stress).Run();
  if (!s.generated) return {std::string(pattern), false};
  if (!stress) {
    // Verify with RE2 (linear time: safe on any pattern) when the pattern is RE2 syntax.
    RE2::Options o;
    o.set_log_errors(false);
    RE2 re(pattern, o);
    if (re.ok() && !RE2::PartialMatch(s.text, re)) return {std::string(pattern), false};
  }
  return s;
}

std::vector<SynthesizedEvent> SynthesizeEvents(const ContentType& type, const Item& item) {
  std::vector<SynthesizedEvent> events;
  events.push_back({EventJson(type, item, -1, nullptr), "match"});
  for (size_t pos = 0; pos < type.fields.size(); ++pos) {
    const FieldValue& v = item.values[pos];
    if (type.fields[pos].type != FieldType::kRegex || v.kind != FieldValue::Kind::kString) continue;
    RegexSample stress = SampleForRegex(v.s, /*stress=*/true);
    if (!stress.generated) continue;
    events.push_back({EventJson(type, item, static_cast<int>(pos), &stress.text),
                      "stress:" + type.fields[pos].name});
  }
  return events;
}

}  // namespace rf::dynamic
