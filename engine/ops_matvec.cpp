// Batched matrix-vector kernels (decode) and the row dequantizers they share with prefill.
//
// Every (row, vector) output is one chain: acc[8] = fma(w[k..k+8), x[k..k+8), acc) for k = 0, 8,
// 16, ... with w the row's weights as exact floats (BF16 widens; Q8_0's q * d needs 18 bits, so it
// is exact too), then the fixed hsum8 tree, then a scalar tail for cols % 8. Tiles (rows x vectors),
// column blocks and converted panels only decide where the accumulators and weights live between
// steps, never the order: results do not depend on the batch, the row range or the thread count,
// and a BF16 or Q8_0 kernel gives bitwise the F32 kernel's result on the dequantized matrix.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_simd.h"

namespace {

template <_mm_hint hint = _MM_HINT_T0>
void prefetch_bytes(const void* p, int64_t n) {
    for (int64_t i = 0; i < n; i += 64) _mm_prefetch((const char*)p + i, hint);
}

// Weight formats. row(r) is a handle on row r; scale(h, k) the Q8_0 block scale in effect at
// column k (a dummy the compiler drops for the others); at(h, k, d) weights k..k+8 as floats;
// prefetch(h, k0, n) asks for the bytes of columns [k0, k0 + n).
struct f32_matrix {
    const float* w;
    int64_t cols;
    using row_t = const float*;
    row_t row(int64_t r) const { return w + r * cols; }
    static __m256 scale(row_t, int64_t) { return _mm256_setzero_ps(); }
    static __m256 at(row_t h, int64_t k, __m256) { return _mm256_loadu_ps(h + k); }
    static float scalar(row_t h, int64_t k) { return h[k]; }
    // into L2 only: the first vector group reads these rows directly, and in L1 they would evict
    // the weights in use (measured slower)
    static void prefetch(row_t h, int64_t k0, int64_t n) { prefetch_bytes<_MM_HINT_T1>(h + k0, n * 4); }
};

struct bf16_matrix {
    const uint16_t* w;
    int64_t cols;
    using row_t = const uint16_t*;
    row_t row(int64_t r) const { return w + r * cols; }
    static __m256 scale(row_t, int64_t) { return _mm256_setzero_ps(); }
    static __m256 at(row_t h, int64_t k, __m256) {
        const __m128i v = _mm_loadu_si128((const __m128i*)(h + k));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
    }
    static float scalar(row_t h, int64_t k) { return bf16_to_fp32(h[k]); }
    static void prefetch(row_t h, int64_t k0, int64_t n) { prefetch_bytes(h + k0, n * 2); }
};

struct q8_0_matrix {
    const int8_t* qs;
    const uint16_t* scales;
    int64_t cols;
    struct row_t {
        const int8_t* q;
        const uint16_t* d;
    };
    row_t row(int64_t r) const { return {qs + r * cols, scales + r * (cols / Q8_0_BLOCK)}; }
    static __m256 scale(row_t h, int64_t k) {
        return _mm256_cvtph_ps(_mm_set1_epi16((short)h.d[k / Q8_0_BLOCK]));
    }
    static __m256 at(row_t h, int64_t k, __m256 d) {
        const __m128i q = _mm_loadl_epi64((const __m128i*)(h.q + k));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
    }
    static float scalar(row_t h, int64_t k) { return fp16_to_fp32(h.d[k / Q8_0_BLOCK]) * (float)h.q[k]; }
    static void prefetch(row_t h, int64_t k0, int64_t n) {
        prefetch_bytes(h.q + k0, n);
        prefetch_bytes(h.d + k0 / Q8_0_BLOCK, n / Q8_0_BLOCK * 2);
    }
};

// out[0, n) = columns [k0, k0 + n) of a row as floats; k0 a multiple of 32, n of 8.
template <typename M>
void convert(typename M::row_t h, int64_t k0, int64_t n, float* out) {
    int64_t k = 0;
    for (; k + 32 <= n; k += 32) {
        const __m256 d = M::scale(h, k0 + k);
        for (int c = 0; c < 32; c += 8) _mm256_storeu_ps(out + k + c, M::at(h, k0 + k + c, d));
    }
    for (; k < n; k += 8) _mm256_storeu_ps(out + k, M::at(h, k0 + k, M::scale(h, k0 + k)));
}

// acc[i][b] advances over columns [k0, k1) (k1 - k0 a multiple of 8, k0 one of 32) of rows w[i]
// and vectors x[b]. Steps of 32 fetch each Q8_0 scale once. The accumulators are copied to a local
// array (stores through `acc` could alias the inputs, so the compiler would keep them in memory)
// and the unroll pragmas keep them in registers (-O2 does not fully unroll on its own).
template <int R, int NB, typename M>
inline void tile_steps(const typename M::row_t (&w)[R], const float* const (&x)[NB], int64_t k0, int64_t k1,
                       __m256 (&acc_out)[R][NB]) {
    __m256 acc[R][NB];
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b) acc[i][b] = acc_out[i][b];
    auto step = [&](int64_t k, const __m256(&d)[R]) {
        // The smaller operand set is loaded first and kept (weights when R <= NB, else inputs), so
        // min(R, NB) + 1 registers beside the accumulators. The empty asm statements pin loads in
        // registers, or GCC folds them into every FMA that uses them and the loads, not the FMAs,
        // bound the loop.
        if constexpr (R <= NB) {
            __m256 wv[R];
#pragma GCC unroll 8
            for (int i = 0; i < R; ++i) {
                wv[i] = M::at(w[i], k, d[i]);
                __asm__("" : "+x"(wv[i]));
            }
#pragma GCC unroll 8
            for (int b = 0; b < NB; ++b) {
                __m256 xv = _mm256_loadu_ps(x[b] + k);
                __asm__("" : "+x"(xv));
#pragma GCC unroll 8
                for (int i = 0; i < R; ++i) acc[i][b] = _mm256_fmadd_ps(wv[i], xv, acc[i][b]);
            }
        } else {
            __m256 xv[NB];
#pragma GCC unroll 8
            for (int b = 0; b < NB; ++b) {
                xv[b] = _mm256_loadu_ps(x[b] + k);
                __asm__("" : "+x"(xv[b]));
            }
#pragma GCC unroll 8
            for (int i = 0; i < R; ++i) {
                __m256 wv = M::at(w[i], k, d[i]);
                __asm__("" : "+x"(wv));
#pragma GCC unroll 8
                for (int b = 0; b < NB; ++b) acc[i][b] = _mm256_fmadd_ps(wv, xv[b], acc[i][b]);
            }
        }
    };
    auto scales = [&](int64_t k, __m256(&d)[R]) {
#pragma GCC unroll 8
        for (int i = 0; i < R; ++i) d[i] = M::scale(w[i], k);
    };
    int64_t k = k0;
    for (; k + 32 <= k1; k += 32) {
        __m256 d[R];
        scales(k, d);
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) step(k + 8 * c, d);
    }
    for (; k < k1; k += 8) {
        __m256 d[R];
        scales(k, d);
        step(k, d);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b) acc_out[i][b] = acc[i][b];
}

