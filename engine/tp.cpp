// Sharding helpers for tensor parallelism (see tp.h). Plain arithmetic, checked.
#include "engine/tp.h"

#include <algorithm>
#include <stdexcept>

namespace {
void check_rank(int32_t tp, int32_t rank, const std::string& what) {
    if (tp < 1) throw std::invalid_argument(what + ": tp must be >= 1, got " + std::to_string(tp));
    if (rank < 0 || rank >= tp)
        throw std::invalid_argument(what + ": rank " + std::to_string(rank) + " outside [0, " +
                                    std::to_string(tp) + ")");
}
} // namespace

tp_slice slice_even(int64_t n, int32_t tp, int32_t rank, const std::string& what) {
    check_rank(tp, rank, what);
    if (n < 1 || n % tp != 0)
        throw std::invalid_argument(what + ": " + std::to_string(n) +
                                    " is not divisible by tp = " + std::to_string(tp));
    const int64_t per = n / tp;
    return {rank * per, per};
}

tp_slice slice_kv_heads(int32_t n_kv_heads, int32_t tp, int32_t rank) {
    return slice_even(n_kv_heads, tp, rank, "n_kv_heads");
}

namespace {
tp_slice slice_units(int64_t n, int64_t unit, int32_t tp, int32_t rank, const std::string& what) {
    if (unit < 1 || n % unit != 0)
        throw std::invalid_argument(what + ": " + std::to_string(n) +
                                    " is not a multiple of the block size " + std::to_string(unit));
    const tp_slice s = slice_even(n / unit, tp, rank, what + " / " + std::to_string(unit));
    return {s.begin * unit, s.count * unit};
}
} // namespace

tp_slice slice_rows(int64_t rows, int64_t unit, int32_t tp, int32_t rank) {
    return slice_units(rows, unit, tp, rank, "rows");
}

tp_slice slice_cols(int64_t cols, int64_t unit, int32_t tp, int32_t rank) {
    return slice_units(cols, unit, tp, rank, "cols");
}

int64_t vocab_stride(int64_t vocab, int32_t tp) {
    return (vocab + tp - 1) / tp;
}

tp_slice slice_vocab(int64_t vocab, int32_t tp, int32_t rank) {
    check_rank(tp, rank, "vocab_size");
    if (vocab < tp)
        throw std::invalid_argument("vocab_size: " + std::to_string(vocab) +
                                    " is smaller than tp = " + std::to_string(tp));
    const int64_t stride = vocab_stride(vocab, tp), begin = std::min(vocab, rank * stride);
    return {begin, std::min(vocab, begin + stride) - begin};
}

void tp_check(const model_config& c, int32_t tp, const std::string& what) {
    const std::string at = what + ": tp = " + std::to_string(tp);
    if (tp < 1) throw std::invalid_argument(at + " must be >= 1");
    if (c.n_kv_heads % tp != 0)
        throw std::invalid_argument(at +
                                    " must divide n_kv_heads = " + std::to_string(c.n_kv_heads) +
                                    " (a GQA group never splits across ranks)");
    if (c.hidden_dim % tp != 0)
        throw std::invalid_argument(at +
                                    " must divide hidden_dim = " + std::to_string(c.hidden_dim));
    if (c.vocab_size < tp)
        throw std::invalid_argument(at + " exceeds vocab_size = " + std::to_string(c.vocab_size));
}

model_config tp_local_config(const model_config& c, int32_t tp, int32_t rank) {
    tp_check(c, tp, "tp_local_config");
    model_config l = c;
    l.n_kv_heads = (int32_t)slice_kv_heads(c.n_kv_heads, tp, rank).count;
    l.n_heads = c.n_heads / tp;
    l.hidden_dim = (int32_t)slice_even(c.hidden_dim, tp, rank, "hidden_dim").count;
    return l;
}
