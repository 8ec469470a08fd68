// Post-apply confirmation: the one definition of when a device that applied a release is silent
// and when it confirms (specification: docs/gate.md, "Post-apply confirmation"; wire format:
// docs/protocol.md, `confirm_after_s`). Used by the server's controller (per device, from its
// check-ins), the simulator's engine (per group of devices, from the scenario's ground truth) and
// the agent (when to send the confirmation), so that server, simulator and agent agree.
//
//   Agent:  applies, checks in at once (the apply report), then again
//           ConfirmationDelayMicros(confirm_after, u) later (an extra check-in), and polls as it
//           would have from the report on.
//   Server: the apply report arrives at R: the device owes a confirmation by
//           ConfirmationDeadline(gate, R); IsSilent() is the silence rule the sweep counts.
//
// Pure: no I/O, no clock reads, no randomness (the caller draws u).
#ifndef RINGFENCE_ROLLOUT_CONFIRMATION_H_
#define RINGFENCE_ROLLOUT_CONFIRMATION_H_

#include <cstdint>

#include "rollout/plan.h"

namespace rf::rollout {

// The agent sends its confirmation confirm_after x (1 + kConfirmJitter x u), u uniform in [0, 1):
// spread so that devices that applied together do not confirm together.
inline constexpr double kConfirmJitter = 0.25;
// The server's deadline is kConfirmDeadlineFactor x confirm_after after the apply report: at
// least 0.75 x confirm_after of slack after the latest jittered confirmation, for a loaded host
// or network (docs/gate.md explains why a late confirmation must stay rare under load).
inline constexpr int64_t kConfirmDeadlineFactor = 2;

// When the agent sends its confirmation after the apply report. REQUIRES: 0 <= u < 1.
int64_t ConfirmationDelayMicros(int64_t confirm_after_micros, double u);

// The confirmation of an apply reported at `reported_micros` is due by this time; -1 when the
// plan has confirmations off (confirm_after 0).
int64_t ConfirmationDeadline(const GateSettings& gate, int64_t reported_micros);

// The silence rule. A device that owes a confirmation (`confirm_deadline_micros` >= 0: it
// reported an apply and has not checked in since) is silent exactly when the deadline has passed:
// the server expects its next check-in at the confirmation, not at its poll, so a device still
// busy applying or loading the content is not silent before the deadline, and a device that died
// on it is silent at the deadline, however long silence_after is. Any other device
// (`confirm_deadline_micros` = -1) is silent when it has not been seen for silence_after.
bool IsSilent(const GateSettings& gate, int64_t now_micros, int64_t last_seen_micros,
              int64_t confirm_deadline_micros);

// For the simulator: how long after its apply report a device that stops checking in
// `stops_after_micros` after it is declared silent, given its poll interval and the time of its
// confirmation (ConfirmationDelayMicros; ignored when confirmations are off). The device's
// check-ins are the apply report (0), the confirmation, and its polls every `poll_micros` after
// the report (the confirmation is an extra check-in; the poll keeps its phase). A device that
// stops before its confirmation is silent at the deadline; otherwise silence_after after its last
// check-in at or before the stop.
int64_t SilenceDetectionDelay(const GateSettings& gate, int64_t poll_micros,
                              int64_t confirm_delay_micros, int64_t stops_after_micros);

// For the simulator: the first check-in strictly after `event_after_micros` (a crash or error to
// report), with the same check-in schedule as above.
int64_t NextCheckinDelay(const GateSettings& gate, int64_t poll_micros, int64_t confirm_delay_micros,
                         int64_t event_after_micros);

}  // namespace rf::rollout

#endif  // RINGFENCE_ROLLOUT_CONFIRMATION_H_
