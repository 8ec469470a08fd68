#include "agent/verifier.h"

#include <set>

#include "crypto/dsse.h"

namespace rf::agent {
namespace {

Status CheckBundleSignatures(const TrustRoot& trust, const crypto::Envelope& env) {
  if (env.payload_type != crypto::kBundlePayloadType) {
    return Status::InvalidArgument("bundle: payload type is '" + env.payload_type + "', expected '" +
                                   std::string(crypto::kBundlePayloadType) + "'");
  }
  if (env.signatures.empty()) return Status::DataLoss("bundle: unsigned");
  // Distinct publisher keys (crypto::TrustedSigners, the one threshold rule).
  const auto valid = static_cast<int64_t>(crypto::TrustedSigners(env, trust.publisher_keys).size());
  if (valid < trust.publisher_threshold) {
    return Status::DataLoss("bundle: " + std::to_string(valid) +
                            " valid publisher signature(s), the trust root requires " +
                            std::to_string(trust.publisher_threshold));
  }
  return Status::Ok();
}

}  // namespace

Result<ReleaseStatement> VerifyReleaseStatement(const TrustRoot& trust, std::string_view envelope_json,
                                                std::string_view expected_action,
                                                std::string_view expected_channel, int64_t now_s) {
  crypto::EnvelopeLimits lim;
  lim.max_envelope_bytes = 64 << 10;
  auto env = crypto::ParseEnvelope(envelope_json, lim);
  if (!env.ok()) return env.status().WithPrefix("release statement");
  if (env->payload_type != kReleasePayloadType) {
    return Status::InvalidArgument("release statement: payload type is '" + env->payload_type +
                                   "', expected '" + std::string(kReleasePayloadType) + "'");
  }
  if (env->signatures.empty()) return Status::DataLoss("release statement: unsigned");
  if (crypto::TrustedSigners(*env, trust.release_keys).empty()) {
    return Status::DataLoss("release statement: no valid signature by a trusted release key");
  }
  RF_ASSIGN_OR_RETURN(ReleaseStatement s, DecodeReleaseStatement(env->payload));
  if (s.expires_s + trust.clock_skew_s < now_s) {
    return Status::OutOfRange("release statement expired at " + std::to_string(s.expires_s) +
                              " (now " + std::to_string(now_s) + ", skew allowance " +
                              std::to_string(trust.clock_skew_s) + " s)");
  }
  if (s.issued_s - trust.clock_skew_s > now_s) {
    return Status::OutOfRange("release statement issued in the future at " +
                              std::to_string(s.issued_s) + " (now " + std::to_string(now_s) +
                              ", skew allowance " + std::to_string(trust.clock_skew_s) + " s)");
  }
  if (s.action != expected_action) {
    return Status::InvalidArgument("release statement: action is '" + s.action + "', the directive is '" +
                                   std::string(expected_action) + "'");
  }
  if (s.channel != expected_channel) {
    return Status::InvalidArgument("release statement: channel is '" + s.channel +
                                   "', the directive is for channel '" +
                                   std::string(expected_channel) + "'");
  }
  return s;
}

Status CheckAntiRollback(const InstalledView& installed, int64_t version, std::string_view sha256) {
  for (const auto& r : installed.refused) {
    if (version <= r.version) {
      return Status::OutOfRange("anti-rollback: version " + std::to_string(version) +
                                " is not newer than quarantined/reverted version " +
                                std::to_string(r.version));
    }
  }
  if (installed.current) {
    const BundleRef& cur = *installed.current;
    if (version == cur.version) {
      if (sha256 == cur.sha256) {
        return Status::AlreadyExists("version " + std::to_string(version) + " is already installed");
      }
      return Status::FailedPrecondition(
          "mix-and-match: version " + std::to_string(version) + " is installed with digest " +
          cur.sha256.substr(0, 16) + "…, offered with digest " +
          std::string(sha256.substr(0, 16)) + "…");
    }
    if (version < cur.version) {
      return Status::OutOfRange("anti-rollback: version " + std::to_string(version) +
                                " is older than installed version " + std::to_string(cur.version));
    }
  }
  return Status::Ok();
}

Result<VerifiedBundle> VerifyInstall(const TrustRoot& trust, const InstallCandidate& c,
                                     const InstalledView& installed, int64_t now_s,
                                     const VerifierLimits& limits) {
  // 1. Release statement.
  RF_ASSIGN_OR_RETURN(ReleaseStatement rs,
                      VerifyReleaseStatement(trust, c.release_envelope, "install", c.channel, now_s));
  if (rs.version != c.version || rs.bundle_sha256 != c.sha256) {
    return Status::InvalidArgument("the directive (version " + std::to_string(c.version) +
                                   ") does not match its signed release statement (version " +
                                   std::to_string(rs.version) + ")");
  }

  // 2. Bundle envelope.
  auto env = crypto::ParseEnvelope(c.bundle_envelope);
  if (!env.ok()) return env.status().WithPrefix("bundle");
  const std::string digest = crypto::Sha256Hex(env->payload);
  if (digest != rs.bundle_sha256) {
    return Status::DataLoss("bundle: payload SHA-256 " + digest.substr(0, 16) +
                            "… differs from the release statement's " +
                            rs.bundle_sha256.substr(0, 16) + "…");
  }
  RF_RETURN_IF_ERROR(CheckBundleSignatures(trust, *env));
  RF_ASSIGN_OR_RETURN(BundleHeader header, DecodeBundleHeader(env->payload));
  if (header.channel != rs.channel || header.version != rs.version) {
    return Status::InvalidArgument("bundle: payload names channel '" + header.channel +
                                   "' version " + std::to_string(header.version) +
                                   ", the release statement channel '" + rs.channel +
                                   "' version " + std::to_string(rs.version));
  }

  // 3. Approvals: distinct reviewer keys over matching approval statements.
  std::set<std::string> approvers;
  size_t looked_at = 0;
  for (const auto& text : c.approval_envelopes) {
    if (++looked_at > limits.max_approvals) break;
    crypto::EnvelopeLimits lim;
    lim.max_envelope_bytes = 64 << 10;
    auto a = crypto::ParseEnvelope(text, lim);
    if (!a.ok() || a->payload_type != kApprovalPayloadType) continue;
    auto st = DecodeApprovalStatement(a->payload);
    if (!st.ok() || st->bundle_sha256 != rs.bundle_sha256 || st->channel != rs.channel ||
        st->version != rs.version) {
      continue;
    }
    for (size_t i : crypto::TrustedSigners(*a, trust.reviewer_keys)) {
      approvers.insert(trust.reviewer_keys[i].KeyId());  // distinct keys across envelopes too
    }
  }
  if (static_cast<int64_t>(approvers.size()) < trust.approval_threshold) {
    return Status::PermissionDenied(
        "approvals: " + std::to_string(approvers.size()) +
        " distinct reviewer key(s) with valid approvals of this bundle, the trust root requires " +
        std::to_string(trust.approval_threshold));
  }

  // 4. Anti-rollback, on the signed version.
  RF_RETURN_IF_ERROR(CheckAntiRollback(installed, rs.version, rs.bundle_sha256));

  VerifiedBundle v;
  v.channel = rs.channel;
  v.version = rs.version;
  v.sha256 = rs.bundle_sha256;
  v.release_id = rs.release_id;
  v.header = std::move(header);
  v.envelope = c.bundle_envelope;
  return v;
}

Result<SlotBundle> VerifyStoredBundle(const TrustRoot& trust, std::string_view envelope_json) {
  auto env = crypto::ParseEnvelope(envelope_json);
  if (!env.ok()) return env.status();
  RF_RETURN_IF_ERROR(CheckBundleSignatures(trust, *env));
  SlotBundle out;
  RF_ASSIGN_OR_RETURN(out.header, DecodeBundleHeader(env->payload));
  out.sha256 = crypto::Sha256Hex(env->payload);
  return out;
}

}  // namespace rf::agent
