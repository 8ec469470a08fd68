// Fuzzes the content type parser. A type it accepts must be internally consistent, because every
// later stage indexes items by the positions it resolves.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/content_type.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  rf::Result<rf::ContentType> type = rf::ParseContentType(text, "fuzz.type.yaml");
  if (!type.ok()) return 0;
  RF_FUZZ_CHECK(!type->fields.empty(), "accepted a type without fields");
  for (size_t i = 0; i < type->fields.size(); ++i) {
    RF_FUZZ_CHECK(type->FieldPosition(type->fields[i].name) == static_cast<int>(i),
                  "field names are not unique: " + type->fields[i].name);
    RF_FUZZ_CHECK(type->fields[i].name != "id", "a field is called 'id'");
  }
  RF_FUZZ_CHECK(type->unique_positions.size() == type->limits.unique.size(), "unique positions");
  for (size_t i = 0; i < type->unique_positions.size(); ++i) {
    const int pos = type->unique_positions[i];
    RF_FUZZ_CHECK(pos >= 0 && static_cast<size_t>(pos) < type->fields.size(),
                  "unique position out of range");
    RF_FUZZ_CHECK(type->fields[pos].name == type->limits.unique[i], "unique position mismatch");
  }
  return 0;
}
