// lowbit compare --explain: which of the usual suspects accounts for the mismatches between an
// expected array (the golden) and an actual one (a kernel's output). Each suspect recomputes the
// expected values under its alternative rule (or tests its signature where no recomputation is
// needed) and counts the mismatches it removes, less the matching elements it would break; the
// report ranks the suspects by that score, the most specific first on equal scores, and
// `unexplained` counts what none of them explains.
// Suspects that need the producing step's input are named as skipped without it.
#include <cmath>
#include <functional>

#include "cli.hpp"

namespace cli {

namespace {

struct cause {
  std::string name;
  int priority;  // on equal counts the more specific cause ranks first
  std::size_t explained = 0;
  std::size_t example = SIZE_MAX;  // flat index of the first explained mismatch
  std::string detail;
  std::vector<char> hit{};       // per mismatch (in subject::mism order): explained by this cause
  std::size_t contradicted = 0;  // matching elements the alternative rule would make mismatch
  long score() const { return static_cast<long>(explained) - static_cast<long>(contradicted); }
};

bool same_value(double e, double a) {
  const bool en = std::isnan(e), an = std::isnan(a);
  return (en && an) || (!en && !an && e == a && std::signbit(e) == std::signbit(a));
}

/// What explain() works on: both arrays as values, the mismatching flat indices.
struct subject {
  const args& a;
  lowbit::npy::array e, x;
  std::optional<lowbit::format> f;
  std::vector<double> ev, xv;
  std::vector<std::size_t> mism;
  std::vector<std::size_t> shape;  // the expected array's
};

std::string count_of(std::size_t n, std::size_t total) {
  return (n == total ? "all " : std::to_string(n) + " of ") + std::to_string(total) + " mismatches";
}

/// The mismatches for which alt (an alternative expected array, as values) equals the actual.
cause by_alternative(const subject& s, const std::string& name, int priority, const std::vector<double>& alt,
                     const std::string& what) {
  cause c{name, priority, 0, SIZE_MAX, "", std::vector<char>(s.mism.size(), 0)};
  for (std::size_t k = 0; k < s.mism.size(); ++k) {
    const std::size_t i = s.mism[k];
    if (i < alt.size() && same_value(alt[i], s.xv[i])) {
      c.hit[k] = 1;
      if (c.explained++ == 0) c.example = i;
    }
  }
  for (std::size_t i = 0, k = 0; i < std::min(alt.size(), s.xv.size()); ++i) {
    if (k < s.mism.size() && s.mism[k] == i) {
      ++k;
      continue;
    }
    if (!same_value(alt[i], s.xv[i])) ++c.contradicted;
  }
  c.detail = count_of(c.explained, s.mism.size()) + " " + what;
  if (c.contradicted > 0)
    c.detail += " (but it would change " + std::to_string(c.contradicted) + " matching elements)";
  return c;
}

/// The mismatches for which pred(expected, actual) holds.
cause by_predicate(const subject& s, const std::string& name, int priority,
                   const std::function<bool(double, double)>& pred, const std::string& what) {
  cause c{name, priority, 0, SIZE_MAX, "", std::vector<char>(s.mism.size(), 0)};
  for (std::size_t k = 0; k < s.mism.size(); ++k) {
    const std::size_t i = s.mism[k];
    if (pred(s.ev[i], s.xv[i])) {
      c.hit[k] = 1;
      if (c.explained++ == 0) c.example = i;
    }
  }
  c.detail = count_of(c.explained, s.mism.size()) + " " + what;
  return c;
}

bool is_float_dtype(lowbit::npy::dtype t) {
  using lowbit::npy::dtype;
  return t == dtype::f2 || t == dtype::f4 || t == dtype::f8;
}

/// Is the data float-valued (outputs of a matmul or a dequantize) rather than codes?
bool float_valued(const subject& s) {
  if (s.f)
    return *s.f == lowbit::format::fp32 || *s.f == lowbit::format::bf16 || *s.f == lowbit::format::fp16;
  return is_float_dtype(s.e.type) && is_float_dtype(s.x.type);
}

/// The spacing of the output format at |v| (fp32 when the arrays are float32).
double output_ulp(const subject& s, double v) {
  const double a = std::fabs(v);
  if (s.f && *s.f == lowbit::format::bf16) return std::ldexp(1.0, std::max(std::ilogb(a), -126) - 7);
  if ((s.f && *s.f == lowbit::format::fp16) || (!s.f && s.e.type == lowbit::npy::dtype::f2))
    return std::ldexp(1.0, std::max(std::ilogb(a), -14) - 10);
  return std::ldexp(1.0, std::max(std::ilogb(a), -126) - 23);
}

// ---- suspects that need only the two arrays ----------------------------------------------------

/// bf16 / fp16 bits or codes of another format read as integers: decode the integer array in
/// every format of its width and keep the decoding that matches the float array best (each float
/// rounded to that format first, so fp32 goldens match bf16 outputs).
std::optional<cause> dtype_misread(const subject& s) {
  using lowbit::npy::dtype;
  const bool ef = is_float_dtype(s.e.type), xf = is_float_dtype(s.x.type);
  if (ef == xf) return std::nullopt;
  const lowbit::npy::array& codes = ef ? s.x : s.e;
  const std::vector<double>& real = ef ? s.ev : s.xv;
  if (codes.type != dtype::u1 && codes.type != dtype::u2 && codes.type != dtype::i2) return std::nullopt;
  std::optional<cause> best;
  for (const lowbit::format g : lowbit::all_formats) {
    lowbit::visit_format(g, [&]<class T>(std::type_identity<T>) {
      if constexpr (lowbit::is_basic_float<T>::value) {
        using S = typename T::storage;
        if (sizeof(S) != lowbit::npy::itemsize(codes.type)) return;
        std::vector<S> bits(codes.size());
        if (!bits.empty()) std::memcpy(bits.data(), codes.data.data(), codes.data.size());
        cause c{"dtype_misread", 0, 0, SIZE_MAX, "", std::vector<char>(s.mism.size(), 0)};
        for (std::size_t k = 0; k < s.mism.size(); ++k) {
          const std::size_t i = s.mism[k];
          if (i >= bits.size() || bits[i] > T::mask) continue;
          const double dv = static_cast<double>(T::from_bits(bits[i]));
          const double rv = static_cast<double>(T(static_cast<float>(real[i])));
          if (same_value(dv, rv) || same_value(dv, real[i])) {
            c.hit[k] = 1;
            if (c.explained++ == 0) c.example = i;
          }
        }
        if (c.explained > 0 && (!best || c.explained > best->explained)) {
          c.detail =
              count_of(c.explained, s.mism.size()) + ": " + (ef ? "ACTUAL" : "EXPECTED") + " holds " +
              std::string(lowbit::to_string(g)) + " bit patterns read as " +
              (s.f ? std::string(lowbit::to_string(*s.f)) : std::string(lowbit::npy::name(codes.type))) +
              " (compare with --format " + std::string(lowbit::to_string(g)) + ")";
          best = c;
        }
      }
    });
  }
  return best;
}

/// The two nibbles of packed 4-bit codes swapped (element 2i belongs in the low nibble).
std::optional<cause> nibble_order(const subject& s) {
  using lowbit::npy::dtype;
  if (s.e.type != dtype::u1 || s.x.type != dtype::u1 || s.e.size() != s.x.size()) return std::nullopt;
  const auto eb = s.e.values<std::uint8_t>(), xb = s.x.values<std::uint8_t>();
  cause c{"nibble_order", 1, 0, SIZE_MAX, "", std::vector<char>(s.mism.size(), 0)};
  for (std::size_t k = 0; k < s.mism.size(); ++k) {
    const std::size_t i = s.mism[k];
    if (static_cast<std::uint8_t>((eb[i] >> 4) | (eb[i] << 4)) == xb[i]) {
      c.hit[k] = 1;
      if (c.explained++ == 0) c.example = i;
    }
  }
  c.detail = count_of(c.explained, s.mism.size()) +
             " are packed bytes with the two 4-bit codes swapped "
             "(element 2i belongs in the low nibble)";
  return c;
}

/// The actual matrix is the expected one transposed (same shape when square).
std::optional<cause> transposed(const subject& s) {
  if (s.shape.size() != 2) return std::nullopt;
  const std::size_t r = s.shape[0], c = s.shape[1];
  const bool swapped = s.x.shape == std::vector<std::size_t>{c, r};
  if (!swapped && !(r == c && s.x.shape == s.shape)) return std::nullopt;
  std::vector<double> alt(s.ev.size());  // the expected matrix transposed, laid out as the actual
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < c; ++j) alt[j * r + i] = s.ev[i * c + j];
  return by_alternative(
      s, "transposed", 2, alt,
      "equal the expected matrix transposed (a scale or operand applied along the wrong axis)");
}

/// Natural versus CANN pair-interleaved MX scales of a right operand: (nb, n) against
/// (nb/2, n, 2), either way round.
std::optional<cause> scale_layout(const subject& s) {
  if (s.shape.size() < 2 || s.ev.size() != s.xv.size()) return std::nullopt;
  const std::size_t rows = s.shape.size() == 2 ? s.shape[0] : s.shape[0] * 2;
  const std::size_t cols = s.ev.size() / std::max<std::size_t>(rows, 1);
  if (rows % 2 != 0 || cols < 2 || rows * cols != s.ev.size()) return std::nullopt;
  std::vector<double> to(s.ev.size()), from(s.ev.size());
  for (std::size_t p = 0; p < rows / 2; ++p)
    for (std::size_t j = 0; j < cols; ++j)
      for (std::size_t t = 0; t < 2; ++t) {
        to[(p * cols + j) * 2 + t] = s.ev[(2 * p + t) * cols + j];    // natural -> CANN
        from[(2 * p + t) * cols + j] = s.ev[(p * cols + j) * 2 + t];  // CANN -> natural
      }
  auto c1 = by_alternative(s, "scale_layout", 3, to,
                           "are natural MX scales read in CANN's pair-interleaved layout");
  auto c2 =
      by_alternative(s, "scale_layout", 3, from, "are CANN pair-interleaved MX scales read as natural ones");
  return c1.explained >= c2.explained ? c1 : c2;
}

// ---- suspects that recompute the producing quantize (--input and quantize's flags) -------------

/// Requantizes --input under every other rounding mode (rounding_ties: rint against round and
/// round-half-up; rounding_directed: floor, ceil, trunc), and with scales computed as
/// amax / DTYPE_MAX (a true division) instead of amax * fl(1 / DTYPE_MAX) (scale_reciprocal).
void quantize_suspects(const subject& s, std::vector<cause>& out) {
  const args& a = s.a;
  if (!s.f) throw usage_error("--explain with --input needs --format (the codes' format)");
  const lowbit::granularity g = parse_gran(a);
  const lowbit::operand side = parse_operand(a, g);
  check_gran_side(g, side);
  const auto in = load_highp(a.get("input"), a.has("bf16"));
  const lowbit::matrix_shape shape = as_matrix(in.shape, a.get("input"));
  if (shape.size() != s.ev.size())
    throw input_error(a.get("input") + ": has " + std::to_string(shape.size()) + " elements, the codes " +
                      std::to_string(s.ev.size()));
  const lowbit::convert_policy base = policy_flags(a, *s.f);
  const bool mx = g.kind == lowbit::granularity_kind::mx;
  std::vector<float> given;  // --scale: the expected scales, used as they are (symmetric only)
  if (a.has("scale") && !mx && !a.has("asymmetric")) {
    const auto sc = load_f32(a.get("scale"), "scale");
    check_shape(sc.shape, lowbit::make_scale_map(g, side, shape).scale_shape(), a.get("scale"), "scale");
    given = sc.v;
  }
  lowbit::visit_format(*s.f, [&]<class T>(std::type_identity<T>) {
    if constexpr (lowbit::low_bit_type<T> && !std::is_same_v<T, lowbit::float8_e8m0fnu> &&
                  !std::is_same_v<T, lowbit::bfloat16> && !std::is_same_v<T, lowbit::float16>) {
      const auto codes_under = [&](lowbit::rounding r) {
        std::vector<double> v(shape.size());
        if (mx) {
          if constexpr (lowbit::mx_element<T>) {
            const auto q = lowbit::quantize_mx<T, float>(in.v, shape, {.side = side, .round = r});
            for (std::size_t i = 0; i < v.size(); ++i)
              v[i] = static_cast<double>(lowbit::to_float(q.values[i]));
          }
        } else {
          lowbit::convert_policy p = base;
          p.round = r;
          const auto q = given.empty()
                             ? lowbit::quantize<T, float>(
                                   in.v, shape,
                                   {.gran = g, .side = side, .asymmetric = a.has("asymmetric"), .policy = p})
                             : lowbit::quantize_static<T, float>(
                                   in.v, shape, {.gran = g, .side = side, .scales = given, .policy = p});
          for (std::size_t i = 0; i < v.size(); ++i)
            v[i] = static_cast<double>(lowbit::to_float(q.values[i]));
        }
        return v;
      };
      const lowbit::rounding seen = base.round;
      const auto expected = codes_under(seen);
      const std::string from = std::string(lowbit::to_string(seen)) + " expected, ";
      if (seen == lowbit::rounding::rint || seen == lowbit::rounding::round) {
        const auto other = seen == lowbit::rounding::rint ? lowbit::rounding::round : lowbit::rounding::rint;
        const auto alt = codes_under(other);
        auto c =
            by_alternative(s, "rounding_ties", 4, alt,
                           "are ties rounded " +
                               std::string(other == lowbit::rounding::round ? "away from zero" : "to even") +
                               " (" + from + std::string(lowbit::to_string(other)) + " seen)");
        std::vector<double> up(alt.size());  // round half up: at a tie, the larger of the two
        for (std::size_t i = 0; i < up.size(); ++i)
          up[i] = expected[i] != alt[i] ? std::max(expected[i], alt[i]) : expected[i];
        auto u = by_alternative(s, "rounding_ties", 4, up,
                                "are ties rounded up, toward +Inf (" + from + "half-up seen)");
        out.push_back(u.explained > c.explained ? u : c);
      }
      cause best{"rounding_directed", 5, 0, SIZE_MAX, "", {}};
      for (auto r : {lowbit::rounding::floor, lowbit::rounding::ceil, lowbit::rounding::trunc}) {
        if (r == seen) continue;
        auto c = by_alternative(
            s, "rounding_directed", 5, codes_under(r),
            "are explained by a directed rounding (" + from + std::string(lowbit::to_string(r)) + " seen)");
        if (c.explained > best.explained || best.detail.empty()) best = c;
      }
      out.push_back(best);
      if (!mx && !a.has("asymmetric")) {  // scale_reciprocal: scales amax / DTYPE_MAX, then the same cast
        const auto map = lowbit::make_scale_map(g, side, shape);
        std::vector<float> amax(map.size(), 0.0f);
        for (std::size_t r = 0; r < shape.rows; ++r)
          for (std::size_t c = 0; c < shape.cols; ++c) {
            const float v = std::fabs(in.v[r * shape.cols + c]);
            if (std::isfinite(v)) amax[map(r, c)] = std::max(amax[map(r, c)], v);
          }
        std::vector<float> sc(map.size());
        for (std::size_t i = 0; i < sc.size(); ++i) sc[i] = amax[i] / lowbit::format_traits<T>::dtype_max;
        const auto q = lowbit::quantize_static<T, float>(
            in.v, shape, {.gran = g, .side = side, .scales = sc, .policy = base});
        std::vector<double> v(shape.size());
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(lowbit::to_float(q.values[i]));
        out.push_back(by_alternative(s, "scale_reciprocal", 6, v,
                                     "match scales computed as amax / DTYPE_MAX (a true division) instead "
                                     "of amax * fl(1 / DTYPE_MAX)"));
      }
    } else {
      throw usage_error("--explain --input: --format " + std::string(lowbit::to_string(*s.f)) +
                        " is not a quantization format");
    }
  });
}

// ---- suspects that recompute the producing matmul (--matmul and matmul's flags) -----------------

/// Operand values (codes decoded, or high-precision x1 of weight-only) as doubles, and its shape.
std::vector<double> operand_values(const args& a, const char* file, const char* fmt_flag,
                                   std::vector<std::size_t>& shape) {
  if (!a.has(file) || !a.has(fmt_flag))
    throw usage_error(std::string("--explain --matmul needs --") + file + " and --" + fmt_flag);
  const lowbit::format f = parse_format_flag(fmt_flag, a.get(fmt_flag));
  std::vector<double> v;
  lowbit::visit_format(f, [&]<class T>(std::type_identity<T>) {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, lowbit::bfloat16> ||
                  std::is_same_v<T, lowbit::float16>) {
      const auto h = load_highp(a.get(file), std::is_same_v<T, lowbit::bfloat16>);
      shape = h.shape;
      v.assign(h.v.begin(), h.v.end());
    } else if constexpr (!std::is_same_v<T, lowbit::float8_e8m0fnu>) {
      const auto c = load_codes<T>(a.get(file), a.has("packed") && is_4bit<T>(), shape);
      v.resize(c.size());
      for (std::size_t i = 0; i < c.size(); ++i) v[i] = static_cast<double>(lowbit::to_float(c[i]));
    } else {
      throw usage_error(std::string("--") + fmt_flag + " e8m0 is a scale format");
    }
  });
  return v;
}

