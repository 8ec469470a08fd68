#include "core/regex_cost.h"

#include <re2/re2.h>

#include "core/regex_engines.h"

#include <algorithm>
#include <bit>
#include <bitset>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <unordered_set>
#include <vector>

namespace rf {

std::string_view RegexDialectName(RegexDialect d) {
  return d == RegexDialect::kPcre2 ? "pcre2" : "ecmascript";
}
std::string_view RegexModeName(RegexMode m) { return m == RegexMode::kMatch ? "match" : "search"; }

std::string RegexAttack::Build(size_t repeats) const {
  std::string s = prefix;
  s.reserve(Length(repeats));
  for (size_t i = 0; i < repeats; ++i) s += pump;
  s += suffix;
  return s;
}

namespace {

using CharSet = std::bitset<256>;

// ---------------------------------------------------------------------------------------------
// Parsing (ECMAScript as accepted by libstdc++'s std::regex, or PCRE2) into a small AST.

struct Node {
  // kLook: a lookahead (?=...) or (?!...); its body runs as a side branch at that point.
  enum Kind { kEmpty, kSet, kConcat, kAlt, kRepeat, kAssert, kAtomic, kLook } kind = kEmpty;
  // kAssert: '^' (anchors), '$' or \z, \b, \B, multiline ^ and $, anything else (lookbehinds,
  // \G, \K).
  enum Assertion { kBegin, kEnd, kOther, kWord, kNotWord, kLineBegin, kLineEnd };
  CharSet set;             // kSet
  std::vector<int> kids;   // kConcat, kAlt, kRepeat, kAtomic and kLook (one kid)
  int min = 0, max = 0;    // kRepeat; max == -1: unbounded
  Assertion assertion = kOther;
  // kEnd: nothing can be consumed after it (ECMAScript '$', PCRE2 \z). PCRE2's '$' and \Z also
  // match before a final newline, so they are not strict.
  bool strict_end = false;
  bool negative = false;  // kLook: (?!...)
  int begin = 0, end = 0;  // source span, for messages
};

struct Flags {
  bool icase = false, dotall = false, multiline = false, extended = false;
};

class Parser {
 public:
  Parser(std::string_view p, int max_nesting, RegexDialect dialect)
      : p_(p), max_nesting_(max_nesting), pcre_(dialect == RegexDialect::kPcre2) {
    nodes_.reserve(p.size() + 8);  // about one node per byte: one allocation, not a dozen
  }

  // Returns the root node index, or -1 with error() set.
  int Parse() {
    int root = ParseAlt(0);
    if (root < 0) return -1;
    if (i_ != p_.size()) return Fail("unmatched ')' at offset " + std::to_string(i_));
    if (!ResolveBackrefs(root)) return -1;
    return root;
  }
  const std::string& error() const { return error_; }
  std::vector<Node>& nodes() { return nodes_; }

 private:
  int Fail(std::string e) {
    if (error_.empty()) error_ = std::move(e);
    return -1;
  }
  int Add(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size() - 1);
  }
  bool More() const { return i_ < p_.size(); }
  char Peek() const { return p_[i_]; }

