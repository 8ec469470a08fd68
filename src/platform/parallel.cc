#include "platform/parallel.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

namespace rf {

void ParallelFor(size_t n, const std::function<void(size_t)>& fn, unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<size_t>(threads, n));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  // Small chunks from a shared counter balance uneven per-item cost.
  std::atomic<size_t> next{0};
  constexpr size_t kChunk = 64;
  auto worker = [&] {
    while (true) {
      size_t start = next.fetch_add(kChunk);
      if (start >= n) return;
      size_t end = std::min(n, start + kChunk);
      for (size_t i = start; i < end; ++i) fn(i);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

int LowerThreadPriority(int increment) {
  if (increment < 1 || increment > 19) {
    errno = EINVAL;
    return -1;
  }
  // PRIO_PROCESS with a thread id addresses that one thread (Linux; POSIX would mean the process).
  const id_t tid = static_cast<id_t>(gettid());
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (current == -1 && errno != 0) return -1;
  const int target = std::min(19, current + increment);
  if (setpriority(PRIO_PROCESS, tid, target) != 0) return -1;
  return target;
}

}  // namespace rf
