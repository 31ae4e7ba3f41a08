// The KV cache: per layer and per KV head, a variable-length set of entries
// (original position, key after RoPE, value). Compressors decide which positions survive;
// the cache only executes that decision (kvpress's policy/mechanism split), and frees memory for
// real when entries go (the vectors are reallocated to their new size).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

struct kv_head_cache {
    std::vector<int32_t> pos; // [n] original token positions, strictly ascending
    std::vector<float> k;     // [n][head_dim] keys after RoPE at their original position
    std::vector<float> v;     // [n][head_dim] values
    std::vector<float> score; // [n] attention received so far, summed over this head's query heads
                              //     (decoding-time methods: H2O, ShotKV); empty unless tracked
};

struct kv_cache {
    int n_layers = 0;
    int n_heads = 0;  // cached heads per layer: the model's (local) KV heads, or its query heads
                      // when a gqa_mode=query_head compressor needs one kept set per query head
    int head_dim = 0;
    bool track_scores = false;          // decode adds attention probabilities to `score`
    std::vector<kv_head_cache> heads;   // [n_layers][n_heads]

    kv_cache() = default;
    kv_cache(int n_layers, int n_heads, int head_dim);

    kv_head_cache& at(int layer, int head) { return heads[(size_t)layer * n_heads + head]; }
    const kv_head_cache& at(int layer, int head) const { return heads[(size_t)layer * n_heads + head]; }
    int64_t size(int layer, int head) const { return (int64_t)at(layer, head).pos.size(); }

    // Appends one entry; `pos` must be greater than every position already held by that head.
    void append(int layer, int head, int32_t pos, const float* key, const float* value);

    // Grows every head of `layer` to hold exactly `rows` more entries, so a prefill's cache holds
    // no spare capacity (bytes() then measures what compression really returns).
    void reserve_rows(int layer, int64_t rows);

    // Keeps exactly the entries whose positions are listed (sorted ascending, each present),
    // drops the rest and returns their memory. Throws std::invalid_argument otherwise.
    void keep(int layer, int head, const std::vector<int32_t>& positions);

    // Expands every layer from n_heads to n_heads*group heads by copying each head `group`
    // times (query-head selection needs its own entries per query head).
    void expand_heads(int group);

    // Bytes currently held by entries (positions, keys, values, scores), as allocated.
    int64_t bytes() const;
    // Entries per layer summed over heads.
    std::vector<int64_t> entries_per_layer() const;
};
