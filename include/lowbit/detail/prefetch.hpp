// Software prefetch of the next row while a row is quantized (every kernel set).
#pragma once

#include <cstddef>

namespace lowbit::inline v0::detail {

/// Prefetches the part of the next row that matches elements [i, i + 64) of this segment: pf (may
/// be null) is the next row's segment, pf_bytes bytes per element (4: fp32, 2: bf16 / fp16). The
/// reads from memory of the next row then overlap this row's work instead of following it.
/// (Written out: GCC 12 drops __builtin_prefetch in a loop over the lines.) Always inlined: GCC 12
/// at -O2 does not inline it early, finds a function of nothing but prefetches "const" and deletes
/// every call to it (no prefetch was left in the quantize kernels: 2x slower at -O2 than -O3).
[[gnu::always_inline]] inline void prefetch_next(const char* pf, unsigned pf_bytes, std::size_t i) noexcept {
  if (!pf) return;
  const char* base = pf + i * pf_bytes;
  __builtin_prefetch(base);
  __builtin_prefetch(base + 64);
  if (pf_bytes == 4) {
    __builtin_prefetch(base + 128);
    __builtin_prefetch(base + 192);
  }
}

}  // namespace lowbit::inline v0::detail