// The end of a chain: the tree sum of the lanes, then the columns past the last multiple of 8.
template <typename M>
float chain_end(__m256 acc, typename M::row_t w, const float* x, int64_t cols) {
    float s = hsum8(acc);
    for (int64_t k = cols & ~int64_t{7}; k < cols; ++k) s = std::fma(M::scalar(w, k), x[k], s);
    return s;
}

// Runs f(std::integral_constant<int, n>) for a small runtime n in [1, 4].
template <typename F>
void with_count(int n, const F& f) {
    switch (n) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    default: f(std::integral_constant<int, 4>{}); break;
    }
}

// Walks rows [r0, r1) as R streams of consecutive rows, tile t taking row t of every stream, then
// the leftover rows one by one. Each stream reads memory sequentially, which the hardware
// prefetchers follow; adjacent rows sharing a page (2 KiB Q8_0 rows) defeat them.
template <int R, typename Tile>
void for_row_tiles(int64_t r0, int64_t r1, const Tile& tile) {
    const int64_t h = (r1 - r0) / R;
    for (int64_t t = 0; t < h; ++t) {
        int64_t rows[R];
        for (int i = 0; i < R; ++i) rows[i] = r0 + i * h + t;
        tile(rows);
    }
    for (int64_t r = r0 + R * h; r < r1; ++r) {
        const int64_t rows[1] = {r};
        tile(rows);
    }
}

template <int N, typename T, typename F>
void fill_n(T (&out)[N], const F& f) {
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) out[i] = f(i);
}

