// The dashboard's built web assets (web/, docs/dashboard.md), embedded into the binaries at build
// time: src/ui/CMakeLists.txt runs the bundler (node web/build.mjs) and cmake/embed_assets.cmake
// turns its output into a generated .cc. Built without node/npm, the set is empty and
// AssetsBuilt() is false (the server then answers /ui/ with 503 saying so).
//
//   const Asset* a = FindAsset("app.js");   // nullptr if absent
//
// Thread-safe (immutable data).
#ifndef RINGFENCE_UI_UI_ASSETS_H_
#define RINGFENCE_UI_UI_ASSETS_H_

#include <span>
#include <string_view>

namespace rf::ui {

struct Asset {
  std::string_view name;          // file name, e.g. "app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view data;          // the bytes
};

// Every embedded asset (index.html, app.js, app.css, sim.js when built).
std::span<const Asset> EmbeddedAssets();
// True if the bundler ran at build time.
bool AssetsBuilt();
// The asset named `name` in `assets`, or nullptr.
const Asset* FindAsset(std::span<const Asset> assets, std::string_view name);
inline const Asset* FindAsset(std::string_view name) { return FindAsset(EmbeddedAssets(), name); }

}  // namespace rf::ui

#endif  // RINGFENCE_UI_UI_ASSETS_H_
