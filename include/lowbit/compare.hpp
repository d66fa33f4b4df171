// Error statistics of an actual array against an expected one (cli.md `lowbit compare`): what a
// kernel engineer needs to see how their result differs from the golden.
//   mismatches  elements whose values differ (NaN == NaN; +0 and -0 differ)
//   max_abs     max |a - e| over elements where both are finite
//   max_rel     max |a - e| / |e| over finite elements with e != 0
//   max_ulp     max |a - e| / ulp_F(e), F the given format (its spacing at |e|; 1 for
//               integers), over finite elements; absent without a format
//   norm_rel    ||a - e||_2 / ||e||_2 over finite pairs (0 when equal, +inf when e is all zero
//               and a is not): unlike max_rel, not dominated by values near 0
//   cosine      <e, a> / (|e| |a|) over finite pairs (1 when both are all zero)
//   sqnr_db     10 log10(sum e^2 / sum (e - a)^2) over finite pairs (+inf when equal)
//   classes     mismatch kinds: nan_vs_number, inf_vs_finite, sign, signed_zero, saturation
//               (one side at the format's +-max, the other not), off_by_one (one code / ulp
//               apart), other
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "detail/fp.hpp"
#include "types/format.hpp"

namespace lowbit::inline v0 {

struct error_stats {
  std::size_t count = 0, mismatches = 0;
  double max_abs = 0, max_rel = 0, norm_rel = 0;
  std::optional<double> max_ulp;
  double cosine = 1, sqnr_db = std::numeric_limits<double>::infinity();
  std::map<std::string, std::size_t> classes;
};

namespace detail {

/// Sorted finite non-negative magnitudes of a format (for ulp and saturation); empty for fp32.
inline std::vector<double> magnitudes(format f) {
  std::vector<double> v;
  visit_format(f, [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (std::is_same_v<T, float>) {
      return;
    } else if constexpr (std::is_same_v<T, std::int8_t>) {
      for (int i = 0; i <= 128; ++i) v.push_back(i);
    } else if constexpr (std::is_same_v<T, int4>) {
      for (int i = 0; i <= 8; ++i) v.push_back(i);
    } else {
      for (unsigned c = 0; c <= T::mask; ++c) {
        const double d = static_cast<double>(T::from_bits(static_cast<typename T::storage>(c)));
        if (std::isfinite(d) && d >= 0) v.push_back(d);
      }
    }
  });
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

inline double ulp_at(double e, const std::vector<double>& mags) {
  const double a = std::fabs(e);
  if (mags.empty()) {  // fp32
    const float f = static_cast<float>(a);
    const float up = std::nextafter(f, std::numeric_limits<float>::infinity());
    return std::isfinite(up) ? double(up) - double(f) : double(f) - double(std::nextafter(f, 0.0f));
  }
  auto it = std::upper_bound(mags.begin(), mags.end(), a);
  if (it == mags.end()) return mags.back() - mags[mags.size() - 2];
  if (it == mags.begin()) return *it;
  return *it - *(it - 1);
}

}  // namespace detail

/// Statistics of `actual` against `expected` (same length); f gives ULPs and saturation.
inline error_stats compare(std::span<const double> expected, std::span<const double> actual,
                           std::optional<format> f = std::nullopt) {
  if (actual.size() != expected.size())
    throw std::invalid_argument("compare: actual has " + std::to_string(actual.size()) +
                                " elements, expected " + std::to_string(expected.size()));
  error_stats s;
  s.count = expected.size();
  const std::vector<double> mags = f ? detail::magnitudes(*f) : std::vector<double>{};
  const double fmax = mags.empty() ? std::numeric_limits<float>::max() : mags.back();
  if (f) s.max_ulp = 0.0;
  double dot = 0, ee = 0, aa = 0, err = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], a = actual[i];
    const bool en = std::isnan(e), an = std::isnan(a);
    const bool same = (en && an) || (!en && !an && e == a && std::signbit(e) == std::signbit(a));
    if (std::isfinite(e) && std::isfinite(a)) {
      const double d = std::fabs(a - e);
      s.max_abs = std::max(s.max_abs, d);
      if (e != 0) s.max_rel = std::max(s.max_rel, d / std::fabs(e));
      if (f) s.max_ulp = std::max(*s.max_ulp, d / detail::ulp_at(e, mags));
      dot += detail::fp::mul(e, a), ee += detail::fp::mul(e, e), aa += detail::fp::mul(a, a),
          err += detail::fp::mul(e - a, e - a);
    }
    if (same) continue;
    ++s.mismatches;
    std::string cls = "other";
    if (en != an)
      cls = "nan_vs_number";
    else if (std::isinf(e) != std::isinf(a))
      cls = "inf_vs_finite";
    else if (e == 0 && a == 0)
      cls = "signed_zero";
    else if (e != 0 && a != 0 && std::signbit(e) != std::signbit(a))
      cls = "sign";
    else if ((std::fabs(e) == fmax) != (std::fabs(a) == fmax))
      cls = "saturation";
    else if (std::fabs(a - e) <= detail::ulp_at(e, mags) * (1 + 1e-12))
      cls = "off_by_one";
    ++s.classes[cls];
  }
  if (ee == 0 && aa == 0)
    s.cosine = 1;
  else if (ee == 0 || aa == 0)
    s.cosine = 0;
  else
    s.cosine = dot / (std::sqrt(ee) * std::sqrt(aa));
  s.sqnr_db = err == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(ee / err);
  s.norm_rel = err == 0 ? 0 : (ee == 0 ? std::numeric_limits<double>::infinity() : std::sqrt(err / ee));
  return s;
}

}  // namespace lowbit::inline v0
