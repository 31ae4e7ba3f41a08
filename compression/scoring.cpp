#include "compression/scoring.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>

const std::vector<std::string> gqa_mode_names = {"kv_head_mean", "kv_head_max", "kv_head_sum",
                                                 "query_head"};
const std::vector<std::string> pool_kind_names = {"none", "avgpool", "maxpool"};

const char* gqa_mode_name(gqa_mode m) {
    return gqa_mode_names.at((size_t)m).c_str();
}
const char* pool_kind_name(pool_kind p) {
    return pool_kind_names.at((size_t)p).c_str();
}

score_matrix scoring_window_sums(const layer_scores& s, int32_t w, int32_t n_past,
                                 const std::string& method) {
    if (s.window_attn == nullptr || s.window < w) {
        std::ostringstream msg;
        msg << method << ": layer " << s.layer << " has " << (s.window_attn ? s.window : 0)
            << " captured observation-window rows, needs " << w;
        throw std::invalid_argument(msg.str());
    }
    score_matrix out{s.n_heads, n_past, std::vector<float>((size_t)s.n_heads * n_past, 0.0f)};
    for (int32_t h = 0; h < s.n_heads; ++h) {
        float* dst = out.row(h);
        for (int32_t i = s.window - w; i < s.window; ++i) {
            const float* a = s.window_attn + ((size_t)h * s.window + i) * s.n;
            for (int32_t j = 0; j < n_past; ++j)
                dst[j] += a[j];
        }
    }
    return out;
}

score_matrix scoring_column_sums(const layer_scores& s, int32_t n_past, const std::string& method) {
    if (s.column_sums == nullptr) {
        throw std::invalid_argument(method + ": layer " + std::to_string(s.layer) +
                                    " has no captured column sums (needs().column_sums)");
    }
    score_matrix out{s.n_heads, n_past, std::vector<float>((size_t)s.n_heads * n_past)};
    for (int32_t h = 0; h < s.n_heads; ++h) {
        std::copy_n(s.column_sums + (size_t)h * s.n, n_past, out.row(h));
    }
    return out;
}

score_matrix scoring_gqa_reduce(const score_matrix& q, int32_t n_kv_heads, gqa_mode mode) {
    if (mode == GQA_QUERY_HEAD) return q;
    if (n_kv_heads <= 0 || q.rows % n_kv_heads != 0) {
        throw std::invalid_argument("gqa: " + std::to_string(q.rows) +
                                    " query heads do not split into " + std::to_string(n_kv_heads) +
                                    " KV-head groups");
    }
    const int32_t g = q.rows / n_kv_heads;
    score_matrix out{n_kv_heads, q.cols, std::vector<float>((size_t)n_kv_heads * q.cols)};
    for (int32_t kv = 0; kv < n_kv_heads; ++kv) {
        float* dst = out.row(kv);
        std::copy_n(q.row(kv * g), q.cols, dst);
        for (int32_t m = 1; m < g; ++m) {
            const float* src = q.row(kv * g + m);
            for (int32_t j = 0; j < q.cols; ++j) {
                dst[j] = mode == GQA_KV_HEAD_MAX ? std::max(dst[j], src[j]) : dst[j] + src[j];
            }
        }
    }
    return out;
}

int32_t scoring_cache_heads(const layer_scores& s, gqa_mode mode) {
    return mode == GQA_QUERY_HEAD ? s.n_heads : s.n_kv_heads;
}

std::vector<float> scoring_pool(const float* x, int32_t len, int32_t kernel, pool_kind kind) {
    if (kind == POOL_NONE || kernel <= 1) return std::vector<float>(x, x + len);
    const int32_t half = kernel / 2;
    std::vector<float> out((size_t)len);
    for (int32_t j = 0; j < len; ++j) {
        const int32_t lo = std::max(0, j - half), hi = std::min(len - 1, j + half);
        if (kind == POOL_MAX) {
            float m = -std::numeric_limits<float>::infinity();
            for (int32_t t = lo; t <= hi; ++t)
                m = std::max(m, x[t]);
            out[j] = m;
        } else {
            float sum = 0.0f;
            for (int32_t t = lo; t <= hi; ++t)
                sum += x[t];
            out[j] = sum / (float)kernel;
        }
    }
    return out;
}

template <typename T>
static std::vector<int32_t> top_k_impl(const T* score, int32_t len, int32_t k) {
    for (int32_t j = 0; j < len; ++j) {
        if (std::isnan(score[j]))
            throw std::invalid_argument("top-k: score of position " + std::to_string(j) +
                                        " is NaN");
    }
    k = std::clamp(k, 0, len);
    std::vector<int32_t> idx((size_t)len);
    std::iota(idx.begin(), idx.end(), 0);
    // A strict total order (score desc, index asc) makes the result independent of the sort.
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [score](int32_t a, int32_t b) {
        return score[a] != score[b] ? score[a] > score[b] : a < b;
    });
    idx.resize((size_t)k);
    std::sort(idx.begin(), idx.end());
    return idx;
}

