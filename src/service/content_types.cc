#include "service/content_types.h"

#include <memory>

#include "crypto/crypto.h"
#include "service/service_common.h"

namespace rf::service {

using server::Principal;
using server::Role;

Result<store::ContentTypeRecord> ContentTypes::Add(const Principal& actor, std::string_view yaml) {
  RF_RETURN_IF_ERROR(Require(actor, Role::kAdmin, "register content types"));
  const size_t max_yaml_bytes = state_.options().max_yaml_bytes;
  if (yaml.size() > max_yaml_bytes) {
    return Status::ResourceExhausted("content type larger than " +
                                     std::to_string(max_yaml_bytes) + " bytes");
  }
  RF_ASSIGN_OR_RETURN(ContentType type, ParseContentType(yaml, "content type"));
  store::ContentTypeRecord rec{type.name, type.schema_version, std::string(yaml), actor.name,
                               state_.NowMicros()};
  Status st;
  {
    auto w = state_.Write();
    auto it = w.model().types.find({type.name, type.schema_version});
    if (it != w.model().types.end()) {
      if (it->second.yaml == yaml) return it->second;  // idempotent
      return Status::AlreadyExists("content type " + type.name + " schema_version " +
                                   std::to_string(type.schema_version) +
                                   " is registered with different content; bump schema_version");
    }
    store::WriteBatch b;
    b.content_types.push_back(rec);
    b.audit.push_back({actor.name, "content_type.add", "content type " + type.name,
                       Details().Int("schema_version", type.schema_version)
                           .Str("sha256", crypto::Sha256Hex(yaml)).Done(),
                       rec.created_us});
    auto parsed = std::make_shared<const ContentType>(std::move(type));
    st = w.Commit(std::move(b), [&](Model& m) {
      m.types[{rec.name, rec.schema_version}] = rec;
      m.parsed_types[{rec.name, rec.schema_version}] = parsed;
    });
  }
  if (!st.ok()) return st;
  state_.NotifyChange();
  return rec;
}

std::vector<store::ContentTypeRecord> ContentTypes::List() const {
  return ValuesOf(state_.Read()->types);
}

}  // namespace rf::service
