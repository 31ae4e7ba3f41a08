// Kernel consistency: our AVX2 kernels against naive double-precision references, number-format
// conversions against hand-computed values, and batch invariance at the kernel level.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "engine/ops.h"
#include "engine/weights.h"

namespace {

std::vector<float> random_vec(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

// An owned weight_matrix of `type` holding w [rows][cols] (converted as at load time).
weight_matrix matrix_of(const std::vector<float>& w, int64_t rows, int64_t cols, weight_type type) {
    return weight_matrix_build(rows, cols, type, [&](int64_t r, float* out) {
        std::copy(w.begin() + r * cols, w.begin() + (r + 1) * cols, out);
    });
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float tol) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

struct shape {
    int64_t rows, cols;
};

// Row-major Q8_0 (q [rows][cols], d [rows][cols/32]) in the kernels' q8_0x8 layout.
struct q8_0x8_matrix {
    std::vector<int8_t> qs;
    std::vector<uint16_t> scales;
};

q8_0x8_matrix pack_q8_0x8(const std::vector<int8_t>& q, const std::vector<uint16_t>& d, int64_t rows, int64_t cols) {
    const int64_t padded = q8_0x8_padded_rows(rows);
    q8_0x8_matrix m{std::vector<int8_t>(padded * cols), std::vector<uint16_t>(padded * cols / Q8_0_BLOCK)};
    for (int64_t r = 0; r < rows; ++r)
        pack_row_q8_0x8(q.data() + r * cols, d.data() + r * cols / Q8_0_BLOCK, cols, r, m.qs.data(), m.scales.data());
    return m;
}

} // namespace

TEST(ops, bf16_rounds_to_nearest_even) {
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
    // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
    EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
    // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
    EXPECT_EQ(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
    // Just above halfway rounds up.
    EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
    EXPECT_EQ(bf16_to_fp32(0xc040), -3.0f);
    EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));

    // The vectorised row conversion gives fp32_to_bf16's bits: random values, ties, infinities,
    // NaNs, subnormals, values that round up to infinity, and a tail shorter than a vector.
    std::vector<float> x = random_vec(16 * 8 + 5, 15);
    const float specials[] = {1.0f + std::ldexp(1.0f, -8), 1.0f + 3 * std::ldexp(1.0f, -8), INFINITY, -INFINITY, NAN,
                              -NAN, std::ldexp(1.0f, -140), -std::ldexp(3.0f, -135), 3.4028235e38f, -0.0f};
    std::copy(std::begin(specials), std::end(specials), x.begin() + 3);
    x.back() = NAN;
    // NaNs that plain rounding would turn into an infinity, or leave signaling
    const uint32_t nan_bits[] = {0x7f800001u, 0xff80ffffu};
    std::memcpy(&x[20], nan_bits, sizeof nan_bits);
    std::vector<uint16_t> row(x.size());
    convert_row_bf16(x.data(), (int64_t)x.size(), row.data());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(row[i], fp32_to_bf16(x[i])) << i;
}

TEST(ops, fp16_round_trip) {
    EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
    EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
    EXPECT_EQ(fp16_to_fp32(0x3555), 0.333251953125f);
    // The row conversion, over every fp16 bit pattern (NaNs compared as bits) and a short tail.
    std::vector<uint16_t> all(65536 + 3);
    for (size_t i = 0; i < all.size(); ++i) all[i] = (uint16_t)(i * 40503u);
    std::vector<float> got(all.size());
    dequantize_row_f16(all.data(), (int64_t)all.size(), got.data());
    for (size_t i = 0; i < all.size(); ++i) {
        const float want = fp16_to_fp32(all[i]);
        EXPECT_EQ(0, std::memcmp(&got[i], &want, 4)) << all[i];
    }
}

