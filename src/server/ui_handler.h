// UiHandler: serves the dashboard's embedded assets (src/ui/ui_assets.h) at /ui/ with a strict
// Content-Security-Policy and the other security headers of docs/dashboard.md "Safety". The
// assets themselves are public (they hold no data); every piece of data the page shows comes from
// the operator API with the operator's bearer token.
//
//   UiHandler ui;                       // the embedded assets
//   if (UiHandler::Handles(r.path)) return ui.Handle(r);
//
// Thread-safe (immutable).
#ifndef RINGFENCE_SERVER_UI_HANDLER_H_
#define RINGFENCE_SERVER_UI_HANDLER_H_

#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "server/interfaces.h"
#include "ui/ui_assets.h"

namespace rf::server {

// The headers every /ui/ response carries (CSP: scripts, styles and fetches from this origin
// only; no inline script or style, no framing, no plugins).
std::vector<std::pair<std::string, std::string>> UiSecurityHeaders();

class UiHandler {
 public:
  // `assets`: what to serve (default: the embedded set); `built`: false = the binary was built
  // without node/npm, every /ui/ request is answered 503 saying so.
  UiHandler() : UiHandler(ui::EmbeddedAssets(), ui::AssetsBuilt()) {}
  UiHandler(std::span<const ui::Asset> assets, bool built) : assets_(assets), built_(built) {}

  // True for /ui and everything under /ui/.
  static bool Handles(std::string_view path);
  // GET (or HEAD, answered as GET) of /ui/ (index.html), /ui/NAME; /ui redirects to /ui/;
  // other methods 405; unknown names 404.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  std::span<const ui::Asset> assets_;
  bool built_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_UI_HANDLER_H_
