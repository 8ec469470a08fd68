#include "http/transport_policy.h"

#include <arpa/inet.h>

#include <cstring>

namespace rf::http {
namespace {

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.size() > 64) return false;
  const std::string h(host);
  if (h.size() == 9 && StartsWithIgnoreCase(h, "localhost")) return true;
  unsigned char addr[16];
  if (inet_pton(AF_INET, h.c_str(), addr) == 1) return addr[0] == 127;
  if (inet_pton(AF_INET6, h.c_str(), addr) == 1) {
    static constexpr unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(addr, kLoopback, 16) == 0) return true;
    return std::memcmp(addr, kMapped, 12) == 0 && addr[12] == 127;
  }
  return false;
}

Result<std::string> UrlHost(std::string_view url) {
  std::string_view rest;
  if (StartsWithIgnoreCase(url, "https://")) {
    rest = url.substr(8);
  } else if (StartsWithIgnoreCase(url, "http://")) {
    rest = url.substr(7);
  } else {
    return Status::InvalidArgument("'" + std::string(url) + "' is not an http:// or https:// URL");
  }
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  std::string_view host;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("'" + std::string(url) + "': unterminated [IPv6] host");
    }
    host = rest.substr(1, close - 1);
  } else {
    host = rest.substr(0, rest.find(':'));
  }
  if (host.empty()) return Status::InvalidArgument("'" + std::string(url) + "' has no host");
  return std::string(host);
}

Status CheckClientUrl(std::string_view url, bool insecure_http) {
  RF_ASSIGN_OR_RETURN(std::string host, UrlHost(url));
  if (StartsWithIgnoreCase(url, "https://") || insecure_http || IsLoopbackHost(host)) {
    return Status::Ok();
  }
  return Status::InvalidArgument("refusing plain HTTP to " + host + " (" + std::string(url) +
                                 "): use https:// (with --ca FILE for a private CA), or "
                                 "--insecure-http to send tokens unencrypted");
}

Status CheckListen(std::string_view host, bool tls, bool insecure_http) {
  if (tls || insecure_http || IsLoopbackHost(host)) return Status::Ok();
  return Status::InvalidArgument(
      "refusing to serve plain HTTP on " + std::string(host) +
      ", which is not a loopback address: give --tls-cert FILE --tls-key FILE, or "
      "--insecure-http to accept tokens unencrypted");
}

}  // namespace rf::http
