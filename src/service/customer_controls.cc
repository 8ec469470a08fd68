#include "service/customer_controls.h"

#include "protocol/identifiers.h"
#include "service/service_common.h"

namespace rf::service {

using server::Principal;
using server::Role;

Status CustomerControls::Put(const Principal& actor, const server::CustomerControl& c) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kOperator, "set customer controls"));
  RF_RETURN_IF_ERROR(protocol::CheckChannel(c.channel));
  if (c.attr != "tenant" && c.attr != "group") {
    return Status::InvalidArgument("attr must be tenant or group, not '" + c.attr + "'");
  }
  if (c.value.empty() || c.value.size() > 64) {
    return Status::InvalidArgument("value must be 1-64 bytes");
  }
  if (c.delay_s < 0 || c.delay_s > 365 * 86400) {
    return Status::InvalidArgument("delay_s must be between 0 and 31536000");
  }
  Status st;
  {
    auto w = state_.Write();
    store::WriteBatch b;
    b.controls.push_back(c);
    b.audit.push_back({actor.name, "control.set", "channel " + c.channel + " " + c.attr + "=" + c.value,
                       Details().Bool("pin_previous", c.pin_previous).Int("delay_s", c.delay_s)
                           .Bool("exclude_early_waves", c.exclude_early_waves).Done(),
                       state_.NowMicros()});
    st = w.Commit(std::move(b), [&](Model& m) { m.controls[{c.channel, c.attr, c.value}] = c; });
  }
  if (st.ok()) state_.NotifyChange();
  return st;
}

Status CustomerControls::Delete(const Principal& actor, const store::ControlKey& k) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kOperator, "delete customer controls"));
  Status st;
  {
    auto w = state_.Write();
    if (!w.model().controls.count({k.channel, k.attr, k.value})) {
      return Status::NotFound("no control for channel " + k.channel + " " + k.attr + "=" + k.value);
    }
    store::WriteBatch b;
    b.deleted_controls.push_back(k);
    b.audit.push_back({actor.name, "control.delete",
                       "channel " + k.channel + " " + k.attr + "=" + k.value, "{}",
                       state_.NowMicros()});
    st = w.Commit(std::move(b),
                  [&](Model& m) { m.controls.erase({k.channel, k.attr, k.value}); });
  }
  if (st.ok()) state_.NotifyChange();
  return st;
}

std::vector<server::CustomerControl> CustomerControls::List() const {
  return ValuesOf(state_.Read()->controls);
}

}  // namespace rf::service
