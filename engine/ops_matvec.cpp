// Batched matrix-vector kernels (decode) and the row dequantizers they share with prefill.
//
// F32 and BF16: every (row, vector) output is one chain: acc[8] = fma(w[k..k+8), x[k..k+8), acc)
// for k = 0, 8, 16, ... with w the row's weights as exact floats (BF16 widens), then the fixed
// hsum8 tree, then a scalar tail for cols % 8. The BF16 kernel gives bitwise the F32 kernel's
// result on the dequantized matrix.
//
// Q8_0 multiplies integers: each input vector is quantized by quantize_row_q16 (int16 values, a
// float scale per block of 32), and for every block j a row's accumulator advances
// acc = fma(float(s), d_w[j] * d_x[j], acc), with s the exact integer dot of the block's 32
// columns; matvec_q8_0_ref spells this out in scalar code. The weights are kept in the q8_0x8 layout
// (ops.h), so that lanes are rows: a block costs 16 madd and 16 add per 8 rows and vector, then
// one conversion and one fma, instead of a conversion and an fma per row (in L1, one core, 16
// vectors: 34-37 -> 50-54 G multiply-adds/s). (int8 inputs, as ggml's Q8_0 x Q8_0, need as many
// instructions on AVX2, and moved decode's logits 3% away from prefill's, which multiplies the
// dequantized weights by float inputs, where test_model asks for 1e-4; int16 inputs stay within it.)
//
// Tiles (rows x vectors), column blocks and converted panels only decide where the accumulators
// and weights live between steps, never the order: results do not depend on the batch, the row
// range or the thread count.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_simd.h"

