// Shared-prefill fork decoding, the speed lever of a sweep: ONE prefill of the prompt with full
// KV (capturing the union of what every method needs), one fork (copy) of the cache per
// (method, ratio), each fork compressed to its budget, then all forks decoded together, one
// model_decode batch per step, greedy, each stopping on its own. The engine promises that a
// sequence's arithmetic does not depend on the batch, so every fork generates exactly the
// tokens it would generate alone (tested in tests/runner/test_fork_decode.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/prompt.h"
#include "compression/compressor.h"
#include "engine/model.h"

struct fork_spec {
    const compressor* method = nullptr; // nullptr = FullKV
    double ratio = 1.0;                 // fraction of prompt KV kept
    bool dump_selection = false;        // collect kept positions after every event (generate)
};

struct fork_result {
    std::vector<int32_t> tokens;          // generated ids, stop token excluded
    std::string text;                     // detokenized, cut before a stop string
    std::string stop_reason;              // "eog", "stop", "length"
    // Cache sizes are totals over the tensor-parallel group (every rank gets them).
    std::vector<int64_t> kept_per_layer;  // [n_layers] prompt entries kept after prefill compression
    double kept_fraction = 1;             // kept prompt entries / (n_layers * cache heads * n)
    int64_t kv_bytes_prefill = 0;         // cache bytes after prefill compression
    int64_t kv_bytes_final = 0;           // cache bytes at the end of generation
    double prefill_s = 0;                 // this fork's share of the prefill + its compression
    double decode_s = 0;                  // this fork's share of the batched decode steps
    double mean_kl = -1;                  // mean KL(FullKV || fork) along FullKV's tokens; -1 = off
    nlohmann::json selection = nlohmann::json::array(); // dump events when dump_selection
};

struct fork_request {
    const model* m = nullptr;
    const tokenizer* tok = nullptr;         // null: no end-of-generation or stop strings (benchmarks)
    const tokenized_prompt* prompt = nullptr;
    int32_t max_new_tokens = 256;
    std::vector<std::string> stop;  // stop strings (generation is cut before them)
    bool kl = false;                // needs a FullKV fork: teacher-forces its tokens through the others
    collective* tp = nullptr;       // the group `m` was loaded with (load_options::tp); every rank
                                    // of it calls fork_decode with the same request
};

// Decodes every fork; results in fork order. Throws naming the method and ratio when a
// compressor's kept counts are not what it promises (compressor_check_kept).
// Compressor views of one prefill's captures, one per layer (sizes only when nothing was captured).
// `shard` gives the local head counts and offset of a tensor-parallel rank; null = whole model.
std::vector<layer_scores> layer_scores_from_captures(const model_config& cfg, int32_t n,
                                                     const std::vector<layer_capture>& captures,
                                                     const model_shard* shard = nullptr);

std::vector<fork_result> fork_decode(const fork_request& req, const std::vector<fork_spec>& forks);

// Index of the largest logit; ties go to the lowest id (deterministic greedy decoding).
int32_t argmax_token(const float* logits, int32_t n);
// KL(p || q) of the softmax distributions of two logit rows, in double precision.
double kl_divergence(const float* logits_p, const float* logits_q, int32_t n);
