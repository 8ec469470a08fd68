// ParallelFor: the one place that starts worker threads for pure, data-parallel work (stage-1
// regex compilation). Pure code receives it as a callback (StageOneOptions::parallel_for).
// LowerThreadPriority: background threads (the server's operator executor) yield the CPU to
// latency-sensitive ones.
#ifndef RINGFENCE_PLATFORM_PARALLEL_H_
#define RINGFENCE_PLATFORM_PARALLEL_H_

#include <cstddef>
#include <functional>

namespace rf {

// Runs fn(i) for i in [0, n) on up to `threads` threads (0: one per core) and returns when every
// call has returned. fn must be safe to call concurrently for different i.
void ParallelFor(size_t n, const std::function<void(size_t)>& fn, unsigned threads = 0);

// Adds `increment` (1-19) to the calling thread's nice value, capped at 19. On Linux nice is per
// thread, and threads and processes the thread starts afterwards inherit it (ParallelFor's
// workers, layer 2's consumer runs). Lowering priority needs no privilege; it cannot be raised
// back without CAP_SYS_NICE. Returns the thread's nice value after the change, or -1 with errno
// set when the OS refuses (the thread keeps its priority; callers may carry on).
int LowerThreadPriority(int increment);

}  // namespace rf

#endif  // RINGFENCE_PLATFORM_PARALLEL_H_
