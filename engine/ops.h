// CPU kernels of the engine: a small thread pool, number formats (BF16, FP16, Q8_0), vector ops
// and the batched matrix-vector kernels used by decoding.
//
// Determinism contract: every output element of a kernel is computed by one thread, in an order
// that depends only on the element's own inputs (never on the batch size, the batch companions
// or the thread count). The decode path relies on this to give bitwise identical tokens for a
// sequence whether it runs alone or in a batch.
#pragma once
#include <cstdint>
#include <functional>

// ---- threads ------------------------------------------------------------------------------------

// Threads used by parallel_for: KVSWEEP_THREADS if set, else the hardware concurrency.
int ops_n_threads();
void ops_set_n_threads(int n);
// Splits [0, n) into one contiguous chunk per thread and runs fn(begin, end) on each; returns
// when all are done. The calling thread takes the first chunk.
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);
// The same, but on the calling thread alone when the job is small (n * cost_per_item below about
// 2^17 operations): waking the workers would cost more than the work (tiny models, batch 1).
void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t begin, int64_t end)>& fn);

// ---- number formats ------------------------------------------------------------------------------

constexpr int Q8_0_BLOCK = 32; // ggml's Q8_0: blocks of 32 int8 sharing one fp16 scale

uint16_t fp32_to_bf16(float x); // round to nearest even; NaN stays NaN
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float x); // round to nearest even (F16C)
float fp16_to_fp32(uint16_t h);

// Q8_0 as ggml: d = max|x| / 127 stored as fp16, q = round(x / d). n must be a multiple of 32.
void quantize_row_q8_0(const float* x, int64_t n, int8_t* qs, uint16_t* scales);
void dequantize_row_q8_0(const int8_t* qs, const uint16_t* scales, int64_t n, float* out);
// Q8_0 matrices as the engine keeps them, "q8_0x8" (after ggml's repacked layouts): rows in groups
// of 8, the last group padded with zero rows. Group g's block j (columns 32j .. 32j + 31) is 256
// bytes at qs + (g * cols / 32 + j) * 256: for each column pair p < 16, rows 8g .. 8g + 7 in turn,
// each with its columns 32j + 2p and 32j + 2p + 1. Its 8 fp16 scales, one per row, follow the same
// order at scales + (g * cols / 32 + j) * 8. Widened to int16, 16 such bytes times one input pair
// broadcast is a single madd giving one lane per row, so a block needs one conversion and one
// scaling per 8 rows instead of per row.
constexpr int Q8_0X8_ROWS = 8;
inline int64_t q8_0x8_groups(int64_t rows) { return (rows + Q8_0X8_ROWS - 1) / Q8_0X8_ROWS; }
inline int64_t q8_0x8_padded_rows(int64_t rows) { return q8_0x8_groups(rows) * Q8_0X8_ROWS; } // rows stored
// Stores row r, given as Q8_0 (qs [cols], scales [cols/32]), into a q8_0x8 matrix.
void pack_row_q8_0x8(const int8_t* q, const uint16_t* d, int64_t cols, int64_t r, int8_t* qs, uint16_t* scales);
// Rows [r0, r0 + n) of a q8_0x8 matrix as floats: out [n][cols], each row bitwise
// dequantize_row_q8_0 of the packed row. A group's block is read once for its 8 rows.
void dequantize_rows_q8_0x8(const int8_t* qs, const uint16_t* scales, int64_t cols, int64_t r0, int64_t n,
                            float* out);
// Decode's inputs for Q8_0 weights: blocks of 32 int16 sharing one float scale, d = max|x| / 32767,
// q = x / d rounded to nearest even (lrint). n must be a multiple of 32.
void quantize_row_q16(const float* x, int64_t n, int16_t* qs, float* scales);
void convert_row_bf16(const float* x, int64_t n, uint16_t* out);
void dequantize_row_bf16(const uint16_t* x, int64_t n, float* out);
void dequantize_row_f16(const uint16_t* x, int64_t n, float* out); // bitwise fp16_to_fp32 (F16C)

// ---- vector ops ---------------------------------------------------------------------------------

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);
void softmax_inplace(float* x, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n); // fixed summation order
// Decode attention, nq queries (a [nq][lda]: the query heads sharing a KV head) at once:
// out[h][j] = dot_f32(a + h * lda, rows + j * ld, n) * scale for j < n_rows, bitwise (out [nq][ldo]).
void dot_rows_f32(const float* a, int64_t lda, int nq, const float* rows, int64_t ld, int64_t n_rows, int64_t n,
                  float scale, float* out, int64_t ldo);
// out[h][k] = sum over j < n_rows of w[h][j] * rows[j * ld + k] (w [nq][ldw], out [nq][ldo]), one
// fused multiply-add per row in order j = 0, 1, ... from 0.
void weighted_sum_f32(const float* w, int64_t ldw, int nq, const float* rows, int64_t ld, int64_t n_rows,
                      int64_t n, float* out, int64_t ldo);
void swiglu(float* gate, const float* up, int64_t n); // gate = silu(gate) * up, elementwise

// ---- batched matrix-vector kernels (ops_matvec.cpp) ------------------------------------------------
// y[b][r] = sum_k W[r][k] * x[b][k] for b < nb and rows r in [r0, r1). W is [rows][cols] row-major;
// x is [nb][ldx], y is [nb][ldy]. Each (r, b) dot product uses the same summation order whatever nb
// and the row range, and BF16 gives bitwise the F32 result on the dequantized weights.

void matvec_f32(const float* w, int64_t cols, const float* x, int64_t ldx, int nb, float* y,
                int64_t ldy, int64_t r0, int64_t r1);
void matvec_bf16(const uint16_t* w, int64_t cols, const float* x, int64_t ldx, int nb, float* y,
                 int64_t ldy, int64_t r0, int64_t r1);
// Q8_0 inputs: nb vectors (x is [nb][ldx]) quantized by quantize_row_q16, once per product
// rather than once per row range. Vector b's values are at q + b * cols (64-byte aligned), its
// scales at d + b * cols / 32. The storage is the calling thread's, reused by its next call.
struct q16_vectors {
    const int16_t* q;
    const float* d;
    int64_t cols;
    struct row_t {
        const int16_t* q;
        const float* d;
    };
    row_t row(int b) const { return {q + b * cols, d + b * (cols / Q8_0_BLOCK)}; }
};
q16_vectors quantize_vectors(const float* x, int64_t ldx, int nb, int64_t cols);
// Q8_0: qs and scales in the q8_0x8 layout, x.cols columns (a multiple of 32). Each block's product
// is an exact integer dot, converted to float and scaled by d_w * d_x (see matvec_q8_0_ref).
void matvec_q8_0(const int8_t* qs, const uint16_t* scales, const q16_vectors& x, int nb, float* y, int64_t ldy,
                 int64_t r0, int64_t r1);

// Naive references for the consistency tests: double accumulation for F32 / BF16; for Q8_0, plain
// scalar code of its definition on row-major weights (qs [rows][cols], scales [rows][cols/32]),
// which the kernel matches bitwise.
void matvec_f32_ref(const float* w, int64_t rows, int64_t cols, const float* x, int nb, float* y);
void matvec_bf16_ref(const uint16_t* w, int64_t rows, int64_t cols, const float* x, int nb, float* y);
void matvec_q8_0_ref(const int8_t* qs, const uint16_t* scales, int64_t rows, int64_t cols,
                     const float* x, int nb, float* y);
