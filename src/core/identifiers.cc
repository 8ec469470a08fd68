#include "core/identifiers.h"

#include <algorithm>

namespace rf {

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
  });
}

}  // namespace rf
