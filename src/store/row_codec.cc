#include "store/row_codec.h"

#include <boost/json.hpp>

#include "core/bundle.h"
#include "rollout/plan.h"
#include "store/release_codec.h"

namespace rf::store {

std::string EncodePublisherKeys(const std::vector<std::string>& keys) {
  std::string out = "[";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(&out, keys[i]);
  }
  return out + "]";
}

Result<std::vector<std::string>> DecodePublisherKeys(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return Status::DataLoss("policies.publisher_keys: not a JSON array");
  std::vector<std::string> out;
  for (const auto& e : v.as_array()) {
    if (!e.is_string()) return Status::DataLoss("policies.publisher_keys: not a string");
    out.emplace_back(e.as_string());
  }
  return out;
}

Status DecodeReleaseColumns(std::string_view state_json, admission::ReleaseRecord* r) {
  auto state = DecodeReleaseState(state_json);
  if (!state.ok()) return state.status().WithPrefix("release " + r->release_id);
  r->state = std::move(*state);
  auto plan = rollout::ParsePlan(r->plan_yaml, "release " + r->release_id + " plan");
  if (!plan.ok()) return Status::DataLoss(plan.status().message());
  r->plan = std::move(*plan);
  return Status::Ok();
}

}  // namespace rf::store
