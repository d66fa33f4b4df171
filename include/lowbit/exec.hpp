// Execution context (README "Engine integration"): who runs the parallel work of a call, on how
// many threads, and which memory it may use as scratch.
//
// Every entry point that can run in parallel takes an exec_context as an optional first
// argument; without one it uses default_exec(). lowbit cuts a call into at most `threads` tasks
// of contiguous work (rows, bands, 64-column panels) and hands them to `parallel_for`; a call
// with less work than min_task_work() per task runs on the caller's thread and never forks. Each
// output is computed by one task, so results are identical for every thread count and pool.
//
// Scratch: a call takes one slice of memory for its temporaries (packed activation rows, block
// scales, per-task buffers). It is the caller's `workspace` when given (its size query is the
// entry point's *_workspace_size function), else a buffer of the calling thread that grows to the
// largest need and is kept: in steady state no call allocates (tests/exec/alloc_test.cpp).
//
// OpenMP: no inline function's body depends on whether a translation unit is compiled with
// -fopenmp. A TU compiled with OpenMP defines, in addition, detail::openmp_parallel_for and a
// registration that makes it the process default (unless set_default_exec chose one first); a
// program without any such TU runs serially by default.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lowbit::inline v0 {

/// A non-owning reference to a loop body: body(i) runs iteration i. Valid while the callable it
/// was made from lives (lowbit's bodies outlive the parallel_for call that runs them).
class task_ref {
 public:
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, task_ref>) task_ref(const F& f)
  noexcept : obj_(&f), call_([](const void* o, std::size_t i) { (*static_cast<const F*>(o))(i); }) {}
  void operator()(std::size_t i) const { call_(obj_, i); }

 private:
  const void* obj_;
  void (*call_)(const void*, std::size_t);
};

/// The engine's parallel loop: run body(i) exactly once for every i in [begin, end), on any
/// threads, and return when every call has returned. lowbit's bodies do not throw and do not
/// call lowbit; each needs no more than its own task's data.
using parallel_for_fn = void (*)(void* pool, std::size_t begin, std::size_t end, task_ref body);

/// How a call runs. The default-constructed context runs serially on the calling thread with
/// lowbit's per-thread scratch buffer.
struct exec_context {
  parallel_for_fn parallel_for = nullptr;  // null: serial
  void* pool = nullptr;                    // passed to parallel_for unchanged
  unsigned threads = 1;                    // the most tasks one call is cut into
  std::span<std::byte> workspace{};        // caller scratch; empty: a buffer of the calling thread
};

namespace detail {

struct default_exec_state {
  std::atomic<parallel_for_fn> run{nullptr};
  std::atomic<void*> pool{nullptr};
  std::atomic<unsigned> threads{1};
  std::atomic<unsigned (*)()> threads_now{nullptr};  // OpenMP: omp_get_max_threads() at the call
  std::atomic<bool> chosen{false};                   // set_default_exec was called
};
inline default_exec_state default_exec_{};

}  // namespace detail

/// The context of calls that are given none: set_default_exec's, else OpenMP with
/// omp_get_max_threads() threads when a translation unit of the program that includes lowbit was
/// compiled with OpenMP, else serial.
inline exec_context default_exec() noexcept {
  const auto& s = detail::default_exec_;
  const auto now = s.threads_now.load(std::memory_order_acquire);
  return {s.run.load(std::memory_order_acquire),
          s.pool.load(std::memory_order_acquire),
          now ? now() : s.threads.load(std::memory_order_acquire),
          {}};
}

/// Makes c (without workspace: one buffer cannot serve concurrent callers) the default. Call it
/// before other threads call lowbit, as with omp_set_num_threads.
inline void set_default_exec(const exec_context& c) {
  if (!c.workspace.empty())
    throw std::invalid_argument("set_default_exec: a default context cannot carry a workspace");
  auto& s = detail::default_exec_;
  s.chosen.store(true);
  s.threads_now.store(nullptr);
  s.pool.store(c.pool);
  s.threads.store(c.threads == 0 ? 1 : c.threads);
  s.run.store(c.parallel_for, std::memory_order_release);
}

#if defined(_OPENMP)
namespace detail {

/// OpenMP as a parallel_for: one iteration per thread when there are as many threads.
inline void openmp_parallel_for(void*, std::size_t begin, std::size_t end, task_ref body) {
  const long n = static_cast<long>(end - begin);
  const int t = static_cast<int>(std::min<long>(n, omp_get_max_threads()));
#pragma omp parallel for schedule(static, 1) num_threads(t)
  for (long i = 0; i < n; ++i) body(begin + static_cast<std::size_t>(i));
}
inline unsigned openmp_threads() noexcept {
  return static_cast<unsigned>(std::max(1, omp_get_max_threads()));
}

inline const bool openmp_registered = [] {
  auto& s = default_exec_;
  if (!s.chosen.load()) {
    s.threads_now.store(openmp_threads);
    s.run.store(openmp_parallel_for, std::memory_order_release);
  }
  return true;
}();

}  // namespace detail

