// Fuzzes SequentialGate::RestoreState (the controller's saved gate evidence). A refused text
// leaves the gate unchanged; an accepted one re-encodes to a text that restores to the same
// encoding (a fixed point), and the gate keeps working (Tick, Decide) after it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "rollout/gate.h"

namespace {

rf::rollout::SequentialGate MakeGate() {
  auto g = rf::rollout::SequentialGate::Create(
      {rf::rollout::MetricSpec::Silence(), rf::rollout::MetricSpec::ErrorIncidence(),
       rf::rollout::MetricSpec::SignTest("cpu", 0.5)},
      2, {});
  if (!g.ok()) std::abort();
  return std::move(g).value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  rf::rollout::SequentialGate gate = MakeGate();
  const std::string before = gate.EncodeState();
  if (!gate.RestoreState(text).ok()) {
    if (gate.EncodeState() != before) std::abort();  // a refusal changed the gate
    return 0;
  }
  const std::string encoded = gate.EncodeState();
  rf::rollout::SequentialGate again = MakeGate();
  if (!again.RestoreState(encoded).ok() || again.EncodeState() != encoded) std::abort();
  (void)gate.SetAtRisk(0, 10, 1000);
  (void)gate.AddCountEvents(0, 0, 1, 2);
  gate.Tick();
  (void)gate.Decide({});
  return 0;
}
