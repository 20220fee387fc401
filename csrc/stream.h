// An in-order work queue for one device, run by a thread of its own, so the thread that enqueues
// (Node's JS thread) returns as soon as a call is checked and queued. Work items carry sequence
// numbers; a buffer remembers the last item that uses it, which tells when it may be read, written
// or freed. A failing kernel does not stop the queue: its error is kept (the first one) and handed
// to whoever syncs next, as CUDA reports a kernel's error at the next synchronising call.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "backend.h"

namespace et {

class Stream {
 public:
  // inline_exec runs every item on the enqueuing thread at once (EDGETRAIN_SYNC=1: errors then
  // surface at the call that caused them, as when debugging with CUDA_LAUNCH_BLOCKING).
  Stream(Backend* backend, bool inline_exec);
  ~Stream();  // finishes the queued work, then stops the thread
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  Backend* backend() const { return backend_; }
  bool inline_exec() const { return inline_; }
  // Queues the kernel call; returns its sequence number. Blocks while kMaxQueued items wait.
  uint64_t exec(const Call& c);
  // Queues fn (a free, a copy into or out of a buffer); fn returns "" or an error to keep.
  uint64_t run(std::function<std::string()> fn);
  // Sequence number of the last item finished; every item up to it has run.
  uint64_t done() const { return done_.load(std::memory_order_acquire); }
  uint64_t last() const { return last_; }
  // Waits until item `seq` (and so everything before it) has run.
  void wait(uint64_t seq);
  void wait_all() { wait(last_); }
  // The first error kept since the last call, or "" (clears it).
  std::string take_error();

  static constexpr size_t kMaxQueued = 4096;

 private:
  struct Item {
    uint64_t seq;
    bool is_call;
    Call call;
    std::function<std::string()> fn;
  };
  uint64_t push(Item&& item);
  void loop();
  void finish(const Item& item);

  Backend* backend_;
  bool inline_;
  uint64_t last_ = 0;  // written by the enqueuing thread only
  std::atomic<uint64_t> done_{0};
  std::mutex mu_;
  std::condition_variable work_cv_;   // the queue thread waits for items
  std::condition_variable done_cv_;   // waiters and a full queue wait for progress
  std::deque<Item> queue_;
  std::atomic<size_t> queued_{0};  // queue_.size(), for the queue thread's spin
  bool stop_ = false;
  bool idle_ = false;  // the queue thread sleeps on work_cv_
  std::string error_;
  std::thread thread_;
};

}  // namespace et
