#include "examples/sensor/interpreter.h"

#include <array>
#include <cctype>
#include <charconv>

namespace sensor {

std::string_view RegexEngineName(RegexEngine e) {
  return e == RegexEngine::kRe2 ? "re2" : "backtracking";
}

bool ParseRegexEngine(std::string_view name, RegexEngine* e) {
  if (name == "re2") *e = RegexEngine::kRe2;
  else if (name == "backtracking") *e = RegexEngine::kBacktracking;
  else return false;
  return true;
}

bool ParseIpv4(std::string_view s, uint32_t* addr) {
  uint32_t out = 0;
  for (int octet = 0; octet < 4; ++octet) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || v > 255 || p == s.data()) return false;
    out = (out << 8) | v;
    s.remove_prefix(static_cast<size_t>(p - s.data()));
    if (octet < 3) {
      if (s.empty() || s[0] != '.') return false;
      s.remove_prefix(1);
    }
  }
  if (!s.empty()) return false;
  *addr = out;
  return true;
}

bool ParseIpv4Prefix(std::string_view s, uint32_t* net, uint32_t* mask) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  uint32_t addr;
  if (!ParseIpv4(s.substr(0, slash), &addr)) return false;
  std::string_view len_text = s.substr(slash + 1);
  unsigned len = 0;
  auto [p, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc() || p != len_text.data() + len_text.size() || len > 32) return false;
  *mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  *net = addr & *mask;
  return true;
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative matcher with single-star backtracking: O(|pattern| * |text|) worst case.
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  auto eq = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || (pattern[p] != '*' && eq(pattern[p], text[t])))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string CompiledRules::Compile(const RuleSet& rules, RegexEngine engine,
                                   std::unique_ptr<CompiledRules>* out) {
  auto compiled = std::make_unique<CompiledRules>();
  compiled->rules_.reserve(rules.rules.size());
  for (const Rule& rule : rules.rules) {
    CompiledRule cr;
    cr.id = rule.id;
    for (const RuleField& f : rule.fields) {
      Matcher m;
      m.position = f.position;
      m.kind = kIpcFields[static_cast<size_t>(f.position)].kind;
      m.text = f.text;
      m.int_value = f.int_value;
      m.bool_value = f.bool_value;
      const std::string where =
          rule.id + "." + std::string(kIpcFields[static_cast<size_t>(f.position)].name);
      if (m.kind == MatchKind::kRegex) {
        if (engine == RegexEngine::kRe2) {
          RE2::Options o;
          o.set_log_errors(false);
          m.re2 = std::make_unique<re2::RE2>(f.text, o);
          if (!m.re2->ok()) return where + ": regex does not compile: " + m.re2->error();
        } else {
          std::string error;
          m.ecma = EcmaRegex::Compile(f.text, &error);
          if (!m.ecma) return where + ": regex does not compile: " + error;
        }
      } else if (m.kind == MatchKind::kIpv4Prefix) {
        if (!ParseIpv4Prefix(f.text, &m.net, &m.mask)) return where + ": not an IPv4 prefix";
      }
      cr.matchers.push_back(std::move(m));
    }
    compiled->rules_.push_back(std::move(cr));
  }
  *out = std::move(compiled);
  return "";
}

bool CompiledRules::Evaluate(const Matcher& m, const char* value) {
  const std::string_view v(value);
  switch (m.kind) {
    case MatchKind::kRegex:
      if (m.re2) return re2::RE2::PartialMatch(v, *m.re2);
      return m.ecma->Search(v);
    case MatchKind::kGlob:
      return GlobMatch(m.text, v);
    case MatchKind::kString:
    case MatchKind::kEnum:
      return v == m.text;
    case MatchKind::kSha256:
      return v.size() == m.text.size() &&
             std::equal(v.begin(), v.end(), m.text.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) ==
                      std::tolower(static_cast<unsigned char>(b));
             });
    case MatchKind::kInt: {
      int64_t i = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
      return ec == std::errc() && p == v.data() + v.size() && i == m.int_value;
    }
    case MatchKind::kBool:
      return v == (m.bool_value ? "true" : "false");
    case MatchKind::kIpv4Prefix: {
      uint32_t addr;
      return ParseIpv4(v, &addr) && (addr & m.mask) == m.net;
    }
  }
  return false;
}

void CompiledRules::Match(const char* const* inputs, std::vector<std::string>* matches) const {
  std::array<const char*, kIpcFields.size()> operands;
  for (const CompiledRule& rule : rules_) {
    // Operand fetch. For a rule with a concrete 21st field this reads inputs[20]: past the end
    // of the array when the integration supplied 20 (the July 2024 bug, see integration.h).
    for (size_t i = 0; i < rule.matchers.size(); ++i) {
      operands[i] = inputs[rule.matchers[i].position];
    }
    bool all = true;
    for (size_t i = 0; i < rule.matchers.size() && all; ++i) {
      all = Evaluate(rule.matchers[i], operands[i]);
    }
    if (all) matches->push_back(rule.id);
  }
}

}  // namespace sensor
