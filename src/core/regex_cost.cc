#include "core/regex_cost.h"

#include <re2/re2.h>

#include <algorithm>
#include <bitset>
#include <unordered_set>
#include <vector>

namespace rf {
namespace {

using CharSet = std::bitset<256>;

// ---------------------------------------------------------------------------------------------
// Parsing (ECMAScript subset accepted by std::regex) into a small AST.

struct Node {
  enum Kind { kEmpty, kSet, kConcat, kAlt, kRepeat } kind = kEmpty;
  CharSet set;             // kSet
  std::vector<int> kids;   // kConcat, kAlt, kRepeat (one kid)
  int min = 0, max = 0;    // kRepeat; max == -1: unbounded
  int begin = 0, end = 0;  // source span, for messages
};

class Parser {
 public:
  Parser(std::string_view p, int max_nesting) : p_(p), max_nesting_(max_nesting) {}

  // Returns the root node index, or -1 with error() set.
  int Parse() {
    int root = ParseAlt(0);
    if (root < 0) return -1;
    if (i_ != p_.size()) return Fail("unmatched ')' at offset " + std::to_string(i_));
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

  int ParseAlt(int depth) {
    if (depth > max_nesting_) return Fail("groups nested deeper than " + std::to_string(max_nesting_));
    const int begin = static_cast<int>(i_);
    std::vector<int> branches;
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
    while (More() && Peek() != '|' && Peek() != ')') {
      const int atom_begin = static_cast<int>(i_);
      int a = ParseAtom(depth);
      if (a < 0) return -1;
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

  // Reads {n}, {n,}, {n,m} at i_; returns false (and leaves i_) if this is not a quantifier.
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
    while (More()) {
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
      if (More() && Peek() == '?') ++i_;  // lazy: same ambiguity as greedy
      if (nodes_[atom].kind == Node::kEmpty && nodes_[atom].end > nodes_[atom].begin &&
          p_[nodes_[atom].begin] != '(') {
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
    }
    return atom;
  }

  int SetNode(const CharSet& s, int begin) {
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
        for (int x = 0x80; x < 0x100; ++x) s.set(x);  // non-ASCII spaces (approximation)
        break;
    }
    if (c == 'D' || c == 'W' || c == 'S') s.flip();
    return s;
  }

  // Parses an escape after '\' (i_ points after the backslash). Sets *set for character escapes,
  // *assertion for \b \B. Returns false with an error on unsupported escapes.
  bool ParseEscape(CharSet* set, bool* assertion, bool in_class) {
    if (!More()) return Fail("pattern ends with '\\'") >= 0;
    char c = p_[i_++];
    *assertion = false;
    set->reset();
    auto hex = [&](size_t n) -> int {
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
    };
    switch (c) {
      case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        *set = ClassOf(c);
        return true;
      case 'b': case 'B':
        if (in_class) {
          set->set('\b');
          return true;
        }
        *assertion = true;
        return true;
      case 'n': set->set('\n'); return true;
      case 'r': set->set('\r'); return true;
      case 't': set->set('\t'); return true;
      case 'f': set->set('\f'); return true;
      case 'v': set->set('\v'); return true;
      case '0': set->set(0); return true;
      case 'x': {
        int v = hex(2);
        if (v < 0) return Fail("bad \\x escape") >= 0;
        set->set(v);
        return true;
      }
      case 'u': {
        int v = hex(4);
        if (v < 0) return Fail("bad \\u escape") >= 0;
        if (v < 0x100) {
          set->set(v);
        } else {
          for (int x = 0x80; x < 0x100; ++x) set->set(x);  // a non-ASCII code point
        }
        return true;
      }
      case 'c': {
        if (!More()) return Fail("bad \\c escape") >= 0;
        set->set(static_cast<unsigned char>(p_[i_++]) % 32);
        return true;
      }
      default:
        if (c >= '1' && c <= '9' && !in_class) {
          return Fail("backreference \\" + std::string(1, c) +
                      " makes matching cost unbounded") >= 0;
        }
        set->set(static_cast<unsigned char>(c));
        return true;
    }
  }

  int ParseClass(int begin) {
    // i_ is after '['.
    CharSet s;
    bool negate = false;
    if (More() && Peek() == '^') {
      negate = true;
      ++i_;
    }
    while (true) {
      if (!More()) return Fail("unterminated character class");
      char c = Peek();
      if (c == ']') {  // ECMAScript: "[]" is the empty class
        ++i_;
        break;
      }
      CharSet lo_set;
      int lo = -1;
      if (c == '\\') {
        ++i_;
        bool assertion;
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
          bool assertion;
          if (!ParseEscape(&hs, &assertion, true)) return -1;
          if (hs.count() != 1) return Fail("bad range in character class");
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
    if (negate) s.flip();
    return SetNode(s, begin);
  }

  int ParseAtom(int depth) {
    const int begin = static_cast<int>(i_);
    char c = p_[i_++];
    switch (c) {
      case '(': {
        bool lookaround = false;
        if (More() && Peek() == '?') {
          ++i_;
          if (!More()) return Fail("unterminated group");
          char k = p_[i_++];
          if (k == ':') {
          } else if (k == '=' || k == '!') {
            lookaround = true;
          } else if (k == '<' && More() && (Peek() == '=' || Peek() == '!')) {
            ++i_;
            lookaround = true;
          } else if (k == '<') {
            while (More() && Peek() != '>') ++i_;  // named group
            if (!More()) return Fail("unterminated group name");
            ++i_;
          } else {
            return Fail("unsupported group syntax (?" + std::string(1, k) + " at offset " +
                        std::to_string(begin));
          }
        }
        int inner = ParseAlt(depth + 1);
        if (inner < 0) return -1;
        if (!More() || Peek() != ')') return Fail("missing ')' for group at offset " + std::to_string(begin));
        ++i_;
        if (lookaround) return EmptyNode(begin);
        return inner;
      }
      case '[':
        return ParseClass(begin);
      case '.': {
        CharSet s;
        s.set();
        s.reset('\n');
        s.reset('\r');
        return SetNode(s, begin);
      }
      case '^':
      case '$':
        return EmptyNode(begin);
      case '\\': {
        CharSet s;
        bool assertion;
        if (!ParseEscape(&s, &assertion, false)) return -1;
        if (assertion) return EmptyNode(begin);
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

  std::string_view p_;
  size_t i_ = 0;
  int max_nesting_;
  std::vector<Node> nodes_;
  std::string error_;
};

// ---------------------------------------------------------------------------------------------
// Glushkov position automaton with edge multiplicities.

struct Automaton {
  std::vector<CharSet> sets;  // per position (index 0 unused: the start state)
  std::vector<int> atom;      // AST node of each position, for messages
  std::vector<std::vector<std::pair<int, uint32_t>>> follow;  // merged later
};

class GlushkovBuilder {
 public:
  GlushkovBuilder(const std::vector<Node>& nodes, size_t max_positions)
      : nodes_(nodes), max_positions_(max_positions) {
    a_.sets.emplace_back();
    a_.atom.push_back(-1);
    a_.follow.emplace_back();
  }

  struct Info {
    bool nullable = true;
    std::vector<int> first, last;
  };

  bool Build(int root, Info* out) {
    *out = Visit(root);
    return !overflow_;
  }
  Automaton& automaton() { return a_; }

 private:
  void Link(const std::vector<int>& from, const std::vector<int>& to) {
    edges_ += from.size() * to.size();
    if (edges_ > kMaxEdges) {  // (a?){n}-like patterns: quadratically many edges
      overflow_ = true;
      return;
    }
    for (int p : from) {
      for (int q : to) a_.follow[p].push_back({q, 1});
    }
  }
  static constexpr size_t kMaxEdges = 200'000;
  size_t edges_ = 0;

  static void Append(std::vector<int>* dst, const std::vector<int>& src) {
    dst->insert(dst->end(), src.begin(), src.end());
  }

  Info Concat(Info a, const Info& b) {
    Link(a.last, b.first);
    Info r;
    r.nullable = a.nullable && b.nullable;
    r.first = a.first;
    if (a.nullable) Append(&r.first, b.first);
    r.last = b.last;
    if (b.nullable) Append(&r.last, a.last);
    return r;
  }

  Info Visit(int n) {
    if (overflow_) return {};
    const Node& node = nodes_[n];
    switch (node.kind) {
      case Node::kEmpty:
        return {};
      case Node::kSet: {
        if (a_.sets.size() > max_positions_) {
          overflow_ = true;
          return {};
        }
        int p = static_cast<int>(a_.sets.size());
        a_.sets.push_back(node.set);
        a_.atom.push_back(n);
        a_.follow.emplace_back();
        Info r;
        r.nullable = false;
        r.first = {p};
        r.last = {p};
        return r;
      }
      case Node::kConcat: {
        Info r;
        for (int k : node.kids) r = Concat(std::move(r), Visit(k));
        return r;
      }
      case Node::kAlt: {
        Info r;
        r.nullable = false;
        for (int k : node.kids) {
          Info b = Visit(k);
          r.nullable = r.nullable || b.nullable;
          Append(&r.first, b.first);
          Append(&r.last, b.last);
        }
        return r;
      }
      case Node::kRepeat: {
        const int kid = node.kids[0];
        if (node.max == -1) {
          Info r;
          for (int i = 0; i + 1 < node.min; ++i) r = Concat(std::move(r), Visit(kid));
          Info loop = Visit(kid);
          Link(loop.last, loop.first);  // the repetition's back edge
          if (node.min == 0) loop.nullable = true;
          return Concat(std::move(r), loop);
        }
        Info r;
        for (int i = 0; i < node.min; ++i) r = Concat(std::move(r), Visit(kid));
        // Optional tail as nested optionals (E(E(E)?)?)?, which adds no ambiguity of its own.
        std::vector<Info> tail;
        for (int i = node.min; i < node.max && !overflow_; ++i) tail.push_back(Visit(kid));
        Info opt;
        for (auto it = tail.rbegin(); it != tail.rend(); ++it) {
          Info e = Concat(std::move(*it), opt);
          e.nullable = true;
          opt = std::move(e);
        }
        return Concat(std::move(r), opt);
      }
    }
    return {};
  }

  const std::vector<Node>& nodes_;
  size_t max_positions_;
  bool overflow_ = false;
  Automaton a_;
};

// Tarjan's SCC, iterative. comp[v] = component id; cyclic[c] = component has a cycle.
void Components(const std::vector<std::vector<std::pair<int, uint32_t>>>& g, std::vector<int>* comp,
                std::vector<bool>* cyclic) {
  const int n = static_cast<int>(g.size());
  std::vector<int> index(n, -1), low(n, 0), stack;
  std::vector<bool> on(n, false);
  comp->assign(n, -1);
  int next = 0, ncomp = 0;
  struct Frame {
    int v;
    size_t e;
  };
  for (int s = 0; s < n; ++s) {
    if (index[s] != -1) continue;
    std::vector<Frame> call{{s, 0}};
    index[s] = low[s] = next++;
    stack.push_back(s);
    on[s] = true;
    while (!call.empty()) {
      Frame& f = call.back();
      if (f.e < g[f.v].size()) {
        int w = g[f.v][f.e++].first;
        if (index[w] == -1) {
          index[w] = low[w] = next++;
          stack.push_back(w);
          on[w] = true;
          call.push_back({w, 0});
        } else if (on[w]) {
          low[f.v] = std::min(low[f.v], index[w]);
        }
        continue;
      }
      int v = f.v;
      call.pop_back();
      if (!call.empty()) low[call.back().v] = std::min(low[call.back().v], low[v]);
      if (low[v] == index[v]) {
        while (true) {
          int w = stack.back();
          stack.pop_back();
          on[w] = false;
          (*comp)[w] = ncomp;
          if (w == v) break;
        }
        ++ncomp;
      }
    }
  }
  cyclic->assign(ncomp, false);
  for (int v = 0; v < n; ++v) {
    for (auto [w, m] : g[v]) {
      if ((*comp)[w] == (*comp)[v]) (*cyclic)[(*comp)[v]] = true;
    }
  }
}

std::string Quote(std::string_view pattern, const Node& n) {
  std::string s(pattern.substr(n.begin, n.end - n.begin));
  if (s.size() > 40) s = s.substr(0, 40) + "…";
  return "'" + s + "'";
}

}  // namespace

// The analysis proper; depth > 0 for the nested analysis of a repeated body.
RegexCostReport AnalyzeCostAtDepth(std::string_view pattern, const RegexCostOptions& opts, int depth);

namespace {

bool Nullable(const std::vector<Node>& nodes, int n) {
  const Node& node = nodes[n];
  switch (node.kind) {
    case Node::kEmpty: return true;
    case Node::kSet: return false;
    case Node::kConcat:
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
  for (int k : node.kids) {
    if (MatchesSomething(nodes, k)) return true;
  }
  return false;
}

// A bounded repetition unrolls into an acyclic automaton, which the loop-based EDA/IDA searches
// cannot see; yet (a?){n} matches a^k in C(n, k) ways, and a backtracking matcher tries them all.
// Repetition counts multiply through nesting. Returns the offending node, or -1.
constexpr int64_t kAmbiguousRepeatLimit = 8;

int FindAmbiguousBoundedRepeat(const std::vector<Node>& nodes, int n, int64_t multiplier,
                               std::string_view pattern, const RegexCostOptions& opts,
                               int depth, std::string* why) {
  const Node& node = nodes[n];
  int64_t m = multiplier;
  if (node.kind == Node::kRepeat) {
    m = node.max == -1 ? kAmbiguousRepeatLimit : std::min<int64_t>(multiplier * node.max, 1 << 20);
    const int kid = node.kids[0];
    if (node.max != -1 && m >= kAmbiguousRepeatLimit && MatchesSomething(nodes, kid)) {
      if (Nullable(nodes, kid)) {
        *why = "can match empty in each of its repetitions";
        return n;
      }
      // The body itself ambiguous under repetition, as in (a|a){20}: analyse (?:body)*.
      if (depth == 0) {
        const Node& k = nodes[kid];
        std::string starred = "(?:" + std::string(pattern.substr(k.begin, k.end - k.begin)) + ")*";
        if (AnalyzeCostAtDepth(starred, opts, depth + 1).cost == RegexCost::kExponential) {
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
  Parser parser(pattern, opts.max_nesting);
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
  GlushkovBuilder builder(nodes, opts.max_positions);
  GlushkovBuilder::Info info;  // first/last of the whole pattern: not needed for ambiguity
  if (!builder.Build(root, &info)) {
    r.cost = RegexCost::kUnknown;
    r.reason = "pattern expands to more than " + std::to_string(opts.max_positions) +
               " positions or too many transitions (large counted repetition of optional parts); "
               "its cost cannot be analysed";
    return r;
  }
  Automaton& a = builder.automaton();
  const int n = static_cast<int>(a.sets.size());
  // Merge parallel edges into multiplicities; drop edges into positions that match nothing.
  for (auto& f : a.follow) {
    std::sort(f.begin(), f.end());
    std::vector<std::pair<int, uint32_t>> merged;
    for (auto [q, m] : f) {
      if (a.sets[q].none()) continue;
      if (!merged.empty() && merged.back().first == q) {
        merged.back().second = std::min<uint32_t>(merged.back().second + m, 1u << 30);
      } else {
        merged.push_back({q, m});
      }
    }
    f = std::move(merged);
  }
  std::vector<int> comp;
  std::vector<bool> cyclic;
  Components(a.follow, &comp, &cyclic);

  // EDA, case 1: two parallel ways to take the same edge inside a cycle ((a+)+, (a*)*).
  for (int p = 1; p < n; ++p) {
    for (auto [q, m] : a.follow[p]) {
      if (m >= 2 && comp[p] == comp[q]) {
        r.cost = RegexCost::kExponential;
        r.reason = "exponential backtracking: nested quantifiers can match " +
                   Quote(pattern, nodes[a.atom[q]]) +
                   " by more than one repetition on the same input (as in (a+)+)";
        return r;
      }
    }
  }

  size_t budget = opts.max_product_states;
  // Inner-loop iterations of every search below; bounds the analysis time whatever the pattern.
  size_t steps = 0;
  const size_t max_steps = opts.max_product_states * 16;
  auto over_budget = [&]() {
    r.cost = RegexCost::kUnknown;
    r.reason = "pattern is too complex to prove linear within the analysis budget";
    return r;
  };

  // EDA, case 2: within one cycle, two runs diverge from a common state on the same word and
  // meet again ((a|a)*, (\w|\d)+). Pair search restricted to the component.
  {
    std::unordered_set<uint64_t> seen;
    std::vector<std::pair<int, int>> work;
    auto key = [](int x, int y) { return (static_cast<uint64_t>(x) << 32) | static_cast<uint32_t>(y); };
    for (int p = 1; p < n; ++p) {
      if (!cyclic[comp[p]]) continue;
      const auto& f = a.follow[p];
      for (size_t i = 0; i < f.size(); ++i) {
        for (size_t j = i + 1; j < f.size(); ++j) {
          if (++steps > max_steps) return over_budget();
          int x = f[i].first, y = f[j].first;
          if (comp[x] != comp[p] || comp[y] != comp[p]) continue;
          if ((a.sets[x] & a.sets[y]).none()) continue;
          if (seen.insert(key(std::min(x, y), std::max(x, y))).second) {
            work.push_back({std::min(x, y), std::max(x, y)});
          }
        }
      }
    }
    while (!work.empty()) {
      if (seen.size() > budget) return over_budget();
      auto [x, y] = work.back();
      work.pop_back();
      for (auto [x2, mx] : a.follow[x]) {
        if (comp[x2] != comp[x]) continue;
        for (auto [y2, my] : a.follow[y]) {
          if (++steps > max_steps) return over_budget();
          if (comp[y2] != comp[y]) continue;
          if ((a.sets[x2] & a.sets[y2]).none()) continue;
          if (x2 == y2) {
            r.cost = RegexCost::kExponential;
            r.reason = "exponential backtracking: inside the repetition, " +
                       Quote(pattern, nodes[a.atom[x]]) + " and " +
                       Quote(pattern, nodes[a.atom[y]]) +
                       " can match the same input in different ways (as in (a|a)*)";
            return r;
          }
          int lo = std::min(x2, y2), hi = std::max(x2, y2);
          if (seen.insert(key(lo, hi)).second) work.push_back({lo, hi});
        }
      }
    }
    budget -= std::min(budget, seen.size());
  }

  // IDA: p != q in different cyclic components, and one word w with p->p, p->q, q->q
  // (.*.*=.*, \d+\d+). Triple search per candidate pair.
  {
    // Reachability is needed only from cyclic positions (forward) and into them (backward); its
    // cost is charged to the same budget as the product searches, so no pattern can make the
    // analysis itself slow (e.g. (?:a?){1999} has ~2M edges and no cycle at all).
    std::vector<std::vector<std::pair<int, uint32_t>>> reverse(n);
    size_t edges = 0;
    for (int v = 1; v < n; ++v) {
      for (auto [w, m] : a.follow[v]) reverse[w].push_back({v, m});
      edges += a.follow[v].size();
    }
    std::vector<int> cyclic_positions;
    for (int p = 1; p < n; ++p) {
      if (cyclic[comp[p]]) cyclic_positions.push_back(p);
    }
    if (cyclic_positions.size() * (edges + static_cast<size_t>(n)) * 2 > budget) {
      return over_budget();
    }
    // from[i][v]: v reachable from cyclic_positions[i]; to[i][v]: cyclic_positions[i] reachable
    // from v.
    auto closure = [n](int s, const std::vector<std::vector<std::pair<int, uint32_t>>>& g) {
      std::vector<bool> seen(n, false);
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
    std::vector<int> index_of(n, -1);
    std::vector<std::vector<bool>> from, to;
    for (size_t i = 0; i < cyclic_positions.size(); ++i) {
      index_of[cyclic_positions[i]] = static_cast<int>(i);
      from.push_back(closure(cyclic_positions[i], a.follow));
      to.push_back(closure(cyclic_positions[i], reverse));
    }
    budget -= std::min(budget, cyclic_positions.size() * (edges + static_cast<size_t>(n)) * 2);
    struct Triple {
      int x, y, z;
    };
    for (int p : cyclic_positions) {
      const std::vector<bool>& from_p = from[index_of[p]];
      for (int q : cyclic_positions) {
        if (q == p || comp[q] == comp[p] || !from_p[q]) continue;
        const std::vector<bool>& to_q = to[index_of[q]];
        // Run 1 stays in comp(p); run 3 stays in comp(q); run 2 stays between p and q.
        std::unordered_set<uint64_t> seen;
        std::vector<Triple> work{{p, p, q}};
        auto tkey = [n](int x, int y, int z) {
          return (static_cast<uint64_t>(x) * n + y) * n + z;
        };
        seen.insert(tkey(p, p, q));
        while (!work.empty()) {
          if (seen.size() > budget) return over_budget();
          Triple t = work.back();
          work.pop_back();
          for (auto [x2, m1] : a.follow[t.x]) {
            if (comp[x2] != comp[p]) continue;
            for (auto [y2, m2] : a.follow[t.y]) {
              if (!from_p[y2] || !to_q[y2]) continue;
              CharSet xy = a.sets[x2] & a.sets[y2];
              if (xy.none()) continue;
              for (auto [z2, m3] : a.follow[t.z]) {
                if (++steps > max_steps) return over_budget();
                if (comp[z2] != comp[q]) continue;
                if ((xy & a.sets[z2]).none()) continue;
                if (x2 == p && y2 == q && z2 == q) {
                  r.cost = RegexCost::kPolynomial;
                  r.reason = "super-linear (polynomial) backtracking: repetitions of " +
                             Quote(pattern, nodes[a.atom[p]]) + " and " +
                             Quote(pattern, nodes[a.atom[q]]) +
                             " overlap and can split the same input in many ways (as in .*.*=.*)";
                  return r;
                }
                if (seen.insert(tkey(x2, y2, z2)).second) work.push_back({x2, y2, z2});
              }
            }
          }
        }
        budget -= std::min(budget, seen.size());
      }
    }
  }
  return r;
}

Status CompileRe2(std::string_view pattern) {
  RE2 re(re2::StringPiece(pattern.data(), pattern.size()), RE2::Quiet);
  if (!re.ok()) return Status::InvalidArgument("does not compile under RE2: " + re.error());
  return Status::Ok();
}

}  // namespace rf
