// A read-only YAML document for user-authored files (content types, bundle sources, plans,
// scenarios), built on libyaml's event parser.
//
// Why not yaml-cpp: bench/yaml_bench.cc measures both on a 100,000-item bundle source; libyaml into
// this flat node array is several times faster and keeps every node's line and column, which
// error messages need. Nodes live in one vector and scalars in one string arena, so a document of
// millions of nodes costs two allocations per growth step, not one per node.
//
// Deliberately unsupported (rejected with an error naming the line): anchors and aliases (they
// allow exponential "billion laughs" expansion), multiple documents, and non-string mapping keys.
// Duplicate mapping keys are an error, as the YAML spec requires.
//
//   RF_ASSIGN_OR_RETURN(yaml::Document doc, yaml::Parse(text, "plan.yaml"));
//   yaml::NodeRef root = doc.root();
//   if (auto waves = root.Get("waves")) for (yaml::NodeRef w : waves.Items()) { ... }
#ifndef RINGFENCE_FORMAT_YAML_H_
#define RINGFENCE_FORMAT_YAML_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace rf::yaml {

enum class Kind : uint8_t { kScalar, kSequence, kMapping };

struct NodeRec {
  Kind kind;
  bool plain;            // scalar written without quotes (so it may be a number, bool or null)
  uint32_t line;         // 1-based
  uint32_t column;       // 1-based
  uint32_t first_child;  // sequences: items; mappings: key, value, key, value, ...; 0 = none
  uint32_t next_sibling; // 0 = none
  uint32_t child_count;  // sequences: items; mappings: 2 * entries
  uint32_t text_offset;  // scalars: into Document::arena_
  uint32_t text_size;
};

class Document;

// A cheap handle to one node. A default-constructed (or failed lookup) NodeRef is "missing" and
// converts to false.
class NodeRef {
 public:
  NodeRef() = default;
  NodeRef(const Document* doc, uint32_t index) : doc_(doc), index_(index) {}

  explicit operator bool() const { return doc_ != nullptr; }
  Kind kind() const;
  bool IsScalar() const { return *this && kind() == Kind::kScalar; }
  bool IsSequence() const { return *this && kind() == Kind::kSequence; }
  bool IsMapping() const { return *this && kind() == Kind::kMapping; }
  // Plain (unquoted) scalar.
  bool IsPlain() const;
  // A plain scalar that YAML 1.2 resolves to null: "", "~", "null", "Null", "NULL".
  bool IsNull() const;
  uint32_t line() const;
  uint32_t column() const;
  // REQUIRES: IsScalar().
  std::string_view Text() const;

  // Sequences: the items. Mappings: the number of entries via size().
  size_t size() const;
  // Mapping lookup by key; missing NodeRef if absent or not a mapping.
  NodeRef Get(std::string_view key) const;

  // Iteration over sequence items, or over mapping entries as (key, value) pairs via Entries().
  std::vector<NodeRef> Items() const;
  std::vector<std::pair<NodeRef, NodeRef>> Entries() const;

  // Visits mapping entries without allocating: f(key_text, value).
  template <typename F>
  void ForEachEntry(F&& f) const;
  template <typename F>
  void ForEachItem(F&& f) const;

  // Scalar conversions following the YAML 1.2 core schema; they fail on quoted scalars,
  // because a quoted "3" is a string.
  std::optional<int64_t> AsInt() const;
  std::optional<bool> AsBool() const;
  std::optional<double> AsDouble() const;

  // "file:line:column" for error messages.
  std::string Where() const;

  const Document* doc() const { return doc_; }
  uint32_t index() const { return index_; }

 private:
  const NodeRec& rec() const;
  const Document* doc_ = nullptr;
  uint32_t index_ = 0;
};

class Document {
 public:
  NodeRef root() const { return nodes_.size() > 1 ? NodeRef(this, 1) : NodeRef(); }
  const std::string& filename() const { return filename_; }
  size_t node_count() const { return nodes_.size() - 1; }