// Up to 4 vectors: accumulators stay in registers over the whole row. Register budget (16 ymm):
// R * NB accumulators, min(R, NB) + 1 operands (see tile_steps) and R scales for Q8_0.
template <typename M, int NB>
constexpr int direct_rows() {
    if constexpr (std::is_same_v<M, q8_0_matrix>) return NB == 1 ? 4 : NB == 2 ? 3 : 2;
    return NB <= 2 ? 4 : 3;
}

template <typename M, int NB>
void matvec_direct(const M& m, const float* x, int64_t ldx, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t cols8 = m.cols & ~int64_t{7};
    for_row_tiles<direct_rows<M, NB>()>(r0, r1, [&](const auto& rows) {
        constexpr int R = std::extent_v<std::remove_reference_t<decltype(rows)>>;
        typename M::row_t w[R];
        const float* xb[NB];
        __m256 acc[R][NB];
        fill_n(w, [&](int i) { return m.row(rows[i]); });
        fill_n(xb, [&](int b) { return x + b * ldx; });
#pragma GCC unroll 8
        for (int i = 0; i < R; ++i) fill_n(acc[i], [](int) { return _mm256_setzero_ps(); });
        tile_steps<R, NB, M>(w, xb, 0, cols8, acc);
        for (int i = 0; i < R; ++i)
            for (int b = 0; b < NB; ++b) y[b * ldy + rows[i]] = chain_end<M>(acc[i][b], w[i], xb[b], m.cols);
    });
}

// More than 4 vectors: tiles of 3 rows x 4 vectors over column blocks of panel_cols. A block's
// weights (converted to floats once for BF16 / Q8_0) stay in L1 for every group of 4 vectors, and
// so are read from memory once per call; accumulators wait in `acc` between blocks.
constexpr int64_t panel_cols = 1024;
constexpr int panel_rows = 3, panel_group = 4;

template <typename M>
void matvec_panels(const M& m, const float* x, int64_t ldx, int nb, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    constexpr bool is_f32 = std::is_same_v<M, f32_matrix>;
    const int64_t cols8 = m.cols & ~int64_t{7};
    alignas(32) float panel[panel_rows][panel_cols];
    std::vector<float> acc((size_t)panel_rows * nb * 8); // [row][vector][8 lanes]
    // The inputs, copied to rows that start on a cache line: activations come from malloc (16-byte
    // aligned), and loads straddling two lines cost ~10% here, where every input is read by
    // every tile. [nb][ldxa]
    const int64_t ldxa = (cols8 + 15) / 16 * 16;
    std::vector<float> xbuf((size_t)ldxa * nb + 15);
    float* xa = xbuf.data() + (16 - (uintptr_t)xbuf.data() / 4 % 16) % 16;
    for (int b = 0; b < nb; ++b) std::copy(x + b * ldx, x + b * ldx + cols8, xa + b * ldxa);
    for_row_tiles<panel_rows>(r0, r1, [&](const auto& rows) {
        constexpr int R = std::extent_v<std::remove_reference_t<decltype(rows)>>;
        typename M::row_t src[R];
        fill_n(src, [&](int i) { return m.row(rows[i]); });
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t k0 = 0; k0 < cols8; k0 += panel_cols) {
            const int64_t n = std::min(panel_cols, cols8 - k0);
            const float* w[R];
            for (int i = 0; i < R; ++i) {
                if constexpr (is_f32) {
                    w[i] = src[i] + k0;
                } else {
                    convert<M>(src[i], k0, n, panel[i]);
                    w[i] = panel[i];
                }
            }
            const int groups = (nb + panel_group - 1) / panel_group;
            for (int b0 = 0; b0 < nb; b0 += panel_group)
                with_count(std::min(panel_group, nb - b0), [&](auto group) {
                    // A part of the next panel before each group: the bursty reads of converting a
                    // panel (or of the first group's pass over F32 rows) leave the hardware
                    // prefetchers behind.
                    const int64_t part = panel_cols / groups / 32 * 32, p0 = b0 / panel_group * part;
                    for (int i = 0; i < R; ++i) {
                        if (k0 + panel_cols + p0 < cols8)
                            M::prefetch(src[i], k0 + panel_cols + p0, std::min(part, cols8 - k0 - panel_cols - p0));
                        else if (rows[i] + 1 < r1 && p0 < cols8)
                            M::prefetch(m.row(rows[i] + 1), p0, std::min(part, cols8 - p0));
                    }
                    constexpr int NB = decltype(group)::value;
                    const float* xb[NB];
                    __m256 a[R][NB];
                    fill_n(xb, [&](int b) { return xa + (b0 + b) * ldxa + k0; });
#pragma GCC unroll 8
                    for (int i = 0; i < R; ++i)
                        fill_n(a[i], [&](int b) { return _mm256_loadu_ps(&acc[(i * nb + b0 + b) * 8]); });
                    tile_steps<R, NB, f32_matrix>(w, xb, 0, n, a);
                    for (int i = 0; i < R; ++i)
                        for (int b = 0; b < NB; ++b) _mm256_storeu_ps(&acc[(i * nb + b0 + b) * 8], a[i][b]);
                });
        }
        for (int i = 0; i < R; ++i)
            for (int b = 0; b < nb; ++b)
                y[b * ldy + rows[i]] = chain_end<M>(_mm256_loadu_ps(&acc[(i * nb + b) * 8]), src[i], x + b * ldx, m.cols);
    });
}

