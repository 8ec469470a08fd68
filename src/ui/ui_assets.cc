#include "ui/ui_assets.h"

namespace rf::ui {

// Defined in the generated ui_assets_data.cc (cmake/embed_assets.cmake).
namespace generated {
extern const Asset kAssets[];
extern const unsigned kAssetCount;
}  // namespace generated

std::span<const Asset> EmbeddedAssets() {
  return std::span<const Asset>(generated::kAssets, generated::kAssetCount);
}

bool AssetsBuilt() { return generated::kAssetCount > 0; }

const Asset* FindAsset(std::span<const Asset> assets, std::string_view name) {
  for (const Asset& a : assets) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

}  // namespace rf::ui
