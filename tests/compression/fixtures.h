// Hand-built and seeded-random score fixtures for the compression tests.
#pragma once
#include <algorithm>
#include <barrier>
#include <random>
#include <thread>
#include <vector>

#include "compression/compressor.h"

// Owns the arrays a layer_scores view points into.
struct fake_layer {
    int32_t n = 0, n_heads = 1, n_kv_heads = 1, window = 0;
    std::vector<float> window_attn; // [n_heads][window][n]
    std::vector<float> column_sums; // [n_heads][n]
    std::vector<int32_t> positions; // [n] or empty

    fake_layer(int32_t n_, int32_t heads, int32_t kv_heads, int32_t window_)
        : n(n_), n_heads(heads), n_kv_heads(kv_heads), window(window_),
          window_attn((size_t)heads * window_ * n_, 0.0f), column_sums((size_t)heads * n_, 0.0f) {}

    float& attn(int32_t h, int32_t row, int32_t j) {
        return window_attn[((size_t)h * window + row) * n + j];
    }
    // Puts `s` (length <= n) into the last window row of head h, so the window sum is `s`.
    void set_window_sum(int32_t h, const std::vector<float>& s) {
        for (size_t j = 0; j < s.size(); ++j)
            attn(h, window - 1, (int32_t)j) = s[j];
    }
    void set_column_sums(int32_t h, const std::vector<float>& s) {
        std::copy(s.begin(), s.end(), column_sums.begin() + (size_t)h * n);
    }
    void fill_random(uint32_t seed) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> u(0.0f, 1.0f);
        for (float& x : window_attn)
            x = u(rng);
        for (float& x : column_sums)
            x = u(rng);
    }
    layer_scores view(int32_t layer = 0, int32_t n_layers = 1) const {
        layer_scores s;
        s.layer = layer;
        s.n_layers = n_layers;
        s.n = n;
        s.n_heads = n_heads;
        s.n_kv_heads = n_kv_heads;
        s.window = window;
        s.window_attn = window_attn.data();
        s.column_sums = column_sums.data();
        s.positions = positions.empty() ? nullptr : positions.data();
        return s;
    }
    // The heads [first, first + count) of this layer as another rank would hold them.
    fake_layer heads(int32_t first, int32_t count) const {
        const int32_t g = n_heads / n_kv_heads;
        fake_layer out(n, count, count / g, window);
        std::copy_n(window_attn.begin() + (size_t)first * window * n, (size_t)count * window * n,
                    out.window_attn.begin());
        std::copy_n(column_sums.begin() + (size_t)first * n, (size_t)count * n,
                    out.column_sums.begin());
        out.positions = positions;
        return out;
    }
};

inline std::vector<int32_t> range(int32_t begin, int32_t end) {
    std::vector<int32_t> v;
    for (int32_t p = begin; p < end; ++p)
        v.push_back(p);
    return v;
}

inline std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

inline compress_context ratio_ctx(double r, const std::vector<token_span>* spans = nullptr,
                                  collective* tp = nullptr) {
    compress_context c;
    c.keep_ratio = r;
    c.spans = spans;
    c.tp = tp;
    return c;
}

// A cache of one layer for decode simulations: per cache head positions and accumulated scores.
struct fake_decode_layer {
    std::vector<std::vector<int32_t>> pos; // [cache head][count]
    std::vector<std::vector<float>> score; // [cache head][count]

    decode_layer_view view(int32_t layer, int32_t n_layers, int32_t n_prompt,
                           int32_t n_generated) const {
        decode_layer_view v;
        v.layer = layer;
        v.n_layers = n_layers;
        v.n_prompt = n_prompt;
        v.n_generated = n_generated;
        for (size_t h = 0; h < pos.size(); ++h) {
            v.pos.push_back(pos[h].data());
            v.score.push_back(score[h].data());
            v.count.push_back((int32_t)pos[h].size());
        }
        return v;
    }
    // Applies a selection like kv_cache::keep: positions must be present and ascending.
    void keep(const head_selection& sel) {
        for (size_t h = 0; h < pos.size(); ++h) {
            std::vector<int32_t> p2;
            std::vector<float> s2;
            size_t i = 0;
            for (int32_t want : sel[h]) {
                while (i < pos[h].size() && pos[h][i] < want)
                    ++i;
                if (i == pos[h].size() || pos[h][i] != want)
                    throw std::runtime_error("keep: position not held");
                p2.push_back(want);
                s2.push_back(score[h][i]);
            }
            pos[h] = p2;
            score[h] = s2;
        }
    }
};

// An in-process tensor-parallel group: each rank is a thread, all_gather meets at a barrier.
struct thread_group {
    int size;
    std::barrier<> meet;
    std::vector<std::vector<float>> slots;
    explicit thread_group(int n) : size(n), meet(n), slots((size_t)n) {}
};

struct thread_collective : collective {
    thread_group* g = nullptr;
    int r = 0;
    int rank() const override { return r; }
    int size() const override { return g->size; }
    void all_gather(const float* data, int64_t count, float* out) override {
        g->slots[r].assign(data, data + count);
        g->meet.arrive_and_wait();
        for (int k = 0; k < g->size; ++k)
            std::copy(g->slots[k].begin(), g->slots[k].end(), out + k * count);
        g->meet.arrive_and_wait();
    }
};

// Runs fn(rank, collective&) on `ranks` threads and waits.
template <typename F> void run_ranks(int ranks, F fn) {
    thread_group group(ranks);
    std::vector<thread_collective> comms((size_t)ranks);
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r) {
        comms[r].g = &group;
        comms[r].r = r;
        threads.emplace_back([&, r] { fn(r, comms[r]); });
    }
    for (std::thread& t : threads)
        t.join();
}
