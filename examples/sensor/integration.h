// The sensor's integration code: how an observed named-pipe event becomes the input array the
// interpreter reads. This is where Channel File 291 lived.
//
// kLegacy (agents 7.11-7.15) was written when the template had 20 fields and supplies 20 inputs;
// the interpreter evaluates all 21 template fields, so a rule with a non-wildcard 21st field makes
// it read input[20], past the end of the array. To make that read fail the same way every time
// (instead of reading whatever lies after the array), the array is placed so that it ends exactly
// at a page boundary followed by an inaccessible guard page: reading input[20] is a genuine
// out-of-bounds read of the input array and faults with SIGSEGV. kCorrect supplies 21 inputs.
#ifndef RINGFENCE_EXAMPLES_SENSOR_INTEGRATION_H_
#define RINGFENCE_EXAMPLES_SENSOR_INTEGRATION_H_

#include <string>
#include <string_view>

#include "examples/sensor/event.h"
#include "examples/sensor/ipc_fields.h"

namespace sensor {

enum class Integration { kLegacy, kCorrect };

inline constexpr int kLegacyInputs = 20;
inline constexpr int kCorrectInputs = kTemplateFields;

// The number of inputs the integration supplies; the manifest's `inputs` is this value.
constexpr int SuppliedInputs(Integration mode) {
  return mode == Integration::kLegacy ? kLegacyInputs : kCorrectInputs;
}

std::string_view IntegrationName(Integration mode);
// "legacy" or "correct"; false otherwise.
bool ParseIntegration(std::string_view name, Integration* mode);

// An array of exactly `count` input pointers that ends where an inaccessible page begins.
// Not copyable; one per sensor, refilled for each event.
class GuardedInputArray {
 public:
  explicit GuardedInputArray(int count);
  ~GuardedInputArray();
  GuardedInputArray(const GuardedInputArray&) = delete;
  GuardedInputArray& operator=(const GuardedInputArray&) = delete;

  int count() const { return count_; }
  // Points the first count() slots at the event's values (positions 0..count()-1).
  // REQUIRES: `event` outlives every use of data().
  void Fill(const Event& event);
  const char* const* data() const { return slots_; }

 private:
  int count_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const char** slots_ = nullptr;
};

}  // namespace sensor

#endif  // RINGFENCE_EXAMPLES_SENSOR_INTEGRATION_H_
