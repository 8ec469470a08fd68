// Prints a generated ipc_rule bundle source (bench/ipc_rule_generator.h, the one the layer-1
// benchmarks use) for bench/operator_load/run.sh:  rf_gen_ipc_bundle ITEMS SEED > bundle.yaml
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../ipc_rule_generator.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s ITEMS SEED\n", argv[0]);
    return 2;
  }
  const int items = std::atoi(argv[1]);
  if (items < 1) {
    std::fprintf(stderr, "ITEMS must be >= 1\n");
    return 2;
  }
  const std::string source = rf::bench::GenerateIpcRuleSource(items, std::strtoull(argv[2], nullptr, 10));
  std::fwrite(source.data(), 1, source.size(), stdout);
  return 0;
}
