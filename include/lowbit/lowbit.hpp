// lowbit: operator quantization with Huawei CANN semantics. Umbrella header: every public
// header except the opt-in <lowbit/fmt.hpp>.
#pragma once

#include "version.hpp"
#include "numeric/policy.hpp"
#include "numeric/convert.hpp"
#include "types/e8m0.hpp"
#include "types/float8.hpp"
#include "types/format.hpp"
#include "types/hifloat8.hpp"
#include "types/intn.hpp"
#include "types/limits.hpp"
#include "types/packed.hpp"
#include "io/npy.hpp"
#include "layout/granularity.hpp"
#include "quantize.hpp"
#include "dequantize.hpp"
#include "matmul.hpp"
#include "compare.hpp"
