// Run-time weight matrices: F32, BF16 or Q8_0, [rows][cols] row-major (y = W x), either owned or
// pointing straight into a memory-mapped file. Decoding uses the batched kernels of ops.h,
// prefill uses OpenBLAS sgemm in slices of rows (dequantized first for BF16 / Q8_0).
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "engine/model.h"

struct weight_matrix {
    weight_type type = WEIGHT_F32;
    int64_t rows = 0;
    int64_t cols = 0;
    const float* f32 = nullptr;          // [rows][cols] when F32
    const uint16_t* bf16 = nullptr;      // [rows][cols] when BF16
    const int8_t* q8 = nullptr;          // [rows padded to 8][cols] when Q8_0, q8_0x8 layout (ops.h)
    const uint16_t* q8_scales = nullptr; // [rows padded to 8][cols/32] fp16 when Q8_0, q8_0x8 layout
    std::vector<uint8_t> storage;        // owned bytes; empty when the data is borrowed

    weight_matrix() = default;
    weight_matrix(weight_matrix&&) = default; // moving keeps the storage buffer, so pointers stay valid
    weight_matrix& operator=(weight_matrix&&) = default;
    weight_matrix(const weight_matrix&) = delete;
    weight_matrix& operator=(const weight_matrix&) = delete;

    int64_t bytes() const; // bytes streamed by one pass over the matrix
};

// True when `type` can hold a matrix with `cols` columns (Q8_0 needs a multiple of 32).
bool weight_type_fits(weight_type type, int64_t cols);

// Builds an owned matrix of `type`; fill_row(r, out) writes row r as floats (called from several
// threads at once). Requires weight_type_fits(type, cols).
weight_matrix weight_matrix_build(int64_t rows, int64_t cols, weight_type type,
                                  const std::function<void(int64_t row, float* out)>& fill_row);
// Builds an owned Q8_0 matrix from rows already in Q8_0: fill_row(r, q, d) writes row r's values
// q[cols] and fp16 scales d[cols/32] (called from several threads at once); nothing is rounded.
weight_matrix weight_matrix_build_q8_0(int64_t rows, int64_t cols,
                                       const std::function<void(int64_t row, int8_t* q, uint16_t* d)>& fill_row);
// Borrows an F32 or BF16 matrix (no copy); the caller keeps `data` alive.
weight_matrix weight_matrix_borrow(weight_type type, const void* data, int64_t rows, int64_t cols);

// Rows [r0, r0 + n) as floats: out [n][cols].
void weight_rows(const weight_matrix& w, int64_t r0, int64_t n, float* out);

// y[b] = W x[b] for b < nb: x is [nb][cols], y is [nb][rows]. Own kernels, both cores; each
// output's summation order is independent of nb and of the thread count.
void weight_matvec(const weight_matrix& w, const float* x, int nb, float* y);
// Several products of the same inputs (Q, K and V; gate and up), each as weight_matvec computes it:
// the inputs are quantized once (Q8_0) and the rows of all matrices share one parallel_for.
// All matrices have the same number of columns.
struct weight_product {
    const weight_matrix* w;
    float* y; // [nb][w->rows]
};
void weight_matvecs(std::initializer_list<weight_product> products, const float* x, int nb);

// y = x W^T for many rows: x is [n][cols], y is [n][rows]. OpenBLAS sgemm in fixed slices of
// gemm_slice_rows weight rows, one single-threaded call each, spread over our threads (a BF16 or
// Q8_0 slice is dequantized first by the thread that multiplies it, into a buffer of its own that
// stays in its cache). The slices do not depend on the thread count, so neither does y (OpenBLAS's
// own threading changes its blocking, hence the sums), and no OpenBLAS thread spins in sched_yield
// while ours work (10% of a BF16 prefill's samples when both pools took turns).
constexpr int64_t gemm_slice_rows = 256;
void weight_gemm(const weight_matrix& w, const float* x, int64_t n, float* y);

// Makes OpenBLAS run single-threaded (in the calling thread) from now on; the engine's GEMMs split
// their work over its own threads instead. Cheap when already so.
void blas_single_thread();