TEST(ops, q8_0_matches_ggml_definition) {
    // Block max 2.54 -> d = 0.02, so 1.0 -> 50, -2.54 -> -127.
    std::vector<float> x(32, 0.0f);
    x[0] = 1.0f;
    x[1] = -2.54f;
    x[2] = 0.033f; // 1.65 rounds to 2
    std::vector<int8_t> q(32);
    uint16_t d;
    quantize_row_q8_0(x.data(), 32, q.data(), &d);
    EXPECT_EQ(d, fp32_to_fp16(0.02f));
    EXPECT_EQ(q[0], 50);
    EXPECT_EQ(q[1], -127);
    EXPECT_EQ(q[2], 2);
    EXPECT_EQ(q[3], 0);
    std::vector<float> back(32);
    dequantize_row_q8_0(q.data(), &d, 32, back.data());
    EXPECT_NEAR(back[0], 1.0f, 0.01f);

    // ggml's definition in scalar code over random blocks of several magnitudes, and a block whose
    // maximum is 127 (d = 1), so that its halves are exact ties: roundf takes them away from zero.
    std::vector<float> many = random_vec(32 * 64, 14);
    for (int64_t b = 0; b < 64; ++b)
        for (int i = 0; i < 32; ++i) many[b * 32 + i] *= std::ldexp(1.0f, (int)(b % 9) - 4);
    for (int i = 0; i < 32; ++i) many[i] = i == 0 ? 127.0f : (float)(i - 16) + 0.5f;
    std::vector<int8_t> got(many.size());
    std::vector<uint16_t> scales(64);
    quantize_row_q8_0(many.data(), (int64_t)many.size(), got.data(), scales.data());
    for (int64_t b = 0; b < 64; ++b) {
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(many[b * 32 + i]));
        const float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        EXPECT_EQ(scales[b], fp32_to_fp16(db)) << b;
        for (int i = 0; i < 32; ++i)
            EXPECT_EQ(got[b * 32 + i], (int8_t)std::roundf(many[b * 32 + i] * id)) << b << " " << i;
    }
    EXPECT_EQ(got[1], -15); // -14.5
    EXPECT_EQ(got[31], 16); // 15.5
}

// The layout as ops.h describes it, and the dequantizer reading it back.
TEST(ops, q8_0x8_layout) {
    const int64_t rows = 13, cols = 96, blocks = cols / 32;
    const std::vector<float> w = random_vec(rows * cols, 13);
    std::vector<int8_t> q(w.size());
    std::vector<uint16_t> d(w.size() / 32);
    quantize_row_q8_0(w.data(), (int64_t)w.size(), q.data(), d.data());
    const q8_0x8_matrix m = pack_q8_0x8(q, d, rows, cols);
    ASSERT_EQ(m.qs.size(), (size_t)16 * cols); // 13 rows padded to 2 groups of 8
    for (int64_t r = 0; r < 16; ++r)
        for (int64_t j = 0; j < blocks; ++j) {
            const int64_t g = r / 8, l = r % 8, block = (g * blocks + j) * 256;
            EXPECT_EQ(m.scales[(g * blocks + j) * 8 + l], r < rows ? d[r * blocks + j] : 0);
            for (int64_t p = 0; p < 16; ++p)
                for (int64_t e = 0; e < 2; ++e)
                    EXPECT_EQ(m.qs[block + 16 * p + 2 * l + e], r < rows ? q[r * cols + 32 * j + 2 * p + e] : 0)
                        << r << " " << j << " " << p;
        }
    // Every row range, groups whole or cut at either end.
    std::vector<float> want(rows * cols);
    for (int64_t r = 0; r < rows; ++r)
        dequantize_row_q8_0(q.data() + r * cols, d.data() + r * blocks, cols, want.data() + r * cols);
    for (int64_t r0 = 0; r0 < rows; ++r0)
        for (int64_t n = 1; r0 + n <= rows; ++n) {
            std::vector<float> got(n * cols);
            dequantize_rows_q8_0x8(m.qs.data(), m.scales.data(), cols, r0, n, got.data());
            EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin() + r0 * cols)) << r0 << " " << n;
        }
}

// The vectorised quantizer against its definition, over blocks of very different magnitudes.
TEST(ops, q16_quantizer_matches_definition) {
    std::vector<float> x = random_vec(32 * 64, 12);
    for (size_t i = 0; i < x.size(); ++i) x[i] *= std::ldexp(1.0f, (int)(i / 32) % 20 - 10);
    std::fill(x.begin() + 32, x.begin() + 64, 0.0f); // d = 0
    std::vector<int16_t> q(x.size());
    std::vector<float> d(x.size() / 32);
    quantize_row_q16(x.data(), (int64_t)x.size(), q.data(), d.data());
    for (size_t b = 0; b < d.size(); ++b) {
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
        const float db = amax / 32767.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        EXPECT_EQ(d[b], db) << b;
        for (int i = 0; i < 32; ++i) EXPECT_EQ(q[b * 32 + i], (int16_t)std::lrint(x[b * 32 + i] * id)) << b << " " << i;
    }
}

