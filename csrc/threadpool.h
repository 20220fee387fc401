// Persistent worker pool for CPU kernels. Callers are the CPU streams (one per Node env); while
// one caller's kernel has the pool, another's runs on its own thread alone.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace et {

// Kernel threads (pool workers, device streams) run at this nice level, above the JS thread's, so
// a training step computing on every core still leaves the event loop its turn: timers, sockets
// and UIs are served within milliseconds, at no cost to the step (JS needs little CPU meanwhile).
constexpr int kComputeNice = 5;
// Lowers the calling thread to kComputeNice, or $EDGETRAIN_COMPUTE_NICE (0 keeps the process's
// priority; Linux only). Against other busy processes a higher level also yields them CPU.
void compute_thread_priority();

// Number of threads parallel_for uses (workers + the calling thread). Defaults to the core count.
int threadpool_size();
// Largest thread count threadpool_set_size accepts: max(1024, 4 x hardware threads). A kernel
// splits its work evenly and waits for the slowest chunk, so more threads than hardware threads
// only add switching; the bound leaves room for oversubscribed tests and benchmarks while
// refusing counts a system cannot be relied on to give (each thread takes a stack of 8 MiB of
// address space by default, two of Linux's default 65530 memory maps per process, and a share of
// the user's thread limit); a refusal within the bound is still an error, never an abort.
int threadpool_max_size();
// Resizes the pool to n threads (1 <= n <= threadpool_max_size()). Returns "" or why not: n out
// of range, or the thread the OS refused to start (the pool then keeps its previous size).
// Never throws.
std::string threadpool_set_size(int n);

// Runs fn(begin, end) over [0, n) split in contiguous chunks of at least `grain` items (up to four
// per thread, claimed by whichever thread is free, so slower cores take fewer). Chunks run on the
// pool and the calling thread; returns when all are done. Nested calls run serially. The chunk
// boundaries depend only on n, grain and the pool size.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Runs fn(tid, nthreads) once on each of nthreads threads (nthreads <= threadpool_size()).
// An exception thrown by any chunk is rethrown here once every chunk has finished.
void parallel_run(int nthreads, const std::function<void(int, int)>& fn);

}  // namespace et
