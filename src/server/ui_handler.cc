#include "server/ui_handler.h"

#include <string>

namespace rf::server {

std::vector<std::pair<std::string, std::string>> UiSecurityHeaders() {
  return {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
      {"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"},
      {"Cache-Control", "no-cache"},
  };
}

bool UiHandler::Handles(std::string_view path) {
  return path == "/ui" || path.substr(0, 4) == "/ui/";
}

HttpResponse UiHandler::Handle(const HttpRequest& req) const {
  HttpResponse r;
  if (req.method != "GET" && req.method != "HEAD") {
    r = MethodNotAllowed(req.method, req.path, "GET, HEAD");
  } else if (req.path == "/ui") {
    r.status = 308;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "the dashboard is at /ui/\n";
    r.headers.emplace_back("Location", "/ui/");
  } else if (!built_) {
    r = ErrorResponse(Status::Unavailable("this server was built without the dashboard's assets "
                                          "(node and npm were not found at build time; "
                                          "scripts/install-deps.sh installs them)"),
                      "ui_not_built");
  } else {
    std::string_view name = std::string_view(req.path).substr(4);
    if (name.empty()) name = "index.html";
    const ui::Asset* a = ui::FindAsset(assets_, name);
    if (a == nullptr) {
      r = ErrorResponse(Status::NotFound("no dashboard file " + req.path), "not_found");
    } else {
      r.content_type = std::string(a->content_type);
      r.body = std::string(a->data);
    }
  }
  for (auto& h : UiSecurityHeaders()) r.headers.push_back(std::move(h));
  return r;
}

}  // namespace rf::server
