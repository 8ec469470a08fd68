// WhatIfApi: GET /v1/releases/{id}/what-if (docs/dashboard.md "What if", docs/api/openapi.yaml):
// the release's plan simulated on the live fleet as if its content harmed every device that
// applies it. The simulation itself is injected (`ringfence server` passes sim::WhatIfJson), so
// the server module does not depend on the simulator.
//
// Thread-safe if the injected functions are.
#ifndef RINGFENCE_SERVER_UI_WHAT_IF_H_
#define RINGFENCE_SERVER_UI_WHAT_IF_H_

#include <functional>
#include <string>
#include <string_view>

#include "admission/records.h"
#include "core/status.h"
#include "server/interfaces.h"
#include "server/ui_api.h"

namespace rf::server {

class WhatIfApi {
 public:
  using Authenticator = UiAuthenticator;
  using Lookup = std::function<Result<ReleaseRecord>(std::string_view id)>;
  // (release, p, signal) -> the comparison JSON (sim/sim_html.h CompareHtmlData's format).
  // `signal` is "crash", "silence" or "error" (checked before the call).
  using Simulate = std::function<Result<std::string>(const ReleaseRecord&, double p, std::string_view signal)>;

  WhatIfApi(Authenticator authenticate, Lookup lookup, Simulate simulate)
      : authenticate_(std::move(authenticate)), lookup_(std::move(lookup)), simulate_(std::move(simulate)) {}

  // True for /v1/releases/{id}/what-if.
  static bool Handles(std::string_view path);
  // 401 / 403 forbidden_role (agents) / 405 / 400 (query: p in [0, 1], signal) / 404 (release)
  // / 409 (e.g. no device takes the content type) / 200 with the comparison.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  Authenticator authenticate_;
  Lookup lookup_;
  Simulate simulate_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_UI_WHAT_IF_H_