TEST(ops, matvec_f32_matches_reference) {
    for (shape s : {shape{1, 8}, shape{7, 100}, shape{37, 64}, shape{16, 13}, shape{5, 2085}}) {
        for (int nb : {1, 2, 3, 4, 5, 9, 16}) {
            const std::vector<float> w = random_vec(s.rows * s.cols, 1), x = random_vec(nb * s.cols, 2);
            std::vector<float> y(nb * s.rows), ref(nb * s.rows);
            matvec_f32(w.data(), s.cols, x.data(), s.cols, nb, y.data(), s.rows, 0, s.rows);
            matvec_f32_ref(w.data(), s.rows, s.cols, x.data(), nb, ref.data());
            expect_close(y, ref, 1e-5f * std::sqrt((float)s.cols));
        }
    }
}

TEST(ops, matvec_bf16_matches_reference) {
    for (shape s : {shape{5, 8}, shape{9, 70}, shape{33, 128}, shape{4, 2085}}) {
        for (int nb : {1, 3, 4, 6, 16}) {
            const std::vector<float> wf = random_vec(s.rows * s.cols, 3), x = random_vec(nb * s.cols, 4);
            std::vector<uint16_t> w(wf.size());
            convert_row_bf16(wf.data(), (int64_t)wf.size(), w.data());
            std::vector<float> y(nb * s.rows), ref(nb * s.rows);
            matvec_bf16(w.data(), s.cols, x.data(), s.cols, nb, y.data(), s.rows, 0, s.rows);
            matvec_bf16_ref(w.data(), s.rows, s.cols, x.data(), nb, ref.data());
            expect_close(y, ref, 1e-5f * std::sqrt((float)s.cols));
        }
    }
}

// Bitwise: the kernel follows the reference's order (int16 inputs, see ops.h). Rows not a multiple
// of the groups of 8 or of the tiles of groups, every vector count of the tiles and panels.
TEST(ops, matvec_q8_0_matches_reference) {
    for (shape s : {shape{3, 32}, shape{11, 96}, shape{45, 64}, shape{13, 2080}, shape{7, 8192}}) {
        const std::vector<float> wf = random_vec(s.rows * s.cols, 5);
        std::vector<int8_t> q(wf.size());
        std::vector<uint16_t> d(wf.size() / 32);
        quantize_row_q8_0(wf.data(), (int64_t)wf.size(), q.data(), d.data());
        const q8_0x8_matrix m = pack_q8_0x8(q, d, s.rows, s.cols);
        for (int nb = 1; nb <= 17; ++nb) {
            const std::vector<float> x = random_vec(nb * s.cols, 6);
            std::vector<float> y(nb * s.rows), ref(nb * s.rows);
            matvec_q8_0(m.qs.data(), m.scales.data(), quantize_vectors(x.data(), s.cols, nb, s.cols), nb, y.data(),
                        s.rows, 0, s.rows);
            matvec_q8_0_ref(q.data(), d.data(), s.rows, s.cols, x.data(), nb, ref.data());
            EXPECT_EQ(y, ref) << s.rows << "x" << s.cols << " nb " << nb;
            // and the definition is the product with the dequantized weights, up to the int16
            // rounding of the inputs (relative 2^-16 per product)
            for (int b = 0; b < nb; ++b)
                for (int64_t r = 0; r < s.rows; ++r) {
                    double exact = 0.0, magnitude = 0.0;
                    for (int64_t k = 0; k < s.cols; ++k) {
                        const double wk = fp16_to_fp32(d[(r * s.cols + k) / 32]) * (double)q[r * s.cols + k];
                        exact += wk * x[b * s.cols + k];
                        magnitude += std::fabs(wk * x[b * s.cols + k]);
                    }
                    EXPECT_NEAR(y[b * s.rows + r], exact, 2e-5 * magnitude + 1e-6) << r << " " << b;
                }
        }
    }
}

