// Persistent worker pool for CPU kernels. One caller at a time (the JS thread).
#pragma once
#include <cstdint>
#include <functional>

namespace et {

// Number of threads parallel_for uses (workers + the calling thread). Defaults to the core count.
int threadpool_size();
// Resize the pool; n <= 0 means "number of cores".
void threadpool_set_size(int n);

// Runs fn(begin, end) over [0, n) split in contiguous chunks of at least `grain` items.
// Chunks run on the pool and the calling thread; returns when all are done. Nested calls run serially.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Runs fn(tid, nthreads) once on each of nthreads threads (nthreads <= threadpool_size()).
void parallel_run(int nthreads, const std::function<void(int, int)>& fn);

}  // namespace et
