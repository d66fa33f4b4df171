// Fuzz quantize / dequantize / MX on random shapes, granularities, group sizes, formats,
// policies and values (NaN, Inf, subnormals): no crash, no UB, and structural invariants hold.
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <lowbit/lowbit.hpp>

#include "fuzz_input.hpp"

namespace {

template <class T>
void run(fuzz_input& in, lowbit::matrix_shape shape, const std::vector<float>& x) {
  using namespace lowbit;
  const granularity grans[] = {granularity::tensor(),
                               granularity::channel(),
                               granularity::token(),
                               granularity::group(in.upto(70)),
                               granularity::block(in.upto(40), in.upto(40)),
                               granularity::mx()};
  const granularity g = grans[in.upto(5)];
  const operand side = in.upto(1) ? operand::left : operand::right;
  const convert_policy pol{static_cast<rounding>(in.upto(4)), static_cast<overflow>(in.upto(1)),
                           static_cast<nan_policy>(in.upto(1))};
  try {
    if (g.kind == granularity_kind::mx) {
      if constexpr (mx_element<T>) {
        const auto q =
            quantize_mx<T, float>(x, shape, {side, pol.round, static_cast<mx_scale_rule>(in.upto(1))});
        const auto y = dequantize(q);
        if (y.size() != x.size()) std::abort();
      }
      return;
    }
    const quantize_params p{g, side, in.upto(1) == 1, pol, {}, static_cast<float>(in.upto(8)), 0.0f};
    const auto q = quantize<T, float>(x, shape, p);
    for (float s : q.scales)
      if (!(s >= 0) && !std::isnan(s)) std::abort();  // scales are never negative
    const auto y = dequantize(q);
    if (y.size() != x.size()) std::abort();
    if constexpr (format_traits<T>::is_integer) {
      for (auto v : q.values) {
        const int c = static_cast<int>(v);
        if (c < static_cast<int>(dtype_min_v<T>) || c > static_cast<int>(format_traits<T>::dtype_max))
          std::abort();
      }
    }
    std::vector<float> s(q.map.size(), 0.5f);
    (void)quantize_static<T, float>(x, shape, {g, side, s, {}, static_form::multiply, pol});
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_input in{data, size};
  const lowbit::matrix_shape shape{in.upto(40), in.upto(80)};
  const auto fmt = static_cast<lowbit::format>(in.upto(9));
  const auto x = in.floats(shape.size());
  lowbit::visit_format(fmt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (lowbit::matmul_code<T>) run<T>(in, shape, x);
  });
  return 0;
}