/// An OpenMP context with `threads` threads (0: omp_get_max_threads()). Only in translation units
/// compiled with OpenMP.
inline exec_context openmp_exec(unsigned threads = 0) noexcept {
  return {detail::openmp_parallel_for, nullptr, threads == 0 ? detail::openmp_threads() : threads, {}};
}
#endif

namespace detail {

// Below these amounts of work per task a call is not cut further (a call below them runs on the
// caller's thread): about 20 us of kernel time, several times a thread pool's wake-up cost.
inline constexpr std::size_t min_task_elements = std::size_t{1} << 16;  // quantize, dequantize
inline constexpr std::size_t min_task_macs = std::size_t{1} << 23;      // matmul multiply-adds

/// How many tasks a call of `items` independent items of `work_per_item` units each is cut into:
/// at most c.threads and items, at least min_work units per task. 1 without a parallel_for.
inline std::size_t task_count(const exec_context& c, std::size_t items, std::size_t work_per_item,
                              std::size_t min_work) noexcept {
  if (!c.parallel_for || c.threads <= 1 || items <= 1) return 1;
  std::size_t total = 0;
  if (__builtin_mul_overflow(items, work_per_item, &total)) total = std::numeric_limits<std::size_t>::max();
  return std::max<std::size_t>(1, std::min({std::size_t{c.threads}, items, total / min_work}));
}

/// The items [first, second) of task t of `tasks` (contiguous, as OpenMP's static schedule).
inline std::pair<std::size_t, std::size_t> task_range(std::size_t t, std::size_t tasks,
                                                      std::size_t items) noexcept {
  const std::size_t q = items / tasks, r = items % tasks;
  const std::size_t b = t * q + std::min(t, r);
  return {b, b + q + (t < r ? 1 : 0)};
}

/// Runs f(t) for t in [0, tasks): on the caller's thread for one task, else through c.
template <class F>
void run_tasks(const exec_context& c, std::size_t tasks, const F& f) {
  if (tasks <= 1 || !c.parallel_for) {
    for (std::size_t t = 0; t < tasks; ++t) f(t);
    return;
  }
  c.parallel_for(c.pool, 0, tasks, task_ref(f));
}

/// Runs f(i) for every item i in [0, items), items of work_per_item units cut into task_count's
/// tasks of contiguous items.
template <class F>
void parallel_items(const exec_context& c, std::size_t items, std::size_t work_per_item, std::size_t min_work,
                    const F& f) {
  const std::size_t tasks = task_count(c, items, work_per_item, min_work);
  run_tasks(c, tasks, [&](std::size_t t) {
    const auto [first, last] = task_range(t, tasks, items);
    for (std::size_t i = first; i < last; ++i) f(i);
  });
}

inline constexpr std::size_t scratch_align = 64;

/// Bytes of n T's in a scratch slice (64-byte aligned slices).
template <class T>
constexpr std::size_t slice_bytes(std::size_t n) noexcept {
  return (n * sizeof(T) + scratch_align - 1) / scratch_align * scratch_align;
}

/// Hands out the slices of one call's scratch, in the order its size was computed.
class arena {
 public:
  explicit arena(std::byte* p) noexcept : p_(p) {}
  template <class T>
  T* take(std::size_t n) noexcept {
    T* r = reinterpret_cast<T*>(p_);
    p_ += slice_bytes<T>(n);
    return r;
  }

 private:
  std::byte* p_;
};

/// The scratch of one call, 64-byte aligned: c.workspace when the caller gave one (a
/// std::length_error naming the size when it is smaller than workspace_bytes(bytes)), else this
/// thread's buffer, grown to the largest need and kept for the thread's lifetime.
inline std::byte* scratch(const exec_context& c, std::size_t bytes) {
  const std::size_t need = bytes + scratch_align;  // room to align the start
  if (!c.workspace.empty()) {
    if (c.workspace.size() < need)
      throw std::length_error("workspace has " + std::to_string(c.workspace.size()) +
                              " bytes, the call needs " + std::to_string(need));
    const auto a = reinterpret_cast<std::uintptr_t>(c.workspace.data());
    return c.workspace.data() + ((scratch_align - a % scratch_align) % scratch_align);
  }
  thread_local std::unique_ptr<std::byte[]> buf;
  thread_local std::size_t cap = 0;
  if (cap < need) {
    buf.reset();
    cap = 0;
    buf = std::make_unique_for_overwrite<std::byte[]>(need);
    cap = need;
  }
  const auto a = reinterpret_cast<std::uintptr_t>(buf.get());
  return buf.get() + ((scratch_align - a % scratch_align) % scratch_align);
}

/// A call's workspace size for `bytes` of slices (the *_workspace_size queries).
constexpr std::size_t workspace_bytes(std::size_t bytes) noexcept {
  return bytes + scratch_align;
}

}  // namespace detail
}  // namespace lowbit::inline v0
