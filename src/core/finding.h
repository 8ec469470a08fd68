// Findings: what a check reports about content. A bundle with any error finding is rejected.
#ifndef RINGFENCE_CORE_FINDING_H_
#define RINGFENCE_CORE_FINDING_H_

#include <cstdint>
#include <string>
#include <vector>

namespace rf {

enum class Severity : uint8_t { kError, kWarning };

struct Finding {
  std::string check;      // stable id, e.g. "field.type", "limits.max_items", "consumer.inputs"
  Severity severity = Severity::kError;
  std::string item;       // item id, or empty for bundle-level findings
  std::string field;      // field name, or empty
  int position = -1;      // field position, or -1
  std::string message;    // for a person: what is wrong and why it matters
  int64_t devices = 0;    // devices that would be hurt (consumer checks), else 0
  std::vector<std::string> strata;  // affected strata labels (consumer checks)
};

}  // namespace rf

#endif  // RINGFENCE_CORE_FINDING_H_
