// The run-time model: configuration, weights in their run-time type, RoPE table and tokenizer.
// Shared by model.cpp (forward pass), model_build.cpp (random models) and model_load.cpp (files).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/rope.h"
#include "engine/weights.h"

struct mapped_file;

struct layer_weights {
    std::vector<float> attn_norm; // [dim]
    weight_matrix wq;             // [n_heads*head_dim][dim]
    weight_matrix wk;             // [n_kv_heads*head_dim][dim]
    weight_matrix wv;             // [n_kv_heads*head_dim][dim]
    weight_matrix wo;             // [dim][n_heads*head_dim]
    std::vector<float> ffn_norm;  // [dim]
    weight_matrix w_gate;         // [hidden_dim][dim]
    weight_matrix w_up;           // [hidden_dim][dim]
    weight_matrix w_down;         // [dim][hidden_dim]
};

struct model {
    model_config config;
    weight_type weights = WEIGHT_F32; // requested run-time type (a matrix Q8_0 cannot hold stays F32)
    weight_matrix token_embd;         // [vocab_size][dim]
    std::vector<float> output_norm;   // [dim]
    weight_matrix output;             // [vocab_size][dim]; empty when tied to token_embd
    std::vector<layer_weights> layers; // [n_layers]
    rope_table rope;
    std::shared_ptr<tokenizer> tok;   // null for in-memory models
    std::string chat_template_name;   // from the model file ("llama3", "llama2", "plain")
    std::vector<std::shared_ptr<mapped_file>> mappings; // keep borrowed F32 weights alive

    const weight_matrix& output_matrix() const { return config.tied_output ? token_embd : output; }
};

// Checks the sizes the forward pass relies on; throws std::invalid_argument naming `what`.
void model_config_check(const model_config& c, const std::string& what);

// Canonical weight name -> (rows, cols) of every matrix, in a fixed order, for builders.
struct matrix_slot {
    std::string name; // canonical tensor name ("blk.3.attn_q")
    weight_matrix* dst;
    int64_t rows;
    int64_t cols;
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
