// model_load: builds the run-time model from an opened model file (GGUF or Hugging Face folder).
// Matrices are converted to the requested run-time type; F32 and BF16 matrices wanted as such are
// used in place, straight from the memory mapping.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "engine/model_file.h"
#include "engine/model_internal.h"
#include "engine/ops.h"

namespace {

int64_t row_bytes(tensor_dtype dtype, int64_t cols) {
    switch (dtype) {
    case DTYPE_F32: return cols * 4;
    case DTYPE_F16:
    case DTYPE_BF16: return cols * 2;
    case DTYPE_Q8_0: return cols / Q8_0_BLOCK * (2 + Q8_0_BLOCK);
    }
    return 0;
}

// Columns [c0, c0 + n) (whole blocks) of row r of a ggml Q8_0 tensor with `cols` columns, as
// stored: values q[n] and fp16 scales d[n / 32].
void tensor_row_q8_0(const tensor_view& t, int64_t r, int64_t cols, int64_t c0, int64_t n, int8_t* q, uint16_t* d) {
    const uint8_t* src = t.data + r * row_bytes(t.dtype, cols) + c0 / Q8_0_BLOCK * (2 + Q8_0_BLOCK);
    for (int64_t b = 0; b < n / Q8_0_BLOCK; ++b) {
        const uint8_t* blk = src + b * (2 + Q8_0_BLOCK);
        std::memcpy(d + b, blk, 2);
        std::memcpy(q + b * Q8_0_BLOCK, blk + 2, Q8_0_BLOCK);
    }
}

// Columns [c0, c0 + n) of row r of a tensor with `cols` columns, as floats. Only those columns'
// bytes (for Q8_0, their blocks) are read, so a tensor-parallel rank touches only its slice of the
// mapping. File data may be unaligned: 16-bit values are copied to an aligned buffer before the
// vectorised conversion (every weight of a model passes through here; element by element, loading
// a 308M-parameter BF16 folder took 0.90 s, now 0.44-0.49 s).
void tensor_row(const tensor_view& t, int64_t r, int64_t cols, int64_t c0, int64_t n, float* out) {
    const uint8_t* src = t.data + r * row_bytes(t.dtype, cols);
    static thread_local std::vector<uint16_t> halves, scales;
    static thread_local std::vector<int8_t> q8;
    static thread_local std::vector<float> blocks;
    switch (t.dtype) {
    case DTYPE_F32: std::memcpy(out, src + c0 * 4, n * 4); break;
    case DTYPE_F16:
    case DTYPE_BF16:
        halves.resize(n);
        std::memcpy(halves.data(), src + 2 * c0, n * 2);
        if (t.dtype == DTYPE_F16) dequantize_row_f16(halves.data(), n, out);
        else dequantize_row_bf16(halves.data(), n, out);
        break;
    case DTYPE_Q8_0: {
        // The whole blocks covering the columns, then the columns asked for.
        const int64_t k0 = c0 / Q8_0_BLOCK * Q8_0_BLOCK, k1 = (c0 + n + Q8_0_BLOCK - 1) / Q8_0_BLOCK * Q8_0_BLOCK;
        q8.resize(k1 - k0);
        scales.resize((k1 - k0) / Q8_0_BLOCK);
        blocks.resize(k1 - k0);
        tensor_row_q8_0(t, r, cols, k0, k1 - k0, q8.data(), scales.data());
        dequantize_row_q8_0(q8.data(), scales.data(), k1 - k0, blocks.data());
        std::copy_n(blocks.begin() + (c0 - k0), n, out);
        break;
    }
    }
}

// Checks that the view holds exactly `shape` with a readable byte count.
void check_view(const model_file& f, const tensor_view& t, const std::vector<int64_t>& shape) {
    if (t.shape != shape) {
        std::string want, got;
        for (int64_t d : shape) want += (want.empty() ? "" : "x") + std::to_string(d);
        for (int64_t d : t.shape) got += (got.empty() ? "" : "x") + std::to_string(d);
        throw std::runtime_error(f.path + ": tensor " + t.name + " has shape " + got + ", expected " + want);
    }
    const int64_t cols = shape.back(), rows = shape.size() == 2 ? shape[0] : 1;
    if (t.dtype == DTYPE_Q8_0 && cols % Q8_0_BLOCK != 0)
        throw std::runtime_error(f.path + ": Q8_0 tensor " + t.name + " has rows not divisible by 32");
    if ((int64_t)t.bytes < rows * row_bytes(t.dtype, cols) || !t.data)
        throw std::runtime_error(f.path + ": tensor " + t.name + " holds fewer bytes than its shape needs");
}

// The slot's block of its tensor (the whole tensor on one rank).
weight_matrix load_matrix(const model_file& f, const matrix_slot& s, weight_type requested) {
    const tensor_view& t = f.get(s.name);
    check_view(f, t, {s.full_rows, s.full_cols});
    const weight_type type = model_matrix_type(requested, s.cols);
    // A block of whole F32 or BF16 rows wanted as such is used in place, straight from the mapping:
    // nothing to convert, and processes of a node reading the same file share its pages.
    const int64_t elem = type == WEIGHT_F32 ? 4 : 2;
    const bool same = (type == WEIGHT_F32 && t.dtype == DTYPE_F32) || (type == WEIGHT_BF16 && t.dtype == DTYPE_BF16);
    if (same && s.cols == s.full_cols && (uintptr_t)t.data % elem == 0)
        return weight_matrix_borrow(type, t.data + s.row_begin * s.full_cols * elem, s.rows, s.cols);
    // Q8_0 blocks wanted as Q8_0 are only rearranged: quantizing their dequantized values again
    // would change the blocks whose largest |q| is not 127.
    if (type == WEIGHT_Q8_0 && t.dtype == DTYPE_Q8_0 && s.col_begin % Q8_0_BLOCK == 0)
        return weight_matrix_build_q8_0(s.rows, s.cols, [&](int64_t r, int8_t* q, uint16_t* d) {
            tensor_row_q8_0(t, s.row_begin + r, s.full_cols, s.col_begin, s.cols, q, d);
        });
    return weight_matrix_build(s.rows, s.cols, type, [&](int64_t r, float* out) {
        tensor_row(t, s.row_begin + r, s.full_cols, s.col_begin, s.cols, out);
    });
}

} // namespace

