// Tensor-parallel sharding helpers: which slice of heads, rows, columns and vocabulary one rank of
// a tp-rank group holds. Pure functions of (sizes, tp, rank); they throw std::invalid_argument when
// a split is not allowed (a GQA group never splits across ranks).
#pragma once
#include <cstdint>
#include <string>

#include "engine/model.h"

// [begin, begin + count) of some dimension.
struct tp_slice {
    int64_t begin = 0;
    int64_t count = 0;
};

// Even split of n units among tp ranks; n must be a multiple of tp.
tp_slice slice_even(int64_t n, int32_t tp, int32_t rank, const std::string& what);
// KV heads of `rank`: n_kv_heads / tp consecutive heads (tp must divide n_kv_heads).
tp_slice slice_kv_heads(int32_t n_kv_heads, int32_t tp, int32_t rank);
// Output rows of a [rows][cols] matrix split by blocks of `unit` rows (head_dim for q/k/v, 1 for
// gate/up); rows / unit must be a multiple of tp.
tp_slice slice_rows(int64_t rows, int64_t unit, int32_t tp, int32_t rank);
// Input columns, same rule (o by query heads, down by FFN columns).
tp_slice slice_cols(int64_t cols, int64_t unit, int32_t tp, int32_t rank);
// Vocabulary rows: ceil(vocab / tp) per rank, the last rank holds the rest (vocabularies are
// often not multiples of tp). Every rank pads its logits to vocab_stride() for the all-gather.
tp_slice slice_vocab(int64_t vocab, int32_t tp, int32_t rank);
int64_t vocab_stride(int64_t vocab, int32_t tp);

// Checks that a model can be split over tp ranks: 1 <= tp <= n_kv_heads, tp divides n_kv_heads
// and hidden_dim, and vocab_size >= tp. Throws std::invalid_argument naming `what` and the field.
void tp_check(const model_config& c, int32_t tp, const std::string& what);

// The config of one rank's slice: n_heads, n_kv_heads and hidden_dim are the local counts; every
// other field (vocab_size included: the forward pass returns full-vocabulary logits) is unchanged.
model_config tp_local_config(const model_config& c, int32_t tp, int32_t rank);
