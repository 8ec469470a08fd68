// A small blocking HTTP client (libcurl) for `ringfence server`'s operator API: one request at a
// time, bearer token attached, JSON in and out. Used by the CLI's remote verbs and by the demo.
//
//   HttpClient c({.base_url = "http://127.0.0.1:8080", .token = token});
//   RF_ASSIGN_OR_RETURN(HttpReply r, c.Send("GET", "/v1/releases", ""));
//   if (r.status != 200) ...   // r.body holds the server's {"error":{...}}
//
// Transport failures (DNS, refused, timeout, TLS) are Unavailable/DeadlineExceeded; any HTTP
// status is a successful Send. https:// verifies the server's certificate and host name (against
// `ca_file`, else the system's CAs); plain http:// to a non-loopback host is refused
// (InvalidArgument) unless `insecure_http` (transport_policy.h). Not thread-safe (one client per
// thread).
#ifndef RINGFENCE_HTTP_HTTP_CLIENT_H_
#define RINGFENCE_HTTP_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace rf::http {

struct HttpClientOptions {
  std::string base_url = {};  // "https://host:port" or loopback "http://..." (no trailing slash needed)
  std::string token = {};     // bearer token; "" sends none
  long timeout_ms = 30'000;   // whole request
  long connect_timeout_ms = 5'000;
  std::string ca_file = {};   // PEM CA certificates that sign the server's; "" = the system's
  bool insecure_http = false;  // allow plain http:// to a non-loopback host
};

struct HttpReply {
  long status = 0;
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `path` starts with '/'; `query` values are URL-encoded here. A non-empty body is sent as
  // application/json.
  Result<HttpReply> Send(std::string_view method, std::string_view path, std::string_view body,
                         const std::map<std::string, std::string>& query = {});

 private:
  HttpClientOptions options_;
  void* curl_ = nullptr;  // CURL*
};

// The TLS settings of every ringfence libcurl client (this one and the agent's): peer and host
// verification on, TLS 1.2 or newer, `ca_file` (if not empty) as the trust anchors. `curl` is a
// CURL*.
void SetTlsOptions(void* curl, const std::string& ca_file);
// A hint appended to a failed transfer's message when `curl_code` (a CURLcode) is a certificate
// verification failure; "" otherwise.
std::string TlsHint(int curl_code);

}  // namespace rf::http

#endif  // RINGFENCE_HTTP_HTTP_CLIENT_H_