std::shared_ptr<model> model_load(const std::string& path, const load_options& options) {
    model_file f = model_file_open(path);
    model_config_check(f.config, f.path);
    auto m = std::make_shared<model>();
    model_init_shard(*m, f.config, options.tp, f.path);
    m->weights = options.weights;
    m->tok = f.tok;
    m->chat_template_name = f.chat_template_name;
    m->mappings = f.mappings;

    int fallbacks = 0;
    for (const matrix_slot& s : model_matrix_slots(*m)) {
        *s.dst = load_matrix(f, s, options.weights);
        fallbacks += s.dst->type != options.weights;
    }
    if (fallbacks)
        spdlog::warn("{}: {} matrices kept as f32 (their column count is not a multiple of 32, which {} needs)",
                     f.path, fallbacks, weight_type_name(options.weights));
    for (const vector_slot& s : model_vector_slots(*m)) {
        const tensor_view& t = f.get(s.name);
        check_view(f, t, {s.n});
        s.dst->resize(s.n);
        tensor_row(t, 0, s.n, 0, s.n, s.dst->data());
    }
    spdlog::info("{}: {} layers, dim {}, {} weights, {:.1f} MiB (tp rank {} of {})", f.path, m->config.n_layers,
                 m->config.dim, weight_type_name(options.weights), model_weight_bytes(*m) / 1048576.0, m->tp_rank,
                 m->tp_size);
    return m;
}
