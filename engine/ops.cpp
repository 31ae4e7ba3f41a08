#include "engine/ops.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

// ---- threads ------------------------------------------------------------------------------------

namespace {

// Persistent workers woken per job; a job is one parallel_for call. Workers sleep on a condition
// variable (never spin) because several MPI ranks may share the two cores. Calls from several
// threads are serialised; a call from inside a job runs inline (the workers are busy).
thread_local bool inside_job = false;

struct thread_pool {
    std::vector<std::thread> workers;
    std::mutex run_mutex; // one job at a time
    std::mutex mutex;
    std::condition_variable wake;
    std::condition_variable done;
    const std::function<void(int64_t, int64_t)>* job = nullptr;
    int64_t job_n = 0;
    int job_parts = 0;
    uint64_t generation = 0;
    int pending = 0;
    bool stop = false;

    explicit thread_pool(int n_threads) {
        for (int t = 1; t < n_threads; ++t) workers.emplace_back([this, t] { worker_loop(t); });
    }
    ~thread_pool() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            stop = true;
        }
        wake.notify_all();
        for (std::thread& w : workers) w.join();
    }
    int size() const { return (int)workers.size() + 1; }

    static void run_part(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int parts, int t) {
        const int64_t begin = n * t / parts, end = n * (t + 1) / parts;
        inside_job = true;
        if (begin < end) fn(begin, end);
        inside_job = false;
    }

    void worker_loop(int t) {
        uint64_t seen = 0;
        for (;;) {
            const std::function<void(int64_t, int64_t)>* fn;
            int64_t n;
            int parts;
            {
                std::unique_lock<std::mutex> lock(mutex);
                wake.wait(lock, [&] { return stop || generation != seen; });
                if (stop) return;
                seen = generation;
                fn = job;
                n = job_n;
                parts = job_parts;
            }
            if (t < parts) run_part(*fn, n, parts, t);
            std::lock_guard<std::mutex> lock(mutex);
            if (--pending == 0) done.notify_one();
        }
    }

    void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
        const int parts = (int)std::min<int64_t>(size(), n);
        if (parts <= 1 || inside_job) {
            if (n > 0) fn(0, n);
            return;
        }
        std::lock_guard<std::mutex> one_job(run_mutex);
        {
            std::lock_guard<std::mutex> lock(mutex);
            job = &fn;
            job_n = n;
            job_parts = parts;
            pending = (int)workers.size();
            ++generation;
        }
        wake.notify_all();
        run_part(fn, n, parts, 0);
        std::unique_lock<std::mutex> lock(mutex);
        done.wait(lock, [&] { return pending == 0; });
    }
};

int default_threads() {
    if (const char* env = std::getenv("KVSWEEP_THREADS")) {
        const int n = std::atoi(env);
        if (n > 0) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

std::unique_ptr<thread_pool>& pool_slot() {
    static std::unique_ptr<thread_pool> pool;
    return pool;
}

thread_pool& pool() {
    std::unique_ptr<thread_pool>& p = pool_slot();
    if (!p) p = std::make_unique<thread_pool>(default_threads());
    return *p;
}

} // namespace

int ops_n_threads() { return pool().size(); }

void ops_set_n_threads(int n) { pool_slot() = std::make_unique<thread_pool>(std::max(1, n)); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) { pool().run(n, fn); }

void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)>& fn) {
    constexpr int64_t min_parallel_cost = 1 << 17;
    if (n * cost_per_item < min_parallel_cost) {
        if (n > 0) fn(0, n);
        return;
    }
    pool().run(n, fn);
}

// ---- number formats ------------------------------------------------------------------------------

uint16_t fp32_to_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                              // nearest even
    return (uint16_t)(u >> 16);
}

float bf16_to_fp32(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

uint16_t fp32_to_fp16(float x) { return _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT); }

float fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }

void quantize_row_q8_0(const float* x, int64_t n, int8_t* qs, uint16_t* scales) {
    for (int64_t b = 0; b < n / Q8_0_BLOCK; ++b) {
        const float* xb = x + b * Q8_0_BLOCK;
        float amax = 0.0f;
        for (int i = 0; i < Q8_0_BLOCK; ++i) amax = std::max(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        scales[b] = fp32_to_fp16(d);
        for (int i = 0; i < Q8_0_BLOCK; ++i) qs[b * Q8_0_BLOCK + i] = (int8_t)std::lround(xb[i] * id);
    }
}

void dequantize_row_q8_0(const int8_t* qs, const uint16_t* scales, int64_t n, float* out) {
    for (int64_t b = 0; b < n / Q8_0_BLOCK; ++b) {
        const float d = fp16_to_fp32(scales[b]);
        for (int i = 0; i < Q8_0_BLOCK; ++i) out[b * Q8_0_BLOCK + i] = d * (float)qs[b * Q8_0_BLOCK + i];
    }
}

void convert_row_bf16(const float* x, int64_t n, uint16_t* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = fp32_to_bf16(x[i]);
}

void dequantize_row_bf16(const uint16_t* x, int64_t n, float* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_fp32(x[i]);
}

// ---- vector ops ---------------------------------------------------------------------------------

namespace {
// Horizontal sum in a fixed tree order.
inline float hsum8(__m256 v) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    const __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    return _mm_cvtss_f32(s1);
}
} // namespace