 private:
  friend class NodeRef;
  friend class Builder;
  std::string filename_;
  std::vector<NodeRec> nodes_;  // index 0 is a sentinel so that 0 can mean "none"
  std::string arena_;
};

struct ParseOptions {
  // Documents nested deeper than this are rejected (protects the stack of later recursive users).
  int max_depth = 64;
  // Documents with more nodes than this are rejected.
  size_t max_nodes = 50'000'000;
};

// Parses exactly one YAML document. Errors are InvalidArgument with "file:line:column: reason".
// An empty input yields a Document whose root() is missing.
Result<Document> Parse(std::string_view text, std::string_view filename,
                       const ParseOptions& options = {});

// Parses an integer scalar text per the YAML 1.2 core schema (decimal with optional sign, 0x hex,
// 0o octal). Fails on overflow.
std::optional<int64_t> ParseInt(std::string_view text);

// ----- helpers for schema decoders (content types, plans, scenarios) -----
// Each returns InvalidArgument with "file:line:column: key 'k': reason", so every error about a
// user-authored file names the file, the line and the key.

// An error located at `at` about `key` (key may be empty).
Status ErrorAt(NodeRef at, std::string_view key, std::string_view reason);
// Fails unless `map` is a mapping whose keys are all in `allowed`; `what` names the mapping in the
// message ("plan", "wave").
Status CheckMapping(NodeRef map, std::string_view what, std::initializer_list<std::string_view> allowed);
// Required/optional typed fields of a mapping. Optional ones return `fallback` when absent.
Result<std::string> GetString(NodeRef map, std::string_view key);
Result<std::string> GetString(NodeRef map, std::string_view key, std::string_view fallback);
Result<int64_t> GetInt(NodeRef map, std::string_view key);
Result<int64_t> GetInt(NodeRef map, std::string_view key, int64_t fallback);
Result<double> GetDouble(NodeRef map, std::string_view key, double fallback);
Result<bool> GetBool(NodeRef map, std::string_view key, bool fallback);
// Durations: "500ms", "90s", "10m", "2h", "1d" (or a plain number of seconds). Returns microseconds.
Result<int64_t> GetDurationMicros(NodeRef map, std::string_view key);
Result<int64_t> GetDurationMicros(NodeRef map, std::string_view key, int64_t fallback);
// Parses a duration text as above; nullopt if malformed or negative.
std::optional<int64_t> ParseDurationMicros(std::string_view text);

// ----- inline implementation -----

inline const NodeRec& NodeRef::rec() const { return doc_->nodes_[index_]; }
inline Kind NodeRef::kind() const { return rec().kind; }
inline bool NodeRef::IsPlain() const { return IsScalar() && rec().plain; }
inline uint32_t NodeRef::line() const { return doc_ ? rec().line : 0; }
inline uint32_t NodeRef::column() const { return doc_ ? rec().column : 0; }
inline std::string_view NodeRef::Text() const {
  const NodeRec& r = rec();
  return std::string_view(doc_->arena_).substr(r.text_offset, r.text_size);
}
inline size_t NodeRef::size() const {
  if (!doc_) return 0;
  const NodeRec& r = rec();
  return r.kind == Kind::kMapping ? r.child_count / 2 : r.child_count;
}

template <typename F>
void NodeRef::ForEachEntry(F&& f) const {
  if (!IsMapping()) return;
  uint32_t k = rec().first_child;
  while (k != 0) {
    uint32_t v = doc_->nodes_[k].next_sibling;
    NodeRef key(doc_, k);
    f(key, NodeRef(doc_, v));
    k = doc_->nodes_[v].next_sibling;
  }
}

template <typename F>
void NodeRef::ForEachItem(F&& f) const {
  if (!IsSequence()) return;
  for (uint32_t c = rec().first_child; c != 0; c = doc_->nodes_[c].next_sibling) f(NodeRef(doc_, c));
}

}  // namespace rf::yaml

#endif  // RINGFENCE_FORMAT_YAML_H_
