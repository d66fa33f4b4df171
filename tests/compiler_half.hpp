// The compiler's own IEEE binary16 type, an independent reference for lowbit::float16:
// _Float16 (GCC and Clang on x86-64), __fp16 on AArch64 (GCC 12 has no _Float16 in C++ there;
// its conversions are the FCVT instructions, round to nearest even).
#pragma once

#if defined(__aarch64__) && !defined(__clang__)
using compiler_half = __fp16;
#else
using compiler_half = _Float16;
#endif