// The same (row, vector) result whatever the batch size (up to 4 vectors stay in registers, more
// go through column panels), the companions and the row range; and BF16 gives bitwise the F32
// kernel's result on its dequantized weights, Q8_0 its scalar reference's.
TEST(ops, matvec_is_batch_invariant) {
    const int64_t rows = 23;
    const int nb = 17;
    for (int64_t cols : {96, 1131, 2080}) { // 1131: F32 / BF16 tails; 2080: several panels
        const bool q8 = cols % Q8_0_BLOCK == 0;
        const std::vector<float> w = random_vec(rows * cols, 7), x = random_vec(nb * cols, 8);
        std::vector<int8_t> q(w.size());
        std::vector<uint16_t> d(w.size() / Q8_0_BLOCK), wb(w.size());
        std::vector<float> wbf(w.size());
        convert_row_bf16(w.data(), (int64_t)w.size(), wb.data());
        dequantize_row_bf16(wb.data(), (int64_t)wb.size(), wbf.data());
        if (q8) quantize_row_q8_0(w.data(), (int64_t)w.size(), q.data(), d.data());
        const q8_0x8_matrix m = q8 ? pack_q8_0x8(q, d, rows, cols) : q8_0x8_matrix{};
        auto run = [&](int kind, const float* xs, int n, int64_t r0, int64_t r1) {
            std::vector<float> y(n * rows, 0.0f);
            if (kind == 0) matvec_f32(w.data(), cols, xs, cols, n, y.data(), rows, r0, r1);
            if (kind == 1) matvec_bf16(wb.data(), cols, xs, cols, n, y.data(), rows, r0, r1);
            if (kind == 2) matvec_q8_0(m.qs.data(), m.scales.data(), quantize_vectors(xs, cols, n, cols), n, y.data(), rows, r0, r1);
            if (kind == 3) matvec_f32(wbf.data(), cols, xs, cols, n, y.data(), rows, r0, r1);
            if (kind == 4) matvec_q8_0_ref(q.data(), d.data(), rows, cols, xs, n, y.data());
            return y;
        };
        for (int kind = 0; kind < (q8 ? 3 : 2); ++kind) {
            const std::vector<float> all = run(kind, x.data(), nb, 0, rows);
            EXPECT_EQ(all, run(kind + 2 * (kind > 0), x.data(), nb, 0, rows)) << kind << " vs reference, cols " << cols;
            for (int n : {1, 3, 4, 5, 9}) {
                const std::vector<float> some = run(kind, x.data(), n, 0, rows);
                EXPECT_EQ(0, std::memcmp(some.data(), all.data(), n * rows * sizeof(float))) << kind << " " << n << " " << cols;
            }
            for (int b = 0; b < nb; b += 4) {
                const std::vector<float> one = run(kind, x.data() + b * cols, 1, 0, rows);
                EXPECT_EQ(0, std::memcmp(one.data(), all.data() + b * rows, rows * sizeof(float))) << kind << " " << b;
                // Odd row ranges change the tiling but not the result.
                std::vector<float> split = run(kind, x.data() + b * cols, 1, 0, 5);
                const std::vector<float> rest = run(kind, x.data() + b * cols, 1, 5, rows);
                std::copy(rest.begin() + 5, rest.end(), split.begin() + 5);
                EXPECT_EQ(0, std::memcmp(split.data(), one.data(), rows * sizeof(float))) << kind << " " << b;
            }
        }
    }
}

// Every index once, in non-empty parts inside the range, for any thread count (the parts shrink
// towards the end).
TEST(ops, parallel_for_covers_range_once) {
    for (int threads : {2, 3, 8, 1}) {
        ops_set_n_threads(threads);
        for (int64_t n : {0, 1, 2, 3, 7, 33, 1000, 100003}) {
            std::vector<int> hits(n, 0);
            std::atomic<int> bad_parts{0};
            parallel_for(n, [&](int64_t a, int64_t b) {
                if (a < 0 || a >= b || b > n) {
                    bad_parts++;
                    return;
                }
                for (int64_t i = a; i < b; ++i) hits[i]++;
            });
            EXPECT_EQ(bad_parts, 0) << n << " items, " << threads << " threads";
            EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), n) << n << " items, " << threads << " threads";
        }
    }
    ops_set_n_threads(2);
}

TEST(ops, rmsnorm_and_softmax) {
    const std::vector<float> x = {1.0f, -2.0f, 3.0f, 0.5f}, w = {1.0f, 2.0f, 0.5f, 1.0f};
    std::vector<float> out(4);
    rmsnorm(out.data(), x.data(), w.data(), 4, 1e-5f);
    const double rms = std::sqrt((1 + 4 + 9 + 0.25) / 4.0 + 1e-5);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], w[i] * x[i] / rms, 1e-6);
    std::vector<float> p = {1.0f, 2.0f, 3.0f};
    softmax_inplace(p.data(), 3);
    const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    EXPECT_NEAR(p[2], std::exp(3.0) / z, 1e-6);
}

