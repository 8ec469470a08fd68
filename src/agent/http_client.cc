#include "agent/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "http/http_client.h"
#include "http/transport_policy.h"

namespace rf::agent {
namespace {

struct Sink {
  std::string* body;
  size_t cap;
  bool overflow = false;
  const std::function<void(size_t)>* on_chunk;
};

size_t WriteCallback(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t len = size * n;
  if (*sink->on_chunk) (*sink->on_chunk)(len);
  if (sink->body->size() + len > sink->cap) {
    sink->overflow = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  sink->body->append(data, len);
  return len;
}

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(CurlHttpClientOptions options) : options_(std::move(options)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
  }
  ~CurlHttpClient() override {
    if (curl_) curl_easy_cleanup(curl_);
  }

  Result<HttpResponse> Send(const HttpRequest& req) override {
    if (!curl_) return Status::Internal("curl_easy_init failed");
    if (req.url.rfind("http://", 0) != 0 && req.url.rfind("https://", 0) != 0) {
      return Status::InvalidArgument("only http:// and https:// URLs are fetched: " + req.url);
    }
    RF_RETURN_IF_ERROR(http::CheckClientUrl(req.url, options_.insecure_http));
    curl_easy_reset(curl_);
    HttpResponse resp;
    Sink sink{&resp.body, req.max_response_bytes, false, &options_.on_chunk};
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl_, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(options_.low_speed_bytes_per_s));
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.low_speed_time_s));
    curl_easy_setopt(curl_, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(req.max_response_bytes));
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, WriteCallback);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl_, CURLOPT_ACCEPT_ENCODING, nullptr);  // no decompression bombs
    http::SetTlsOptions(curl_, options_.ca_file);
    struct curl_slist* headers = nullptr;
    std::string auth;
    if (!req.bearer_token.empty()) {
      auth = "Authorization: Bearer " + req.bearer_token;
      headers = curl_slist_append(headers, auth.c_str());
    }
    headers = curl_slist_append(headers, "Accept: application/json");
    if (req.method == "POST") {
      headers = curl_slist_append(headers, "Content-Type: application/json");
      headers = curl_slist_append(headers, "Expect:");
      curl_easy_setopt(curl_, CURLOPT_POST, 1L);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (req.method != "GET") {
      curl_slist_free_all(headers);
      return Status::InvalidArgument("unsupported HTTP method " + req.method);
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
    const std::string what = req.method + " " + req.url;
    if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
      return Status::ResourceExhausted(what + ": response body over the limit of " +
                                       std::to_string(req.max_response_bytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Status::DeadlineExceeded(what + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    }
    if (rc != CURLE_OK) {
      return Status::Unavailable(what + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)) +
                                 http::TlsHint(rc));
    }
    long code = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
    resp.status = static_cast<int>(code);
    return resp;
  }

 private:
  CurlHttpClientOptions options_;
  CURL* curl_ = nullptr;
};

}  // namespace

std::unique_ptr<HttpClient> NewCurlHttpClient(CurlHttpClientOptions options) {
  return std::make_unique<CurlHttpClient>(std::move(options));
}

Result<std::string> ResolveUrl(std::string_view base, std::string_view ref) {
  if (ref.rfind("http://", 0) == 0 || ref.rfind("https://", 0) == 0) return std::string(ref);
  if (ref.empty() || ref[0] != '/' || (ref.size() > 1 && ref[1] == '/')) {
    return Status::InvalidArgument("URL reference '" + std::string(ref.substr(0, 100)) +
                                   "' is neither an absolute path nor an http(s) URL");
  }
  for (char c : ref) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Status::InvalidArgument("URL reference holds a control character or space");
    }
  }
  std::string b(base);
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b + std::string(ref);
}

}  // namespace rf::agent
