// ParallelFor: the one place that starts worker threads for pure, data-parallel work (stage-1
// regex compilation). Pure code receives it as a callback (StageOneOptions::parallel_for).
#ifndef RINGFENCE_PLATFORM_PARALLEL_H_
#define RINGFENCE_PLATFORM_PARALLEL_H_

#include <cstddef>
#include <functional>

namespace rf {

// Runs fn(i) for i in [0, n) on up to `threads` threads (0: one per core) and returns when every
// call has returned. fn must be safe to call concurrently for different i.
void ParallelFor(size_t n, const std::function<void(size_t)>& fn, unsigned threads = 0);

}  // namespace rf

#endif  // RINGFENCE_PLATFORM_PARALLEL_H_
