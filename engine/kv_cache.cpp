#include "engine/kv_cache.h"

#include <stdexcept>
#include <string>

kv_cache::kv_cache(int n_layers_, int n_heads_, int head_dim_)
    : n_layers(n_layers_), n_heads(n_heads_), head_dim(head_dim_),
      heads((size_t)n_layers_ * n_heads_) {}

void kv_cache::append(int layer, int head, int32_t pos, const float* key, const float* value) {
    kv_head_cache& h = at(layer, head);
    if (!h.pos.empty() && pos <= h.pos.back())
        throw std::invalid_argument("kv_cache::append: position " + std::to_string(pos) +
                                    " not after " + std::to_string(h.pos.back()));
    h.pos.push_back(pos);
    h.k.insert(h.k.end(), key, key + head_dim);
    h.v.insert(h.v.end(), value, value + head_dim);
    if (track_scores) h.score.resize(h.pos.size(), 0.0f);
}

void kv_cache::reserve_rows(int layer, int64_t rows) {
    for (int hd = 0; hd < n_heads; ++hd) {
        kv_head_cache& h = at(layer, hd);
        const size_t n = h.pos.size() + (size_t)rows;
        h.pos.reserve(n);
        h.k.reserve(n * head_dim);
        h.v.reserve(n * head_dim);
        if (track_scores) h.score.reserve(n);
    }
}

namespace {
// Copies the selected rows into a vector of exactly the needed size, so the old block is freed.
template <typename T>
std::vector<T> gather_rows(const std::vector<T>& src, const std::vector<size_t>& rows, size_t width) {
    std::vector<T> out;
    out.reserve(rows.size() * width);
    for (size_t r : rows) out.insert(out.end(), src.begin() + r * width, src.begin() + (r + 1) * width);
    return out;
}
} // namespace

void kv_cache::keep(int layer, int head, const std::vector<int32_t>& positions) {
    kv_head_cache& h = at(layer, head);
    if (positions.size() == h.pos.size()) {
        if (positions == h.pos) return;
    }
    std::vector<size_t> rows;
    rows.reserve(positions.size());
    size_t j = 0;
    for (size_t i = 0; i < positions.size(); ++i) {
        if (i > 0 && positions[i] <= positions[i - 1])
            throw std::invalid_argument("kv_cache::keep: positions not strictly ascending at layer " +
                                        std::to_string(layer) + " head " + std::to_string(head));
        while (j < h.pos.size() && h.pos[j] < positions[i]) ++j;
        if (j == h.pos.size() || h.pos[j] != positions[i])
            throw std::invalid_argument("kv_cache::keep: position " + std::to_string(positions[i]) +
                                        " not in cache at layer " + std::to_string(layer) + " head " +
                                        std::to_string(head));
        rows.push_back(j);
    }
    kv_head_cache kept;
    kept.pos = positions;
    kept.k = gather_rows(h.k, rows, head_dim);
    kept.v = gather_rows(h.v, rows, head_dim);
    if (!h.score.empty()) kept.score = gather_rows(h.score, rows, 1);
    h = std::move(kept);
}

void kv_cache::expand_heads(int group) {
    if (group <= 1) return;
    std::vector<kv_head_cache> expanded;
    expanded.reserve(heads.size() * group);
    for (int l = 0; l < n_layers; ++l)
        for (int h = 0; h < n_heads; ++h)
            for (int g = 0; g < group; ++g) expanded.push_back(at(l, h));
    heads = std::move(expanded);
    n_heads *= group;
}

int64_t kv_cache::bytes() const {
    int64_t total = 0;
    for (const kv_head_cache& h : heads)
        total += (int64_t)(h.pos.capacity() * sizeof(int32_t) + h.k.capacity() * sizeof(float) +
                           h.v.capacity() * sizeof(float) + h.score.capacity() * sizeof(float));
    return total;
}

std::vector<int64_t> kv_cache::entries_per_layer() const {
    std::vector<int64_t> out(n_layers, 0);
    for (int l = 0; l < n_layers; ++l)
        for (int h = 0; h < n_heads; ++h) out[l] += size(l, h);
    return out;
}
