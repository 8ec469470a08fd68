#include "admission/review.h"

#include <algorithm>

#include "admission/admission.h"
#include "crypto/crypto.h"

namespace rf::admission {
namespace {

Status Mismatch(std::string_view field, const ReleaseRecord& r) {
  return Status::InvalidArgument("approval statement: " + std::string(field) +
                                 " does not match release " + r.release_id);
}

// The statement names exactly this release, bundle, channel, version and reports digest.
Status CheckNames(const ApprovalInput& in) {
  const ReleaseRecord& r = *in.release;
  if (in.release_id != r.release_id) return Mismatch("release_id", r);
  if (in.bundle_sha256 != r.bundle_sha256) return Mismatch("bundle_sha256", r);
  if (in.channel != r.channel) return Mismatch("channel", r);
  if (in.version != r.version) return Mismatch("version", r);
  if (in.reports_sha256 != in.expected_reports_sha256) return Mismatch("reports_sha256", r);
  return Status::Ok();
}

bool Counts(const ChannelPolicy& policy, Role role) {
  return std::find(policy.approver_roles.begin(), policy.approver_roles.end(), role) !=
         policy.approver_roles.end();
}

}  // namespace

Result<ApprovalDecision> EvaluateApproval(const ApprovalInput& in) {
  const Principal& actor = *in.actor;
  if (in.reviewer != actor.name) {
    return Status::PermissionDenied("approval statement names reviewer '" + std::string(in.reviewer) +
                                    "' but the caller is '" + actor.name + "'");
  }
  auto role = ParseRole(in.role_name);
  if (!role.ok() || *role == Role::kAgent) {
    return Status::InvalidArgument("approval statement: role '" + std::string(in.role_name) +
                                   "' is not a role");
  }
  if (!actor.Has(*role)) {
    return Status::PermissionDenied("principal '" + actor.name + "' lacks role " +
                                    std::string(RoleName(*role)) + " required to approve as " +
                                    std::string(in.role_name));
  }
  // Everything above needs no model: a caller may call with `release` still null to refuse early.
  const ReleaseRecord& r = *in.release;
  if (actor.name == r.author || actor.name == in.bundle_uploader) {
    return Status::PermissionDenied("'" + actor.name + "' authored release " + r.release_id +
                                    " (or uploaded its bundle): an author can never approve");
  }
  if (r.state.phase != rollout::Phase::kAwaitingApproval && r.state.phase != rollout::Phase::kReady) {
    return Status::FailedPrecondition("release " + r.release_id + " is " +
                                      std::string(rollout::PhaseName(r.state.phase)) +
                                      ": approvals are closed");
  }
  RF_RETURN_IF_ERROR(CheckNames(in));
  if (in.reviewer_key == nullptr || in.reviewer_key->empty()) {
    return Status::PermissionDenied("principal '" + actor.name + "' has no registered reviewer key");
  }
  auto key = crypto::DecodePublicKeyFile(*in.reviewer_key);
  if (!key.ok()) return Status::DataLoss("stored reviewer key of '" + actor.name + "' does not decode");
  if (!crypto::VerifyEnvelope(*in.envelope, *key).ok()) {
    return Status::PermissionDenied("approval is not signed by the registered key of '" +
                                    actor.name + "' (keyid " + ShortSha(key->KeyId()) + ")");
  }
  int counted = 0;
  for (const ApprovalRecord& a : *in.approvals) {
    if (a.reviewer == actor.name) {
      return Status::AlreadyExists("'" + actor.name + "' already approved release " + r.release_id);
    }
    if (a.keyid == key->KeyId()) {
      return Status::AlreadyExists("key " + ShortSha(a.keyid) + " already approved release " +
                                   r.release_id);
    }
    counted += Counts(*in.policy, a.role) ? 1 : 0;
  }
  if (!Counts(*in.policy, *role)) {
    return Status::PermissionDenied("channel " + r.channel + " counts approvals only from " +
                                    JoinRoleNames(in.policy->approver_roles) + ", not " +
                                    std::string(in.role_name));
  }
  ApprovalDecision d;
  const int64_t now = std::max(in.now_micros, r.state.last_event_micros);
  d.approval = {r.release_id, actor.name, *role, key->KeyId(), std::string(in.envelope_text), now};
  d.counted = counted + 1;
  if (r.state.phase == rollout::Phase::kAwaitingApproval && d.counted >= in.policy->approvals_required) {
    RF_ASSIGN_OR_RETURN(rollout::TransitionResult t,
                        rollout::Transition(r.state, rollout::Event::Approved(actor.name), now));
    d.ready = r;
    d.ready->state = std::move(t.state);
  }
  return d;
}

}  // namespace rf::admission
