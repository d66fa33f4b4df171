// OpenMP pragmas that vanish without -fopenmp (no -Wunknown-pragmas in a consumer's TU).
#pragma once

#if defined(_OPENMP)
#define LOWBIT_OMP(directive) _Pragma(#directive)
#else
#define LOWBIT_OMP(directive)
#endif