// Decode attention's row kernels give bitwise the per-row definitions, for 1 to 5 queries at once
// (chunks of 4 plus a rest) and row counts around the groups of rows: dot_f32 for every (query, row),
// and a chain of fused multiply-adds per column (what one axpy per row gives).
TEST(ops, attention_row_kernels_match_their_definitions) {
    for (int nq : {1, 2, 3, 4, 5})
        for (int64_t n : {3, 20, 64, 72, 136})
            for (int64_t n_rows : {1, 5, 8, 13}) {
                const int64_t ld = n + 5, lda = n + 3, ldo = n_rows + 2, ldw = n_rows + 1, lds = n + 7;
                const std::vector<float> a = random_vec(nq * lda, 12), rows = random_vec(n_rows * ld, 13);
                const std::vector<float> w = random_vec(nq * ldw, 14);
                std::vector<float> got(nq * ldo, -1.0f), want(nq * ldo, -1.0f);
                dot_rows_f32(a.data(), lda, nq, rows.data(), ld, n_rows, n, 0.125f, got.data(), ldo);
                for (int h = 0; h < nq; ++h)
                    for (int64_t j = 0; j < n_rows; ++j)
                        want[h * ldo + j] = dot_f32(a.data() + h * lda, rows.data() + j * ld, n) * 0.125f;
                EXPECT_EQ(got, want) << nq << " " << n << " " << n_rows;
                std::vector<float> sum(nq * lds, -1.0f), chain(nq * lds, -1.0f);
                weighted_sum_f32(w.data(), ldw, nq, rows.data(), ld, n_rows, n, sum.data(), lds);
                for (int h = 0; h < nq; ++h)
                    for (int64_t k = 0; k < n; ++k) {
                        float s = 0.0f;
                        for (int64_t j = 0; j < n_rows; ++j) s = std::fma(w[h * ldw + j], rows[j * ld + k], s);
                        chain[h * lds + k] = s;
                    }
                EXPECT_EQ(sum, chain) << nq << " " << n << " " << n_rows;
            }
}

// The AVX2 exponential against libm: softmax rows of every tail length, and SwiGLU.
TEST(ops, softmax_and_swiglu_match_libm) {
    for (int64_t n : {1, 3, 8, 13, 100}) {
        std::vector<float> x = random_vec(n, 9);
        for (float& v : x) v *= 40.0f;
        std::vector<double> want(n);
        const float mx = *std::max_element(x.begin(), x.end());
        double z = 0.0;
        for (int64_t i = 0; i < n; ++i) z += want[i] = std::exp((double)x[i] - mx);
        softmax_inplace(x.data(), n);
        for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(x[i], want[i] / z, 2e-6 * want[i] / z + 1e-30) << n << " " << i;
    }
    std::vector<float> gate = random_vec(13, 10), up = random_vec(13, 11);
    for (float& g : gate) g *= 30.0f;
    std::vector<float> out = gate;
    swiglu(out.data(), up.data(), 13);
    for (int i = 0; i < 13; ++i) {
        const double want = gate[i] / (1.0 + std::exp(-(double)gate[i])) * up[i];
        EXPECT_NEAR(out[i], want, 2e-6 * std::fabs(want) + 1e-30) << i;
    }
}

TEST(ops, parallel_for_nested_and_concurrent_calls) {
    std::vector<int> hits(64, 0);
    parallel_for(8, [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; ++i)
            parallel_for(8, [&](int64_t c, int64_t d) { // runs inline inside a job
                for (int64_t j = c; j < d; ++j) hits[i * 8 + j]++;
            });
    });
    for (int h : hits) EXPECT_EQ(h, 1);
    std::vector<std::thread> callers;
    std::vector<int64_t> sums(4, 0);
    for (int t = 0; t < 4; ++t)
        callers.emplace_back([&, t] {
            for (int rep = 0; rep < 50; ++rep) {
                std::vector<int64_t> part(1000, 0);
                parallel_for(1000, [&](int64_t a, int64_t b) {
                    for (int64_t i = a; i < b; ++i) part[i] = i;
                });
                for (int64_t v : part) sums[t] += v;
            }
        });
    for (std::thread& c : callers) c.join();
    for (int64_t s : sums) EXPECT_EQ(s, 50 * 999 * 1000 / 2);
}

