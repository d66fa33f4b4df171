// K-C int8 against a real peer: oneDNN 2.6.3 (Debian libdnnl-dev), s8 x s8 -> f32 with per-channel
// output scales and a per-token binary-mul post-op (the configuration of shared/anchors/peers.md
// §3.2). oneDNN applies the scales in its own way (documented relative error ~1e-7 against an exact
// loop), so the results must agree within a few fp32 ulps, not bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <dnnl.hpp>
#include <random>

#include <lowbit/lowbit.hpp>

TEST(Peer, OneDnnKcInt8WithinItsTolerance) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  engine eng(engine::kind::cpu, 0);
  stream st(eng);
  std::mt19937 rng(4242);
  for (auto [M, K, N] : {std::tuple<long, long, long>{1, 64, 16}, {7, 300, 70}, {33, 1000, 130}}) {
    std::vector<std::int8_t> a(static_cast<std::size_t>(M * K)), b(static_cast<std::size_t>(K * N));
    for (auto& v : a) v = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
    for (auto& v : b) v = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<float> s1(static_cast<std::size_t>(M)), s2(static_cast<std::size_t>(N));
    for (auto& v : s1) v = 0.001f + static_cast<float>(rng() % 1000) / 1e5f;
    for (auto& v : s2) v = 0.001f + static_cast<float>(rng() % 1000) / 1e5f;

    const memory::desc a_md({1, M, K}, dt::s8, tag::abc), b_md({1, K, N}, dt::s8, tag::abc),
        c_md({1, M, N}, dt::f32, tag::abc), t_md({1, M, 1}, dt::f32, tag::abc);
    primitive_attr attr;
    attr.set_output_scales(1 << 2, s2);
    post_ops po;
    po.append_binary(algorithm::binary_mul, t_md);
    attr.set_post_ops(po);
    const matmul::primitive_desc pd(matmul::desc(a_md, b_md, c_md), attr, eng);
    memory am(a_md, eng, a.data()), bm(b_md, eng, b.data()), cm(c_md, eng), tm(t_md, eng, s1.data());
    matmul(pd).execute(st, {{DNNL_ARG_SRC, am},
                            {DNNL_ARG_WEIGHTS, bm},
                            {DNNL_ARG_DST, cm},
                            {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, tm}});
    st.wait();
    const float* peer = static_cast<const float*>(cm.get_data_handle());

    std::vector<float> ours(static_cast<std::size_t>(M * N));
    lowbit::matmul_kc<float, std::int8_t, std::int8_t>(a, b, {std::size_t(M), std::size_t(K), std::size_t(N)},
                                                       s1, s2, {}, ours);
    double worst = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      const double ref = std::fabs(double(ours[i])) + 1e-30;
      worst = std::max(worst, std::fabs(double(peer[i]) - double(ours[i])) / ref);
      ASSERT_LE(std::fabs(double(peer[i]) - double(ours[i])), 4 * 0x1p-24 * ref)
          << "element " << i << " of " << M << "x" << K << "x" << N;
    }
    RecordProperty("max_rel_" + std::to_string(M), std::to_string(worst));
  }
}
