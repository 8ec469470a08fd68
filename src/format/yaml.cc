#include "format/yaml.h"

#include <yaml.h>

#include <charconv>
#include <cmath>
#include <unordered_set>

namespace rf::yaml {

namespace {

std::string Loc(std::string_view file, size_t line, size_t col) {
  return std::string(file) + ":" + std::to_string(line) + ":" + std::to_string(col);
}

}  // namespace

// Turns libyaml's event stream into Document's flat node array.
class Builder {
 public:
  Builder(Document* doc, std::string_view filename, size_t text_size, const ParseOptions& opts)
      : doc_(doc), opts_(opts) {
    doc_->filename_ = std::string(filename);
    doc_->nodes_.reserve(64 + text_size / 16);
    doc_->arena_.reserve(text_size / 2);
    doc_->nodes_.push_back(NodeRec{});  // sentinel
  }

  Status Run(std::string_view text) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return Status::Internal("libyaml: out of memory");
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    Status st = Loop(&parser);
    yaml_parser_delete(&parser);
    return st;
  }

 private:
  struct Open {
    uint32_t node;
    uint32_t last_child;
  };

  Status Loop(yaml_parser_t* parser) {
    int documents = 0;
    while (true) {
      yaml_event_t ev;
      if (!yaml_parser_parse(parser, &ev)) {
        std::string what = parser->problem ? parser->problem : "syntax error";
        if (parser->context) what = std::string(parser->context) + ": " + what;
        return Status::InvalidArgument(Loc(doc_->filename_, parser->problem_mark.line + 1,
                                           parser->problem_mark.column + 1) +
                                       ": YAML syntax error: " + what);
      }
      Status st = Handle(ev, &documents);
      bool done = ev.type == YAML_STREAM_END_EVENT;
      yaml_event_delete(&ev);
      if (!st.ok()) return st;
      if (done) return Status::Ok();
    }
  }

  Status Handle(const yaml_event_t& ev, int* documents) {
    const size_t line = ev.start_mark.line + 1, col = ev.start_mark.column + 1;
    switch (ev.type) {
      case YAML_DOCUMENT_START_EVENT:
        if (++*documents > 1) {
          return Status::InvalidArgument(Loc(doc_->filename_, line, col) +
                                         ": more than one YAML document in the file");
        }
        return Status::Ok();
      case YAML_ALIAS_EVENT:
        return Status::InvalidArgument(Loc(doc_->filename_, line, col) +
                                       ": YAML aliases (*name) are not supported");
      case YAML_SCALAR_EVENT: {
        if (ev.data.scalar.anchor) return AnchorError(line, col);
        uint32_t n = NewNode(Kind::kScalar, line, col);
        if (n == 0) return TooBig(line, col);
        NodeRec& r = doc_->nodes_[n];
        r.plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        r.text_offset = static_cast<uint32_t>(doc_->arena_.size());
        r.text_size = static_cast<uint32_t>(ev.data.scalar.length);
        if (doc_->arena_.size() + ev.data.scalar.length > UINT32_MAX) return TooBig(line, col);
        doc_->arena_.append(reinterpret_cast<const char*>(ev.data.scalar.value),
                            ev.data.scalar.length);
        return Attach(n, line, col);
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
        if (seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor) {
          return AnchorError(line, col);
        }
        if (static_cast<int>(stack_.size()) >= opts_.max_depth) {
          return Status::InvalidArgument(Loc(doc_->filename_, line, col) +
                                         ": nesting deeper than " +
                                         std::to_string(opts_.max_depth) + " levels");
        }
        uint32_t n = NewNode(seq ? Kind::kSequence : Kind::kMapping, line, col);
        if (n == 0) return TooBig(line, col);
        RF_RETURN_IF_ERROR(Attach(n, line, col));
        stack_.push_back(Open{n, 0});
        return Status::Ok();
      }
      case YAML_SEQUENCE_END_EVENT:
        stack_.pop_back();
        return Status::Ok();
      case YAML_MAPPING_END_EVENT: {
        Status st = CheckDuplicateKeys(stack_.back().node);
        stack_.pop_back();
        return st;
      }
      default:
        return Status::Ok();
    }
  }

  Status AnchorError(size_t line, size_t col) {
    return Status::InvalidArgument(Loc(doc_->filename_, line, col) +
                                   ": YAML anchors (&name) are not supported");
  }
  Status TooBig(size_t line, size_t col) {
    return Status::ResourceExhausted(Loc(doc_->filename_, line, col) +
                                     ": document has too many nodes");
  }

