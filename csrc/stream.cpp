#include "stream.h"

#include <chrono>
#include <exception>
#include <new>
#include <system_error>

#include "threadpool.h"

namespace et {
namespace {

// The queue thread spins this long on an empty queue before it sleeps: a model's ops arrive a
// few microseconds apart, and waking a sleeping thread costs the enqueuing side a futex call.
constexpr int kSpinUs = 30;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

Stream::Stream(Backend* backend, bool inline_exec) : backend_(backend), inline_(inline_exec) {
  if (inline_) return;
  try {
    thread_ = std::thread([this] {
      compute_thread_priority();
      loop();
    });
  } catch (const std::system_error&) {
    inline_ = true;  // no thread to be had: run each item as it comes
  }
}

Stream::~Stream() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

uint64_t Stream::exec(const Call& c) {
  Item it;
  it.is_call = true;
  it.call = c;
  return push(std::move(it));
}

uint64_t Stream::run(std::function<std::string()> fn) {
  Item it;
  it.is_call = false;
  it.fn = std::move(fn);
  return push(std::move(it));
}

uint64_t Stream::push(Item&& it) {
  it.seq = ++last_;
  const uint64_t seq = it.seq;
  if (inline_) {
    finish(it);
    return seq;
  }
  std::unique_lock<std::mutex> lk(mu_);
  if (queue_.size() >= kMaxQueued) done_cv_.wait(lk, [&] { return queue_.size() < kMaxQueued; });
  queue_.push_back(std::move(it));
  queued_.store(queue_.size(), std::memory_order_release);
  const bool wake = idle_;
  lk.unlock();
  if (wake) work_cv_.notify_one();
  return seq;
}

void Stream::finish(const Item& it) {
  std::string err;
  const char* what = it.is_call ? op_name(it.call.op) : "edgetrain";
  try {
    err = it.is_call ? backend_->exec(it.call) : it.fn();
  } catch (const std::bad_alloc&) {
    err = std::string("OutOfMemory: ") + what + ": out of host memory (std::bad_alloc)";
  } catch (const std::exception& e) {
    err = std::string(what) + ": internal error: " + e.what();
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!err.empty() && error_.empty()) error_ = std::move(err);
    done_.store(it.seq, std::memory_order_release);
  }
  done_cv_.notify_all();
}

void Stream::loop() {
  for (;;) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinUs);
    for (int spin = 1; queued_.load(std::memory_order_acquire) == 0; ++spin) {
      cpu_relax();
      if ((spin & 63) == 0 && std::chrono::steady_clock::now() > until) break;
    }
    Item it;
    {
      std::unique_lock<std::mutex> lk(mu_);
      if (queue_.empty()) {
        idle_ = true;
        work_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        idle_ = false;
        if (queue_.empty()) return;  // stopped with nothing left to run
      }
      it = std::move(queue_.front());
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_release);
    }
    finish(it);
  }
}

void Stream::wait(uint64_t seq) {
  if (done_.load(std::memory_order_acquire) >= seq) return;
  std::unique_lock<std::mutex> lk(mu_);
  done_cv_.wait(lk, [&] { return done_.load(std::memory_order_acquire) >= seq; });
}

std::string Stream::take_error() {
  std::lock_guard<std::mutex> lk(mu_);
  std::string e;
  e.swap(error_);
  return e;
}

}  // namespace et
