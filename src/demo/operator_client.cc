#include "demo/operator_client.h"

namespace rf::demo {

OperatorClient::OperatorClient(std::string base_url, std::string token)
    : client_({.base_url = std::move(base_url), .token = std::move(token), .timeout_ms = 60'000}) {}

Result<Reply> OperatorClient::Send(std::string_view method, std::string_view path,
                                   std::string_view body) {
  RF_ASSIGN_OR_RETURN(http::HttpReply r, client_.Send(method, path, body));
  return Reply{r.status, std::move(r.body)};
}

}  // namespace rf::demo