float dot_f32(const float* a, const float* b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), acc1);
    }
    for (; k + 8 <= n; k += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc0);
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; k < n; ++k) s += a[k] * b[k];
    return s;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(y + k, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k)));
    for (; k < n; ++k) y[k] += a * x[k];
}

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
    const float ss = dot_f32(x, x, n) / (float)n;
    const float scale = 1.0f / std::sqrt(ss + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (scale * x[i]);
}

void softmax_inplace(float* x, int64_t n) {
    float mx = x[0];
    for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

// ---- batched matrix-vector kernels -----------------------------------------------------------------
// Each kernel processes a tile of R rows x NB vectors: the weight chunk is loaded (and converted)
// once per tile and reused for the NB vectors, so at batch B the weights stream from memory once
// and are re-read from cache B/NB times. Every (row, vector) pair has its own accumulator chain,
// identical whatever R and NB, which is what makes results independent of the batch.
// The unroll pragmas matter: without full unrolling (-O2) the accumulators live on the stack.

namespace {

// Weight loaders: 8 consecutive weights of a row as floats.
struct load_f32 {
    using elem = float;
    static __m256 at(const float* row, int64_t k) { return _mm256_loadu_ps(row + k); }
    static float scalar(const float* row, int64_t k) { return row[k]; }
};
struct load_bf16 {
    using elem = uint16_t;
    static __m256 at(const uint16_t* row, int64_t k) {
        const __m128i h = _mm_loadu_si128((const __m128i*)(row + k));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static float scalar(const uint16_t* row, int64_t k) { return bf16_to_fp32(row[k]); }
};

// acc[i][b] += W[r+i][k..k+8) * x[b][k..k+8) over k in steps of 8, then a scalar tail. Row and
// input pointers are set up front so the loop needs one index (keeps general registers free).
template <int R, int NB, typename Load>
inline void tile_dense(const typename Load::elem* w, int64_t cols, const float* x, int64_t ldx, float* y,
                       int64_t ldy, int64_t r) {
    const typename Load::elem* wr[R];
    const float* xb[NB];
    __m256 acc[R][NB];
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) wr[i] = w + (r + i) * cols;
#pragma GCC unroll 8
    for (int b = 0; b < NB; ++b) xb[b] = x + b * ldx;
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b) acc[i][b] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
        __m256 wv[R];
#pragma GCC unroll 8
        for (int i = 0; i < R; ++i) wv[i] = Load::at(wr[i], k);
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b) {
            const __m256 xv = _mm256_loadu_ps(xb[b] + k);
#pragma GCC unroll 8
            for (int i = 0; i < R; ++i) acc[i][b] = _mm256_fmadd_ps(wv[i], xv, acc[i][b]);
        }
    }
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b) {
            float s = hsum8(acc[i][b]);
            for (int64_t t = k; t < cols; ++t) s += Load::scalar(wr[i], t) * xb[b][t];
            y[b * ldy + r + i] = s;
        }
}

// Register budget (16 ymm): R*NB accumulators + R weights + 1 input.
template <int NB> constexpr int dense_rows() { return NB <= 2 ? 4 : 3; }

template <int NB, typename Load>
void rows_dense(const typename Load::elem* w, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy,
                int64_t r0, int64_t r1) {
    constexpr int R = dense_rows<NB>();
    int64_t r = r0;
    for (; r + R <= r1; r += R) tile_dense<R, NB, Load>(w, cols, x, ldx, y, ldy, r);
    for (; r < r1; ++r) tile_dense<1, NB, Load>(w, cols, x, ldx, y, ldy, r);
}

// Walks the rows in blocks small enough to stay in L2 and, within a block, the batch in groups of
// at most 4 vectors: each weight is read from memory once per call whatever the batch size.
template <typename Rows>
void for_row_blocks_and_groups(int nb, int64_t r0, int64_t r1, const Rows& rows) {
    constexpr int64_t block_rows = 16;
    for (int64_t a = r0; a < r1; a += block_rows) {
        const int64_t e = std::min(r1, a + block_rows);
        int b = 0;
        for (; b + 4 <= nb; b += 4) rows(std::integral_constant<int, 4>{}, b, a, e);
        switch (nb - b) {
        case 3: rows(std::integral_constant<int, 3>{}, b, a, e); break;
        case 2: rows(std::integral_constant<int, 2>{}, b, a, e); break;
        case 1: rows(std::integral_constant<int, 1>{}, b, a, e); break;
        default: break;
        }
    }
}