namespace {

// Weight formats. row(r) is a handle on row r; scale(h, k) the Q8_0 block scale in effect at
// column k (a dummy the compiler drops for the others); at(h, k, d) weights k..k+8 as floats;
// address(h, k) is where column k's bytes start, and prefetch_hint the cache level the panel kernel
// prefetches them to. Q8_0 goes through the float kernels only to be dequantized (convert); its
// products have their own kernel below.
struct f32_matrix {
    const float* w;
    int64_t cols;
    using row_t = const float*;
    row_t row(int64_t r) const { return w + r * cols; }
    static __m256 scale(row_t, int64_t) { return _mm256_setzero_ps(); }
    static __m256 at(row_t h, int64_t k, __m256) { return _mm256_loadu_ps(h + k); }
    static float scalar(row_t h, int64_t k) { return h[k]; }
    static const char* address(row_t h, int64_t k) { return (const char*)(h + k); }
    // into L2 only: the first vector group reads these rows directly, and in L1 they would evict
    // the weights in use (measured slower)
    static constexpr _mm_hint prefetch_hint = _MM_HINT_T1;
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
    static const char* address(row_t h, int64_t k) { return (const char*)(h + k); }
    static constexpr _mm_hint prefetch_hint = _MM_HINT_T0;
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

// acc[i][b] (8 floats at acc_io + i * acc_ld + 8 * b) advances over columns [k0, k1) (k1 - k0 a
// multiple of 8, k0 one of 32) of rows w[i] and vectors x[b]. Steps of 32 fetch each Q8_0 scale
// once. The accumulators are copied to a local array (stores through `acc_io` could alias the
// inputs, so the compiler would keep them in memory) and the unroll pragmas keep them in registers
// (-O2 does not fully unroll on its own). The block of 32 columns number j < pf_lines prefetches
// line j after every non-null pf[i] (a panel ahead, for the panel kernel): one line per row per
// block, since a burst of prefetches stalls until its lines arrive. With keep, the weights are also
// stored as floats at w_keep[i] + k (the panel kernel's first group converts a BF16 panel so, for
// the other groups, instead of in a pass of its own). The lambdas always inlined, tile_steps never:
// otherwise GCC kept the accumulators (or the weights) on the stack, stored every step.
template <int R, int NB, typename M, _mm_hint hint = _MM_HINT_T0, bool keep = false>
__attribute__((noinline)) void tile_steps(const typename M::row_t (&w)[R], const float* const (&x)[NB], int64_t k0,
                                          int64_t k1, float* acc_io, int64_t acc_ld, const char* const* pf = nullptr,
                                          int64_t pf_lines = 0, float* const* w_keep = nullptr) {
    __m256 acc[R][NB];
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b) acc[i][b] = _mm256_loadu_ps(acc_io + i * acc_ld + 8 * b);
    auto step = [&](int64_t k, const __m256(&d)[R]) __attribute__((always_inline)) {
        // The smaller operand set is loaded first and kept (weights when R <= NB, else inputs), so
        // min(R, NB) + 1 registers beside the accumulators. The empty asm statements pin loads in
        // registers, or GCC folds them into every FMA that uses them and the loads, not the FMAs,
        // bound the loop.
        if constexpr (R <= NB) {
            __m256 wv[R];
#pragma GCC unroll 8
            for (int i = 0; i < R; ++i) {
                wv[i] = M::at(w[i], k, d[i]);
                if constexpr (keep) _mm256_store_ps(w_keep[i] + k, wv[i]);
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
                if constexpr (keep) _mm256_store_ps(w_keep[i] + k, wv);
                __asm__("" : "+x"(wv));
#pragma GCC unroll 8
                for (int b = 0; b < NB; ++b) acc[i][b] = _mm256_fmadd_ps(wv, xv[b], acc[i][b]);
            }
        }
    };
    auto scales = [&](int64_t k, __m256(&d)[R]) __attribute__((always_inline)) {
#pragma GCC unroll 8
        for (int i = 0; i < R; ++i) d[i] = M::scale(w[i], k);
    };
    int64_t k = k0;
    for (int64_t line = 0; k + 32 <= k1; k += 32, ++line) {
        __m256 d[R];
        scales(k, d);
        if (line < pf_lines)
            for (int i = 0; i < R; ++i)
                if (pf[i]) _mm_prefetch(pf[i] + 64 * line, hint);
        // One step per iteration: unrolled, GCC interleaved the steps and spilled an accumulator,
        // whose store and reload then bounded the loop (3 x 4 tile, data in L1, one core: 37.8 ->
        // 40.3 G multiply-adds/s).
#pragma GCC unroll 1
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
        for (int b = 0; b < NB; ++b) _mm256_storeu_ps(acc_io + i * acc_ld + 8 * b, acc[i][b]);
}

// The end of a chain: the tree sum of the lanes, then the columns past the last multiple of 8.
template <typename M>
float chain_end(__m256 acc, typename M::row_t w, const float* x, int64_t cols) {
    float s = hsum8(acc);
    for (int64_t k = cols & ~int64_t{7}; k < cols; ++k) s = std::fma(M::scalar(w, k), x[k], s);
    return s;
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
// R * NB accumulators and min(R, NB) + 1 operands (see tile_steps).
template <int NB>
constexpr int direct_rows() {
    return NB <= 2 ? 4 : 3;
}

template <typename M, int NB>
void matvec_direct(const M& m, const float* x, int64_t ldx, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t cols8 = m.cols & ~int64_t{7};
    for_row_tiles<direct_rows<NB>()>(r0, r1, [&](const auto& rows) {
        constexpr int R = std::extent_v<std::remove_reference_t<decltype(rows)>>;
        typename M::row_t w[R];
        const float* xb[NB];
        alignas(32) float acc[R][NB][8] = {};
        fill_n(w, [&](int i) { return m.row(rows[i]); });
        fill_n(xb, [&](int b) { return x + b * ldx; });
        tile_steps<R, NB, M>(w, xb, 0, cols8, &acc[0][0][0], NB * 8);
        for (int i = 0; i < R; ++i)
            for (int b = 0; b < NB; ++b)
                y[b * ldy + rows[i]] = chain_end<M>(_mm256_load_ps(acc[i][b]), w[i], xb[b], m.cols);
    });
}

// More than 4 vectors: tiles of 3 rows x 4 vectors over column blocks of panel_cols. A block's
// weights (converted to floats once for BF16, by the first group) stay in L1 for every group of 4
// vectors, and so are read from memory once per call; accumulators wait in `acc` between blocks.
// The panel panel_lead ahead in each row stream is prefetched meanwhile, shared out among the
// groups. 512 columns (with the inputs packed per panel) beat 1024 by ~10% once the weights come
// from memory (one core, 19200 x 2048, 16 vectors: 27 -> 30 G multiply-adds/s); 256 lose to the
// cost of switching groups.
constexpr int64_t panel_cols = 512;
constexpr int panel_rows = 3, panel_group = 4, panel_lead = 2;

template <typename M>
void matvec_panels(const M& m, const float* x, int64_t ldx, int nb, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    constexpr bool is_f32 = std::is_same_v<M, f32_matrix>;
    const int64_t cols8 = m.cols & ~int64_t{7}, row_panels = (cols8 + panel_cols - 1) / panel_cols;
    alignas(32) float panel[panel_rows][panel_cols];
    std::vector<float> acc((size_t)panel_rows * nb * 8); // [row][vector][8 lanes]
    // The inputs, copied panel by panel, each panel's columns of the nb vectors contiguous, to rows
    // that start on a cache line: activations come from malloc (16-byte aligned), and loads
    // straddling two lines cost ~10% here, where every input is read by every tile.
    // [row_panels][nb][panel_cols]
    std::vector<float> xbuf((size_t)row_panels * nb * panel_cols + 15);
    float* xa = xbuf.data() + (16 - (uintptr_t)xbuf.data() / 4 % 16) % 16;
    for (int64_t p = 0; p < row_panels; ++p)
        for (int b = 0; b < nb; ++b) {
            const float* in = x + b * ldx + p * panel_cols;
            std::copy(in, in + std::min(panel_cols, cols8 - p * panel_cols), xa + (p * nb + b) * panel_cols);
        }
    for_row_tiles<panel_rows>(r0, r1, [&](const auto& rows) {
        constexpr int R = std::extent_v<std::remove_reference_t<decltype(rows)>>;
        typename M::row_t src[R];
        fill_n(src, [&](int i) { return m.row(rows[i]); });
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t k0 = 0; k0 < cols8; k0 += panel_cols) {
            const int64_t n = std::min(panel_cols, cols8 - k0);
            const float* xp = xa + k0 / panel_cols * nb * panel_cols;
            typename M::row_t ws[R]; // the panel in the matrix
            const float* w[R];       // as floats: F32 in place, BF16 converted by the first group
            float* keep[R];
            for (int i = 0; i < R; ++i) {
                ws[i] = src[i] + k0;
                keep[i] = panel[i];
                if constexpr (is_f32) w[i] = ws[i];
                else w[i] = panel[i];
            }
            // The panel to prefetch: the first group's bursty reads of a panel leave the hardware
            // prefetchers behind.
            const int64_t ahead = k0 / panel_cols + panel_lead, wraps = ahead / row_panels;
            const int64_t pf_k = ahead % row_panels * panel_cols, pf_n = std::min(panel_cols, cols8 - pf_k);
            const char* pf_row[R];
            for (int i = 0; i < R; ++i)
                pf_row[i] = rows[i] + wraps < r1 ? M::address(m.row(rows[i] + wraps), pf_k) : nullptr;
            const int groups = (nb + panel_group - 1) / panel_group;
            const int64_t pf_lines = (M::address(src[0], pf_n) - M::address(src[0], 0) + 63) / 64;
            const int64_t group_lines = (pf_lines + groups - 1) / groups;
            for (int b0 = 0; b0 < nb; b0 += panel_group)
                with_count(std::min(panel_group, nb - b0), [&](auto group) {
                    const int64_t first = b0 / panel_group * group_lines;
                    const int64_t lines = std::clamp<int64_t>(pf_lines - first, 0, group_lines);
                    const char* pf[R];
                    for (int i = 0; i < R; ++i) pf[i] = pf_row[i] ? pf_row[i] + 64 * first : nullptr;
                    constexpr int NB = decltype(group)::value;
                    const float* xb[NB];
                    fill_n(xb, [&](int b) { return xp + (b0 + b) * panel_cols; });
                    if constexpr (!is_f32)
                        if (b0 == 0)
                            return tile_steps<R, NB, M, M::prefetch_hint, true>(ws, xb, 0, n, &acc[b0 * 8], nb * 8, pf,
                                                                                lines, keep);
                    tile_steps<R, NB, f32_matrix, M::prefetch_hint>(w, xb, 0, n, &acc[b0 * 8], nb * 8, pf, lines);
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

// ---- Q8_0 weights x int16 inputs ----

constexpr int64_t q8_0x8_block_bytes = Q8_0X8_ROWS * Q8_0_BLOCK;

// s += madd(w, x) (vpmaddwd then vpaddd into s), written as one asm statement so that GCC keeps
// each sum in one register. From the same intrinsics it copied sums between registers and spilled
// one per column pair; a block (16 column pairs) fully unrolled with this ran 4-8% faster at batch
// 16 and 1.4-1.8x faster at batch 3 (one core, 8192 x 2048 and 2048 x 8192 matrices).
inline void madd_accumulate(__m256i& s, __m256i w, __m256i x) {
    __m256i product;
    __asm__("vpmaddwd %[w], %[x], %[p]\n\tvpaddd %[p], %[s], %[s]"
            : [s] "+x"(s), [p] "=&x"(product)
            : [w] "x"(w), [x] "x"(x));
}

// acc[g][b] (8 floats, lane l for row l of group g, at acc_io + g * 8 + b * acc_ld) advances over
// blocks [j0, j1) of groups w[g] (scales wd[g]) and vectors x[b]. Per block, s[g][b] sums the 16
// column pairs' madd of the widened weights by the broadcast input pair (32 products of at most
// 128 * 32767 in magnitude: exact in int32), then acc gets one fma by float(s) and d_w * d_x. A
// pair's weights are widened once for all NB vectors and an input pair broadcast once for all G
// groups. Registers: G NB sums, G weights and the input; the accumulators stay in memory (a load
// and a store per block). Kept in registers too, 2 x 4 tiles spilled, and 2 x 3 tiles left the
// 16th vector to a 2 x 1 tile, which took 7% of the batch-16 samples for 1/16 of the work. A
// non-zero prefetch_ahead prefetches, per block, cache lines first_line, first_line + line_step, ...
// of the block that many bytes further in each group (the tiles of vectors share out the next
// panel's lines).
template <int G, int NB>
__attribute__((noinline)) void q8_0x8_tile_steps(const int8_t* const (&w)[G], const uint16_t* const (&wd)[G],
                                                 const q16_vectors::row_t (&x)[NB], int64_t j0, int64_t j1,
                                                 float* acc_io, int64_t acc_ld, int64_t prefetch_ahead,
                                                 int first_line, int line_step) {
    for (int64_t j = j0; j < j1; ++j) {
        if (prefetch_ahead)
            for (int g = 0; g < G; ++g)
                for (int line = first_line; line < q8_0x8_block_bytes / 64; line += line_step)
                    _mm_prefetch((const char*)w[g] + j * q8_0x8_block_bytes + prefetch_ahead + 64 * line, _MM_HINT_T0);
        __m256i s[G][NB];
#pragma GCC unroll 8
        for (int g = 0; g < G; ++g)
#pragma GCC unroll 8
            for (int b = 0; b < NB; ++b) s[g][b] = _mm256_setzero_si256();
#pragma GCC unroll 16
        for (int p = 0; p < Q8_0_BLOCK / 2; ++p) {
            __m256i wv[G];
#pragma GCC unroll 8
            for (int g = 0; g < G; ++g)
                wv[g] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(w[g] + j * q8_0x8_block_bytes + 16 * p)));
#pragma GCC unroll 8
            for (int b = 0; b < NB; ++b) {
                int32_t pair;
                std::memcpy(&pair, x[b].q + j * Q8_0_BLOCK + 2 * p, sizeof pair);
                const __m256i xv = _mm256_set1_epi32(pair);
#pragma GCC unroll 8
                for (int g = 0; g < G; ++g) madd_accumulate(s[g][b], wv[g], xv);
            }
        }
#pragma GCC unroll 8
        for (int g = 0; g < G; ++g) {
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(wd[g] + j * Q8_0X8_ROWS)));
#pragma GCC unroll 8
            for (int b = 0; b < NB; ++b) {
                float* acc = acc_io + g * Q8_0X8_ROWS + b * acc_ld;
                const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(x[b].d + j));
                _mm256_storeu_ps(acc, _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[g][b]), d, _mm256_loadu_ps(acc)));
            }
        }
    }
}

// Tiles of G groups x up to q8_0_tile_vectors vectors. With more vectors than one tile takes, the
// columns go in panels of q8_0_panel_blocks blocks, whose weights stay in L1 for every tile of
// vectors; the accumulators live in `acc`. The groups covering [r0, r1) are computed
// whole, and only the rows asked for stored. The first (up to) 4 tiles of vectors each prefetch
// their share of the next panel's cache lines: all from the first tile, the two threads' requests
// came in bursts (batch-16 step 0.2375 -> 0.2347 s).
constexpr int q8_0_tile_vectors = 4;
constexpr int64_t q8_0_panel_blocks = 16;
template <int G>
void matvec_q8_0_groups(const int8_t* qs, const uint16_t* scales, const q16_vectors& x, int nb, float* y,
                        int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t blocks = x.cols / Q8_0_BLOCK;
    const int64_t panel = nb > q8_0_tile_vectors ? q8_0_panel_blocks : blocks;
    std::vector<float> acc((size_t)nb * G * Q8_0X8_ROWS); // [vector][group][row]
    const int prefetching_tiles =
        std::min<int>((nb + q8_0_tile_vectors - 1) / q8_0_tile_vectors, q8_0x8_block_bytes / 64);
    for_row_tiles<G>(r0 / Q8_0X8_ROWS, q8_0x8_groups(r1), [&](const auto& groups) {
        constexpr int GT = std::extent_v<std::remove_reference_t<decltype(groups)>>;
        constexpr int64_t acc_ld = GT * Q8_0X8_ROWS;
        const int8_t* w[GT];
        const uint16_t* wd[GT];
        fill_n(w, [&](int g) { return qs + groups[g] * blocks * q8_0x8_block_bytes; });
        fill_n(wd, [&](int g) { return scales + groups[g] * blocks * Q8_0X8_ROWS; });
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j0 = 0; j0 < blocks; j0 += panel)
            for (int b0 = 0; b0 < nb; b0 += q8_0_tile_vectors)
                with_count<q8_0_tile_vectors>(std::min(q8_0_tile_vectors, nb - b0), [&](auto count) {
                    constexpr int NB = decltype(count)::value;
                    q16_vectors::row_t xb[NB];
                    fill_n(xb, [&](int b) { return x.row(b0 + b); });
                    const int tile = b0 / q8_0_tile_vectors;
                    const int64_t ahead = tile < prefetching_tiles && panel < blocks ? panel * q8_0x8_block_bytes : 0;
                    q8_0x8_tile_steps<GT, NB>(w, wd, xb, j0, std::min(j0 + panel, blocks), &acc[b0 * acc_ld], acc_ld,
                                              ahead, tile, prefetching_tiles);
                });
        // Whole groups by vector stores: as 8 scalar stores per group and vector, to lines of y
        // not in cache, they took ~5% of the batch-16 samples of the Q8_0 kernels (perf).
        for (int g = 0; g < GT; ++g) {
            const int64_t first = groups[g] * Q8_0X8_ROWS;
            const bool whole = first >= r0 && first + Q8_0X8_ROWS <= r1;
            for (int b = 0; b < nb; ++b) {
                const float* a = &acc[b * acc_ld + g * Q8_0X8_ROWS];
                if (whole) _mm256_storeu_ps(y + b * ldy + first, _mm256_loadu_ps(a));
                else
                    for (int64_t r = std::max(first, r0); r < std::min(first + Q8_0X8_ROWS, r1); ++r)
                        y[b * ldy + r] = a[r - first];
            }
        }
    });
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

void pack_row_q8_0x8(const int8_t* q, const uint16_t* d, int64_t cols, int64_t r, int8_t* qs, uint16_t* scales) {
    const int64_t blocks = cols / Q8_0_BLOCK, g = r / Q8_0X8_ROWS, l = r % Q8_0X8_ROWS;
    for (int64_t j = 0; j < blocks; ++j) {
        // Group g's block j, as dequantize_rows_q8_0x8 reads it: row l's column pair p at 16 p + 2 l.
        int8_t* block = qs + (g * blocks + j) * q8_0x8_block_bytes;
        for (int p = 0; p < Q8_0_BLOCK / 2; ++p) std::memcpy(block + 16 * p + 2 * l, q + j * Q8_0_BLOCK + 2 * p, 2);
        scales[(g * blocks + j) * Q8_0X8_ROWS + l] = d[j];
    }
}

namespace {
// The 8 x 8 transpose of 16-bit elements: a[p] holds element p of every row, out[l] row l.
void transpose_8x8_epi16(const __m128i (&a)[8], __m128i (&out)[8]) {
    __m128i t[8], u[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm_unpacklo_epi16(a[2 * i], a[2 * i + 1]);
        t[2 * i + 1] = _mm_unpackhi_epi16(a[2 * i], a[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i)
        for (int h = 0; h < 2; ++h) {
            u[4 * i + 2 * h] = _mm_unpacklo_epi32(t[4 * i + h], t[4 * i + h + 2]);
            u[4 * i + 2 * h + 1] = _mm_unpackhi_epi32(t[4 * i + h], t[4 * i + h + 2]);
        }
    for (int i = 0; i < 4; ++i) {
        out[2 * i] = _mm_unpacklo_epi64(u[i], u[i + 4]);
        out[2 * i + 1] = _mm_unpackhi_epi64(u[i], u[i + 4]);
    }
}
} // namespace

void dequantize_rows_q8_0x8(const int8_t* qs, const uint16_t* scales, int64_t cols, int64_t r0, int64_t n,
                            float* out) {
    const int64_t blocks = cols / Q8_0_BLOCK;
    for (int64_t g = r0 / Q8_0X8_ROWS; g * Q8_0X8_ROWS < r0 + n; ++g) {
        const int64_t first = g * Q8_0X8_ROWS;
        const int l0 = (int)std::max<int64_t>(0, r0 - first), l1 = (int)std::min<int64_t>(Q8_0X8_ROWS, r0 + n - first);
        for (int64_t j = 0; j < blocks; ++j) {
            const int8_t* block = qs + (g * blocks + j) * q8_0x8_block_bytes;
            const uint16_t* d = scales + (g * blocks + j) * Q8_0X8_ROWS;
            // Pairs 0-7, then 8-15: after the transpose, row l's 16 bytes are columns 0-15 or 16-31.
            for (int half = 0; half < 2; ++half) {
                __m128i pairs[8], rows[8];
                for (int p = 0; p < 8; ++p) pairs[p] = _mm_loadu_si128((const __m128i*)(block + 16 * (8 * half + p)));
                transpose_8x8_epi16(pairs, rows);
                for (int l = l0; l < l1; ++l) {
                    const __m256 scale = _mm256_set1_ps(fp16_to_fp32(d[l]));
                    float* dst = out + (first + l - r0) * cols + j * Q8_0_BLOCK + 16 * half;
                    const __m256i lo = _mm256_cvtepi8_epi32(rows[l]), hi = _mm256_cvtepi8_epi32(_mm_srli_si128(rows[l], 8));
                    _mm256_storeu_ps(dst, _mm256_mul_ps(_mm256_cvtepi32_ps(lo), scale));
                    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(hi), scale));
                }
            }
        }
    }
}

q16_vectors quantize_vectors(const float* x, int64_t ldx, int nb, int64_t cols) {
    static thread_local std::vector<int16_t> qbuf; // reused: no page faults per call
    static thread_local std::vector<float> dbuf;
    const int64_t blocks = cols / Q8_0_BLOCK;
    qbuf.resize(std::max(qbuf.size(), (size_t)(nb * cols + 31)));
    dbuf.resize(std::max(dbuf.size(), (size_t)(nb * blocks)));
    int16_t* q = qbuf.data() + (32 - (uintptr_t)qbuf.data() / 2 % 32) % 32; // 64-byte aligned
    for (int b = 0; b < nb; ++b) quantize_row_q16(x + b * ldx, cols, q + b * cols, dbuf.data() + b * blocks);
    return {q, dbuf.data(), cols};
}

void matvec_q8_0(const int8_t* qs, const uint16_t* scales, const q16_vectors& xq, int nb, float* y, int64_t ldy,
                 int64_t r0, int64_t r1) {
    if (nb <= 0) return;
    // 4 groups at batch 1 (memory-bound: four streams to prefetch), else 2 (registers: G NB + G + 1).
    if (nb == 1) return matvec_q8_0_groups<4>(qs, scales, xq, nb, y, ldy, r0, r1);
    matvec_q8_0_groups<2>(qs, scales, xq, nb, y, ldy, r0, r1);
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
    const int64_t blocks = cols / Q8_0_BLOCK;
    std::vector<int16_t> xq(cols);
    std::vector<float> xd(blocks);
    for (int b = 0; b < nb; ++b) {
        quantize_row_q16(x + b * cols, cols, xq.data(), xd.data()); // checked against its definition in test_ops
        for (int64_t r = 0; r < rows; ++r) {
            float acc = 0.0f;
            for (int64_t j = 0; j < blocks; ++j) {
                int32_t s = 0;
                for (int64_t k = j * Q8_0_BLOCK; k < (j + 1) * Q8_0_BLOCK; ++k) s += qs[r * cols + k] * xq[k];
                acc = std::fma((float)s, fp16_to_fp32(scales[r * blocks + j]) * xd[j], acc);
            }
            y[b * rows + r] = acc;
        }
    }
}
