// Content types registered with the release service (what uploads are decoded against).
// One concern of the service (release_service.h); it reads and commits through ServiceState.
//
// Thread-safety: all methods may be called concurrently from any thread (ServiceState's contract).
#ifndef RINGFENCE_SERVICE_CONTENT_TYPES_H_
#define RINGFENCE_SERVICE_CONTENT_TYPES_H_

#include <string_view>
#include <vector>

#include "core/status.h"
#include "server/interfaces.h"
#include "service/service_state.h"

namespace rf::service {

class ContentTypes {
 public:
  // `state` must outlive this object.
  explicit ContentTypes(ServiceState& state) : state_(state) {}

  // Admin only. Registers a content type (name, schema_version) from its YAML. Re-registering the
  // same bytes is OK (idempotent); different bytes under the same name and version: AlreadyExists.
  Result<store::ContentTypeRecord> Add(const server::Principal& actor, std::string_view yaml);
  std::vector<store::ContentTypeRecord> List() const;

 private:
  ServiceState& state_;
};

}  // namespace rf::service

#endif  // RINGFENCE_SERVICE_CONTENT_TYPES_H_
