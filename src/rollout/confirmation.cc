#include "rollout/confirmation.h"

#include <algorithm>
#include <cmath>

namespace rf::rollout {

int64_t ConfirmationDelayMicros(int64_t confirm_after_micros, double u) {
  u = std::clamp(u, 0.0, 1.0);
  return confirm_after_micros +
         static_cast<int64_t>(std::floor(kConfirmJitter * u * static_cast<double>(confirm_after_micros)));
}

int64_t ConfirmationDeadline(const GateSettings& gate, int64_t reported_micros) {
  if (gate.confirm_after_micros <= 0) return -1;
  return reported_micros + kConfirmDeadlineFactor * gate.confirm_after_micros;
}

bool IsSilent(const GateSettings& gate, int64_t now_micros, int64_t last_seen_micros,
              int64_t confirm_deadline_micros) {
  if (confirm_deadline_micros >= 0) return now_micros > confirm_deadline_micros;
  return now_micros - last_seen_micros > gate.silence_after_micros;
}

int64_t SilenceDetectionDelay(const GateSettings& gate, int64_t poll_micros,
                              int64_t confirm_delay_micros, int64_t stops_after_micros) {
  const int64_t confirm = gate.confirm_after_micros > 0 ? confirm_delay_micros : 0;
  const int64_t poll = std::max<int64_t>(1, poll_micros);
  const int64_t stops = std::max<int64_t>(0, stops_after_micros);
  if (confirm > 0 && stops < confirm) {
    // The confirmation never comes: silent at its deadline (IsSilent).
    return ConfirmationDeadline(gate, 0);
  }
  // Last heartbeat: the confirmation or the last poll at or before the stop.
  const int64_t last = std::max(stops / poll * poll, confirm);
  return last + gate.silence_after_micros;
}

int64_t NextCheckinDelay(const GateSettings& gate, int64_t poll_micros, int64_t confirm_delay_micros,
                         int64_t event_after_micros) {
  const int64_t confirm = gate.confirm_after_micros > 0 ? confirm_delay_micros : 0;
  const int64_t poll = std::max<int64_t>(1, poll_micros);
  const int64_t t = std::max<int64_t>(0, event_after_micros);
  const int64_t next_poll = (t / poll + 1) * poll;
  return confirm > t ? std::min(confirm, next_poll) : next_poll;
}

}  // namespace rf::rollout