  // PCRE2 extended mode (?x): whitespace and #-comments outside classes are ignored.
  void SkipExtended() {
    if (!flags_.extended) return;
    while (More()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        ++i_;
      } else if (c == '#') {
        while (More() && Peek() != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  int ParseAlt(int depth) {
    if (depth > max_nesting_) return Fail("groups nested deeper than " + std::to_string(max_nesting_));
    const int begin = static_cast<int>(i_);
    std::vector<int> branches;
    const Flags saved = flags_;  // (?i) inside a group lasts until the group's end
    while (true) {
      int c = ParseConcat(depth);
      if (c < 0) return -1;
      branches.push_back(c);
      if (More() && Peek() == '|') {
        ++i_;
        continue;
      }
      break;
    }
    flags_ = saved;
    if (branches.size() == 1) return branches[0];
    Node n;
    n.kind = Node::kAlt;
    n.kids = std::move(branches);
    n.begin = begin;
    n.end = static_cast<int>(i_);
    return Add(std::move(n));
  }

  int ParseConcat(int depth) {
    const int begin = static_cast<int>(i_);
    std::vector<int> parts;
    while (true) {
      SkipExtended();
      if (!More() || Peek() == '|' || Peek() == ')') break;
      const int atom_begin = static_cast<int>(i_);
      int a = ParseAtom(depth);
      if (a == kNoAtom) continue;
      if (a < 0) return -1;  // (?i), (?#...), \Q\E: nothing to quantify
      a = ParseQuantifiers(a, atom_begin);
      if (a < 0) return -1;
      parts.push_back(a);
    }
    Node n;
    n.begin = begin;
    n.end = static_cast<int>(i_);
    if (parts.empty()) return Add(n);  // kEmpty
    if (parts.size() == 1) return parts[0];
    n.kind = Node::kConcat;
    n.kids = std::move(parts);
    return Add(std::move(n));
  }

  // Reads {n}, {n,}, {n,m} (PCRE2 also {,m}) at i_; returns false (and leaves i_) if this is not
  // a quantifier.
  bool ReadBraces(int* min, int* max) {
    size_t j = i_ + 1;
    auto num = [&](int* out) {
      size_t s = j;
      long v = 0;
      while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9') {
        v = v * 10 + (p_[j] - '0');
        if (v > 100000) v = 100000;
        ++j;
      }
      *out = static_cast<int>(v);
      return j > s;
    };
    if (!num(min)) return false;
    if (j < p_.size() && p_[j] == '}') {
      *max = *min;
    } else if (j < p_.size() && p_[j] == ',') {
      ++j;
      if (j < p_.size() && p_[j] == '}') {
        *max = -1;
      } else if (!num(max) || j >= p_.size() || p_[j] != '}') {
        return false;
      }
    } else {
      return false;
    }
    i_ = j + 1;
    return true;
  }

  int ParseQuantifiers(int atom, int atom_begin) {
    while (true) {
      SkipExtended();
      if (!More()) break;
      int min, max;
      char c = Peek();
      if (c == '*') {
        min = 0, max = -1, ++i_;
      } else if (c == '+') {
        min = 1, max = -1, ++i_;
      } else if (c == '?') {
        min = 0, max = 1, ++i_;
      } else if (c == '{' && ReadBraces(&min, &max)) {
        if (max != -1 && max < min) return Fail("quantifier {n,m} with m < n");
      } else {
        break;
      }
      bool possessive = false;
      if (More() && Peek() == '?') {
        ++i_;  // lazy: same ambiguity as greedy
      } else if (pcre_ && More() && Peek() == '+') {
        ++i_;
        possessive = true;
      }
      const Node& a = nodes_[atom];
      if (a.kind == Node::kAssert && !pcre_ && p_[atom_begin] != '(') {
        return Fail("nothing to repeat at offset " + std::to_string(atom_begin));
      }
      if (a.kind == Node::kEmpty && a.end > a.begin && p_[a.begin] != '(') {
        return Fail("nothing to repeat at offset " + std::to_string(atom_begin));
      }
      Node n;
      n.kind = Node::kRepeat;
      n.kids = {atom};
      n.min = min;
      n.max = max;
      n.begin = atom_begin;
      n.end = static_cast<int>(i_);
      atom = Add(std::move(n));
      if (possessive) atom = Wrap(Node::kAtomic, atom, atom_begin);
    }
    return atom;
  }

  int Wrap(Node::Kind kind, int kid, int begin) {
    Node n;
    n.kind = kind;
    n.kids = {kid};
    n.begin = begin;
    n.end = static_cast<int>(i_);
    return Add(std::move(n));
  }

  int SetNode(CharSet s, int begin) {
    if (flags_.icase) {
      for (int x = 'a'; x <= 'z'; ++x) {
        if (s.test(x) || s.test(x - 32)) s.set(x), s.set(x - 32);
      }
    }
    Node n;
    n.kind = Node::kSet;
    n.set = s;
    n.begin = begin;
    n.end = static_cast<int>(i_);
    return Add(std::move(n));
  }
  int EmptyNode(int begin) {
    Node n;
    n.begin = begin;
    n.end = static_cast<int>(i_);
    return Add(std::move(n));
  }
  int AssertNode(Node::Assertion a, int begin, bool strict_end = false) {
    Node n;
    n.kind = Node::kAssert;
    n.assertion = a;
    n.strict_end = a == Node::kEnd && strict_end;
    n.begin = begin;
    n.end = static_cast<int>(i_);
    return Add(std::move(n));
  }

  // The byte classes of the consumer's engine. libstdc++ (C locale, char): \s is the six ASCII
  // spaces, \w is [A-Za-z0-9_]. PCRE2 (8-bit, no UCP) is the same, \h/\v per its documentation.
  static CharSet ClassOf(char c) {
    CharSet s;
    switch (c) {
      case 'd': case 'D':
        for (int x = '0'; x <= '9'; ++x) s.set(x);
        break;
      case 'w': case 'W':
        for (int x = 'a'; x <= 'z'; ++x) s.set(x);
        for (int x = 'A'; x <= 'Z'; ++x) s.set(x);
        for (int x = '0'; x <= '9'; ++x) s.set(x);
        s.set('_');
        break;
      case 's': case 'S':
        for (int x : {' ', '\t', '\n', '\r', '\f', '\v'}) s.set(x);
        break;
      case 'h': case 'H':
        for (int x : {0x20, 0x09, 0xa0}) s.set(x);
        break;
      case 'v': case 'V':
        for (int x : {0x0a, 0x0b, 0x0c, 0x0d, 0x85}) s.set(x);
        break;
      case 'N':
        s.set('\n');
        s.flip();
        return s;
    }
    if (c == 'D' || c == 'W' || c == 'S' || c == 'H' || c == 'V') s.flip();
    return s;
  }

  int Hex(size_t n) {
    if (i_ + n > p_.size()) return -1;
    int v = 0;
    for (size_t k = 0; k < n; ++k) {
      char h = p_[i_ + k];
      int d = (h >= '0' && h <= '9') ? h - '0'
              : (h >= 'a' && h <= 'f') ? h - 'a' + 10
              : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    i_ += n;
    return v;
  }

  // PCRE2 [:name:] inside a class; i_ at '['. Returns false if this is not one.
  bool PosixClass(CharSet* s) {
    size_t close = p_.find(":]", i_ + 2);
    if (i_ + 1 >= p_.size() || p_[i_ + 1] != ':' || close == std::string_view::npos) return false;
    std::string_view name = p_.substr(i_ + 2, close - i_ - 2);
    bool neg = !name.empty() && name[0] == '^';
    if (neg) name.remove_prefix(1);
    CharSet r;
    for (int x = 0; x < 128; ++x) {
      bool in = (name == "alpha" && isalpha(x)) || (name == "digit" && isdigit(x)) ||
                (name == "alnum" && isalnum(x)) || (name == "space" && isspace(x)) ||
                (name == "upper" && isupper(x)) || (name == "lower" && islower(x)) ||
                (name == "punct" && ispunct(x)) || (name == "xdigit" && isxdigit(x)) ||
                (name == "word" && (isalnum(x) || x == '_')) || (name == "blank" && (x == ' ' || x == '\t')) ||
                (name == "cntrl" && iscntrl(x)) || (name == "print" && isprint(x)) ||
                (name == "graph" && isgraph(x)) || (name == "ascii");
      if (in) r.set(x);
    }
    if (neg) r.flip();
    *s = r;
    i_ = close + 2;
    return true;
  }

  // Parses an escape after '\' (i_ points after the backslash). Sets *set for character escapes,
  // *assertion for assertions (\b \B, PCRE2 \A \z \Z \G). Returns false with an error on
  // unsupported escapes.
  bool ParseEscape(CharSet* set, int* assertion, bool in_class) {
    if (!More()) return Fail("pattern ends with '\\'") >= 0;
    char c = p_[i_++];
    *assertion = -1;
    set->reset();
    switch (c) {
      case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        *set = ClassOf(c);
        return true;
      case 'b': case 'B':
        if (in_class) {
          set->set('\b');
          return true;
        }
        *assertion = c == 'b' ? Node::kWord : Node::kNotWord;
        return true;
      case 'n': set->set('\n'); return true;
      case 'r': set->set('\r'); return true;
      case 't': set->set('\t'); return true;
      case 'f': set->set('\f'); return true;
      case '0': {
        int v = 0;
        if (pcre_) {  // \0 followed by up to two more octal digits
          for (int k = 0; k < 2 && More() && Peek() >= '0' && Peek() <= '7'; ++k) v = v * 8 + (p_[i_++] - '0');
        }
        set->set(v);
        return true;
      }
      case 'x': {
        int v;
        if (pcre_ && More() && Peek() == '{') {
          size_t close = p_.find('}', i_);
          if (close == std::string_view::npos || close - i_ - 1 > 8 || close == i_ + 1) {
            return Fail("bad \\x{...} escape") >= 0;
          }
          ++i_;
          v = Hex(close - i_);
          if (v < 0) return Fail("bad \\x{...} escape") >= 0;
          ++i_;
          if (v > 0xff) return Fail("\\x{...} above 0xff needs UTF mode") >= 0;
        } else if (pcre_) {  // PCRE2: up to two hex digits, possibly none
          v = 0;
          for (int k = 0; k < 2 && More() && isxdigit(static_cast<unsigned char>(Peek())); ++k) v = v * 16 + Hex(1);
        } else {
          v = Hex(2);
          if (v < 0) return Fail("bad \\x escape") >= 0;
        }
        set->set(v);
        return true;
      }
      case 'u': {
        if (pcre_) return Fail("PCRE2 does not support \\u") >= 0;
        int v = Hex(4);
        if (v < 0) return Fail("bad \\u escape") >= 0;
        set->set(v & 0xff);  // libstdc++'s char regex keeps the code point's low byte
        return true;
      }
      case 'c': {
        if (!More()) return Fail("bad \\c escape") >= 0;
        set->set(static_cast<unsigned char>(p_[i_++]) % 32);
        return true;
      }
      default:
        break;
    }
    if (c == 'v') {
      if (pcre_) {
        *set = ClassOf('v');
      } else {
        set->set('\v');
      }
      return true;
    }
    if (pcre_) {
      switch (c) {
        case 'h': case 'H': case 'V': case 'N':
          *set = ClassOf(c);
          return true;
        case 'e': set->set(0x1b); return true;
        case 'a': set->set(0x07); return true;
        case 'R':  // any newline sequence; one of its bytes is enough for the analysis
          *set = ClassOf('v');
          return true;
        case 'A': case 'G':
          *assertion = in_class ? -1 : (c == 'A' ? Node::kBegin : Node::kOther);
          if (in_class) set->set(static_cast<unsigned char>(c));
          return true;
        case 'z': case 'Z':
          *assertion = in_class ? -1 : Node::kEnd;
          if (in_class) set->set(static_cast<unsigned char>(c));
          strict_end_ = c == 'z';
          return true;
        case 'K':
          *assertion = Node::kOther;
          return true;
        case 'p': case 'P': case 'X': case 'C': {
          // Unicode properties without UTF mode: an approximation covering every byte they
          // could match (letters, digits, marks and all non-ASCII bytes).
          if ((c == 'p' || c == 'P') && More()) {
            if (Peek() == '{') {
              size_t close = p_.find('}', i_);
              if (close == std::string_view::npos) return Fail("bad \\p{...} escape") >= 0;
              i_ = close + 1;
            } else {
              ++i_;
            }
          }
          set->set();
          return true;
        }
        case 'g': {  // \gN, \g{N}, \g{-N}; named references are not analysed
          const bool brace = More() && Peek() == '{';
          if (brace) ++i_;
          const bool relative = More() && Peek() == '-';
          if (relative) ++i_;
          int v = 0, digits = 0;
          while (More() && isdigit(static_cast<unsigned char>(Peek())) && digits < 6) v = v * 10 + (p_[i_++] - '0'), ++digits;
          if (digits == 0 || (brace && (!More() || p_[i_++] != '}'))) {
            return Fail("named backreference \\g makes matching cost unknown") >= 0;
          }
          return Backref(relative ? static_cast<int>(group_inner_.size()) - v + 1 : v);
        }
        case 'k':
          return Fail("named backreference \\k makes matching cost unknown") >= 0;
        case 'o': {
          size_t close = p_.find('}', i_);
          if (!More() || Peek() != '{' || close == std::string_view::npos) return Fail("bad \\o escape") >= 0;
          int v = 0;
          for (size_t k = i_ + 1; k < close; ++k) v = std::min(v * 8 + (p_[k] - '0'), 0x7fff);
          i_ = close + 1;
          if (v > 0xff) return Fail("\\o{...} above 0xff needs UTF mode") >= 0;
          set->set(v);
          return true;
        }
        default:
          break;
      }
    }
    if (c >= '1' && c <= '9' && !in_class) {
      int v = c - '0';
      while (More() && isdigit(static_cast<unsigned char>(Peek())) && v < 100000) v = v * 10 + (p_[i_++] - '0');
      return Backref(v);
    }
    set->set(static_cast<unsigned char>(c));
    return true;
  }

  int ParseClass(int begin) {
    // i_ is after '['.
    CharSet s;
    bool negate = false;
    if (More() && Peek() == '^') {
      negate = true;
      ++i_;
    }
    bool first = true;
    while (true) {
      if (!More()) return Fail("unterminated character class");
      char c = Peek();
      if (c == ']' && !(pcre_ && first)) {  // ECMAScript: "[]" is the empty class; PCRE2: literal
        ++i_;
        break;
      }
      first = false;
      CharSet lo_set;
      int lo = -1;
      if (c == '[' && PosixClass(&lo_set)) {  // libstdc++'s ECMAScript has them too
        s |= lo_set;
        continue;
      }
      if (pcre_ && c == '\\' && i_ + 1 < p_.size() && p_[i_ + 1] == 'Q') {
        i_ += 2;
        size_t e = p_.find("\\E", i_);
        size_t stop = e == std::string_view::npos ? p_.size() : e;
        for (; i_ < stop; ++i_) s.set(static_cast<unsigned char>(p_[i_]));
        if (e != std::string_view::npos) i_ += 2;
        continue;
      }
      if (c == '\\') {
        ++i_;
        int assertion;
        if (!ParseEscape(&lo_set, &assertion, true)) return -1;
        if (lo_set.count() == 1) {
          for (int x = 0; x < 256; ++x) {
            if (lo_set.test(x)) lo = x;
          }
        }
      } else {
        lo = static_cast<unsigned char>(c);
        lo_set.set(lo);
        ++i_;
      }
      if (lo >= 0 && i_ + 1 < p_.size() && Peek() == '-' && p_[i_ + 1] != ']') {
        ++i_;
        int hi;
        if (Peek() == '\\') {
          ++i_;
          CharSet hs;
          int assertion;
          if (!ParseEscape(&hs, &assertion, true)) return -1;
          if (hs.count() != 1) {
            if (!pcre_) return Fail("bad range in character class");
            s |= lo_set | hs;  // PCRE2: [a-\d] is a, '-' and digits
            s.set('-');
            continue;
          }
          hi = 0;
          for (int x = 0; x < 256; ++x) {
            if (hs.test(x)) hi = x;
          }
        } else {
          hi = static_cast<unsigned char>(Peek());
          ++i_;
        }
        if (hi < lo) return Fail("character class range out of order");
        for (int x = lo; x <= hi; ++x) s.set(x);
      } else {
        s |= lo_set;
      }
    }
    if (negate) {
      if (flags_.icase) {  // fold before negating: [^a] under (?i) excludes 'A' too
        for (int x = 'a'; x <= 'z'; ++x) {
          if (s.test(x) || s.test(x - 32)) s.set(x), s.set(x - 32);
        }
      }
      s.flip();
    }
    return SetNode(s, begin);
  }

  // After "(?" in PCRE2: inline flags "(?i)", "(?i-s:...)". Returns the group node, kNoAtom for a
  // bare flag setting, or -1.
  int ParsePcreFlags(int depth, int begin) {
    Flags f = flags_;
    bool on = true;
    while (More() && Peek() != ')' && Peek() != ':') {
      char k = p_[i_++];
      if (k == '-') on = false;
      else if (k == 'i') f.icase = on;
      else if (k == 's') f.dotall = on;
      else if (k == 'm') f.multiline = on;
      else if (k == 'x') f.extended = on;
      else if (k == 'n' || k == 'U' || k == 'J' || k == 'x') {
      } else if (k == '^') {
        f = Flags{};
      } else {
        return Fail("unsupported group syntax (?" + std::string(1, k) + " at offset " + std::to_string(begin));
      }
    }
    if (!More()) return Fail("unterminated group");
    if (Peek() == ')') {
      ++i_;
      flags_ = f;  // until the end of the enclosing group
      return kNoAtom;
    }
    ++i_;  // ':'
    const Flags saved = flags_;
    flags_ = f;
    int inner = ParseAlt(depth + 1);
    flags_ = saved;
    if (inner < 0) return -1;
    if (!More() || Peek() != ')') return Fail("missing ')' for group at offset " + std::to_string(begin));
    ++i_;
    return inner;
  }

  int ParseGroup(int depth, int begin) {
    bool lookahead = false, lookbehind = false, atomic = false, negative = false;
    bool capturing = !(More() && Peek() == '?');
    if (More() && Peek() == '?') {
      ++i_;
      if (!More()) return Fail("unterminated group");
      char k = p_[i_++];
      if (k == ':') {
      } else if (k == '=' || k == '!') {
        lookahead = true;
        negative = k == '!';
      } else if (k == '<' && More() && (Peek() == '=' || Peek() == '!')) {
        ++i_;
        lookbehind = true;
      } else if (k == '<' || (pcre_ && (k == '\'' || (k == 'P' && More() && Peek() == '<')))) {
        char close = k == '\'' ? '\'' : '>';
        capturing = true;
        while (More() && Peek() != close) ++i_;  // named group
        if (!More()) return Fail("unterminated group name");
        ++i_;
      } else if (pcre_ && k == '>') {
        atomic = true;
      } else if (pcre_ && k == '|') {
        // branch reset: an ordinary group for the analysis
      } else if (pcre_ && k == '#') {
        while (More() && Peek() != ')') ++i_;
        if (!More()) return Fail("unterminated comment");
        ++i_;
        return kNoAtom;
      } else if (pcre_ && (k == 'P' || k == 'R' || k == '&' || (k >= '0' && k <= '9') || k == '(' ||
                           k == '+' || k == 'C')) {
        return Fail("backreference, recursion or conditional (?" + std::string(1, k) +
                    " makes matching cost unbounded");
      } else if (pcre_) {
        --i_;
        return ParsePcreFlags(depth, begin);
      } else {
        return Fail("unsupported group syntax (?" + std::string(1, k) + " at offset " +
                    std::to_string(begin));
      }
    } else if (pcre_ && More() && Peek() == '*') {
      return Fail("PCRE2 verb (*...) at offset " + std::to_string(begin) + " is not analysed");
    }
    int group = -1;
    if (capturing) {
      group = static_cast<int>(group_inner_.size());
      group_inner_.push_back(-1);  // open: a reference to it now is not analysed
    }
    int inner = ParseAlt(depth + 1);
    if (inner < 0) return -1;
    if (!More() || Peek() != ')') return Fail("missing ')' for group at offset " + std::to_string(begin));
    ++i_;
    if (group >= 0) group_inner_[group] = inner;
    // A lookbehind (PCRE2: fixed length, no loops) only reads what is behind: an opaque assertion.
    if (lookbehind) return AssertNode(Node::kOther, begin);
    if (lookahead) {
      const int look = Wrap(Node::kLook, inner, begin);
      nodes_[look].negative = negative;
      return look;
    }
    if (atomic) return Wrap(Node::kAtomic, inner, begin);
    return inner;
  }

  int ParseAtom(int depth) {
    const int begin = static_cast<int>(i_);
    char c = p_[i_++];
    switch (c) {
      case '(':
        return ParseGroup(depth, begin);
      case '[':
        return ParseClass(begin);
      case '.': {
        CharSet s;
        s.set();
        if (!(pcre_ && flags_.dotall)) {
          s.reset('\n');
          if (!pcre_) s.reset('\r');  // libstdc++ ECMAScript: '.' excludes \n and \r
        }
        return SetNode(s, begin);
      }
      case '^':
        return AssertNode(flags_.multiline ? Node::kLineBegin : Node::kBegin, begin);
      case '$':
        return AssertNode(flags_.multiline ? Node::kLineEnd : Node::kEnd, begin, !pcre_);
      case '\\': {
        if (pcre_ && More() && Peek() == 'Q') {  // \Q...\E: literal text
          ++i_;
          size_t e = p_.find("\\E", i_);
          size_t stop = e == std::string_view::npos ? p_.size() : e;
          std::vector<int> parts;
          for (; i_ < stop; ++i_) {
            CharSet s;
            s.set(static_cast<unsigned char>(p_[i_]));
            parts.push_back(SetNode(s, static_cast<int>(i_)));
          }
          if (e != std::string_view::npos) i_ += 2;
          if (parts.empty()) return kNoAtom;
          if (parts.size() == 1) return parts[0];
          Node n;
          n.kind = Node::kConcat;
          n.kids = std::move(parts);
          n.begin = begin;
          n.end = static_cast<int>(i_);
          return Add(std::move(n));
        }
        CharSet s;
        int assertion;
        strict_end_ = false;
        backref_ = -1;
        if (!ParseEscape(&s, &assertion, false)) return -1;
        if (backref_ >= 0) {
          const int b = EmptyNode(begin);
          nodes_[b].kind = Node::kAtomic;  // its body is filled in by ResolveBackrefs
          backrefs_.push_back({b, backref_});
          return b;
        }
        if (assertion >= 0) return AssertNode(static_cast<Node::Assertion>(assertion), begin, strict_end_);
        return SetNode(s, begin);
      }
      case '*':
      case '+':
      case '?':
        return Fail("nothing to repeat at offset " + std::to_string(begin));
      default: {
        CharSet s;
        s.set(static_cast<unsigned char>(c));
        return SetNode(s, begin);
      }
    }
  }

  // A backreference to group `number` (1-based) at i_: recorded in backref_ for ParseAtom.
  bool Backref(int number) {
    if (number < 1 || number > static_cast<int>(group_inner_.size()) || group_inner_[number - 1] < 0) {
      return Fail("backreference \\" + std::to_string(number) +
                  " to a group that is not closed before it makes matching cost unknown") >= 0;
    }
    backref_ = number - 1;
    return true;
  }

  // Fills each backreference node in. A backreference matches one of the strings its group can
  // match (the one captured), so it is modelled as that group's body, atomic (the matcher
  // compares, it never backtracks into a reference): every path of the real matcher is a path
  // of the model, so a linear verdict holds and a super-linear one may be a false alarm.
  // ECMAScript matches a reference to a group that did not participate as empty: there, unless
  // the group is on every path through the pattern, the reference is optional.
  bool ResolveBackrefs(int root) {
    if (backrefs_.empty()) return true;
    std::vector<char> mandatory(nodes_.size(), 0);
    std::vector<std::pair<int, bool>> stack{{root, true}};
    while (!stack.empty()) {
      auto [n, m] = stack.back();
      stack.pop_back();
      mandatory[n] = m;
      const Node& node = nodes_[n];
      const bool kids_m = m && (node.kind == Node::kConcat || node.kind == Node::kAtomic ||
                                (node.kind == Node::kRepeat && node.min >= 1));
      for (int k : node.kids) stack.push_back({k, kids_m});
    }
    // Each reference copies its group's body, which may hold references itself: bound the
    // expanded size so that no walk of the node graph can take long.
    std::vector<int64_t> size(nodes_.size(), -1);
    std::function<int64_t(int)> expanded = [&](int n) -> int64_t {
      if (size[n] >= 0) return size[n];
      int64_t s = 1;
      for (int k : nodes_[n].kids) s = std::min<int64_t>(s + expanded(k), int64_t{1} << 40);
      return size[n] = s;
    };
    for (auto [b, group] : backrefs_) {
      const int inner = group_inner_[group];
      Node& node = nodes_[b];
      if (!pcre_ && !mandatory[inner]) {
        Node atomic;
        atomic.kind = Node::kAtomic;
        atomic.kids = {inner};
        atomic.begin = node.begin;
        atomic.end = node.end;
        const int a = Add(std::move(atomic));
        Node& ref = nodes_[b];  // Add may have moved the vector
        ref.kind = Node::kRepeat;
        ref.min = 0;
        ref.max = 1;
        ref.kids = {a};
        size.push_back(-1);
      } else {
        node.kind = Node::kAtomic;
        node.kids = {inner};
      }
    }
    const int64_t limit = static_cast<int64_t>(p_.size()) * 4 + 4096;
    if (expanded(root) > limit) {
      return Fail("backreferences expand the pattern beyond " + std::to_string(limit) + " nodes") >= 0;
    }
    return true;
  }

  static constexpr int kNoAtom = -2;
  std::string_view p_;
  size_t i_ = 0;
  int max_nesting_;
  bool pcre_;
  Flags flags_;
  bool strict_end_ = false;  // set by ParseEscape for \z
  int backref_ = -1;          // set by ParseEscape for a backreference: its group (0-based)
  std::vector<int> group_inner_;  // per capturing group, its body node; -1 while open
  std::vector<std::pair<int, int>> backrefs_;  // (node, group) of every backreference
  std::vector<Node> nodes_;
  std::string error_;
};

// ---------------------------------------------------------------------------------------------
// Glushkov position automaton with edge multiplicities.

// Where the consumer's matcher tries the pattern: kNone when it matches the whole input; when it
// searches, at every start position, or only where PCRE2's start-up optimisations let it (see
// SearchStarts in regex_engines.h).
enum class Starts : uint8_t { kNone, kAnywhere, kLineStarts, kStartOnly };

// A directed graph over positions 0..size()-1 in compressed form: the edges out of v are
// edges[begin[v] .. begin[v + 1]), each (target, multiplicity). One allocation per array instead
// of one per position (the analysis runs on every pattern of a 100,000-item bundle).
struct Graph {
  using Edge = std::pair<int, uint32_t>;
  std::vector<uint32_t> begin{0};
  std::vector<Edge> edges;

  int size() const { return static_cast<int>(begin.size()) - 1; }
  std::span<const Edge> operator[](int v) const {
    return {edges.data() + begin[v], edges.data() + begin[v + 1]};
  }
  void Clear() {
    begin.assign(1, 0);
    edges.clear();
  }
  // Closes the edge list of the next position (its edges are the ones appended since).
  void EndPosition() { begin.push_back(static_cast<uint32_t>(edges.size())); }
  // The reverse graph (same multiplicities) into *out.
  void Reverse(Graph* out) const {
    const int n = size();
    out->begin.assign(n + 1, 0);
    for (const Edge& e : edges) ++out->begin[e.first + 1];
    for (int v = 0; v < n; ++v) out->begin[v + 1] += out->begin[v];
    out->edges.resize(edges.size());
    std::vector<uint32_t>& fill = out->scratch_;
    fill.assign(out->begin.begin(), out->begin.end() - 1);
    for (int v = 0; v < n; ++v) {
      for (const Edge& e : (*this)[v]) out->edges[fill[e.first]++] = {v, e.second};
    }
  }

 private:
  std::vector<uint32_t> scratch_;
};

// The automaton's storage is reused from one pattern to the next (see Workspace): Clear keeps
// every vector's capacity.
struct Automaton {
  void Clear() {
    sets.clear();
    atom.clear();
    atomic.clear();
    look.clear();
    look_clean_last.clear();
    look_last.clear();
    look_parent.clear();
    follow.Clear();
    final_pos.clear();
    safe.clear();
    is_p0.clear();
    starts = Starts::kNone;
  }
  Starts starts = Starts::kNone;  // where the matcher tries the pattern
  std::vector<CharSet> sets;  // per position (index 0 is the start state, matching nothing)
  std::vector<int> atom;      // AST node of each position, for messages (-1: none)
  std::vector<int> atomic;    // outermost atomic group/possessive node holding it, or -1
  std::vector<int> look;      // innermost lookahead (kLook node) holding it, or -1
  // Per lookahead node: the positions after which its body has matched, without passing an
  // assertion (clean) or possibly through one (at the end of the input). Reaching them ends the
  // lookahead's own backtracking.
  std::map<int, std::vector<int>> look_clean_last, look_last;
  std::map<int, int> look_parent;  // per lookahead node: the lookahead around it, or -1
  // Edges, parallel ones merged into a multiplicity; none into a position matching nothing.
  Graph follow;
  std::vector<bool> final_pos;  // the pattern can end after this position (assertions allowed)
  std::vector<bool> safe;       // search: reaching it is a match (the rest is empty, no assertion)
  // Search: the implicit loop before the pattern (an any-byte position, under PCRE2's line
  // starts also a '\n' one; each split in two when the automaton is split by word bytes, see
  // GlushkovBuilder).
  std::vector<char> is_p0;
};

// The word-boundary condition on a gap between two bytes, from the \b and \B met there without
// consuming anything (both at one gap can never hold).
constexpr uint8_t kGapAny = 0, kGapBoundary = 1, kGapNoBoundary = 2, kGapNever = 3;
// Both conditions on the same gap.
uint8_t MeetGap(uint8_t a, uint8_t b) {
  if (a == kGapAny) return b;
  if (b == kGapAny) return a;
  return a == b ? a : kGapNever;
}
// Either condition (alternative empty passages).
uint8_t JoinGap(uint8_t a, uint8_t b) {
  if (a == b || b == kGapNever) return a;
  return a == kGapNever ? b : kGapAny;
}
// Whether a gap between a byte of kind `before` and one of kind `after` (true: a word byte
// [A-Za-z0-9_]; the input's start and end count as non-word) meets `gap`.
bool GapHolds(uint8_t gap, bool before, bool after) {
  return gap == kGapAny || (gap == kGapBoundary && before != after) ||
         (gap == kGapNoBoundary && before == after);
}

const CharSet& WordBytes() {
  static const CharSet kWord = [] {
    CharSet s;
    for (int x = 0; x < 256; ++x) s[x] = (x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z') || (x >= '0' && x <= '9') || x == '_';
    return s;
  }();
  return kWord;
}

// A first (last) position and the word-boundary condition on the gap before (after) its byte.
struct End {
  int pos;
  uint8_t gap;
};
// A list of Ends: the range [begin, begin + size) of BuilderStorage::ends.
struct EndList {
  uint32_t begin = 0, size = 0;
};
// first/last position lists of a subexpression. "clean": without passing an assertion; "free":
// without passing a '^' anchor; "open": without passing a strict end ('$'), so more input can
// be consumed after it. `first` includes the first positions of lookahead bodies met on the way
// (side branches: their last positions lead nowhere in the main path). `gap`: the \b or \B
// condition of the empty passage (when nullable).
struct Info {
  bool nullable = true, clean_nullable = true, free_nullable = true, open_nullable = true;
  uint8_t gap = kGapAny;
  EndList first, free_first, last, clean_last, open_last;
};
// An edge as the builder collects it: positions before the word split, and the \b/\B condition.
struct BuilderEdge {
  int from, to;
  uint8_t gap;
};

// What GlushkovBuilder collects, kept from one pattern to the next (one per thread and nesting
// depth, see Workspace): Clear() keeps every vector's capacity, so a typical pattern makes no
// allocation here. A subexpression's list of Ends is a range of `ends` (nothing is freed before
// Clear), not a vector of its own.
struct BuilderStorage {
  void Clear() {
    ends.clear();
    sets.clear();
    atom.clear();
    atomic.clear();
    look.clear();
    edges.clear();
    look_clean_last.clear();
    look_last.clear();
    look_parent.clear();
    finals.clear();
    safe.clear();
    tails.clear();
  }
  std::vector<End> ends;
  // Per position before the split (see Automaton for the meanings).
  std::vector<CharSet> sets;
  std::vector<int> atom, atomic, look;
  std::vector<BuilderEdge> edges;
  std::map<int, std::vector<int>> look_clean_last, look_last;
  std::map<int, int> look_parent;
  std::vector<End> finals;
  std::vector<int> safe;
  // Visit's stack for the optional copies of a counted repetition (used by index: the nested
  // visits push and pop above it).
  std::vector<Info> tails;
  // Split: edges grouped by source (counting sort), each position's first half and number of
  // halves, each new position's word flag.
  std::vector<uint32_t> edge_begin, cursor;
  std::vector<BuilderEdge> grouped;
  std::vector<int> half_first;
  std::vector<uint8_t> half_count;
  std::vector<char> half_word;
};

class GlushkovBuilder {
 public:
  // `libstdcxx_empty_iteration`: the matcher is libstdc++'s, which lets a loop body match empty
  // once more at the same position (its _M_rep_once_more allows two entries per position), so a
  // loop whose body can match empty has two ways to start each iteration: (a|)* is exponential.
  // `storage` and `out` are cleared and reused (not owned; both outlive the builder).
  GlushkovBuilder(const std::vector<Node>& nodes, size_t max_positions, bool libstdcxx_empty_iteration,
                  BuilderStorage* storage, Automaton* out)
      : nodes_(nodes), max_positions_(max_positions), libstdcxx_empty_iteration_(libstdcxx_empty_iteration),
        s_(*storage), a_(*out) {
    s_.Clear();
    a_.Clear();
    AddPosition(CharSet(), -1, -1, -1);
  }

  // Builds the automaton of `root`; adds the search loop for `starts`. False on overflow.
  //
  // \b and \B are modelled exactly: every edge and every end of the pattern carries the condition
  // of its gap, and when one does, each position is split into its word and its non-word bytes
  // and an edge is kept only between halves whose kinds meet its condition. So ^(a+\b)+$ is not
  // ambiguous (its outer loop would need a boundary between two a's), and an attack on \bfor\b.*x
  // pumps " for", not "for".
  //
  // Search: an implicit loop over any byte before the pattern (position p0), from which the
  // pattern is entered at each start position. Under PCRE2's line-start optimisation the pattern
  // is entered only from a second loop position matching '\n' (a start after a newline); when
  // PCRE2 anchors the pattern there is no loop.
  bool Build(int root, Starts starts) {
    a_.starts = starts;
    Info info = Visit(root, -1, -1);
    if (overflow_) return false;
    Link(Single(0), info.first);
    for (uint32_t i = 0; i < info.last.size; ++i) s_.finals.push_back(s_.ends[info.last.begin + i]);
    if (info.nullable) s_.finals.push_back({0, info.gap});
    if (starts != Starts::kNone) {
      for (uint32_t i = 0; i < info.clean_last.size; ++i) s_.safe.push_back(s_.ends[info.clean_last.begin + i].pos);
      if (info.clean_nullable) s_.safe.push_back(0);
    }
    if (starts == Starts::kAnywhere || starts == Starts::kLineStarts) {
      // Under line starts the loop is p0 for any byte but '\n' and p0n for '\n': disjoint, so
      // the loop itself has one path per input (it stands for the choice of a start position).
      CharSet all, newline;
      all.set();
      newline.set('\n');
      p0_ = AddPosition(starts == Starts::kLineStarts ? all & ~newline : all, -1, -1, -1);
      int entry = p0_;
      EndList loop = List({0, p0_}), body = Single(p0_);
      if (starts == Starts::kLineStarts) {
        p0n_ = entry = AddPosition(newline, -1, -1, -1);
        loop = List({0, p0_, p0n_});
        body = List({p0_, p0n_});
      }
      Link(loop, body);
      Link(Single(entry), info.free_first);
      if (info.free_nullable && info.clean_nullable) s_.safe.push_back(entry);
      if (info.free_nullable && info.nullable) s_.finals.push_back({entry, info.gap});
    }
    if (overflow_) return false;
    Split();
    return true;
  }

 private:
  int AddPosition(const CharSet& set, int atom, int atomic, int look) {
    s_.sets.push_back(set);
    s_.atom.push_back(atom);
    s_.atomic.push_back(atomic);
    s_.look.push_back(look);
    return static_cast<int>(s_.sets.size() - 1);
  }

  EndList Single(int pos) {
    s_.ends.push_back({pos, kGapAny});
    return {static_cast<uint32_t>(s_.ends.size() - 1), 1};
  }
  EndList List(std::initializer_list<int> positions) {
    EndList r{static_cast<uint32_t>(s_.ends.size()), static_cast<uint32_t>(positions.size())};
    for (int p : positions) s_.ends.push_back({p, kGapAny});
    return r;
  }

  // `a` followed by `b` with `gap` added to each of b's conditions (entries that can never hold
  // are dropped). Shares storage with `a` or `b` where it can; `a`'s entries come first.
  EndList Join(EndList a, EndList b, uint8_t gap) {
    if (b.size == 0) return a;
    if (a.size == 0 && gap == kGapAny) return b;
    std::vector<End>& e = s_.ends;
    EndList r = a;
    if (a.size == 0 || a.begin + a.size != e.size()) {  // not at the end: copy it there
      r.begin = static_cast<uint32_t>(e.size());
      e.reserve(e.size() + a.size + b.size);
      for (uint32_t i = 0; i < a.size; ++i) e.push_back(e[a.begin + i]);
    }
    e.reserve(e.size() + b.size);
    for (uint32_t i = 0; i < b.size; ++i) {
      const End x = e[b.begin + i];
      const uint8_t g = MeetGap(x.gap, gap);
      if (g != kGapNever) e.push_back({x.pos, g});
    }
    r.size = static_cast<uint32_t>(e.size()) - r.begin;
    return r;
  }

  void Link(EndList from, EndList to) {
    edges_count_ += static_cast<size_t>(from.size) * to.size;
    if (edges_count_ > kMaxEdges) {  // (a?){n}-like patterns: quadratically many edges
      overflow_ = true;
      return;
    }
    for (uint32_t i = 0; i < from.size; ++i) {
      const End p = s_.ends[from.begin + i];
      for (uint32_t j = 0; j < to.size; ++j) {
        const End q = s_.ends[to.begin + j];
        const uint8_t gap = MeetGap(p.gap, q.gap);
        if (gap == kGapNever) continue;
        if (gap != kGapAny) gaps_ = true;
        s_.edges.push_back({p.pos, q.pos, gap});
      }
    }
  }
  static constexpr size_t kMaxEdges = 200'000;
  size_t edges_count_ = 0;

  Info Concat(const Info& a, const Info& b) {
    // After consuming a byte the input's start is behind: a '^' (not multiline) cannot hold, so
    // only b's free first positions follow; and nothing follows a strict '$'.
    Link(a.open_last, b.free_first);
    Info r;
    r.gap = MeetGap(a.gap, b.gap);
    const bool possible = r.gap != kGapNever;
    r.nullable = a.nullable && b.nullable && possible;
    r.clean_nullable = a.clean_nullable && b.clean_nullable && possible;
    r.free_nullable = a.free_nullable && b.free_nullable && possible;
    r.open_nullable = a.open_nullable && b.open_nullable && possible;
    r.first = a.open_nullable ? Join(a.first, b.first, a.gap) : a.first;
    r.free_first = a.free_nullable && a.open_nullable ? Join(a.free_first, b.free_first, a.gap) : a.free_first;
    r.last = b.nullable ? Join(b.last, a.last, b.gap) : b.last;
    r.clean_last = b.clean_nullable ? Join(b.clean_last, a.clean_last, b.gap) : b.clean_last;
    r.open_last = b.open_nullable ? Join(b.open_last, a.open_last, b.gap) : b.open_last;
    return r;
  }

  static void MakeOptional(Info* e) {
    e->nullable = e->clean_nullable = e->free_nullable = e->open_nullable = true;
    e->gap = kGapAny;  // skipping it passes no assertion
  }

  // `atomic`: outermost atomic node around n, `look`: innermost lookahead around n (or -1).
  Info Visit(int n, int atomic, int look) {
    if (overflow_) return {};
    const Node& node = nodes_[n];
    switch (node.kind) {
      case Node::kEmpty:
        return {};
      case Node::kAssert: {
        Info r;
        // It may fail, so reaching it is not yet a match. \b and \B are taken as holding here:
        // the simulation cannot see the next byte, and after a loop over word (or non-word)
        // bytes a boundary is almost always at hand (`\d+\b` searched matches at once); their
        // condition on the bytes around them is on the gap (see Build).
        // '^' (not multiline) is reached only at the input's start (Concat links no consumed
        // position to what follows it), where it holds.
        r.clean_nullable = node.assertion == Node::kWord || node.assertion == Node::kNotWord ||
                           node.assertion == Node::kBegin;
        r.free_nullable = node.assertion != Node::kBegin;
        r.open_nullable = !node.strict_end;
        if (node.assertion == Node::kWord) r.gap = kGapBoundary;
        if (node.assertion == Node::kNotWord) r.gap = kGapNoBoundary;
        return r;
      }
      case Node::kAtomic:
        return Visit(node.kids[0], atomic >= 0 ? atomic : n, look);
      case Node::kLook: {
        // The body runs from here as a side branch (a backtracking matcher explores it, and
        // retries it on every backtrack of what came before); the main path goes on unchanged,
        // with an assertion that may fail.
        s_.look_parent[n] = look;
        Info body = Visit(node.kids[0], atomic, n);
        // A lookahead in a counted repetition is visited once per copy: keep every copy's ends.
        auto& clean_ends = s_.look_clean_last[n];  // present even when empty
        for (uint32_t i = 0; i < body.clean_last.size; ++i) clean_ends.push_back(s_.ends[body.clean_last.begin + i].pos);
        auto& ends = s_.look_last[n];
        for (uint32_t i = 0; i < body.last.size; ++i) ends.push_back(s_.ends[body.last.begin + i].pos);
        Info r;
        r.clean_nullable = false;
        // A positive lookahead whose body must pass '^' holds only at the input's start.
        if (!node.negative) r.free_nullable = body.free_nullable;
        r.first = body.first;
        r.free_first = body.free_first;
        return r;
      }
      case Node::kSet: {
        if (s_.sets.size() > max_positions_) {
          overflow_ = true;
          return {};
        }
        const int p = AddPosition(node.set, n, atomic, look);
        Info r;
        r.nullable = r.clean_nullable = r.free_nullable = r.open_nullable = false;
        r.first = r.free_first = r.last = r.clean_last = r.open_last = Single(p);
        return r;
      }
      case Node::kConcat: {
        Info r;
        for (int k : node.kids) r = Concat(r, Visit(k, atomic, look));
        return r;
      }
      case Node::kAlt: {
        Info r;
        r.nullable = r.clean_nullable = r.free_nullable = r.open_nullable = false;
        r.gap = kGapNever;
        for (int k : node.kids) {
          const Info b = Visit(k, atomic, look);
          r.nullable = r.nullable || b.nullable;
          r.clean_nullable = r.clean_nullable || b.clean_nullable;
          r.free_nullable = r.free_nullable || b.free_nullable;
          r.open_nullable = r.open_nullable || b.open_nullable;
          if (b.nullable || b.clean_nullable || b.free_nullable || b.open_nullable) r.gap = JoinGap(r.gap, b.gap);
          r.first = Join(r.first, b.first, kGapAny);
          r.free_first = Join(r.free_first, b.free_first, kGapAny);
          r.last = Join(r.last, b.last, kGapAny);
          r.clean_last = Join(r.clean_last, b.clean_last, kGapAny);
          r.open_last = Join(r.open_last, b.open_last, kGapAny);
        }
        if (r.gap == kGapNever) r.gap = kGapAny;  // not nullable: unused
        return r;
      }
      case Node::kRepeat: {
        const int kid = node.kids[0];
        if (node.max == -1) {
          Info r;
          for (int i = 0; i + 1 < node.min; ++i) r = Concat(r, Visit(kid, atomic, look));
          Info loop = Visit(kid, atomic, look);
          Link(loop.open_last, loop.free_first);  // the repetition's back edge
          if (libstdcxx_empty_iteration_ && loop.nullable) Link(loop.open_last, loop.free_first);
          if (node.min == 0) MakeOptional(&loop);
          return Concat(r, loop);
        }
        Info r;
        for (int i = 0; i < node.min; ++i) r = Concat(r, Visit(kid, atomic, look));
        // Optional tail as nested optionals (E(E(E)?)?)?, which adds no ambiguity of its own.
        const size_t base = s_.tails.size();
        for (int i = node.min; i < node.max && !overflow_; ++i) {
          const Info e = Visit(kid, atomic, look);
          s_.tails.push_back(e);
        }
        Info opt;
        for (size_t i = s_.tails.size(); i > base; --i) {
          Info e = Concat(s_.tails[i - 1], opt);
          MakeOptional(&e);
          opt = e;
        }
        s_.tails.resize(base);
        return Concat(r, opt);
      }
    }
    return {};
  }

  // Builds a_ from what Visit and Build collected. Without any \b or \B condition, positions map
  // one to one; with one, each position splits into its word and non-word bytes (see Build).
  // Parallel edges are merged into multiplicities, and edges into a position matching nothing
  // dropped.
  void Split() {
    const int n = static_cast<int>(s_.sets.size());
    bool gaps = gaps_;
    for (const End& e : s_.finals) gaps = gaps || e.gap != kGapAny;
    const CharSet& word = WordBytes();
    s_.half_first.assign(n, 0);
    s_.half_count.assign(n, 0);
    s_.half_word.clear();
    auto add = [&](int p, const CharSet& set, bool is_word) {
      if (s_.half_count[p]++ == 0) s_.half_first[p] = static_cast<int>(a_.sets.size());
      s_.half_word.push_back(is_word);
      a_.sets.push_back(set);
      a_.atom.push_back(s_.atom[p]);
      a_.atomic.push_back(s_.atomic[p]);
      a_.look.push_back(s_.look[p]);
      a_.is_p0.push_back(p == p0_ || p == p0n_);
    };
    add(0, CharSet(), false);  // before the input: a non-word byte for \b
    for (int p = 1; p < n; ++p) {
      const CharSet w = s_.sets[p] & word, nw = s_.sets[p] & ~word;
      if (!gaps || w.none() || nw.none()) {
        add(p, s_.sets[p], w.any());
      } else {
        add(p, w, true);
        add(p, nw, false);
      }
    }
    // Group the edges by source (stable counting sort), then emit each new position's edges.
    s_.edge_begin.assign(n + 1, 0);
    for (const BuilderEdge& e : s_.edges) ++s_.edge_begin[e.from + 1];
    for (int p = 0; p < n; ++p) s_.edge_begin[p + 1] += s_.edge_begin[p];
    s_.cursor.assign(s_.edge_begin.begin(), s_.edge_begin.end() - 1);
    s_.grouped.resize(s_.edges.size());
    for (const BuilderEdge& e : s_.edges) s_.grouped[s_.cursor[e.from]++] = e;
    std::vector<Graph::Edge>& out = a_.follow.edges;
    for (int p = 0; p < n; ++p) {
      for (int hp = s_.half_first[p]; hp < s_.half_first[p] + s_.half_count[p]; ++hp) {
        const size_t begin = out.size();
        for (uint32_t i = s_.edge_begin[p]; i < s_.edge_begin[p + 1]; ++i) {
          const BuilderEdge& e = s_.grouped[i];
          for (int hq = s_.half_first[e.to]; hq < s_.half_first[e.to] + s_.half_count[e.to]; ++hq) {
            if (a_.sets[hq].any() && GapHolds(e.gap, s_.half_word[hp], s_.half_word[hq])) out.push_back({hq, 1});
          }
        }
        std::sort(out.begin() + begin, out.end());
        size_t merged = begin;
        for (size_t i = begin; i < out.size(); ++i) {
          if (merged > begin && out[merged - 1].first == out[i].first) {
            out[merged - 1].second = std::min<uint32_t>(out[merged - 1].second + out[i].second, 1u << 30);
          } else {
            out[merged++] = out[i];
          }
        }
        out.resize(merged);
        a_.follow.EndPosition();
      }
    }
    const size_t total = a_.sets.size();
    a_.final_pos.assign(total, false);
    a_.safe.assign(total, false);
    for (const End& e : s_.finals) {
      for (int h = s_.half_first[e.pos]; h < s_.half_first[e.pos] + s_.half_count[e.pos]; ++h) {
        if (GapHolds(e.gap, s_.half_word[h], false)) a_.final_pos[h] = true;  // the input's end: non-word
      }
    }
    for (int p : s_.safe) {
      for (int h = s_.half_first[p]; h < s_.half_first[p] + s_.half_count[p]; ++h) a_.safe[h] = true;
    }
    auto map_list = [&](const std::map<int, std::vector<int>>& in, std::map<int, std::vector<int>>* o) {
      for (const auto& [look, list] : in) {
        auto& dst = (*o)[look];
        for (int p : list) {
          for (int h = s_.half_first[p]; h < s_.half_first[p] + s_.half_count[p]; ++h) dst.push_back(h);
        }
      }
    };
    map_list(s_.look_clean_last, &a_.look_clean_last);
    map_list(s_.look_last, &a_.look_last);
    a_.look_parent = s_.look_parent;
  }

  const std::vector<Node>& nodes_;
  size_t max_positions_;
  bool libstdcxx_empty_iteration_;
  bool overflow_ = false;
  BuilderStorage& s_;
  Automaton& a_;
  int p0_ = -1, p0n_ = -1;  // the search loop's positions (see Build), or -1
  bool gaps_ = false;  // some edge carries a \b or \B condition
};

// A hash map from 64-bit keys (never ~0) to V, for the analyses' searches, which insert up to
// millions of keys and erase none: open addressing with linear probing over a power-of-two table
// kept at most half full. std::unordered_map spent more time in malloc and rehashing than the
// searches themselves (regex_cost_fuzz timed out on \xc1{1000}**: 4M triples, 0.4 s).
template <typename V>
class FlatMap64 {
 public:
  // The value of `key`, or null. Valid until the next Emplace.
  const V* Find(uint64_t key) const {
    if (keys_.empty()) return nullptr;
    for (size_t h = Slot(key);; h = (h + 1) & (keys_.size() - 1)) {
      if (keys_[h] == key) return &values_[h];
      if (keys_[h] == kFree) return nullptr;
    }
  }
  // The value of `key`, which must be present.
  const V& At(uint64_t key) const { return *Find(key); }
  // Inserts (key, value) unless `key` is present; true if it inserted.
  bool Emplace(uint64_t key, const V& value) {
    if ((size_ + 1) * 2 > keys_.size()) Grow();
    for (size_t h = Slot(key);; h = (h + 1) & (keys_.size() - 1)) {
      if (keys_[h] == key) return false;
      if (keys_[h] == kFree) {
        keys_[h] = key;
        values_[h] = value;
        ++size_;
        return true;
      }
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kFree = ~uint64_t{0};
  // Fibonacci hashing: the top bits of the product (keys are dense grids of small numbers).
  size_t Slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  void Grow() {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<V> old_values = std::move(values_);
    keys_.assign(std::max<size_t>(64, old_keys.size() * 2), kFree);
    values_.assign(keys_.size(), V{});
    shift_ = 64 - std::countr_zero(keys_.size());
    size_ = 0;
    for (size_t h = 0; h < old_keys.size(); ++h) {
      if (old_keys[h] != kFree) Emplace(old_keys[h], old_values[h]);
    }
  }

  std::vector<uint64_t> keys_;  // kFree or a key
  std::vector<V> values_;       // per slot of keys_
  size_t size_ = 0;
  int shift_ = 64;              // 64 - log2(table size)
};

// Decides whether the pattern matches a concrete (short) input, with every assertion evaluated
// on that input: lookaheads (nested ones too) by running their body, \b and \B on the bytes around,
// '^' and '$' at the input's ends. What it cannot evaluate it takes as matching, so "no match" is
// a proof: atomic groups and possessive quantifiers as plain groups, backreferences as their
// group's body, lookbehinds and multiline anchors as holding (over-approximations, except under
// a negative lookahead, where they are under-approximations). Used to confirm that an attack
// fails, which the position automaton alone cannot tell when lookaheads nest.
class ExactMatcher {
 public:
  // `step` is charged one unit per node evaluation at one input index; it returns false when
  // the caller's budget is spent (then every answer is "matches", which confirms nothing).
  ExactMatcher(const std::vector<Node>& nodes, std::string_view s, const std::function<bool()>& step)
      : nodes_(nodes), s_(s), words_((s.size() + 1 + 63) / 64), step_(step) {}

  // A set of input indices 0..|s| (ends of matches), words_ words.
  using Bits = std::vector<uint64_t>;
  using BitsView = std::span<const uint64_t>;

  // The ends j of the matches of node `n` starting at i. The view points into the memo: it is
  // valid until the next call of Ends or EndsFrom, so callers use it at once.
  BitsView Ends(int n, size_t i) {
    const uint64_t key = static_cast<uint64_t>(n) * (s_.size() + 1) + i;
    if (const uint32_t* at = memo_.Find(key)) return View(*at);
    Bits r(words_, 0);
    if (!over_ && !step_()) over_ = true;
    if (over_) {
      Set(&r, i);  // out of budget: claim a match, which confirms nothing
      return Remember(key, r);
    }
    const Node& node = nodes_[n];
    if (IsLeaf(node)) {
      LeafEnds(node, i, &r);
    } else {
      Bits from(words_, 0);
      Set(&from, i);
      r = Composite(node, from);
    }
    return Remember(key, r);
  }

  // The union of Ends(n, j) over every j in `from`, computed for the whole set at once, so that
  // a search (every start position) costs one pass over the pattern instead of one per start:
  // c{500}c*b took seconds when each start walked the 500 elements (regex_cost_fuzz's timeout).
  // A single start goes through the memo. Charged one unit per call.
  Bits EndsFrom(int n, const Bits& from) {
    size_t count = 0, only = 0;
    for (size_t w = 0; w < words_ && count < 2; ++w) {
      if (from[w] == 0) continue;
      count += static_cast<size_t>(std::popcount(from[w]));
      only = w * 64 + static_cast<size_t>(std::countr_zero(from[w]));
    }
    if (count == 0) return from;
    if (count == 1) {
      BitsView v = Ends(n, only);
      return Bits(v.begin(), v.end());
    }
    if (!over_ && !step_()) over_ = true;
    if (over_) return from;  // out of budget: claim matches, which confirms nothing
    const Node& node = nodes_[n];
    if (!IsLeaf(node)) return Composite(node, from);
    Bits r(words_, 0);
    for (size_t w = 0; w < words_; ++w) {
      for (uint64_t bits = from[w]; bits != 0; bits &= bits - 1) {
        LeafEnds(node, w * 64 + static_cast<size_t>(std::countr_zero(bits)), &r);
      }
    }
    return r;
  }

  static bool Any(BitsView b) {
    for (uint64_t w : b) {
      if (w) return true;
    }
    return false;
  }
  static bool Test(BitsView b, size_t j) { return (b[j / 64] >> (j % 64)) & 1; }

 private:
  static void Set(Bits* b, size_t j) { (*b)[j / 64] |= uint64_t{1} << (j % 64); }
  static void Or(Bits* b, BitsView o) {
    for (size_t w = 0; w < b->size(); ++w) (*b)[w] |= o[w];
  }
  static bool IsLeaf(const Node& node) {
    return node.kind == Node::kEmpty || node.kind == Node::kSet || node.kind == Node::kAssert ||
           node.kind == Node::kLook;
  }
  // Adds to *r the ends of leaf `node` (no kids but a lookahead's body) starting at i.
  void LeafEnds(const Node& node, size_t i, Bits* r) {
    switch (node.kind) {
      case Node::kEmpty:
        Set(r, i);
        break;
      case Node::kSet:
        if (i < s_.size() && node.set.test(static_cast<unsigned char>(s_[i]))) Set(r, i + 1);
        break;
      case Node::kAssert:
        if (Holds(node, i)) Set(r, i);
        break;
      case Node::kLook:
        if (Any(Ends(node.kids[0], i)) != node.negative) Set(r, i);
        break;
      default:
        break;
    }
  }
  // The ends of a group, alternation, concatenation or repetition from any index of `from`.
  Bits Composite(const Node& node, const Bits& from) {
    switch (node.kind) {
      case Node::kAtomic:
        return EndsFrom(node.kids[0], from);
      case Node::kAlt: {
        Bits r(words_, 0);
        for (int k : node.kids) Or(&r, EndsFrom(k, from));
        return r;
      }
      case Node::kConcat: {
        Bits r = from;
        for (int k : node.kids) r = EndsFrom(k, r);
        return r;
      }
      case Node::kRepeat: {
        Bits cur = from;
        for (int k = 0; k < node.min && Any(cur); ++k) cur = EndsFrom(node.kids[0], cur);
        Bits r = cur, seen = cur;
        for (int k = node.min; (node.max == -1 || k < node.max) && Any(cur); ++k) {
          cur = EndsFrom(node.kids[0], cur);
          for (size_t w = 0; w < words_; ++w) cur[w] &= ~seen[w];  // only new ends go on
          Or(&r, cur);
          Or(&seen, cur);
        }
        return r;
      }
      default:
        return Bits(words_, 0);
    }
  }
  bool Word(size_t j) const {
    return j < s_.size() && (isalnum(static_cast<unsigned char>(s_[j])) || s_[j] == '_');
  }
  bool Holds(const Node& node, size_t i) const {
    switch (node.assertion) {
      case Node::kBegin: return i == 0;
      case Node::kEnd:
        return i == s_.size() || (!node.strict_end && i + 1 == s_.size() && s_[i] == '\n');
      case Node::kWord: return (i > 0 && Word(i - 1)) != Word(i);
      case Node::kNotWord: return (i > 0 && Word(i - 1)) == Word(i);
      case Node::kLineBegin: return i == 0 || s_[i - 1] == '\n';
      case Node::kLineEnd: return i == s_.size() || s_[i] == '\n';
      case Node::kOther: return true;
    }
    return true;
  }

  // The memo: (node, index) -> the entry's number; entry e's ends are pool_[e * words_, ...).
  BitsView Remember(uint64_t key, const Bits& r) {
    const auto entry = static_cast<uint32_t>(memo_.size());
    memo_.Emplace(key, entry);
    pool_.insert(pool_.end(), r.begin(), r.end());
    return View(entry);
  }
  BitsView View(uint32_t entry) const { return BitsView(pool_).subspan(size_t{entry} * words_, words_); }

  const std::vector<Node>& nodes_;
  std::string_view s_;
  const size_t words_;
  const std::function<bool()>& step_;
  bool over_ = false;
  FlatMap64<uint32_t> memo_;     // (node, index) -> entry
  std::vector<uint64_t> pool_;   // the entries' ends, words_ words each
};

// Strongly connected components (Tarjan, iterative). The vectors are reused from one pattern to
// the next (see Workspace).
class Components {
 public:
  std::vector<int> comp;     // per position: its component
  std::vector<bool> cyclic;  // per component: whether it has a cycle

  void Compute(const Graph& g) {
    const int n = g.size();
    index_.assign(n, -1);
    low_.assign(n, 0);
    on_.assign(n, 0);
    stack_.clear();
    comp.assign(n, -1);
    int next = 0, ncomp = 0;
    for (int s = 0; s < n; ++s) {
      if (index_[s] != -1) continue;
      call_.assign(1, {s, 0});
      index_[s] = low_[s] = next++;
      stack_.push_back(s);
      on_[s] = 1;
      while (!call_.empty()) {
        Frame& f = call_.back();
        if (f.e < g[f.v].size()) {
          int w = g[f.v][f.e++].first;
          if (index_[w] == -1) {
            index_[w] = low_[w] = next++;
            stack_.push_back(w);
            on_[w] = 1;
            call_.push_back({w, 0});
          } else if (on_[w]) {
            low_[f.v] = std::min(low_[f.v], index_[w]);
          }
          continue;
        }
        int v = f.v;
        call_.pop_back();
        if (!call_.empty()) low_[call_.back().v] = std::min(low_[call_.back().v], low_[v]);
        if (low_[v] == index_[v]) {
          while (true) {
            int w = stack_.back();
            stack_.pop_back();
            on_[w] = 0;
            comp[w] = ncomp;
            if (w == v) break;
          }
          ++ncomp;
        }
      }
    }
    cyclic.assign(ncomp, false);
    for (int v = 0; v < n; ++v) {
      for (auto [w, m] : g[v]) {
        if (comp[w] == comp[v]) cyclic[comp[v]] = true;
      }
    }
  }

 private:
  struct Frame {
    int v;
    size_t e;
  };
  std::vector<int> index_, low_, stack_;
  std::vector<char> on_;
  std::vector<Frame> call_;
};

std::string Quote(std::string_view pattern, const Node& n) {
  std::string s(pattern.substr(n.begin, n.end - n.begin));
  if (s.size() > 40) s = s.substr(0, 40) + "…";
  return "'" + s + "'";
}

bool Nullable(const std::vector<Node>& nodes, int n) {
  const Node& node = nodes[n];
  switch (node.kind) {
    case Node::kEmpty: case Node::kAssert: case Node::kLook: return true;
    case Node::kSet: return false;
    case Node::kConcat: case Node::kAtomic:
      for (int k : node.kids) {
        if (!Nullable(nodes, k)) return false;
      }
      return true;
    case Node::kAlt:
      for (int k : node.kids) {
        if (Nullable(nodes, k)) return true;
      }
      return false;
    case Node::kRepeat: return node.min == 0 || Nullable(nodes, node.kids[0]);
  }
  return true;
}

bool MatchesSomething(const std::vector<Node>& nodes, int n) {
  const Node& node = nodes[n];
  if (node.kind == Node::kSet) return node.set.any();
  if (node.kind == Node::kRepeat && node.max == 0) return false;
  if (node.kind == Node::kLook) return false;  // consumes nothing on the main path
  for (int k : node.kids) {
    if (MatchesSomething(nodes, k)) return true;
  }
  return false;
}

}  // namespace

// The analysis proper; depth > 0 for the nested analysis of a repeated body.
RegexCostReport AnalyzeCostAtDepth(std::string_view pattern, const RegexCostOptions& opts, int depth);

namespace {

// A bounded repetition unrolls into an acyclic automaton, which the loop-based EDA/IDA searches
// cannot see; yet (a?){n} matches a^k in C(n, k) ways, and a backtracking matcher tries them all.
// Repetition counts multiply through nesting of counted repetitions. An unbounded loop around
// one does not count: the automaton keeps that loop, and the EDA/IDA searches see whether copies
// of the body can meet (a `?` inside a `*`, as in ^(\\[^\\]([^\\]*[^\\.])?)*$, is one
// copy per iteration, between separators). Returns the offending node, or -1. Atomic bodies are
// skipped: the matcher never backtracks into them.
constexpr int64_t kAmbiguousRepeatLimit = 8;

// A single-byte set, or a sequence of them.
bool BytesInSequence(const std::vector<Node>& nodes, int n) {
  const Node& node = nodes[n];
  if (node.kind == Node::kSet) return true;
  if (node.kind != Node::kConcat) return false;
  for (int k : node.kids) {
    if (nodes[k].kind != Node::kSet) return false;
  }
  return true;
}

int FindAmbiguousBoundedRepeat(const std::vector<Node>& nodes, int n, int64_t multiplier,
                               std::string_view pattern, const RegexCostOptions& opts,
                               int depth, std::string* why) {
  const Node& node = nodes[n];
  if (node.kind == Node::kAtomic) return -1;
  int64_t m = multiplier;
  if (node.kind == Node::kRepeat) {
    m = node.max == -1 ? multiplier : std::min<int64_t>(multiplier * node.max, 1 << 20);
    const int kid = node.kids[0];
    if (node.max != -1 && m >= kAmbiguousRepeatLimit && MatchesSomething(nodes, kid)) {
      if (Nullable(nodes, kid)) {
        *why = "can match empty in each of its repetitions";
        return n;
      }
      // The body itself ambiguous under repetition, as in (a|a){20}: analyse (?:body)*, as a
      // whole-input match (the body is inside the pattern, so something can follow it). A body
      // of single-byte sets in sequence ([0-9a-f]{1,8}, (?:ab){8}) has one way to match any
      // input under repetition (each position has one successor): nothing to analyse.
      if (depth == 0 && !BytesInSequence(nodes, kid)) {
        const Node& k = nodes[kid];
        std::string starred = "(?:" + std::string(pattern.substr(k.begin, k.end - k.begin)) + ")*";
        RegexCostOptions inner = opts;
        inner.mode = RegexMode::kMatch;
        if (AnalyzeCostAtDepth(starred, inner, depth + 1).cost == RegexCost::kExponential) {
          *why = "repeats a body that can match the same input in more than one way";
          return n;
        }
      }
    }
  }
  for (int k : node.kids) {
    int found = FindAmbiguousBoundedRepeat(nodes, k, m, pattern, opts, depth, why);
    if (found >= 0) return found;
  }
  return -1;
}

// The EDA and IDA searches over one automaton, with witness construction and validation.
class Analyzer {
 public:
  Analyzer(std::string_view pattern, const RegexCostOptions& opts, const std::vector<Node>& nodes,
           int root, Automaton* a, Components* components)
      : pattern_(pattern), opts_(opts), nodes_(nodes), root_(root), a_(*a), n_(static_cast<int>(a->sets.size())),
        budget_(opts.max_product_states), max_steps_(opts.max_steps),
        comp_(components->comp), cyclic_(components->cyclic) {
    components->Compute(a_.follow);
  }

  RegexCostReport Run() {
    if (FindExponential() || over_) return Finish();
    FindPolynomial();
    return Finish();
  }

 private:
  using Key = uint64_t;
  static Key PairKey(int x, int y) { return (static_cast<Key>(x) << 32) | static_cast<uint32_t>(y); }

  RegexCostReport Finish() {
    if (over_) {
      RegexCostReport r;
      r.cost = RegexCost::kUnknown;
      r.reason = "pattern is too complex to prove linear within the analysis budget";
      return r;
    }
    return report_;
  }
  bool Step() {
    if (++steps_ > max_steps_) over_ = true;
    return !over_;
  }

  // A readable byte of `s`: a letter or digit when possible; with `rare`, the byte fewest
  // positions accept (so the pump spawns as few other paths as possible).
  // How many positions accept each byte; computed on first use (it costs O(256 n), and most
  // patterns never need it).
  void EnsurePopularity() {
    if (popularity_ready_) return;
    popularity_ready_ = true;
    for (int p = 1; p < n_; ++p) {
      for (int c = 0; c < 256; ++c) popularity_[c] += a_.sets[p].test(c);
    }
  }

  char PickChar(const CharSet& s, bool rare) {
    if (rare) {
      EnsurePopularity();
      int best = -1;
      for (int c = 1; c < 256; ++c) {
        if (s.test(c) && (best < 0 || popularity_[c] < popularity_[best])) best = c;
      }
      if (best >= 0) return static_cast<char>(best);
    }
    static constexpr std::string_view kPreferred =
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ _-.,:;=/<>\"'!@#%&()[]{}";
    for (char c : kPreferred) {
      if (s.test(static_cast<unsigned char>(c))) return c;
    }
    for (int c = 0; c < 256; ++c) {
      if (s.test(c)) return static_cast<char>(c);
    }
    return '?';
  }

  // Shortest word leading from `from` to `to` (the bytes of the positions entered after `from`),
  // staying inside component `within` when it is >= 0. False if there is none.
  bool ShortestWord(int from, int to, int within, bool rare, std::string* w) {
    w->clear();
    if (from == to) return true;
    std::vector<int> parent(n_, -2);
    std::vector<int> queue{from};
    parent[from] = -1;
    for (size_t i = 0; i < queue.size(); ++i) {
      int v = queue[i];
      for (auto [u, m] : a_.follow[v]) {
        if (!Step()) return false;
        if (parent[u] != -2 || (within >= 0 && comp_[u] != within)) continue;
        parent[u] = v;
        if (u == to) {
          std::vector<int> path;
          for (int x = to; x != from; x = parent[x]) {
            w->push_back(PickChar(a_.sets[x], rare));
            path.push_back(x);
          }
          std::reverse(w->begin(), w->end());
          std::reverse(path.begin(), path.end());
          if (from == 0) prefix_path_ = std::move(path);
          return true;
        }
        queue.push_back(u);
      }
    }
    return false;
  }

  // The simulation below follows every path of one match attempt at once. `stop_` marks the
  // positions whose reaching ends the backtracking being validated: a match (under search
  // semantics, a path reaching a safe position), or, for a witness inside a lookahead, the
  // lookahead's body having matched (the matcher does not backtrack into a finished lookahead).
  void SetWitness(int witness) {
    look_ = witness >= 0 ? a_.look[witness] : -1;
    stop_.assign(n_, 0);
    end_ok_.assign(n_, 0);
    for (int q = 0; q < n_; ++q) stop_[q] = a_.safe[q], end_ok_[q] = a_.final_pos[q];
    if (look_ >= 0) {
      for (int q : a_.look_clean_last.at(look_)) stop_[q] = 1;
      for (int q : a_.look_last.at(look_)) end_ok_[q] = 1;
    }
    // A match that starts at the very end (the pattern matching empty there) comes only after
    // every earlier start has been tried and failed: it does not save their time.
    for (int q = 0; q < n_; ++q) {
      if (a_.is_p0[q]) end_ok_[q] = 0;
    }
  }
  bool Stopped(const std::vector<int>& set) const {
    for (int q : set) {
      if (stop_[q]) return true;
    }
    return false;
  }
  bool EndsOk(const std::vector<int>& set) const {
    for (int q : set) {
      if (end_ok_[q]) return true;
    }
    return false;
  }
  // One byte of the attempt: the positions reached from `cur` on `c`. False when over budget.
  bool Advance(const std::vector<int>& cur, unsigned char c, bool with_p0, std::vector<int>* next) {
    next->clear();
    if (mark_.empty()) mark_.assign(n_, 0);
    for (int v : cur) {
      for (auto [u, m] : a_.follow[v]) {
        if (!Step()) return false;
        if (mark_[u] || !a_.sets[u].test(c) || (a_.is_p0[u] && !with_p0)) continue;
        mark_[u] = 1;
        next->push_back(u);
      }
    }
    for (int u : *next) mark_[u] = 0;
    std::sort(next->begin(), next->end());
    return true;
  }

  // Runs the attempt over `s`. Returns 1 if it was stopped (matched), 0 otherwise with *cur the
  // positions alive at the end (empty: every path died), -1 when over budget.
  int Run(const std::string& s, bool with_p0, std::vector<int>* cur) {
    std::vector<int> next;
    *cur = {0};
    if (Stopped(*cur)) return 1;
    for (char ch : s) {
      if (!Advance(*cur, static_cast<unsigned char>(ch), with_p0, &next)) return -1;
      cur->swap(next);
      if (cur->empty()) return 0;
      if (Stopped(*cur)) return 1;
    }
    return 0;
  }

  // True if the attempt on `s` fails without stopping (SetWitness first).
  bool AttemptFails(const std::string& s, bool with_p0) {
    std::vector<int> cur;
    return Run(s, with_p0, &cur) == 0 && (cur.empty() || !EndsOk(cur));
  }

  // The byte classes and PCRE2's required byte, computed on the first validation only (most
  // patterns have no witness, and this costs O(256 n)).
  void PrepareSuffixSearch() {
    if (suffix_search_ready_) return;
    suffix_search_ready_ = true;
    // One byte per class of bytes no position tells apart, the rarest (and printable) first.
    EnsurePopularity();
    std::vector<int> order(256);
    for (int c = 0; c < 256; ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
      auto rank = [&](int c) { return popularity_[c] * 4 + (isprint(c) ? 0 : 1); };
      return rank(x) < rank(y);
    });
    std::set<std::vector<bool>> classes;
    for (int c : order) {
      std::vector<bool> sig(n_);
      for (int p = 1; p < n_; ++p) sig[p] = a_.sets[p].test(c);
      if (classes.insert(std::move(sig)).second) byte_classes_.push_back(c);
    }
    if (opts_.dialect == RegexDialect::kPcre2) required_byte_ = Pcre2RequiredByte(pattern_, opts_.mode);
    if (required_byte_ >= 0) byte_classes_.insert(byte_classes_.begin(), required_byte_);
  }

  // Suffixes that make the attempt fail after `base`, shortest first (breadth-first over the
  // sets of live positions, one representative byte per class of equivalent bytes, the rarest
  // and printable first): "" if failing at the end already does it, else up to three bytes
  // ("0\0" for ^[\D1]+[0-9]*$, "\n\0" for \s*(.*?)\s*([#;].*)?$).
  std::vector<std::string> FailingSuffixes(const std::string& base, bool with_p0) {
    constexpr size_t kMaxSuffixes = 6, kMaxSets = 256, kMaxLength = 3;
    PrepareSuffixSearch();
    std::vector<std::string> out;
    std::vector<int> start;
    if (Run(base, with_p0, &start) != 0) return out;
    auto usable = [&](const std::string& w) {
      return required_byte_ < 0 || w.find(static_cast<char>(required_byte_)) != std::string::npos;
    };
    if (start.empty()) return usable("") ? std::vector<std::string>{""} : out;
    std::set<std::vector<int>> seen{start};
    std::vector<std::pair<std::vector<int>, std::string>> level{{start, ""}}, next_level;
    if (!EndsOk(start) && usable("")) out.push_back("");
    std::vector<int> next;
    for (size_t len = 1; len <= kMaxLength && !level.empty() && out.size() < kMaxSuffixes; ++len) {
      next_level.clear();
      for (const auto& [set, word] : level) {
        for (int c : byte_classes_) {
          if (!Advance(set, static_cast<unsigned char>(c), with_p0, &next)) return out;
          std::string w = word + static_cast<char>(c);
          if (next.empty()) {  // every path died; the required byte can still come after
            out.push_back(usable(w) ? w : w + static_cast<char>(required_byte_));
          } else if (!Stopped(next)) {
            if (!EndsOk(next) && usable(w)) out.push_back(w);
            if (seen.size() < kMaxSets && seen.insert(next).second) next_level.push_back({next, w});
          }
          if (out.size() >= kMaxSuffixes) return out;
        }
      }
      level.swap(next_level);
    }
    return out;
  }

  // Finds a suffix that makes the attempt on prefix + pump^k + suffix fail for several k, so the
  // ambiguity (at position `witness`) is actually explored. Fills *attack; false if none does.
  bool Validate(const std::string& prefix, const std::string& pump, bool with_p0, int witness,
                RegexAttack* attack) {
    if (pump.empty()) return false;
    SetWitness(witness);
    std::string base = prefix;
    for (int i = 0; i < 5; ++i) base += pump;
    std::vector<std::string> suffixes = FailingSuffixes(base, with_p0);
    if (!a_.look_parent.empty()) {
      // The automaton takes every lookahead as holding; where a nested one does not, the attempt
      // fails although the automaton sees a match (^(?=a+(?=a+$)a+)$): try the shortest
      // suffixes as well, and let the exact check decide.
      for (const std::string& w : ShortSuffixes()) {
        if (std::find(suffixes.begin(), suffixes.end(), w) == suffixes.end()) suffixes.push_back(w);
      }
    }
    for (const std::string& suffix : suffixes) {
      bool fails = true;
      for (size_t k : {1, 2, 5}) {
        std::string s = prefix;
        for (size_t i = 0; i < k; ++i) s += pump;
        s += suffix;
        if (!ExactFails(s, witness)) {
          fails = false;
          break;
        }
      }
      if (over_) return false;
      if (fails) {
        *attack = {prefix, pump, suffix};
        return true;
      }
    }
    return false;
  }

  // "" and one byte of each class (holding PCRE2's required byte when there is one).
  std::vector<std::string> ShortSuffixes() {
    PrepareSuffixSearch();
    std::vector<std::string> out;
    const std::string required = required_byte_ >= 0 ? std::string(1, static_cast<char>(required_byte_)) : "";
    out.push_back(required);
    for (int c : byte_classes_) {
      if (c != required_byte_) out.push_back(std::string(1, static_cast<char>(c)) + required);
    }
    return out;
  }

  // Whether `l` is the lookahead holding position `p`, or one around it.
  bool Inside(int p, int l) const {
    for (int x = a_.look[p]; x >= 0; x = a_.look_parent.at(x)) {
      if (x == l) return true;
    }
    return false;
  }

  // True if the consumer's matcher, on `s` (built from the last prefix found by ShortestWord
  // from the start, see prefix_path_), fails where the witness's ambiguity is explored, so that
  // it explores all of it: the witness's lookahead body at the index where the prefix enters it;
  // else, under search, every start position up to the one the witness's attempt uses (every
  // start but the very end for the search loop's own witnesses); else the whole input. Decided
  // by ExactMatcher, with assertions evaluated.
  bool ExactFails(const std::string& s, int witness) {
    const std::function<bool()> step = [this] { return Step(); };
    ExactMatcher m(nodes_, s, step);
    const int look = a_.look[witness];
    bool fails = true;
    if (look >= 0) {
      size_t entry = 0;
      while (entry < prefix_path_.size() && !Inside(prefix_path_[entry], look)) ++entry;
      if (entry >= prefix_path_.size()) return false;
      fails = !ExactMatcher::Any(m.Ends(nodes_[look].kids[0], entry));
    } else if (opts_.mode == RegexMode::kMatch) {
      fails = !ExactMatcher::Test(m.Ends(root_, 0), s.size());
    } else {
      size_t last = 0;
      if (a_.is_p0[witness]) {
        last = s.empty() ? 0 : s.size() - 1;
      } else {
        while (last < prefix_path_.size() && a_.is_p0[prefix_path_[last]]) ++last;
      }
      ExactMatcher::Bits starts((s.size() + 1 + 63) / 64, 0);
      for (size_t i = 0; i <= last && i <= s.size(); ++i) {
        if (TriedAt(s, i)) starts[i / 64] |= uint64_t{1} << (i % 64);
      }
      fails = !ExactMatcher::Any(m.EndsFrom(root_, starts));
    }
    return fails && !over_;
  }

  // Whether the consumer's search tries a match starting at index i of s (PCRE2's start-up
  // optimisations: only at the start, or at the start and after each newline).
  bool TriedAt(const std::string& s, size_t i) const {
    switch (a_.starts) {
      case Starts::kStartOnly: return i == 0;
      case Starts::kLineStarts: return i == 0 || s[i - 1] == '\n';
      case Starts::kNone: case Starts::kAnywhere: return true;
    }
    return true;
  }

  // Tries the witness cycle at `p` (pump built by `make_pump` with plain, then rare bytes).
  template <typename MakePump>
  bool ValidateWitness(int p, MakePump make_pump, RegexAttack* attack) {
    for (bool rare : {false, true}) {
      std::string prefix, pump;
      if (!ShortestWord(0, p, -1, rare, &prefix) || !make_pump(rare, &pump)) continue;
      if (Validate(prefix, pump, a_.is_p0[p], p, attack)) return true;
      if (over_) return false;
    }
    return false;
  }

  bool SameAtomic(int x, int y) const { return a_.atomic[x] >= 0 && a_.atomic[x] == a_.atomic[y]; }

  bool FindExponential();
  void FindPolynomial();
  bool TriplesFor(int p, int q, std::string* pump, bool rare);

  std::string_view pattern_;
  const RegexCostOptions& opts_;
  const std::vector<Node>& nodes_;
  const int root_;
  std::vector<int> prefix_path_;  // ShortestWord from the start: the position entered per byte
  Automaton& a_;
  const int n_;
  size_t budget_;
  size_t steps_ = 0;
  const size_t max_steps_;
  bool over_ = false;
  int popularity_[256] = {};
  bool popularity_ready_ = false;
  std::vector<int> byte_classes_;     // representative bytes, see the constructor
  int look_ = -1;                     // Validate: the witness's lookahead, or -1
  std::vector<char> stop_, end_ok_;   // Validate: see SetWitness
  std::vector<char> mark_;            // Advance: scratch
  // PCRE2: a byte every match holds (see Pcre2RequiredByte); an attack lacking it fails at once,
  // without backtracking, so every suffix must contain it. -1: none.
  int required_byte_ = -1;
  bool suffix_search_ready_ = false;
  const std::vector<int>& comp_;     // per position: its strongly connected component
  const std::vector<bool>& cyclic_;  // per component: whether it has a cycle
  // FindPolynomial: the positions reachable from p, and those reaching q.
  const std::vector<bool>* from_ = nullptr;
  const std::vector<bool>* to_ = nullptr;
  RegexCostReport report_;
};

bool Analyzer::FindExponential() {
  // EDA, case 1: two parallel ways to take the same edge inside a cycle ((a+)+, (a*)*).
  for (int p = 1; p < n_; ++p) {
    for (auto [q, m] : a_.follow[p]) {
      if (m < 2 || comp_[p] != comp_[q] || SameAtomic(p, q)) continue;
      RegexAttack attack;
      const int c = comp_[q];
      auto pump = [&, p = p, q = q](bool rare, std::string* w) {
        if (!ShortestWord(q, p, c, rare, w)) return false;
        w->push_back(PickChar(a_.sets[q], rare));
        return true;
      };
      if (ValidateWitness(q, pump, &attack)) {
        report_.cost = RegexCost::kExponential;
        report_.reason = "exponential backtracking: nested quantifiers can match " +
                         Quote(pattern_, nodes_[a_.atom[q]]) +
                         " by more than one repetition on the same input (as in (a+)+)";
        report_.attack = std::move(attack);
        return true;
      }
      if (over_) return false;
    }
  }

  // EDA, case 2: within one cycle, two runs diverge from a common state on the same word and
  // meet again ((a|a)*, (\w|\d)+). Pair search restricted to the component; each pair remembers
  // the pair it came from and the state where the runs diverged.
  struct From {
    Key parent;  // PairKey of the previous pair; ~0 for a first pair
    int origin;  // the state the two runs left
  };
  FlatMap64<From> seen;
  std::vector<Key> work;
  for (int p = 1; p < n_; ++p) {
    if (!cyclic_[comp_[p]]) continue;
    const auto& f = a_.follow[p];
    for (size_t i = 0; i < f.size(); ++i) {
      for (size_t j = i + 1; j < f.size(); ++j) {
        if (!Step()) return false;
        int x = f[i].first, y = f[j].first;
        if (comp_[x] != comp_[p] || comp_[y] != comp_[p]) continue;
        if ((a_.sets[x] & a_.sets[y]).none()) continue;
        if (SameAtomic(p, x) && SameAtomic(p, y)) continue;
        Key k = PairKey(std::min(x, y), std::max(x, y));
        if (seen.Emplace(k, From{~Key{0}, p})) work.push_back(k);
      }
    }
  }
  while (!work.empty()) {
    if (seen.size() > budget_) {
      over_ = true;
      return false;
    }
    const Key k = work.back();
    work.pop_back();
    const int x = static_cast<int>(k >> 32), y = static_cast<int>(k & 0xffffffffu);
    for (auto [x2, mx] : a_.follow[x]) {
      if (comp_[x2] != comp_[x]) continue;
      for (auto [y2, my] : a_.follow[y]) {
        if (!Step()) return false;
        if (comp_[y2] != comp_[y]) continue;
        if ((a_.sets[x2] & a_.sets[y2]).none()) continue;
        if (x2 == y2) {
          // Rebuild the diverging part of the pump from the pair chain, then close the cycle.
          std::vector<Key> chain;
          for (Key c = k; c != ~Key{0}; c = seen.At(c).parent) chain.push_back(c);
          std::reverse(chain.begin(), chain.end());
          const int origin = seen.At(chain.front()).origin;
          const int z = x2;
          auto pump = [&](bool rare, std::string* w) {
            w->clear();
            for (Key c : chain) {
              int cx = static_cast<int>(c >> 32), cy = static_cast<int>(c & 0xffffffffu);
              w->push_back(PickChar(a_.sets[cx] & a_.sets[cy], rare));
            }
            w->push_back(PickChar(a_.sets[z], rare));
            std::string back;
            if (!ShortestWord(z, origin, comp_[origin], rare, &back)) return false;
            *w += back;
            return true;
          };
          RegexAttack attack;
          if (ValidateWitness(origin, pump, &attack)) {
            report_.cost = RegexCost::kExponential;
            report_.reason = "exponential backtracking: inside the repetition, " +
                             Quote(pattern_, nodes_[a_.atom[x]]) + " and " +
                             Quote(pattern_, nodes_[a_.atom[y]]) +
                             " can match the same input in different ways (as in (a|a)*)";
            report_.attack = std::move(attack);
            return true;
          }
          if (over_) return false;
          continue;
        }
        Key k2 = PairKey(std::min(x2, y2), std::max(x2, y2));
        if (seen.Emplace(k2, From{k, seen.At(k).origin})) work.push_back(k2);
      }
    }
  }
  budget_ -= std::min(budget_, seen.size());
  return false;
}

// IDA for one pair: one word w with p->p, p->q and q->q. Triple search, each triple remembering
// its predecessor so the word can be rebuilt. On success *pump is w.
bool Analyzer::TriplesFor(int p, int q, std::string* pump, bool rare) {
  struct Triple {
    int x, y, z;
  };
  const Key n = static_cast<Key>(n_);
  auto tkey = [n](int x, int y, int z) { return (static_cast<Key>(x) * n + y) * n + z; };
  FlatMap64<Key> parent;  // triple -> previous triple
  std::vector<Triple> work{{p, p, q}};
  const Key root = tkey(p, p, q);
  parent.Emplace(root, root);
  auto word_of = [&](Key t) {
    std::string w;
    for (; t != root; t = parent.At(t)) {
      int z = static_cast<int>(t % n), y = static_cast<int>((t / n) % n), x = static_cast<int>(t / n / n);
      w.push_back(PickChar(a_.sets[x] & a_.sets[y] & a_.sets[z], rare));
    }
    std::reverse(w.begin(), w.end());
    return w;
  };
  while (!work.empty()) {
    if (parent.size() > budget_) {
      over_ = true;
      return false;
    }
    Triple t = work.back();
    work.pop_back();
    const Key tk = tkey(t.x, t.y, t.z);
    for (auto [x2, m1] : a_.follow[t.x]) {
      if (comp_[x2] != comp_[p]) continue;
      for (auto [y2, m2] : a_.follow[t.y]) {
        if (!(*from_)[y2] || !(*to_)[y2]) continue;
        CharSet xy = a_.sets[x2] & a_.sets[y2];
        if (xy.none()) continue;
        for (auto [z2, m3] : a_.follow[t.z]) {
          if (!Step()) return false;
          if (comp_[z2] != comp_[q]) continue;
          if ((xy & a_.sets[z2]).none()) continue;
          const Key k2 = tkey(x2, y2, z2);
          if (x2 == p && y2 == q && z2 == q) {
            *pump = word_of(tk);
            pump->push_back(PickChar(xy & a_.sets[z2], rare));
            budget_ -= std::min(budget_, parent.size());
            return true;
          }
          if (parent.Emplace(k2, tk)) work.push_back({x2, y2, z2});
        }
      }
    }
  }
  budget_ -= std::min(budget_, parent.size());
  return false;
}

// IDA: p != q in different cyclic components, and one word w with p->p, p->q, q->q
// (.*.*=.*, \d+\d+, and under search semantics the implicit loop before \s+$). Every pair of
// components with a validated witness is an edge; the degree is the longest chain of them + 1.
void Analyzer::FindPolynomial() {
  // Reachability is needed only from cyclic positions (forward) and into them (backward); its
  // cost is charged to the same budget as the product searches, so no pattern can make the
  // analysis itself slow (e.g. (?:a?){1999} has ~2M edges and no cycle at all).
  const size_t edges = a_.follow.edges.size();
  std::vector<int> cyclic_positions;
  std::map<int, int> comp_index;  // cyclic component -> its closures' index
  for (int p = 1; p < n_; ++p) {
    if (!cyclic_[comp_[p]]) continue;
    cyclic_positions.push_back(p);
    comp_index.emplace(comp_[p], static_cast<int>(comp_index.size()));
  }
  // Every position of a component reaches (and is reached from) the same positions: one
  // closure per component.
  const size_t closure_cost = comp_index.size() * (edges + static_cast<size_t>(n_)) * 2;
  if (closure_cost > budget_) {
    over_ = true;
    return;
  }
  budget_ -= closure_cost;
  if (comp_index.size() < 2) return;  // no pair of loops (most patterns)
  auto closure = [this](int s, const Graph& g) {
    std::vector<bool> seen(n_, false);
    std::vector<int> st{s};
    seen[s] = true;
    while (!st.empty()) {
      int v = st.back();
      st.pop_back();
      for (auto [w, m] : g[v]) {
        if (!seen[w]) {
          seen[w] = true;
          st.push_back(w);
        }
      }
    }
    return seen;
  };
  // Backward closures are computed when a pair needs one (most pairs fail the forward test).
  std::vector<std::vector<bool>> from(comp_index.size()), to(comp_index.size());
  std::vector<int> index_of(n_, -1);
  Graph reverse;
  for (int p : cyclic_positions) {
    const int i = comp_index.at(comp_[p]);
    index_of[p] = i;
    if (from[i].empty()) from[i] = closure(p, a_.follow);
  }
  // Component pairs with a validated witness, and the witness's pump.
  std::map<std::pair<int, int>, std::string> edges_found;
  std::optional<std::pair<int, int>> first_witness;
  constexpr size_t kMaxWitnesses = 32;
  bool degree_is_lower_bound = false;
  for (int p : cyclic_positions) {
    if (degree_is_lower_bound) break;
    from_ = &from[index_of[p]];
    for (int q : cyclic_positions) {
      if (q == p || comp_[q] == comp_[p] || !(*from_)[q] || SameAtomic(p, q)) continue;
      if (edges_found.count({comp_[p], comp_[q]})) continue;
      std::vector<bool>& to_q = to[index_of[q]];
      if (to_q.empty()) {
        if (reverse.size() != n_) a_.follow.Reverse(&reverse);
        to_q = closure(q, reverse);
      }
      to_ = &to_q;
      RegexAttack attack;
      bool found = false;
      for (bool rare : {false, true}) {
        std::string pump, prefix;
        if (!TriplesFor(p, q, &pump, rare)) break;  // no witness at all for this pair
        if (ShortestWord(0, p, -1, rare, &prefix) && Validate(prefix, pump, a_.is_p0[p], p, &attack)) {
          found = true;
          break;
        }
        if (over_) return;
      }
      if (over_) return;
      if (!found) continue;
      edges_found.emplace(std::make_pair(comp_[p], comp_[q]), attack.pump);
      // Each witness costs a validation: past kMaxWitnesses the degree found is a lower bound
      // (.*.*.*…: 60 loops are 1,770 pairs).
      if (edges_found.size() >= kMaxWitnesses) {
        degree_is_lower_bound = true;
        break;
      }
      if (!first_witness || a_.is_p0[p] < a_.is_p0[first_witness->first]) {
        // Prefer a witness inside the pattern over one using the search loop: its attack is
        // slow on a single attempt, not only summed over start positions.
        first_witness = {p, q};
        report_.attack = attack;
      }
    }
  }
  if (!first_witness) return;
  // Longest chain of overlapping loops that one pump word drives together (components form a
  // DAG). Pairwise witnesses with different pumps do not compose: under whole-input match,
  // .*.*=.* has witnesses for both pairs, but no single word pumps all three loops and fails.
  std::map<int, std::vector<std::pair<int, const std::string*>>> next;
  for (const auto& [edge, pump] : edges_found) next[edge.first].push_back({edge.second, &pump});
  std::map<std::pair<int, std::string>, int> memo;
  std::function<int(int, const std::string&)> longest = [&](int c, const std::string& w) -> int {
    auto it = memo.find({c, w});
    if (it != memo.end()) return it->second;
    int best = 1;
    for (auto [d, pump] : next[c]) {
      if (*pump == w) best = std::max(best, 1 + longest(d, w));
    }
    memo[{c, w}] = best;
    return best;
  };
  int degree = 2;
  for (const auto& [edge, pump] : edges_found) degree = std::max(degree, 1 + longest(edge.second, pump));
  const auto [p, q] = *first_witness;
  report_.cost = RegexCost::kPolynomial;
  report_.degree = degree;
  const bool search_loop = a_.is_p0[p];
  std::string what = search_loop
      ? "the consumer searches, so the match is retried from every start position, and " +
            Quote(pattern_, nodes_[a_.atom[q]]) + " runs over the same input from each of them"
      : "repetitions of " + Quote(pattern_, nodes_[a_.atom[p]]) + " and " +
            Quote(pattern_, nodes_[a_.atom[q]]) + " overlap and can split the same input in many ways";
  report_.reason = "super-linear (polynomial, degree " + std::string(degree_is_lower_bound ? "at least " : "") +
                   std::to_string(degree) + ") backtracking: " +
                   what + (search_loop ? " (as in \\s+$)" : " (as in .*.*=.*)");
}

// Storage the analyses on one thread reuse, so that analysing a pattern allocates little: one
// set per nesting depth (the analysis of a repeated body, depth 1, runs inside the outer one).
// It keeps the capacity of the largest pattern analysed on the thread (a few MB at most: the
// builder's bounds are max_positions and 200,000 edges); ParallelFor's threads end with it.
struct Workspace {
  BuilderStorage builder;
  Automaton automaton;
  Components components;
};
Workspace& WorkspaceAt(int depth) {
  thread_local Workspace workspaces[2];
  return workspaces[std::min(depth, 1)];
}

// Builds the automaton of the parsed pattern for `starts` and runs the EDA/IDA searches on it.
RegexCostReport AnalyzeAutomaton(std::string_view pattern, const RegexCostOptions& opts,
                                 const std::vector<Node>& nodes, int root, Starts starts, Workspace* ws) {
  GlushkovBuilder builder(nodes, opts.max_positions, opts.dialect == RegexDialect::kEcmaScript,
                          &ws->builder, &ws->automaton);
  if (!builder.Build(root, starts)) {
    RegexCostReport r;
    r.cost = RegexCost::kUnknown;
    r.reason = "pattern expands to more than " + std::to_string(opts.max_positions) +
               " positions or too many transitions (large counted repetition of optional parts); "
               "its cost cannot be analysed";
    return r;
  }
  return Analyzer(pattern, opts, nodes, root, &ws->automaton, &ws->components).Run();
}

}  // namespace

RegexCostReport AnalyzeBacktrackingCost(std::string_view pattern, const RegexCostOptions& opts) {
  return AnalyzeCostAtDepth(pattern, opts, 0);
}

RegexCostReport AnalyzeCostAtDepth(std::string_view pattern, const RegexCostOptions& opts,
                                   int depth) {
  RegexCostReport r;
  if (pattern.size() > opts.max_pattern_bytes) {
    r.cost = RegexCost::kUnknown;
    r.reason = "pattern is longer than " + std::to_string(opts.max_pattern_bytes) +
               " bytes; its cost cannot be analysed";
    return r;
  }
  Parser parser(pattern, opts.max_nesting, opts.dialect);
  int root = parser.Parse();
  if (root < 0) {
    r.cost = RegexCost::kUnknown;
    r.reason = "cannot analyse pattern: " + parser.error();
    return r;
  }
  const std::vector<Node>& nodes = parser.nodes();
  std::string why;
  if (int bad = FindAmbiguousBoundedRepeat(nodes, root, 1, pattern, opts, depth, &why); bad >= 0) {
    r.cost = RegexCost::kExponential;
    r.reason = "exponential backtracking: the counted repetition " + Quote(pattern, nodes[bad]) +
               " " + why + " (as in (a?){20}a{20})";
    return r;
  }
  Workspace& ws = WorkspaceAt(depth);
  const bool search = opts.mode == RegexMode::kSearch;
  RegexCostReport report =
      AnalyzeAutomaton(pattern, opts, nodes, root, search ? Starts::kAnywhere : Starts::kNone, &ws);
  // PCRE2 tries a searched pattern at fewer start positions when its start-up optimisations
  // allow (docs/stage1-checks.md, "PCRE2's start-up optimisations"). Fewer starts can only
  // remove a finding (a pattern PCRE2 anchors or starts at line starts matches from there
  // whenever it matches from a later start), so the library is asked only when it could change
  // a super-linear verdict: one extra compile for a flagged pattern, none for the others.
  if (search && opts.dialect == RegexDialect::kPcre2 &&
      (report.cost == RegexCost::kPolynomial || report.cost == RegexCost::kExponential)) {
    const SearchStarts where = Pcre2SearchStarts(pattern);
    if (where != SearchStarts::kAnywhere) {
      report = AnalyzeAutomaton(pattern, opts, nodes, root,
                                where == SearchStarts::kLineStarts ? Starts::kLineStarts : Starts::kStartOnly, &ws);
    }
  }
  return report;
}

Status CompileRe2(std::string_view pattern) {
  RE2 re(re2::StringPiece(pattern.data(), pattern.size()), RE2::Quiet);
  if (!re.ok()) return Status::InvalidArgument("does not compile under RE2: " + re.error());
  return Status::Ok();
}

}  // namespace rf