/// A float32 vector flag (scale or bias) broadcast to `n` (a (1,) array is one value for all);
/// empty when it is absent or not a float32 vector of 1 or n values (a uint64 fixpipe scale).
std::vector<float> vector_flag(const args& a, const char* flag, std::size_t n) {
  if (!a.has(flag)) return {};
  const auto arr = read_npy(a.get(flag));
  if (arr.type != lowbit::npy::dtype::f4 || (arr.size() != 1 && arr.size() != n)) return {};
  const auto v = arr.values<float>();
  return v.size() == 1 ? std::vector<float>(n, v[0]) : v;
}

/// accumulation_order with its bound: y may differ from the golden by the rounding of another
/// fp32 summation order, at most (k - 1) * 2^-24 * sum_k |x1 * x2| times the scales' magnitude
/// (plus one rounding of the output format); fused_multiply_add: the K-C / T-C epilogue
/// y = fl(fl(acc * x2s[n]) * x1s[m]) + bias computed as fma(fl(acc * x2s[n]), x1s[m], bias).
void matmul_suspects(const subject& s, std::vector<cause>& out) {
  const args& a = s.a;
  std::vector<std::size_t> sh1, sh2;
  const auto x1 = operand_values(a, "x1", "x1-dtype", sh1), x2 = operand_values(a, "x2", "x2-dtype", sh2);
  const auto m1 = as_matrix(sh1, a.get("x1")), m2 = as_matrix(sh2, a.get("x2"));
  const std::size_t m = m1.rows, k = m1.cols, n = m2.cols;
  if (m2.rows != k) throw input_error("k differs: x1 is " + shape_str(sh1) + ", x2 " + shape_str(sh2));
  if (m * n != s.ev.size())
    throw input_error("the matmul gives " + std::to_string(m * n) + " outputs, the arrays hold " +
                      std::to_string(s.ev.size()));
  const std::string mode = a.get("mode");
  const bool token = mode == "K-C" || mode == "K-T";
  const auto s1 = vector_flag(a, "x1-scale", token ? m : 1), s2 = vector_flag(a, "x2-scale", n);
  const auto bias = vector_flag(a, "bias", n);
  std::vector<double> acc(m * n, 0.0), mag(m * n, 0.0);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t kk = 0; kk < k; ++kk) {
      const double av = x1[i * k + kk];
      if (av == 0) continue;
      for (std::size_t j = 0; j < n; ++j) {
        acc[i * n + j] += av * x2[kk * n + j];
        mag[i * n + j] += std::fabs(av * x2[kk * n + j]);
      }
    }
  const auto sc = [&](std::size_t i, std::size_t j) {
    double f = 1;
    if (!s2.empty()) f *= std::fabs(static_cast<double>(s2[j]));
    if (!s1.empty()) f *= std::fabs(static_cast<double>(s1[token ? i : 0]));
    return f;
  };
  cause order{"accumulation_order", 8, 0, SIZE_MAX, "", std::vector<char>(s.mism.size(), 0)};
  double worst = 0;
  for (std::size_t q = 0; q < s.mism.size(); ++q) {
    const std::size_t idx = s.mism[q], i = idx / n, j = idx % n;
    const double ev = s.ev[idx], av = s.xv[idx];
    if (!std::isfinite(ev) || !std::isfinite(av)) continue;
    const double bound = static_cast<double>(k > 0 ? k - 1 : 0) * 0x1p-24 * mag[idx] * sc(i, j) +
                         output_ulp(s, ev) + (bias.empty() ? 0.0 : std::ldexp(std::fabs(ev), -23));
    if (std::fabs(av - ev) <= bound) {
      order.hit[q] = 1;
      worst = std::max(worst, bound > 0 ? std::fabs(av - ev) / bound : 0.0);
      if (order.explained++ == 0) order.example = idx;
    }
  }
  char frac[32];
  std::snprintf(frac, sizeof frac, "%.2g", worst);
  order.detail =
      count_of(order.explained, s.mism.size()) +
      " are within the bound of another fp32 summation order, (k - 1) * 2^-24 * sum |x1 * x2| * |scales| "
      "(k = " +
      std::to_string(k) + "; the largest difference is " + frac + " of its bound)";
  out.push_back(order);
  if ((token || mode == "T-C" || mode == "T-T") && !bias.empty() && (!s1.empty() || !s2.empty())) {
    std::vector<double> fused(m * n);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        float y = static_cast<float>(acc[i * n + j]);
        if (!s2.empty()) y = lowbit::detail::fp::mul(y, s2[j]);
        const float x1s = s1.empty() ? 1.0f : s1[token ? i : 0];
        fused[i * n + j] = std::fma(y, x1s, bias[j]);
      }
    out.push_back(
        by_alternative(s, "fused_multiply_add", 5, fused,
                       "match the epilogue with its last multiply and the bias add fused into one FMA "
                       "(one rounding instead of two)"));
  }
}

