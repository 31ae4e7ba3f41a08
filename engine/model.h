// The runner-facing API of the engine: load a Llama-family model, prefill a prompt into a KV cache
// (capturing what compressors need), and decode a batch of sequences one token at a time.
// Internals (weights, kernels, loaders) live in their own files under engine/.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/collective.h"
#include "engine/kv_cache.h"

enum weight_type : int32_t { WEIGHT_F32 = 0, WEIGHT_BF16 = 1, WEIGHT_Q8_0 = 2 };
const char* weight_type_name(weight_type t);
weight_type weight_type_from_name(const std::string& name); // throws, listing valid names

struct rope_scaling_params {
    std::string type;                   // "" (none) or "llama3"
    float factor = 1.0f;
    float low_freq_factor = 1.0f;
    float high_freq_factor = 4.0f;
    int32_t original_max_position = 8192;
};

struct model_config {
    std::string arch = "llama";
    int32_t dim = 0;          // hidden size
    int32_t hidden_dim = 0;   // FFN inner size
    int32_t n_layers = 0;
    int32_t n_heads = 0;      // query heads
    int32_t n_kv_heads = 0;   // key/value heads (GQA when < n_heads)
    int32_t head_dim = 0;
    int32_t vocab_size = 0;
    int32_t max_seq_len = 0;
    float norm_eps = 1e-5f;
    float rope_theta = 10000.0f;
    rope_scaling_params rope_scaling;
    bool tied_output = false; // output head shares the token embedding
    bool rope_interleaved = false; // RoPE rotates pairs (2i, 2i+1) (GGUF, llama2.c) instead of
                                   // (i, i + head_dim/2) (Hugging Face rotate-half)
};

struct tokenizer;     // engine/tokenizer.h
struct chat_template; // engine/chat_template.h
struct model;         // engine/model_internal.h

struct load_options {
    weight_type weights = WEIGHT_F32; // storage type of the matrices at run time
    collective* tp = nullptr;         // tensor-parallel group; nullptr = single rank
};

// Loads a GGUF file or a Hugging Face folder. Throws std::runtime_error naming the file and
// what is wrong.
std::shared_ptr<model> model_load(const std::string& path, const load_options& options);
const model_config& model_get_config(const model& m);
const tokenizer& model_get_tokenizer(const model& m); // throws when the model has none
bool model_has_tokenizer(const model& m);
const std::string& model_get_chat_template_name(const model& m); // "llama3", "llama2", "plain"
int64_t model_weight_bytes(const model& m); // bytes of weights held by this rank

// A model with random weights (uniform, variance 1/fan_in; norms near 1), built in memory with
// matrices of type `type`, for tests and benchmarks. Same seed, same weights. No tokenizer.
// With a tensor-parallel group `tp`, only this rank's slice is built (same values as the slice
// of the one-rank model).
std::shared_ptr<model> model_create_random(const model_config& config, uint64_t seed, weight_type type,
                                           collective* tp = nullptr);

// This rank's share of a tensor-parallel model (the whole model on one rank). Caches from
// model_new_cache hold n_kv_heads heads; captures hold n_heads query heads.
struct model_shard {
    int32_t rank = 0;
    int32_t size = 1;
    int32_t n_heads = 0;        // query heads held here
    int32_t n_kv_heads = 0;     // KV heads held here
    int32_t head_offset = 0;    // global index of the first query head held here
    int32_t kv_head_offset = 0; // global index of the first KV head held here
};
model_shard model_get_shard(const model& m);

// ---- what compressors need from the prefill ----------------------------------------------------

struct prefill_capture_request {
    int32_t window_rows = 0;  // capture attention probabilities of the last `window_rows` queries
    bool column_sums = false; // capture per-key sums of attention over all prompt queries (H2O)
    // PyramidInfer: called after each layer's forward with the head-mean attention of the recent
    // query rows; returns the row indices (into the current rows, ascending) that continue to the
    // next layer. Empty function = no row dropping.
    std::function<std::vector<int32_t>(int32_t layer, const std::vector<int32_t>& positions,
                                       const float* recent_attn_mean, // [n_recent][n_cur]
                                       int32_t n_recent)>
        drop_rows;
    int32_t recent_rows = 0;  // n_recent for drop_rows
};

struct layer_capture {
    int32_t n = 0;                   // keys (prompt rows that entered this layer)
    int32_t window = 0;              // rows captured in window_attn
    std::vector<float> window_attn;  // [n_heads_local][window][n] softmax rows of the last queries
    std::vector<float> column_sums;  // [n_heads_local][n] sum over all queries of A[h][i][j]
};

// Runs `tokens` at positions start_pos.. through the model, appending every layer's K/V to
// `cache`; writes the logits of the last token ([vocab]) to `logits`.
// - The cache may already hold entries (earlier chunk, compressed or not, per-KV-head or expanded
//   per query head); new rows attend to what each head holds, causally by position.
// - captures (when window_rows > 0 or column_sums) get one layer_capture per layer; they need
//   every head of a layer to hold the same number of entries. window = min(window_rows, n rows).
// - drop_rows needs an empty cache and must keep the last row; it is not called after the last
//   layer. recent_attn_mean is averaged over all query heads.
// - With cache.track_scores, every attention probability of these rows is added to the score of
//   the entry it lands on (summed over the query heads of a cache head), as decoding does.
void model_prefill(const model& m, kv_cache& cache, const std::vector<int32_t>& tokens,
                   int32_t start_pos, const prefill_capture_request& request,
                   std::vector<layer_capture>* captures, std::vector<float>& logits);

// One decoding step for a batch of independent sequences (one pass over the weights for all of
// them). Each sequence feeds `token` at its true position `pos` and attends to its own cache.
// Per-sequence arithmetic does not depend on the batch size, the other sequences or the thread
// count (bitwise). Every slot needs its own cache; pos must be after every cached position.
// A cache with track_scores set but no scores yet starts from zero scores.
struct decode_slot {
    kv_cache* cache = nullptr;
    int32_t token = 0;
    int32_t pos = 0;
};
void model_decode(const model& m, std::vector<decode_slot>& batch,
                  std::vector<float>& logits); // [batch][vocab]

kv_cache model_new_cache(const model& m);
