// Fuzzes the transport rule's URL parser (src/http/transport_policy.cc): URLs come from flags and,
// for the agent, from the server (an absolute bundle_url is checked before it is fetched).
// Oracles: an https:// URL is always allowed; a refused URL is plain http:// to a host that is not
// loopback; an allowed http:// URL without --insecure-http names a loopback host.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "http/transport_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view url(reinterpret_cast<const char*>(data), size);
  auto host = rf::http::UrlHost(url);
  const rf::Status strict = rf::http::CheckClientUrl(url, false);
  const rf::Status insecure = rf::http::CheckClientUrl(url, true);
  if (!host.ok()) {
    RF_FUZZ_CHECK(!strict.ok() && !insecure.ok(), "a URL without a host was allowed");
    return 0;
  }
  RF_FUZZ_CHECK(!host->empty(), "empty host accepted");
  RF_FUZZ_CHECK(insecure.ok(), "--insecure-http refused an http(s) URL: " + insecure.ToString());
  const bool https = url.size() >= 8 && (url[4] == 's' || url[4] == 'S');
  if (https) RF_FUZZ_CHECK(strict.ok(), "https refused: " + strict.ToString());
  if (!https) {
    RF_FUZZ_CHECK(strict.ok() == rf::http::IsLoopbackHost(*host),
                  "plain HTTP decision disagrees with the host: " + *host);
  }
  return 0;
}