// Prefill's GEMM in slices of gemm_slice_rows rows (here 2 whole and a partial one) against double
// dot products of the dequantized rows, for every weight type; one and two threads give the same
// bits, since the slices do not depend on the thread count.
TEST(ops, weight_gemm_matches_reference_in_any_thread_count) {
    const int64_t rows = 2 * gemm_slice_rows + 88, cols = 96, n = 7;
    const std::vector<float> wf = random_vec(rows * cols, 12), x = random_vec(n * cols, 13);
    for (weight_type type : {WEIGHT_F32, WEIGHT_BF16, WEIGHT_Q8_0}) {
        const weight_matrix w = matrix_of(wf, rows, cols, type);
        std::vector<float> row(cols), ref(n * rows);
        for (int64_t r = 0; r < rows; ++r) {
            weight_rows(w, r, 1, row.data());
            for (int64_t i = 0; i < n; ++i) {
                double s = 0.0;
                for (int64_t k = 0; k < cols; ++k) s += (double)row[k] * x[i * cols + k];
                ref[i * rows + r] = (float)s;
            }
        }
        std::vector<std::vector<float>> runs;
        for (int threads : {1, 2}) {
            ops_set_n_threads(threads);
            std::vector<float> y(n * rows);
            weight_gemm(w, x.data(), n, y.data());
            expect_close(y, ref, 1e-5f * std::sqrt((float)cols));
            runs.push_back(y);
        }
        EXPECT_EQ(0, std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * 4)) << weight_type_name(type);
    }
}

// Products sharing their inputs, in one call: each matrix's rows (counts not multiples of the
// 16-row chunks, so chunks of two matrices meet inside a thread's part) equal one direct kernel
// call over all its rows, whatever the thread count; different column counts are refused.
TEST(ops, weight_matvecs_match_one_kernel_call_per_matrix) {
    const int64_t cols = 96;
    const int nb = 5;
    const std::vector<float> x = random_vec(nb * cols, 21);
    const std::vector<std::pair<int64_t, weight_type>> shapes = {
        {40, WEIGHT_Q8_0}, {24, WEIGHT_F32}, {100, WEIGHT_BF16}, {8, WEIGHT_Q8_0}};
    std::vector<weight_matrix> ws;
    std::vector<std::vector<float>> want;
    for (size_t i = 0; i < shapes.size(); ++i) {
        const auto [rows, type] = shapes[i];
        ws.push_back(matrix_of(random_vec(rows * cols, 30 + (int)i), rows, cols, type));
        const weight_matrix& w = ws.back();
        std::vector<float> y(nb * rows);
        if (type == WEIGHT_F32) matvec_f32(w.f32, cols, x.data(), cols, nb, y.data(), rows, 0, rows);
        if (type == WEIGHT_BF16) matvec_bf16(w.bf16, cols, x.data(), cols, nb, y.data(), rows, 0, rows);
        if (type == WEIGHT_Q8_0)
            matvec_q8_0(w.q8, w.q8_scales, quantize_vectors(x.data(), cols, nb, cols), nb, y.data(), rows, 0, rows);
        want.push_back(y);
    }
    for (int threads : {1, 2}) {
        ops_set_n_threads(threads);
        std::vector<std::vector<float>> got;
        for (const weight_matrix& w : ws) got.emplace_back(nb * w.rows, -1.0f);
        weight_matvecs({{&ws[0], got[0].data()}, {&ws[1], got[1].data()}, {&ws[2], got[2].data()}, {&ws[3], got[3].data()}},
                       x.data(), nb);
        for (size_t i = 0; i < ws.size(); ++i) EXPECT_EQ(got[i], want[i]) << "matrix " << i << ", threads " << threads;
    }
    const weight_matrix narrow = matrix_of(std::vector<float>(8 * 64, 1.0f), 8, 64, WEIGHT_F32);
    std::vector<float> y1(nb * 40), y2(nb * 8);
    EXPECT_THROW(weight_matvecs({{&ws[0], y1.data()}, {&narrow, y2.data()}}, x.data(), nb), std::invalid_argument);
}