// ---- the picture ---------------------------------------------------------------------------------

/// A heat map of where the mismatches are: rows x columns aggregated into at most 64 x 64 cells
/// (each cell's opacity is its share of mismatching elements), with the block grid of
/// --granularity drawn over it when given. Hand-written SVG, no dependency.
std::string mismatch_svg(const subject& s) {
  const std::size_t rows = s.shape.size() >= 2 ? s.shape[0] : 1;
  const std::size_t cols = std::max<std::size_t>(s.ev.size() / std::max<std::size_t>(rows, 1), 1);
  const std::size_t cr = std::min<std::size_t>(rows, 64), cc = std::min<std::size_t>(cols, 64);
  std::vector<std::size_t> hits(cr * cc, 0);
  const auto cell_r = [&](std::size_t r) { return r * cr / rows; };
  const auto cell_c = [&](std::size_t c) { return c * cc / cols; };
  for (std::size_t i : s.mism) ++hits[cell_r(i / cols) * cc + cell_c(i % cols)];
  const std::size_t px = std::max<std::size_t>(4, 512 / std::max(cr, cc));
  const std::size_t w = cc * px, h = cr * px;
  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w + 20) + "\" height=\"" +
       std::to_string(h + 40) + "\" viewBox=\"0 0 " + std::to_string(w + 20) + " " + std::to_string(h + 40) +
       "\">\n";
  o += "<title>lowbit compare: " + std::to_string(s.mism.size()) + " mismatches in " + std::to_string(rows) +
       " x " + std::to_string(cols) + "</title>\n";
  o += "<text x=\"10\" y=\"20\" font-family=\"monospace\" font-size=\"12\">" + std::to_string(s.mism.size()) +
       " mismatches, " + std::to_string(rows) + " x " + std::to_string(cols) + " in " + std::to_string(cr) +
       " x " + std::to_string(cc) + " cells</text>\n";
  o += "<g transform=\"translate(10,30)\">\n<rect x=\"0\" y=\"0\" width=\"" + std::to_string(w) +
       "\" height=\"" + std::to_string(h) + "\" fill=\"#f4f4f4\"/>\n";
  for (std::size_t i = 0; i < cr; ++i)
    for (std::size_t j = 0; j < cc; ++j) {
      const std::size_t n = hits[i * cc + j];
      if (n == 0) continue;
      const std::size_t r0 = (i * rows + cr - 1) / cr, r1 = ((i + 1) * rows + cr - 1) / cr;
      const std::size_t c0 = (j * cols + cc - 1) / cc, c1 = ((j + 1) * cols + cc - 1) / cc;
      const double share = static_cast<double>(n) / static_cast<double>((r1 - r0) * (c1 - c0));
      char op[32];
      std::snprintf(op, sizeof op, "%.3f", 0.15 + 0.85 * std::min(share, 1.0));
      o += "<rect class=\"cell\" data-row=\"" + std::to_string(i) + "\" data-col=\"" + std::to_string(j) +
           "\" data-count=\"" + std::to_string(n) + "\" x=\"" + std::to_string(j * px) + "\" y=\"" +
           std::to_string(i * px) + "\" width=\"" + std::to_string(px) + "\" height=\"" + std::to_string(px) +
           "\" fill=\"#c0392b\" fill-opacity=\"" + op + "\"/>\n";
    }
  if (s.a.has("granularity")) {  // the quantization block grid, in data coordinates
    if (const auto g = lowbit::parse_granularity(s.a.get("granularity"))) {
      const lowbit::operand side =
          s.a.get("operand", g->kind == lowbit::granularity_kind::channel ? "right" : "left") == "right"
              ? lowbit::operand::right
              : lowbit::operand::left;
      const auto map = lowbit::make_scale_map(*g, side, {rows, cols});
      const auto line = [&](double x1, double y1, double x2, double y2) {
        char b[160];
        std::snprintf(
            b, sizeof b,
            "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2c3e50\" "
            "stroke-width=\"0.6\"/>\n",
            x1, y1, x2, y2);
        o += b;
      };
      const double sx = static_cast<double>(w) / static_cast<double>(cols),
                   sy = static_cast<double>(h) / static_cast<double>(rows);
      // a direction whose blocks are one element wide (token rows, channel columns) gets no lines,
      // nor one with more boundaries than cells
      for (std::size_t c = map.bc; map.bc > 1 && c < cols && cols / map.bc <= cc; c += map.bc)
        line(static_cast<double>(c) * sx, 0, static_cast<double>(c) * sx, static_cast<double>(h));
      for (std::size_t r = map.br; map.br > 1 && r < rows && rows / map.br <= cr; r += map.br)
        line(0, static_cast<double>(r) * sy, static_cast<double>(w), static_cast<double>(r) * sy);
    }
  }
  o += "</g>\n</svg>\n";
  return o;
}