  uint32_t NewNode(Kind kind, size_t line, size_t col) {
    if (doc_->nodes_.size() > opts_.max_nodes) return 0;
    NodeRec r{};
    r.kind = kind;
    r.line = static_cast<uint32_t>(line);
    r.column = static_cast<uint32_t>(col);
    doc_->nodes_.push_back(r);
    return static_cast<uint32_t>(doc_->nodes_.size() - 1);
  }

  Status Attach(uint32_t n, size_t line, size_t col) {
    if (stack_.empty()) return Status::Ok();  // the root
    Open& parent = stack_.back();
    NodeRec& p = doc_->nodes_[parent.node];
    if (p.kind == Kind::kMapping && (p.child_count % 2) == 0 &&
        doc_->nodes_[n].kind != Kind::kScalar) {
      return Status::InvalidArgument(Loc(doc_->filename_, line, col) +
                                     ": mapping keys must be plain strings");
    }
    if (parent.last_child == 0) {
      p.first_child = n;
    } else {
      doc_->nodes_[parent.last_child].next_sibling = n;
    }
    parent.last_child = n;
    ++p.child_count;
    return Status::Ok();
  }

  Status CheckDuplicateKeys(uint32_t map) {
    const NodeRec& m = doc_->nodes_[map];
    const size_t entries = m.child_count / 2;
    if (entries < 2) return Status::Ok();
    auto text = [&](uint32_t k) {
      const NodeRec& r = doc_->nodes_[k];
      return std::string_view(doc_->arena_).substr(r.text_offset, r.text_size);
    };
    auto dup = [&](uint32_t k) {
      const NodeRec& r = doc_->nodes_[k];
      return Status::InvalidArgument(Loc(doc_->filename_, r.line, r.column) + ": duplicate key '" +
                                     std::string(text(k)) + "'");
    };
    if (entries <= 32) {
      uint32_t keys[32];
      size_t i = 0;
      for (uint32_t k = m.first_child; k != 0;) {
        for (size_t j = 0; j < i; ++j) {
          if (text(keys[j]) == text(k)) return dup(k);
        }
        keys[i++] = k;
        k = doc_->nodes_[doc_->nodes_[k].next_sibling].next_sibling;
      }
      return Status::Ok();
    }
    std::unordered_set<std::string_view> seen;
    seen.reserve(entries * 2);
    for (uint32_t k = m.first_child; k != 0;) {
      if (!seen.insert(text(k)).second) return dup(k);
      k = doc_->nodes_[doc_->nodes_[k].next_sibling].next_sibling;
    }
    return Status::Ok();
  }

  Document* doc_;
  const ParseOptions& opts_;
  std::vector<Open> stack_;
};

Result<Document> Parse(std::string_view text, std::string_view filename,
                       const ParseOptions& options) {
  Document doc;
  Builder b(&doc, filename, text.size(), options);
  RF_RETURN_IF_ERROR(b.Run(text));
  return doc;
}

bool NodeRef::IsNull() const {
  if (!IsScalar() || !rec().plain) return false;
  std::string_view t = Text();
  return t.empty() || t == "~" || t == "null" || t == "Null" || t == "NULL";
}

NodeRef NodeRef::Get(std::string_view key) const {
  if (!IsMapping()) return NodeRef();
  for (uint32_t k = rec().first_child; k != 0;) {
    const NodeRec& kr = doc_->nodes_[k];
    uint32_t v = kr.next_sibling;
    if (std::string_view(doc_->arena_).substr(kr.text_offset, kr.text_size) == key) {
      return NodeRef(doc_, v);
    }
    k = doc_->nodes_[v].next_sibling;
  }
  return NodeRef();
}

std::vector<NodeRef> NodeRef::Items() const {
  std::vector<NodeRef> out;
  ForEachItem([&](NodeRef n) { out.push_back(n); });
  return out;
}

std::vector<std::pair<NodeRef, NodeRef>> NodeRef::Entries() const {
  std::vector<std::pair<NodeRef, NodeRef>> out;
  ForEachEntry([&](NodeRef k, NodeRef v) { out.emplace_back(k, v); });
  return out;
}

