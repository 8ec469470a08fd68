#include "agent/trust_root.h"

#include <boost/json.hpp>

#include "agent/canonical_json.h"
#include "crypto/dsse.h"

namespace rf::agent {
namespace {

Result<std::vector<crypto::PublicKey>> DecodeKeys(const boost::json::object& o,
                                                  std::string_view key, const std::string& where) {
  const auto* v = o.if_contains(key);
  const std::string w = where + "." + std::string(key);
  if (!v || !v->is_array()) return Status::InvalidArgument(w + " is missing or not an array");
  std::vector<crypto::PublicKey> out;
  for (size_t i = 0; i < v->get_array().size(); ++i) {
    const auto& k = v->get_array()[i];
    const std::string wi = w + "[" + std::to_string(i) + "]";
    if (!k.is_object()) {
      return Status::InvalidArgument(wi + " is not a public key object");
    }
    auto pub = crypto::DecodePublicKeyFile(boost::json::serialize(k));
    if (!pub.ok()) return pub.status().WithPrefix(wi);
    out.push_back(*pub);
  }
  RF_RETURN_IF_ERROR(crypto::CheckDistinctKeys(out, w));
  return out;
}

boost::json::array EncodeKeys(const std::vector<crypto::PublicKey>& keys) {
  boost::json::array a;
  for (const auto& k : keys) a.push_back(boost::json::parse(crypto::EncodePublicKeyFile(k)));
  return a;
}

}  // namespace

Result<TrustRoot> ParseTrustRoot(std::string_view json) {
  auto v = ParseJson(json, 8);
  if (!v.ok()) return v.status().WithPrefix("trust root");
  if (!v->is_object()) return Status::InvalidArgument("trust root is not a JSON object");
  const auto& o = v->get_object();
  RF_RETURN_IF_ERROR(CheckKeys(o, {"format", "publishers", "reviewers", "release", "clock_skew_s"},
                               "trust root"));
  RF_ASSIGN_OR_RETURN(int64_t format, GetInt(o, "format", "trust root"));
  if (format != 1) {
    return Status::InvalidArgument("trust root: unsupported format " + std::to_string(format));
  }
  TrustRoot t;
  for (std::string_view section : {"publishers", "reviewers", "release"}) {
    const std::string w = "trust root: " + std::string(section);
    const auto* s = o.if_contains(section);
    if (!s || !s->is_object()) return Status::InvalidArgument(w + " is missing or not an object");
    const auto& so = s->get_object();
    const bool has_threshold = section != "release";
    if (has_threshold) {
      RF_RETURN_IF_ERROR(CheckKeys(so, {"keys", "threshold"}, w));
    } else {
      RF_RETURN_IF_ERROR(CheckKeys(so, {"keys"}, w));
    }
    RF_ASSIGN_OR_RETURN(auto keys, DecodeKeys(so, "keys", w));
    int64_t threshold = 0;
    if (has_threshold) {
    RF_ASSIGN_OR_RETURN(threshold, GetInt(so, "threshold", w));
  }
    if (section == "publishers") {
      if (threshold < 1 || threshold > static_cast<int64_t>(keys.size())) {
        return Status::InvalidArgument(w + ".threshold must be between 1 and the number of keys (" +
                                       std::to_string(keys.size()) + ")");
      }
      t.publisher_keys = std::move(keys);
      t.publisher_threshold = threshold;
    } else if (section == "reviewers") {
      if (threshold < 0 || threshold > static_cast<int64_t>(keys.size())) {
        return Status::InvalidArgument(w + ".threshold must be between 0 and the number of keys (" +
                                       std::to_string(keys.size()) + ")");
      }
      t.reviewer_keys = std::move(keys);
      t.approval_threshold = threshold;
    } else {
      if (keys.empty()) return Status::InvalidArgument(w + ".keys must hold at least one key");
      t.release_keys = std::move(keys);
    }
  }
  if (o.contains("clock_skew_s")) {
    RF_ASSIGN_OR_RETURN(t.clock_skew_s, GetInt(o, "clock_skew_s", "trust root"));
    if (t.clock_skew_s < 0 || t.clock_skew_s > 86400) {
      return Status::InvalidArgument("trust root: clock_skew_s must be between 0 and 86400");
    }
  }
  return t;
}

std::string EncodeTrustRoot(const TrustRoot& t) {
  boost::json::object o;
  o["format"] = 1;
  o["publishers"] = {{"keys", EncodeKeys(t.publisher_keys)}, {"threshold", t.publisher_threshold}};
  o["reviewers"] = {{"keys", EncodeKeys(t.reviewer_keys)}, {"threshold", t.approval_threshold}};
  o["release"] = {{"keys", EncodeKeys(t.release_keys)}};
  o["clock_skew_s"] = t.clock_skew_s;
  return boost::json::serialize(o) + "\n";
}

}  // namespace rf::agent
