// The demo's side of the operator API (docs/api/openapi.yaml): one blocking request at a time as
// one principal (bearer token), JSON in and out, over the CLI's client (http/http_client.h). The demo plays the author, the reviewers,
// the operator and the admin through it, exactly as `ringfence --server URL --token F ...` would.
//
// Not thread-safe: one client per thread.
#ifndef RINGFENCE_DEMO_OPERATOR_CLIENT_H_
#define RINGFENCE_DEMO_OPERATOR_CLIENT_H_

#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http_client.h"

namespace rf::demo {

struct Reply {
  long status = 0;
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
};

class OperatorClient {
 public:
  OperatorClient(std::string base_url, std::string token);

  // Any HTTP status is a successful Send; transport failures are Unavailable/DeadlineExceeded.
  Result<Reply> Send(std::string_view method, std::string_view path, std::string_view body = {});

 private:
  http::HttpClient client_;
};

}  // namespace rf::demo

#endif  // RINGFENCE_DEMO_OPERATOR_CLIENT_H_
