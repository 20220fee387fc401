#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>
#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace et {
namespace {

constexpr int kSpinUs = 300;

int hardware_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? int(std::min(hc, 1u << 16)) : 1;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("" ::: "memory");
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Workers sleep on a condition variable between jobs and spin briefly after one,
// since kernels tend to arrive back to back.
struct Pool {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv;
  std::condition_variable done_cv;
  const std::function<void(int, int)>* job = nullptr;
  int job_threads = 0;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> remaining{0};
  bool stop = false;
  int size = 1;
  // first exception a chunk of the current job threw; rethrown on the calling thread
  std::exception_ptr error;

  // Starts n - 1 workers. If the OS refuses a thread, the ones started are stopped again, the
  // pool is left with the calling thread only, and the reason is returned.
  std::string start(int n) {
    size = std::max(1, n);
    for (int i = 1; i < size; ++i) {
      try {
        workers.emplace_back([this, i] {
          compute_thread_priority();
          loop(i);
        });
      } catch (const std::exception& e) {
        std::string why = "cannot start thread " + std::to_string(i + 1) + " of " + std::to_string(size) + " (" +
                          e.what() + ")";
        shutdown();
        size = 1;
        return why;
      }
    }
    return "";
  }
  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
      generation++;
    }
    cv.notify_all();
    for (auto& w : workers) w.join();
    workers.clear();
    stop = false;
  }
  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int, int)>* j = nullptr;
      int nt = 0;
      // Spin up to kSpinUs before sleeping: the next kernel usually follows within microseconds
      // (decode issues ~100 small kernels per token) and a futex wake costs tens of them. Timed
      // rather than counted, since a pause instruction lasts 3 to 140 cycles across CPUs.
      {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinUs);
        for (int spin = 1; generation.load(std::memory_order_acquire) == seen; ++spin) {
          cpu_relax();
          if ((spin & 63) == 0 && std::chrono::steady_clock::now() > until) break;
        }
      }
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return generation.load() != seen; });
        seen = generation.load();
        if (stop) return;
        j = job;
        nt = job_threads;
      }
      if (j && id < nt) {
        try {
          (*j)(id, nt);
        } catch (...) {
          std::lock_guard<std::mutex> lk(mu);
          if (!error) error = std::current_exception();
        }
        if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> lk(mu);
          done_cv.notify_one();
        }
      }
    }
  }
  void run(int nt, const std::function<void(int, int)>& fn) {
    nt = std::max(1, std::min(nt, size));
    if (nt == 1) {
      fn(0, 1);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu);
      job = &fn;
      job_threads = nt;
      remaining.store(nt - 1);
      generation++;
    }
    cv.notify_all();
    std::exception_ptr mine;
    try {
      fn(0, nt);
    } catch (...) {
      mine = std::current_exception();  // the workers still use fn's captures: wait for them first
    }
    // spin first: most kernels finish within microseconds of each other
    {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinUs);
      for (int spin = 1; remaining.load(std::memory_order_acquire) != 0; ++spin) {
        cpu_relax();
        if ((spin & 63) == 0 && std::chrono::steady_clock::now() > until) break;
      }
    }
    std::unique_lock<std::mutex> lk(mu);
    done_cv.wait(lk, [&] { return remaining.load() == 0; });
    job = nullptr;
    std::exception_ptr theirs = error;
    error = nullptr;
    lk.unlock();
    if (mine) std::rethrow_exception(mine);
    if (theirs) std::rethrow_exception(theirs);
  }
};

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool();
    q->start(hardware_threads());  // where threads cannot be made, kernels run on the caller
    return q;
  }();
  return *p;
}

thread_local bool in_parallel = false;

// Held by the thread whose kernel has the pool (each env's CPU stream is a caller), and by a resize.
std::mutex& caller_mu() {
  static std::mutex m;
  return m;
}

struct InParallel {
  bool prev = in_parallel;
  InParallel() { in_parallel = true; }
  ~InParallel() { in_parallel = prev; }
};

}  // namespace

void compute_thread_priority() {
#if defined(__linux__)
  // EDGETRAIN_COMPUTE_NICE overrides the level (0: as the process; at most 19)
  static const int level = [] {
    const char* v = std::getenv("EDGETRAIN_COMPUTE_NICE");
    int n = v && *v ? std::atoi(v) : kComputeNice;
    return n < 0 ? 0 : n > 19 ? 19 : n;
  }();
  // nice applies per thread on Linux; raising it needs no privilege, and failing is harmless
  const int tid = int(syscall(SYS_gettid));
  const int now = getpriority(PRIO_PROCESS, tid);
  if (now < level) setpriority(PRIO_PROCESS, tid, level);
#endif
}

int threadpool_size() { return pool().size; }

int threadpool_max_size() { return std::max(1024, 4 * hardware_threads()); }

std::string threadpool_set_size(int n) {
  if (n < 1 || n > threadpool_max_size())
    return "thread count must be in [1, " + std::to_string(threadpool_max_size()) + "], got " +
           std::to_string(n);
  std::lock_guard<std::mutex> lk(caller_mu());  // waits for a running kernel to finish
  Pool& p = pool();
  if (n == p.size) return "";
  const int old = p.size;
  p.shutdown();
  std::string err = p.start(n);
  if (err.empty()) return "";
  // keep what ran before (which could be made then); if even that fails, the caller's thread alone
  std::string again = p.start(old);
  return err + "; keeping " + std::to_string(p.size) + (p.size == 1 ? " thread" : " threads") +
         (again.empty() ? "" : " (" + again + ")");
}

void parallel_run(int nthreads, const std::function<void(int, int)>& fn) {
  if (in_parallel || nthreads <= 1) {
    fn(0, 1);
    return;
  }
  // another caller's kernel has the pool (a second worker_thread computing): run on this thread
  std::unique_lock<std::mutex> lk(caller_mu(), std::try_to_lock);
  if (!lk.owns_lock()) {
    fn(0, 1);
    return;
  }
  std::function<void(int, int)> wrapped = [&](int t, int n) {
    InParallel scope;
    fn(t, n);
  };
  pool().run(nthreads, wrapped);
}

// Chunks are claimed, not assigned: [0, n) is cut into up to kChunksPerThread x threads pieces of
// at least `grain` items, and each thread takes the next unclaimed piece when it finishes one. A
// thread on a slower core (a phone's LITTLE cores) or one that the OS descheduled (another busy
// process) then does less of the work instead of holding everyone back: the split follows the
// speed each thread actually gets. The pieces depend only on n, grain and the pool size, so which
// thread runs a piece never changes a result.
constexpr int64_t kChunksPerThread = 4;

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_chunks = (n + grain - 1) / grain;
  int nt = int(std::min<int64_t>(threadpool_size(), max_chunks));
  if (nt <= 1 || in_parallel) {
    fn(0, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(max_chunks, int64_t(nt) * kChunksPerThread);
  std::atomic<int64_t> next{0};
  parallel_run(nt, [&](int, int) {
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < chunks;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      const int64_t b = n * i / chunks, e = n * (i + 1) / chunks;
      if (b < e) fn(b, e);
    }
  });
}

}  // namespace et
