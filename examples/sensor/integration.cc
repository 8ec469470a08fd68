#include "examples/sensor/integration.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

namespace sensor {

std::string_view IntegrationName(Integration mode) {
  return mode == Integration::kLegacy ? "legacy" : "correct";
}

bool ParseIntegration(std::string_view name, Integration* mode) {
  if (name == "legacy") *mode = Integration::kLegacy;
  else if (name == "correct") *mode = Integration::kCorrect;
  else return false;
  return true;
}

GuardedInputArray::GuardedInputArray(int count) : count_(count) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t bytes = sizeof(const char*) * static_cast<size_t>(count);
  const size_t data_pages = (bytes + page - 1) / page;
  map_bytes_ = (data_pages + 1) * page;
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) std::abort();  // out of memory at start-up: nothing sensible to do
  char* guard = static_cast<char*>(map_) + data_pages * page;
  if (::mprotect(guard, page, PROT_NONE) != 0) std::abort();
  slots_ = reinterpret_cast<const char**>(guard - bytes);
}

GuardedInputArray::~GuardedInputArray() { ::munmap(map_, map_bytes_); }

void GuardedInputArray::Fill(const Event& event) {
  for (int i = 0; i < count_; ++i) slots_[i] = event.values[static_cast<size_t>(i)].c_str();
}

}  // namespace sensor
