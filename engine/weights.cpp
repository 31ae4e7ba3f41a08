#include "engine/weights.h"

#include <cblas.h>
#include <dlfcn.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/ops.h"

int64_t weight_matrix::bytes() const {
    switch (type) {
    case WEIGHT_F32: return rows * cols * 4;
    case WEIGHT_BF16: return rows * cols * 2;
    case WEIGHT_Q8_0: return q8_0x8_padded_rows(rows) * (cols + cols / Q8_0_BLOCK * 2);
    }
    return 0;
}

bool weight_type_fits(weight_type type, int64_t cols) {
    return type != WEIGHT_Q8_0 || cols % Q8_0_BLOCK == 0;
}

namespace {
// An owned matrix of `type`, zeros (the padding rows of Q8_0 stay so), rows starting on a cache
// line: the kernels' 32-byte loads would otherwise straddle two lines every other time (malloc
// gives 16-byte alignment), which costs up to 20% at batch 16.
weight_matrix allocate(int64_t rows, int64_t cols, weight_type type) {
    if (!weight_type_fits(type, cols))
        throw std::invalid_argument("weight_matrix_build: Q8_0 needs a column count divisible by 32, got " +
                                    std::to_string(cols));
    weight_matrix w;
    w.type = type;
    w.rows = rows;
    w.cols = cols;
    constexpr size_t line = 64;
    w.storage.resize((size_t)w.bytes() + line - 1);
    uint8_t* base = w.storage.data() + (line - (uintptr_t)w.storage.data() % line) % line;
    switch (type) {
    case WEIGHT_F32: w.f32 = (const float*)base; break;
    case WEIGHT_BF16: w.bf16 = (const uint16_t*)base; break;
    case WEIGHT_Q8_0:
        w.q8 = (const int8_t*)base;
        w.q8_scales = (const uint16_t*)(base + q8_0x8_padded_rows(rows) * cols);
        break;
    }
    return w;
}
} // namespace

weight_matrix weight_matrix_build_q8_0(int64_t rows, int64_t cols,
                                       const std::function<void(int64_t, int8_t*, uint16_t*)>& fill_row) {
    weight_matrix w = allocate(rows, cols, WEIGHT_Q8_0);
    parallel_for(rows, 10 * cols, [&](int64_t r0, int64_t r1) {
        std::vector<int8_t> q(cols);
        std::vector<uint16_t> d(cols / Q8_0_BLOCK);
        for (int64_t r = r0; r < r1; ++r) {
            fill_row(r, q.data(), d.data());
            pack_row_q8_0x8(q.data(), d.data(), cols, r, (int8_t*)w.q8, (uint16_t*)w.q8_scales);
        }
    });
    return w;
}

weight_matrix weight_matrix_build(int64_t rows, int64_t cols, weight_type type,
                                  const std::function<void(int64_t, float*)>& fill_row) {
    if (type == WEIGHT_Q8_0)
        return weight_matrix_build_q8_0(rows, cols, [&](int64_t r, int8_t* q, uint16_t* d) {
            static thread_local std::vector<float> row;
            row.resize(cols);
            fill_row(r, row.data());
            quantize_row_q8_0(row.data(), cols, q, d);
        });
    weight_matrix w = allocate(rows, cols, type);
    parallel_for(rows, 10 * cols, [&](int64_t r0, int64_t r1) {
        std::vector<float> row(cols);
        for (int64_t r = r0; r < r1; ++r) {
            if (type == WEIGHT_F32) {
                fill_row(r, (float*)w.f32 + r * cols);
            } else {
                fill_row(r, row.data());
                convert_row_bf16(row.data(), cols, (uint16_t*)w.bf16 + r * cols);
            }
        }
    });
    return w;
}

weight_matrix weight_matrix_borrow(weight_type type, const void* data, int64_t rows, int64_t cols) {
    if (type == WEIGHT_Q8_0)
        throw std::invalid_argument("weight_matrix_borrow: Q8_0 is kept in the q8_0x8 layout, not a file's");
    weight_matrix w;
    w.type = type;
    w.rows = rows;
    w.cols = cols;
    if (type == WEIGHT_F32) w.f32 = (const float*)data;
    else w.bf16 = (const uint16_t*)data;
    return w;
}

