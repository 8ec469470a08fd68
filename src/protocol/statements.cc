#include "protocol/statements.h"

#include <boost/json.hpp>

#include "protocol/canonical_json.h"
#include "protocol/identifiers.h"

namespace rf::protocol {

Result<ReleaseStatement> DecodeReleaseStatement(std::string_view payload) {
  constexpr std::string_view w = "release statement";
  auto v = ParseCanonicalJson(payload);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("release statement is not a JSON object");
  const auto& o = v->get_object();
  RF_RETURN_IF_ERROR(CheckKeys(o,
                               {"action", "bundle_sha256", "channel", "expires_s", "issued_s",
                                "release_id", "version"},
                               w));
  ReleaseStatement s;
  RF_ASSIGN_OR_RETURN(s.action, GetString(o, "action", w));
  RF_ASSIGN_OR_RETURN(s.bundle_sha256, GetString(o, "bundle_sha256", w));
  RF_ASSIGN_OR_RETURN(s.channel, GetString(o, "channel", w));
  RF_ASSIGN_OR_RETURN(s.expires_s, GetInt(o, "expires_s", w));
  RF_ASSIGN_OR_RETURN(s.issued_s, GetInt(o, "issued_s", w));
  RF_ASSIGN_OR_RETURN(s.release_id, GetString(o, "release_id", w));
  RF_ASSIGN_OR_RETURN(s.version, GetInt(o, "version", w));
  if (s.action != "install" && s.action != "revert") {
    return Status::InvalidArgument("release statement: unknown action '" + s.action + "'");
  }
  if (!IsSha256Hex(s.bundle_sha256)) {
    return Status::InvalidArgument("release statement: 'bundle_sha256' is not a SHA-256 hex digest");
  }
  if (!IsValidChannel(s.channel)) {
    return Status::InvalidArgument("release statement: 'channel' is not a valid channel name");
  }
  if (s.version < 1) return Status::InvalidArgument("release statement: 'version' must be >= 1");
  return s;
}

Result<ApprovalStatement> DecodeApprovalStatement(std::string_view payload) {
  constexpr std::string_view w = "approval statement";
  auto v = ParseCanonicalJson(payload);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("approval statement is not a JSON object");
  const auto& o = v->get_object();
  RF_RETURN_IF_ERROR(CheckKeys(o,
                               {"bundle_sha256", "channel", "release_id", "reports_sha256",
                                "reviewer", "role", "version"},
                               w));
  ApprovalStatement s;
  RF_ASSIGN_OR_RETURN(s.bundle_sha256, GetString(o, "bundle_sha256", w));
  RF_ASSIGN_OR_RETURN(s.channel, GetString(o, "channel", w));
  RF_ASSIGN_OR_RETURN(s.release_id, GetString(o, "release_id", w));
  RF_ASSIGN_OR_RETURN(s.reports_sha256, GetString(o, "reports_sha256", w));
  RF_ASSIGN_OR_RETURN(s.reviewer, GetString(o, "reviewer", w));
  RF_ASSIGN_OR_RETURN(s.role, GetString(o, "role", w));
  RF_ASSIGN_OR_RETURN(s.version, GetInt(o, "version", w));
  return s;
}

Result<BundleHeader> DecodeBundleHeader(std::string_view payload) {
  constexpr std::string_view w = "bundle payload";
  auto v = ParseCanonicalJson(payload, 8);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("bundle payload is not a JSON object");
  const auto& o = v->get_object();
  RF_RETURN_IF_ERROR(CheckKeys(o, {"channel", "content_type", "items", "schema_version", "version"}, w));
  BundleHeader h;
  RF_ASSIGN_OR_RETURN(h.channel, GetString(o, "channel", w));
  RF_ASSIGN_OR_RETURN(h.content_type, GetString(o, "content_type", w));
  RF_ASSIGN_OR_RETURN(h.schema_version, GetInt(o, "schema_version", w));
  RF_ASSIGN_OR_RETURN(h.version, GetInt(o, "version", w));
  const auto* items = o.if_contains("items");
  if (!items || !items->is_array()) {
    return Status::InvalidArgument("bundle payload: 'items' is missing or not an array");
  }
  for (const auto& it : items->get_array()) {
    if (!it.is_object()) return Status::InvalidArgument("bundle payload: an item is not an object");
  }
  h.items = items->get_array().size();
  if (h.version < 1) return Status::InvalidArgument("bundle payload: 'version' must be >= 1");
  return h;
}

std::string EncodeReleaseStatement(const ReleaseStatement& s) {
  boost::json::object o;
  o["action"] = s.action;
  o["bundle_sha256"] = s.bundle_sha256;
  o["channel"] = s.channel;
  o["expires_s"] = s.expires_s;
  o["issued_s"] = s.issued_s;
  o["release_id"] = s.release_id;
  o["version"] = s.version;
  return EncodeCanonicalJson(o);
}

std::string EncodeApprovalStatement(const ApprovalStatement& s) {
  boost::json::object o;
  o["bundle_sha256"] = s.bundle_sha256;
  o["channel"] = s.channel;
  o["release_id"] = s.release_id;
  o["reports_sha256"] = s.reports_sha256;
  o["reviewer"] = s.reviewer;
  o["role"] = s.role;
  o["version"] = s.version;
  return EncodeCanonicalJson(o);
}

}  // namespace rf::protocol
