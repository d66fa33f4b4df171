// lowbit: operator quantization with Huawei CANN semantics. Umbrella header: every public
// header except the opt-in <lowbit/fmt.hpp>.
#pragma once

#include "compare.hpp"
#include "dequantize.hpp"
#include "io/npy.hpp"
#include "layout/granularity.hpp"
#include "matmul.hpp"
#include "numeric/convert.hpp"
#include "numeric/policy.hpp"
#include "presets.hpp"
#include "quantize.hpp"
#include "types/e8m0.hpp"
#include "types/float8.hpp"
#include "types/format.hpp"
#include "types/hifloat8.hpp"
#include "types/intn.hpp"
#include "types/limits.hpp"
#include "types/packed.hpp"
#include "version.hpp"