void weight_rows(const weight_matrix& w, int64_t r0, int64_t n, float* out) {
    switch (w.type) {
    case WEIGHT_F32: std::copy(w.f32 + r0 * w.cols, w.f32 + (r0 + n) * w.cols, out); break;
    case WEIGHT_BF16:
        for (int64_t r = 0; r < n; ++r) dequantize_row_bf16(w.bf16 + (r0 + r) * w.cols, w.cols, out + r * w.cols);
        break;
    case WEIGHT_Q8_0: dequantize_rows_q8_0x8(w.q8, w.q8_scales, w.cols, r0, n, out); break;
    }
}

void weight_matvecs(std::initializer_list<weight_product> products, const float* x, int nb) {
    if (nb <= 0 || products.size() == 0) return;
    const weight_product* p = products.begin();
    const int n = (int)products.size();
    const int64_t cols = p[0].w->cols;
    // Chunks of 16 rows keep every thread's tiles whole; the split never changes any result.
    constexpr int64_t chunk = 16;
    std::vector<int64_t> first_chunk(n + 1, 0); // matrix i has chunks [first_chunk[i], first_chunk[i + 1])
    bool any_q8_0 = false;
    for (int i = 0; i < n; ++i) {
        if (p[i].w->cols != cols)
            throw std::invalid_argument("weight_matvecs: matrices with " + std::to_string(cols) + " and " +
                                        std::to_string(p[i].w->cols) + " columns");
        any_q8_0 |= p[i].w->type == WEIGHT_Q8_0;
        first_chunk[i + 1] = first_chunk[i] + (p[i].w->rows + chunk - 1) / chunk;
    }
    // Q8_0's inputs are quantized once, here; the workers read this thread's buffer.
    const q16_vectors xq = any_q8_0 ? quantize_vectors(x, cols, nb, cols) : q16_vectors{};
    parallel_for(first_chunk[n], chunk * cols * nb, [&](int64_t c0, int64_t c1) {
        for (int i = 0; i < n; ++i) {
            const int64_t a = std::max(c0, first_chunk[i]), b = std::min(c1, first_chunk[i + 1]);
            if (a >= b) continue;
            const weight_matrix& w = *p[i].w;
            float* y = p[i].y;
            const int64_t r0 = (a - first_chunk[i]) * chunk, r1 = std::min(w.rows, (b - first_chunk[i]) * chunk);
            switch (w.type) {
            case WEIGHT_F32: matvec_f32(w.f32, cols, x, cols, nb, y, w.rows, r0, r1); break;
            case WEIGHT_BF16: matvec_bf16(w.bf16, cols, x, cols, nb, y, w.rows, r0, r1); break;
            case WEIGHT_Q8_0: matvec_q8_0(w.q8, w.q8_scales, xq, nb, y, w.rows, r0, r1); break;
            }
        }
    });
}

void weight_matvec(const weight_matrix& w, const float* x, int nb, float* y) { weight_matvecs({{&w, y}}, x, nb); }

void blas_single_thread() {
    // Looked up at run time: the BLAS linked may be another implementation.
    using get_fn = int (*)();
    using set_fn = void (*)(int);
    static const auto get = (get_fn)dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    static const auto set = (set_fn)dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (get && set && get() != 1) set(1);
}

void weight_gemm(const weight_matrix& w, const float* x, int64_t n, float* y) {
    blas_single_thread();
    const int64_t slices = (w.rows + gemm_slice_rows - 1) / gemm_slice_rows;
    parallel_for(slices, [&](int64_t s0, int64_t s1) {
        static thread_local std::vector<float> dequantized; // reused: no page faults per call
        for (int64_t s = s0; s < s1; ++s) {
            const int64_t r0 = s * gemm_slice_rows, nr = std::min(gemm_slice_rows, w.rows - r0);
            const float* slice = w.type == WEIGHT_F32 ? w.f32 + r0 * w.cols : nullptr;
            if (!slice) {
                dequantized.resize((size_t)(gemm_slice_rows * w.cols));
                weight_rows(w, r0, nr, dequantized.data());
                slice = dequantized.data();
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)nr, (int)w.cols, 1.0f, x, (int)w.cols,
                        slice, (int)w.cols, 0.0f, y + r0, (int)w.rows);
        }
    });
}
