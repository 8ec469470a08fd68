#include "service/reviews.h"

#include "admission/review.h"
#include "crypto/dsse.h"
#include "protocol/statements.h"
#include "service/service_common.h"

namespace rf::service {

using server::Principal;
using server::Role;

namespace {

// The approval statement's fields as admission::EvaluateApproval reads them (nothing of the
// model yet).
admission::ApprovalInput StatementInput(const Principal& actor, const crypto::Envelope& env,
                                        std::string_view envelope_text,
                                        const protocol::ApprovalStatement& stmt, int64_t now) {
  admission::ApprovalInput in;
  in.actor = &actor;
  in.envelope = &env;
  in.envelope_text = envelope_text;
  in.reviewer = stmt.reviewer;
  in.role_name = stmt.role;
  in.release_id = stmt.release_id;
  in.bundle_sha256 = stmt.bundle_sha256;
  in.channel = stmt.channel;
  in.reports_sha256 = stmt.reports_sha256;
  in.version = stmt.version;
  in.now_micros = now;
  return in;
}

}  // namespace

Result<ReleaseView> Reviews::Approve(const Principal& actor, std::string_view release_id,
                                     std::string_view approval_envelope) {
  if (approval_envelope.size() > (64u << 10)) {
    return Status::ResourceExhausted("approval envelope larger than 64 KiB");
  }
  auto env = crypto::ParseEnvelope(approval_envelope);
  if (!env.ok()) return Status::InvalidArgument("approval envelope: " + env.status().message());
  if (env->payload_type != protocol::kApprovalPayloadType) {
    return Status::InvalidArgument("approval envelope: payloadType '" + env->payload_type +
                                   "', expected '" +
                                   std::string(protocol::kApprovalPayloadType) + "'");
  }
  RF_ASSIGN_OR_RETURN(protocol::ApprovalStatement stmt,
                      protocol::DecodeApprovalStatement(env->payload));
  admission::ApprovalInput in =
      StatementInput(actor, *env, approval_envelope, stmt, state_.NowMicros());
  // The caller and role checks need no model: refuse before taking the write lock.
  if (auto role = store::RoleFromString(stmt.role); stmt.reviewer != actor.name || !role.ok() ||
                                                    *role == Role::kAgent || !actor.Has(*role)) {
    return admission::EvaluateApproval(in).status();
  }
  Status st;
  {
    auto w = state_.Write();
    const Model& m = w.model();
    auto rit = m.releases.find(release_id);
    if (rit == m.releases.end()) {
      return Status::NotFound("unknown release " + std::string(release_id));
    }
    const server::ReleaseRecord& r = rit->second;
    const ReleaseView view = m.View(r);
    const store::ChannelPolicy policy = m.PolicyFor(r.channel);
    in.release = &r;
    in.bundle_uploader = m.bundles.at(r.bundle_sha256).uploaded_by;
    in.expected_reports_sha256 = view.reports_sha256;
    in.approvals = &view.approvals;
    auto pit = m.principals.find(actor.name);
    in.reviewer_key = pit != m.principals.end() ? &pit->second.reviewer_key : nullptr;
    in.policy = &policy;
    RF_ASSIGN_OR_RETURN(admission::ApprovalDecision d, admission::EvaluateApproval(in));
    const store::ApprovalRecord& a = d.approval;
    store::WriteBatch b;
    b.approvals.push_back(a);
    b.audit.push_back({actor.name, "release.approve", r.release_id,
                       Details().Str("role", stmt.role).Str("keyid", a.keyid)
                           .Str("bundle_sha256", r.bundle_sha256)
                           .Str("reports_sha256", stmt.reports_sha256)
                           .Int("counted", d.counted).Int("required", policy.approvals_required)
                           .Done(),
                       a.created_us});
    if (d.ready) {
      b.releases.push_back(*d.ready);
      b.audit.push_back({"system", "release.approved", r.release_id,
                         Details().Str("from", "AwaitingApproval").Str("to", "Ready")
                             .Int("approvals", d.counted).Done(),
                         a.created_us});
    }
    st = w.Commit(std::move(b), [&](Model& mm) {
      mm.approvals[a.release_id].push_back(a);
      if (d.ready) mm.releases[d.ready->release_id] = *d.ready;
    });
  }
  if (!st.ok()) return st;
  state_.NotifyChange();
  auto m = state_.Read();
  auto it = m->releases.find(release_id);
  if (it == m->releases.end()) {
    return Status::NotFound("unknown release " + std::string(release_id));
  }
  return m->View(it->second);
}

}  // namespace rf::service
