// The run-time model: configuration, weights in their run-time type, RoPE table and tokenizer.
// Shared by model.cpp (forward pass), model_build.cpp (random models) and model_load.cpp (files).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/rope.h"
#include "engine/tp.h"
#include "engine/weights.h"

struct mapped_file;

// Head and FFN counts are this rank's (config of struct model): under tensor parallelism q/k/v
// and gate/up hold their rank's output rows, o and down their input columns.
struct layer_weights {
    std::vector<float> attn_norm; // [dim] replicated
    weight_matrix wq;             // [n_heads*head_dim][dim] sharded: n_heads / tp
    weight_matrix wk;             // [n_kv_heads*head_dim][dim] sharded: n_kv_heads / tp
    weight_matrix wv;             // [n_kv_heads*head_dim][dim] sharded: n_kv_heads / tp
    weight_matrix wo;             // [dim][n_heads*head_dim] sharded columns: n_heads / tp
    std::vector<float> ffn_norm;  // [dim] replicated
    weight_matrix w_gate;         // [hidden_dim][dim] sharded: hidden_dim / tp
    weight_matrix w_up;           // [hidden_dim][dim] sharded: hidden_dim / tp
    weight_matrix w_down;         // [dim][hidden_dim] sharded columns: hidden_dim / tp
};

struct model {
    model_config config;              // this rank's slice (tp_local_config): n_heads, n_kv_heads and
                                      // hidden_dim are local; the same as full_config on one rank
    model_config full_config;         // the whole model (model_get_config)
    collective* tp = nullptr;         // tensor-parallel group; null or size 1 = no communication
    int32_t tp_rank = 0;
    int32_t tp_size = 1;
    tp_slice vocab;                   // rows of token_embd / output held here (slice_vocab)
    weight_type weights = WEIGHT_F32; // requested run-time type (a matrix Q8_0 cannot hold stays F32)
    weight_matrix token_embd;         // [vocab.count][dim] sharded: vocabulary rows
    std::vector<float> output_norm;   // [dim]
    weight_matrix output;             // [vocab.count][dim]; empty when tied to token_embd
    std::vector<layer_weights> layers; // [n_layers]
    rope_table rope;
    std::shared_ptr<tokenizer> tok;   // null for in-memory models
    std::string chat_template_name;   // from the model file ("llama3", "llama2", "plain")
    std::vector<std::shared_ptr<mapped_file>> mappings; // keep borrowed F32 / BF16 weights alive

    const weight_matrix& output_matrix() const { return config.tied_output ? token_embd : output; }
};

// Checks the sizes the forward pass relies on; throws std::invalid_argument naming `what`.
void model_config_check(const model_config& c, const std::string& what);

// Sets config, full_config, the tensor-parallel fields and the RoPE table of a new model for the
// slice of rank tp->rank() (tp null = the whole model). Throws std::invalid_argument naming
// `what` when the model cannot be split that way.
void model_init_shard(model& m, const model_config& full, collective* tp, const std::string& what);

// Canonical weight name -> (rows, cols) of every matrix, in a fixed order, for builders. Under
// tensor parallelism the matrix is the block [row_begin, +rows) x [col_begin, +cols) of the
// full_rows x full_cols tensor.
struct matrix_slot {
    std::string name; // canonical tensor name ("blk.3.attn_q")
    weight_matrix* dst;
    int64_t rows;
    int64_t cols;
    int64_t row_begin = 0;
    int64_t col_begin = 0;
    int64_t full_rows = 0;
    int64_t full_cols = 0;
};
std::vector<matrix_slot> model_matrix_slots(model& m);
struct vector_slot {
    std::string name;
    std::vector<float>* dst;
    int64_t n;
};
std::vector<vector_slot> model_vector_slots(model& m);

// Type a matrix of `cols` columns gets when `requested` is asked for (Q8_0 falls back to F32 when
// cols is not a multiple of 32).
weight_type model_matrix_type(weight_type requested, int64_t cols);
