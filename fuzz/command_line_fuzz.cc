// Fuzzes the one command-line splitter (rf::SplitCommandLine, docs/process.md "Command lines"):
// the server's and `ringfence check`'s --consumer (layer 2) and the agent's --consumer flags.
// Oracles: an accepted line gives words without NUL bytes, and those words, each single-quoted
// (a ' written as '\''), joined by one space, split back to the same words; a refused line has a
// NUL byte, ends inside a quote or with a backslash (so it never splits by accident).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "platform/process.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto words = rf::SplitCommandLine(line);
  if (!words.ok()) {
    RF_FUZZ_CHECK(words.status().code() == rf::StatusCode::kInvalidArgument, words.status().ToString());
    RF_FUZZ_CHECK(line.find('\0') != std::string_view::npos || line.find('\'') != std::string_view::npos ||
                      line.find('"') != std::string_view::npos || line.find('\\') != std::string_view::npos,
                  "refused a line without NUL, quotes or backslashes: " + words.status().ToString());
    return 0;
  }
  std::string requoted;
  for (const std::string& w : *words) {
    RF_FUZZ_CHECK(w.find('\0') == std::string::npos, "a word holds a NUL byte");
    if (!requoted.empty()) requoted += ' ';
    requoted += '\'';
    for (char c : w) {
      if (c == '\'') {
        requoted += "'\\''";
      } else {
        requoted += c;
      }
    }
    requoted += '\'';
  }
  auto again = rf::SplitCommandLine(requoted);
  RF_FUZZ_CHECK(again.ok(), "re-quoted words refused: " + again.status().ToString());
  RF_FUZZ_CHECK(*again == *words, "re-quoted words split differently: " + requoted);
  return 0;
}
