// A small fixed thread pool, as an inference engine has one, driving lowbit's parallel loops
// through exec_context (README "Engine integration"). Workers sleep on a condition variable
// between jobs (no busy-waiting); the calling thread runs a share of every job itself. The pool
// allocates only when it is built: running a job is allocation-free.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include <lowbit/exec.hpp>

namespace engine {

class thread_pool {
 public:
  /// threads - 1 workers; the caller of run() is the last thread.
  explicit thread_pool(unsigned threads) : threads_(threads == 0 ? 1 : threads) {
    workers_.reserve(threads_ - 1);
    for (unsigned t = 1; t < threads_; ++t) workers_.emplace_back([this] { work(); });
  }
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  unsigned threads() const noexcept { return threads_; }

  /// The context that runs lowbit's tasks on this pool.
  lowbit::exec_context context(std::span<std::byte> workspace = {}) noexcept {
    return {&thread_pool::parallel_for, this, threads_, workspace};
  }

  /// body(i) for i in [begin, end), shared by the workers and the caller; returns when all ran
  /// and every worker is back asleep (so no worker touches a job after its run() returned).
  void run(std::size_t begin, std::size_t end, lowbit::task_ref body) {
    if (end <= begin) return;
    std::unique_lock<std::mutex> lock(mutex_);
    body_ = &body;
    end_ = end;
    pending_ = end - begin;
    next_.store(begin);
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    drain();
    lock.lock();
    done_.wait(lock, [this] { return pending_ == 0 && busy_ == 0; });
    body_ = nullptr;
  }

  static void parallel_for(void* pool, std::size_t begin, std::size_t end, lowbit::task_ref body) {
    static_cast<thread_pool*>(pool)->run(begin, end, body);
  }

 private:
  // Claims iterations until none is left (body_ and end_ were published under the mutex).
  void drain() {
    for (;;) {
      const std::size_t i = next_.fetch_add(1);
      if (i >= end_) return;
      (*body_)(i);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_all();
    }
  }
  void work() {
    std::size_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      ++busy_;
      lock.unlock();
      drain();
      lock.lock();
      if (--busy_ == 0) done_.notify_all();
    }
  }

  unsigned threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const lowbit::task_ref* body_ = nullptr;
  std::atomic<std::size_t> next_{0};
  std::size_t end_ = 0, pending_ = 0, generation_ = 0, busy_ = 0;
  bool stop_ = false;
};

}  // namespace engine