std::string index_json(const std::vector<std::size_t>& shape, std::size_t flat) {
  std::vector<std::size_t> idx(std::max<std::size_t>(shape.size(), 1), 0);
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  if (shape.empty()) idx[0] = flat;
  std::string r = "[";
  for (std::size_t d = 0; d < idx.size(); ++d) r += (d ? ", " : "") + std::to_string(idx[d]);
  return r + "]";
}

std::string json_string(const std::string& t) {
  std::string r = "\"";
  for (const char ch : t) {
    if (ch == '"' || ch == '\\')
      r += '\\', r += ch;
    else if (static_cast<unsigned char>(ch) < 0x20)
      r += ' ';
    else
      r += ch;
  }
  return r + "\"";
}

}  // namespace

/// compare --explain: the ranked causes (JSON fragment for --json, text otherwise) and the SVG.
std::string explain_mismatches(const args& a, const lowbit::npy::array& e, const lowbit::npy::array& x,
                               std::optional<lowbit::format> f, bool json) {
  subject s{a, e, x, f, {}, {}, {}, e.shape};
  const auto read = [&](const lowbit::npy::array& arr, const std::string& path) {
    try {
      return values_of(arr, f, path);
    } catch (const input_error&) {  // e.g. codes that do not fit --format: compare raw numbers
      return values_of(arr, std::nullopt, path);
    }
  };
  s.ev = read(e, a.pos[0]);
  s.xv = read(x, a.pos[1]);
  for (std::size_t i = 0; i < std::min(s.ev.size(), s.xv.size()); ++i)
    if (!same_value(s.ev[i], s.xv[i])) s.mism.push_back(i);

  std::vector<cause> causes;
  std::vector<std::string> skipped;
  const auto add = [&](std::optional<cause> c) {
    if (c) causes.push_back(std::move(*c));
  };
  add(dtype_misread(s));
  add(nibble_order(s));
  add(transposed(s));
  if (a.has("scales") || (f && *f == lowbit::format::e8m0)) add(scale_layout(s));
  const std::vector<double> mags = f ? lowbit::detail::magnitudes(*f) : std::vector<double>{};
  const double fmax = mags.empty() ? std::numeric_limits<float>::max() : mags.back();
  add(by_predicate(
      s, "nan_policy", 9,
      [](double ev, double av) { return (std::isnan(ev) && av == 0) || (std::isnan(av) && ev == 0); },
      "are NaN on one side and 0 on the other (NaN policy zero against keep)"));
  add(by_predicate(
      s, "signed_zero", 10, [](double ev, double av) { return ev == 0 && av == 0; }, "are +0 against -0"));
  add(by_predicate(
      s, "saturation", 11,
      [&](double ev, double av) {
        const auto sat = [&](double m, double o) {
          return std::fabs(m) == fmax && (std::isinf(o) || std::isnan(o)) &&
                 (std::isnan(o) || std::signbit(m) == std::signbit(o));
        };
        return sat(ev, av) || sat(av, ev);
      },
      "are +-max on one side and Inf or NaN on the other (saturate against overflow to Inf/NaN)"));
  const bool scales = a.has("scales") || (f && *f == lowbit::format::e8m0);
  if (scales || float_valued(s))
    add(by_predicate(
        s, "scale_binade", 7,
        [](double ev, double av) {
          return std::isfinite(ev) && std::isfinite(av) && ev != 0 && (av == 2 * ev || av == ev / 2);
        },
        "are off by exactly one binade (x2 or /2: a power-of-two scale rounded the other way, e8m0 floor "
        "against ceil)"));
  if (a.has("scales"))
    add(by_predicate(
        s, "scale_reciprocal", 6,
        [](double ev, double av) {
          const float fe = static_cast<float>(ev);
          return std::isfinite(ev) && (static_cast<double>(std::nextafter(fe, 1e38f)) == av ||
                                       static_cast<double>(std::nextafter(fe, -1e38f)) == av);
        },
        "are one fp32 ulp apart (scales computed as amax / max against amax * (1 / max))"));
  if (a.has("matmul")) {
    std::vector<cause> mm;
    matmul_suspects(s, mm);
    for (auto& c : mm) causes.push_back(std::move(c));
  } else if (float_valued(s)) {
    add(by_predicate(
        s, "accumulation_order", 12,
        [&](double ev, double av) {
          return std::isfinite(ev) && std::isfinite(av) && ev != av &&
                 std::fabs(av - ev) <= 4 * output_ulp(s, ev);
        },
        "are within 4 ulps of the output format: another fp32 summation order (or a fused epilogue) "
        "gives such differences; --matmul with the inputs would bound it"));
    skipped.push_back("fused_multiply_add");
  } else {
    add(by_predicate(
        s, "off_by_one_code", 13,
        [&](double ev, double av) {
          return std::isfinite(ev) && std::isfinite(av) &&
                 std::fabs(av - ev) <= lowbit::detail::ulp_at(ev, mags) * (1 + 1e-12);
        },
        "are one code apart"));
  }
  if (a.has("input")) {
    quantize_suspects(s, causes);
  } else if (!float_valued(s)) {
    skipped.insert(skipped.end(), {"rounding_ties", "rounding_directed"});
    if (!a.has("scales")) skipped.push_back("scale_reciprocal");
  }

  // unexplained: the mismatches no cause explains
  // a rule that breaks more matching elements than it mends is not the cause
  std::erase_if(causes, [](const cause& c) { return c.explained == 0 || c.score() <= 0; });
  cause un{"unexplained", 99, 0, SIZE_MAX, "", {}};
  for (std::size_t k = 0; k < s.mism.size(); ++k) {
    bool any = false;
    for (const auto& c : causes) any = any || (k < c.hit.size() && c.hit[k]);
    if (!any && un.explained++ == 0) un.example = s.mism[k];
  }
  un.detail = un.explained == s.mism.size()
                  ? "no known cause explains the " + std::to_string(un.explained) + " mismatches"
                  : count_of(un.explained, s.mism.size()) + " have no known cause";
  if (un.explained > 0) causes.push_back(un);
  std::stable_sort(causes.begin(), causes.end(), [](const cause& l, const cause& r) {
    return l.score() != r.score() ? l.score() > r.score() : l.priority < r.priority;
  });

  if (a.has("svg")) {
    const std::string svg = mismatch_svg(s);
    std::vector<std::byte> bytes(svg.size());
    std::memcpy(bytes.data(), svg.data(), svg.size());
    const std::pair<std::filesystem::path, std::vector<std::byte>> file[] = {
        {a.get("svg"), std::move(bytes)}};
    try {
      lowbit::npy::write_all_bytes(file, inputs_read());
    } catch (const lowbit::npy::error& err) {
      throw input_error(err.what());
    }
  }

  std::string out;
  if (json) {
    out += ", \"causes\": [";
    for (std::size_t i = 0; i < causes.size(); ++i) {
      const auto& c = causes[i];
      out += std::string(i ? ", " : "") + "{\"cause\": \"" + c.name +
             "\", \"explained\": " + std::to_string(c.explained) +
             ", \"example\": " + (c.example == SIZE_MAX ? "[]" : index_json(s.shape, c.example)) +
             ", \"detail\": " + json_string(c.detail) + "}";
    }
    out += "], \"skipped\": [";
    for (std::size_t i = 0; i < skipped.size(); ++i)
      out += std::string(i ? ", " : "") + "\"" + skipped[i] + "\"";
    out += "]";
  } else {
    out += "causes      ";
    if (s.mism.empty()) out += "none: the arrays match\n";
    for (std::size_t i = 0; i < causes.size(); ++i) {
      const auto& c = causes[i];
      out += std::string(i ? "            " : "") + c.name + ": " + c.detail +
             (c.example == SIZE_MAX ? "" : "; e.g. at " + index_json(s.shape, c.example)) + "\n";
    }
    for (std::size_t i = 0; i < skipped.size(); ++i)
      out += std::string(i ? "            " : "skipped     ") + skipped[i] +
             (skipped[i] == "fused_multiply_add" ? " (needs --matmul and the matmul's flags and inputs)\n"
                                                 : " (needs --input and quantize's flags)\n");
  }
  return out;
}

}  // namespace cli