std::vector<int32_t> scoring_top_k(const float* score, int32_t len, int32_t k) {
    return top_k_impl(score, len, k);
}
std::vector<int32_t> scoring_top_k(const double* score, int32_t len, int32_t k) {
    return top_k_impl(score, len, k);
}

std::vector<double> scoring_sum_heads(collective* tp, const score_matrix& local,
                                      int32_t head_offset) {
    collective single;
    collective& c = tp ? *tp : single;
    // Each rank sends [head_offset, rows, data...]; the header checks that ranks hold equal,
    // contiguous head blocks in rank order, which makes rank order the global head order.
    const int64_t block = 2 + (int64_t)local.rows * local.cols;
    std::vector<float> send((size_t)block);
    send[0] = (float)head_offset;
    send[1] = (float)local.rows;
    std::copy(local.v.begin(), local.v.end(), send.begin() + 2);
    std::vector<float> all((size_t)(block * c.size()));
    c.all_gather(send.data(), block, all.data());
    std::vector<double> sum((size_t)local.cols, 0.0);
    int32_t expect_offset = (int32_t)all[0];
    for (int r = 0; r < c.size(); ++r) {
        const float* b = all.data() + (size_t)r * block;
        if ((int32_t)b[0] != expect_offset || (int32_t)b[1] != local.rows) {
            throw std::runtime_error(
                "cross-head sum: rank " + std::to_string(r) + " holds heads from " +
                std::to_string((int32_t)b[0]) + " (x" + std::to_string((int32_t)b[1]) +
                "), expected contiguous blocks of " + std::to_string(local.rows) + " from " +
                std::to_string(expect_offset));
        }
        expect_offset += local.rows;
        for (int32_t h = 0; h < local.rows; ++h) {
            const float* v = b + 2 + (size_t)h * local.cols;
            for (int32_t j = 0; j < local.cols; ++j)
                sum[j] += (double)v[j];
        }
    }
    return sum;
}

head_selection scoring_select_past(const score_matrix& past_scores, int32_t past_keep, int32_t n) {
    head_selection out((size_t)past_scores.rows);
    for (int32_t h = 0; h < past_scores.rows; ++h) {
        out[h] = scoring_top_k(past_scores.row(h), past_scores.cols, past_keep);
        for (int32_t p = past_scores.cols; p < n; ++p)
            out[h].push_back(p);
    }
    return out;
}

score_matrix scoring_snapkv(const layer_scores& s, const window_params& p, int32_t n_past,
                            const std::string& method) {
    score_matrix red =
        scoring_gqa_reduce(scoring_window_sums(s, p.window, n_past, method), s.n_kv_heads, p.gqa);
    for (int32_t h = 0; h < red.rows; ++h) {
        std::vector<float> pooled = scoring_pool(red.row(h), red.cols, p.kernel, p.pooling);
        std::copy(pooled.begin(), pooled.end(), red.row(h));
    }
    return red;
}

std::vector<int32_t> scoring_view_positions(const decode_layer_view& v, int32_t head) {
    return std::vector<int32_t>(v.pos[head], v.pos[head] + v.count[head]);
}

std::vector<int32_t> scoring_shared_positions(const decode_layer_view& v,
                                              const std::string& method) {
    std::vector<int32_t> first = scoring_view_positions(v, 0);
    for (int32_t h = 1; h < (int32_t)v.count.size(); ++h) {
        if (scoring_view_positions(v, h) != first) {
            throw std::invalid_argument(method + ": layer " + std::to_string(v.layer) +
                                        " cache head " + std::to_string(h) +
                                        " holds other positions than head 0; this method "
                                        "keeps one set per layer");
        }
    }
    return first;
}

const float* scoring_view_score_row(const decode_layer_view& v, int32_t head,
                                    const std::string& method) {
    if (v.score.size() <= (size_t)head || v.score[head] == nullptr) {
        throw std::invalid_argument(method + ": layer " + std::to_string(v.layer) + " cache head " +
                                    std::to_string(head) +
                                    " has no accumulated scores (needs().decode_scores)");
    }
    return v.score[head];
}

score_matrix scoring_view_scores(const decode_layer_view& v, int32_t first, int32_t count,
                                 const std::string& method) {
    const int32_t heads = (int32_t)v.count.size();
    score_matrix out{heads, count, std::vector<float>((size_t)heads * count)};
    for (int32_t h = 0; h < heads; ++h)
        std::copy_n(scoring_view_score_row(v, h, method) + first, count, out.row(h));
    return out;
}
