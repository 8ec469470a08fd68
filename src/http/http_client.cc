#include "http/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "http/transport_policy.h"

namespace rf::http {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

void SetTlsOptions(void* curl, const std::string& ca_file) {
  CURL* c = static_cast<CURL*>(curl);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
}

std::string TlsHint(int curl_code) {
  return curl_code == CURLE_PEER_FAILED_VERIFICATION || curl_code == CURLE_SSL_CACERT_BADFILE
             ? " (the server's certificate is not trusted: --ca FILE names the CA that signed it)"
             : "";
}

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Result<HttpReply> HttpClient::Send(std::string_view method, std::string_view path,
                                   std::string_view body,
                                   const std::map<std::string, std::string>& query) {
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return Status::Internal("curl_easy_init failed");
  RF_RETURN_IF_ERROR(CheckClientUrl(options_.base_url, options_.insecure_http));
  curl_easy_reset(c);
  std::string url = options_.base_url + std::string(path);
  char sep = '?';
  for (const auto& [k, v] : query) {
    char* ek = curl_easy_escape(c, k.data(), static_cast<int>(k.size()));
    char* ev = curl_easy_escape(c, v.data(), static_cast<int>(v.size()));
    url += sep;
    url += ek;
    url += '=';
    url += ev;
    curl_free(ek);
    curl_free(ev);
    sep = '&';
  }
  HttpReply reply;
  const std::string m(method);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  SetTlsOptions(c, options_.ca_file);
  struct curl_slist* headers = nullptr;
  std::string auth;
  if (!options_.token.empty()) {
    auth = "Authorization: Bearer " + options_.token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  if (!body.empty() || m == "POST" || m == "PUT") {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return Status::DeadlineExceeded(m + " " + url + ": timed out");
  }
  if (rc != CURLE_OK) {
    return Status::Unavailable(m + " " + url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)) +
                               TlsHint(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

}  // namespace rf::http