template <typename Load>
void matvec_dense(const typename Load::elem* w, int64_t cols, const float* x, int64_t ldx, int nb, float* y,
                  int64_t ldy, int64_t r0, int64_t r1) {
    for_row_blocks_and_groups(nb, r0, r1, [&](auto group, int b, int64_t a, int64_t e) {
        rows_dense<decltype(group)::value, Load>(w, cols, x + b * ldx, ldx, y + b * ldy, ldy, a, e);
    });
}

// Q8_0: per block j, s = sum of the 4 chunk products (fixed chain), then acc = fma(d_j, s, acc).
template <int R, int NB>
inline void tile_q8_0(const int8_t* qs, const uint16_t* scales, int64_t cols, const float* x,
                      int64_t ldx, float* y, int64_t ldy, int64_t r) {
    const int64_t nblocks = cols / Q8_0_BLOCK;
    __m256 acc[R][NB];
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b) acc[i][b] = _mm256_setzero_ps();
    for (int64_t j = 0; j < nblocks; ++j) {
        const int64_t k = j * Q8_0_BLOCK;
#pragma GCC unroll 8
        for (int i = 0; i < R; ++i) {
            const int8_t* q = qs + (r + i) * cols + k;
            __m256 wv[4];
#pragma GCC unroll 4
            for (int c = 0; c < 4; ++c)
                wv[c] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(q + 8 * c))));
            const __m256 d = _mm256_set1_ps(fp16_to_fp32(scales[(r + i) * nblocks + j]));
#pragma GCC unroll 8
            for (int b = 0; b < NB; ++b) {
                const float* xb = x + b * ldx + k;
                __m256 s = _mm256_mul_ps(wv[0], _mm256_loadu_ps(xb));
                s = _mm256_fmadd_ps(wv[1], _mm256_loadu_ps(xb + 8), s);
                s = _mm256_fmadd_ps(wv[2], _mm256_loadu_ps(xb + 16), s);
                s = _mm256_fmadd_ps(wv[3], _mm256_loadu_ps(xb + 24), s);
                acc[i][b] = _mm256_fmadd_ps(d, s, acc[i][b]);
            }
        }
    }
    for (int i = 0; i < R; ++i)
        for (int b = 0; b < NB; ++b) y[b * ldy + r + i] = hsum8(acc[i][b]);
}

template <int NB>
void rows_q8_0(const int8_t* qs, const uint16_t* scales, int64_t cols, const float* x, int64_t ldx,
               float* y, int64_t ldy, int64_t r0, int64_t r1) {
    constexpr int R = NB <= 2 ? 2 : 1;
    int64_t r = r0;
    for (; r + R <= r1; r += R) tile_q8_0<R, NB>(qs, scales, cols, x, ldx, y, ldy, r);
    for (; r < r1; ++r) tile_q8_0<1, NB>(qs, scales, cols, x, ldx, y, ldy, r);
}

} // namespace

void matvec_f32(const float* w, int64_t cols, const float* x, int64_t ldx, int nb, float* y,
                int64_t ldy, int64_t r0, int64_t r1) {
    matvec_dense<load_f32>(w, cols, x, ldx, nb, y, ldy, r0, r1);
}

void matvec_bf16(const uint16_t* w, int64_t cols, const float* x, int64_t ldx, int nb, float* y,
                 int64_t ldy, int64_t r0, int64_t r1) {
    matvec_dense<load_bf16>(w, cols, x, ldx, nb, y, ldy, r0, r1);
}

void matvec_q8_0(const int8_t* qs, const uint16_t* scales, int64_t cols, const float* x, int64_t ldx,
                 int nb, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    for_row_blocks_and_groups(nb, r0, r1, [&](auto group, int b, int64_t a, int64_t e) {
        rows_q8_0<decltype(group)::value>(qs, scales, cols, x + b * ldx, ldx, y + b * ldy, ldy, a, e);
    });
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

void matvec_q8_0_ref(const int8_t* qs, const uint16_t* scales, int64_t rows, int64_t cols,
                     const float* x, int nb, float* y) {
    matvec_ref(
        [&](int64_t r, int64_t k) {
            return fp16_to_fp32(scales[r * (cols / Q8_0_BLOCK) + k / Q8_0_BLOCK]) * (float)qs[r * cols + k];
        },
        rows, cols, x, nb, y);
}
