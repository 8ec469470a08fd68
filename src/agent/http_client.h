// The agent's HTTP client: one request at a time, with hard caps so that a malicious or broken
// server (garbage, huge bodies, trickled bytes, stalls) costs the device a bounded amount of memory
// and time and ends in a clear Status.
#ifndef RINGFENCE_AGENT_HTTP_CLIENT_H_
#define RINGFENCE_AGENT_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace rf::agent {

struct HttpRequest {
  std::string method = "GET";  // GET or POST
  std::string url;             // http:// or https:// only
  std::string bearer_token;    // sent as "Authorization: Bearer ..." when not empty
  std::string body;            // POST body (application/json)
  size_t max_response_bytes = 1u << 20;  // larger bodies are cut off: ResourceExhausted
  int64_t timeout_ms = 30'000;           // whole request, connect included: DeadlineExceeded
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // OK with any HTTP status the server answered; an error only for transport failures (connect,
  // timeout, too slow, too big, malformed HTTP): Unavailable, DeadlineExceeded, ResourceExhausted.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

struct CurlHttpClientOptions {
  int64_t connect_timeout_ms = 5'000;  // TCP (and TLS) connect
  // A transfer slower than this many bytes/s for `low_speed_time_s` seconds is aborted.
  int64_t low_speed_bytes_per_s = 512;
  int64_t low_speed_time_s = 10;
  std::string ca_file;  // TLS trust anchors (PEM); empty = the system's. Peer + host verified.
  bool insecure_http = false;  // allow plain http:// to a non-loopback host (http/transport_policy.h)
  // Called with every received chunk's size (the fault-injection tests kill the agent mid-download).
  std::function<void(size_t)> on_chunk;
};

// libcurl; keeps one connection alive across requests (a check-in reuses it). Not thread-safe.
std::unique_ptr<HttpClient> NewCurlHttpClient(CurlHttpClientOptions options);

// Joins a server base URL ("http://h:1/") and a path reference ("/v1/x"); an absolute http(s)
// reference is returned as is; anything else is InvalidArgument.
Result<std::string> ResolveUrl(std::string_view base, std::string_view ref);

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_HTTP_CLIENT_H_