std::optional<int64_t> ParseInt(std::string_view t) {
  if (t.empty()) return std::nullopt;
  bool neg = false;
  if (t[0] == '-' || t[0] == '+') {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o')) {
    base = t[1] == 'x' ? 16 : 8;
    t.remove_prefix(2);
  }
  if (t.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  if (!neg && v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  if (neg && v > static_cast<uint64_t>(INT64_MAX) + 1) return std::nullopt;
  return neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

std::optional<int64_t> NodeRef::AsInt() const {
  if (!IsPlain()) return std::nullopt;
  return ParseInt(Text());
}

std::optional<bool> NodeRef::AsBool() const {
  if (!IsPlain()) return std::nullopt;
  std::string_view t = Text();
  if (t == "true" || t == "True" || t == "TRUE") return true;
  if (t == "false" || t == "False" || t == "FALSE") return false;
  return std::nullopt;
}

std::optional<double> NodeRef::AsDouble() const {
  if (!IsPlain()) return std::nullopt;
  std::string_view t = Text();
  if (t.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string NodeRef::Where() const {
  if (!doc_) return "<missing>";
  return Loc(doc_->filename_, line(), column());
}

}  // namespace rf::yaml

namespace rf::yaml {

Status ErrorAt(NodeRef at, std::string_view key, std::string_view reason) {
  std::string m = at.Where() + ": ";
  if (!key.empty()) {
    m += "key '";
    m += key;
    m += "': ";
  }
  m += reason;
  return Status::InvalidArgument(std::move(m));
}

Status CheckMapping(NodeRef map, std::string_view what,
                    std::initializer_list<std::string_view> allowed) {
  if (!map.IsMapping()) return ErrorAt(map, "", std::string(what) + " must be a mapping");
  Status st;
  map.ForEachEntry([&](NodeRef k, NodeRef) {
    if (!st.ok()) return;
    for (std::string_view a : allowed) {
      if (k.Text() == a) return;
    }
    std::string list;
    for (std::string_view a : allowed) {
      if (!list.empty()) list += ", ";
      list += a;
    }
    st = ErrorAt(k, k.Text(), "unknown key in " + std::string(what) + " (allowed: " + list + ")");
  });
  return st;
}

static Status Missing(NodeRef map, std::string_view key) {
  return ErrorAt(map, key, "required key is missing");
}

Result<std::string> GetString(NodeRef map, std::string_view key) {
  NodeRef v = map.Get(key);
  if (!v || v.IsNull()) return Missing(map, key);
  if (!v.IsScalar()) return ErrorAt(v, key, "expected a string");
  return std::string(v.Text());
}

Result<std::string> GetString(NodeRef map, std::string_view key, std::string_view fallback) {
  if (!map.Get(key)) return std::string(fallback);
  return GetString(map, key);
}

Result<int64_t> GetInt(NodeRef map, std::string_view key) {
  NodeRef v = map.Get(key);
  if (!v || v.IsNull()) return Missing(map, key);
  auto i = v.AsInt();
  if (!i) return ErrorAt(v, key, "expected an integer, got '" + std::string(v.IsScalar() ? v.Text() : "") + "'");
  return *i;
}

Result<int64_t> GetInt(NodeRef map, std::string_view key, int64_t fallback) {
  if (!map.Get(key)) return fallback;
  return GetInt(map, key);
}

Result<double> GetDouble(NodeRef map, std::string_view key, double fallback) {
  NodeRef v = map.Get(key);
  if (!v) return fallback;
  auto d = v.AsDouble();
  if (!d) return ErrorAt(v, key, "expected a number");
  return *d;
}

Result<bool> GetBool(NodeRef map, std::string_view key, bool fallback) {
  NodeRef v = map.Get(key);
  if (!v) return fallback;
  auto b = v.AsBool();
  if (!b) return ErrorAt(v, key, "expected true or false");
  return *b;
}

std::optional<int64_t> ParseDurationMicros(std::string_view t) {
  size_t i = 0;
  while (i < t.size() && ((t[i] >= '0' && t[i] <= '9') || t[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + i, v);
  if (ec != std::errc() || p != t.data() + i || v < 0) return std::nullopt;
  std::string_view unit = t.substr(i);
  double mult;
  if (unit.empty() || unit == "s") mult = 1e6;
  else if (unit == "ms") mult = 1e3;
  else if (unit == "m" || unit == "min") mult = 60e6;
  else if (unit == "h") mult = 3600e6;
  else if (unit == "d") mult = 86400e6;
  else return std::nullopt;
  double us = v * mult;
  if (us > 9.0e18) return std::nullopt;
  return static_cast<int64_t>(std::llround(us));
}

Result<int64_t> GetDurationMicros(NodeRef map, std::string_view key) {
  NodeRef v = map.Get(key);
  if (!v || v.IsNull()) return Missing(map, key);
  if (!v.IsScalar()) return ErrorAt(v, key, "expected a duration such as 90s, 10m or 1h");
  auto d = ParseDurationMicros(v.Text());
  if (!d) {
    return ErrorAt(v, key, "'" + std::string(v.Text()) +
                               "' is not a duration (examples: 500ms, 90s, 10m, 1h, 1d)");
  }
  return *d;
}

Result<int64_t> GetDurationMicros(NodeRef map, std::string_view key, int64_t fallback) {
  if (!map.Get(key)) return fallback;
  return GetDurationMicros(map, key);
}

}  // namespace rf::yaml