template <typename M>
void matvec(const M& m, const float* x, int64_t ldx, int nb, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    if (nb > 4) return matvec_panels(m, x, ldx, nb, y, ldy, r0, r1);
    with_count(nb, [&](auto group) { matvec_direct<M, decltype(group)::value>(m, x, ldx, y, ldy, r0, r1); });
}

template <typename M>
void dequantize_row(const M& m, int64_t n, float* out) {
    const int64_t n8 = n & ~int64_t{7};
    convert<M>(m.row(0), 0, n8, out);
    for (int64_t k = n8; k < n; ++k) out[k] = M::scalar(m.row(0), k);
}

} // namespace

void dequantize_row_q8_0(const int8_t* qs, const uint16_t* scales, int64_t n, float* out) {
    dequantize_row(q8_0_matrix{qs, scales, n}, n, out);
}

void dequantize_row_bf16(const uint16_t* x, int64_t n, float* out) { dequantize_row(bf16_matrix{x, n}, n, out); }

void matvec_f32(const float* w, int64_t cols, const float* x, int64_t ldx, int nb, float* y, int64_t ldy,
                int64_t r0, int64_t r1) {
    if (nb > 0) matvec(f32_matrix{w, cols}, x, ldx, nb, y, ldy, r0, r1);
}

void matvec_bf16(const uint16_t* w, int64_t cols, const float* x, int64_t ldx, int nb, float* y, int64_t ldy,
                 int64_t r0, int64_t r1) {
    if (nb > 0) matvec(bf16_matrix{w, cols}, x, ldx, nb, y, ldy, r0, r1);
}

void matvec_q8_0(const int8_t* qs, const uint16_t* scales, int64_t cols, const float* x, int64_t ldx, int nb,
                 float* y, int64_t ldy, int64_t r0, int64_t r1) {
    if (nb > 0) matvec(q8_0_matrix{qs, scales, cols}, x, ldx, nb, y, ldy, r0, r1);
}

// ---- references ---------------------------------------------------------------------------------

namespace {
template <typename Get>
void matvec_ref(Get get, int64_t rows, int64_t cols, const float* x, int nb, float* y) {
    for (int b = 0; b < nb; ++b)
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0.0;
            for (int64_t k = 0; k < cols; ++k) s += (double)get(r, k) * x[b * cols + k];
            y[b * rows + r] = (float)s;
        }
}
} // namespace

void matvec_f32_ref(const float* w, int64_t rows, int64_t cols, const float* x, int nb, float* y) {
    matvec_ref([&](int64_t r, int64_t k) { return w[r * cols + k]; }, rows, cols, x, nb, y);
}

void matvec_bf16_ref(const uint16_t* w, int64_t rows, int64_t cols, const float* x, int nb, float* y) {
    matvec_ref([&](int64_t r, int64_t k) { return bf16_to_fp32(w[r * cols + k]); }, rows, cols, x, nb, y);
}

void matvec_q8_0_ref(const int8_t* qs, const uint16_t* scales, int64_t rows, int64_t cols, const float* x, int nb,
                     float* y) {
    matvec_ref(
        [&](int64_t r, int64_t k) {
            return fp16_to_fp32(scales[r * (cols / Q8_0_BLOCK) + k / Q8_0_BLOCK]) * (float)qs[r * cols + k];
        },
        rows, cols, x, nb, y);
}
