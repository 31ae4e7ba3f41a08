// Under mpirun with 1, 2 or 4 ranks: the MPI collectives, and a model split over all ranks against
// the same model on one rank. Every rank runs every test; any failing rank fails the run.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/prompt.h"
#include "compression/compressor.h"
#include "engine/model.h"
#include "engine/model_file.h"
#include "mpi_runner/collective_mpi.h"

namespace {

int world_rank() {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

// Values that differ per rank and need rounding when summed, so a different order shows.
std::vector<float> rank_values(int rank, int64_t n) {
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i)
        v[i] = 1.0f / (float)(3 + i + 7 * rank) * (i % 2 ? -1e3f : 1.0f) + 0.1f * rank;
    return v;
}

} // namespace

TEST(collective_mpi, all_gather_in_rank_order) {
    collective_mpi comm(MPI_COMM_WORLD);
    const int64_t n = 5;
    const std::vector<float> mine = rank_values(comm.rank(), n);
    std::vector<float> all((size_t)n * comm.size());
    comm.all_gather(mine.data(), n, all.data());
    for (int r = 0; r < comm.size(); ++r) {
        const std::vector<float> want = rank_values(r, n);
        for (int64_t i = 0; i < n; ++i)
            EXPECT_EQ(all[r * n + i], want[i]) << "rank " << r << " element " << i;
    }
    EXPECT_EQ(comm.bytes_sent(), n * 4 * (comm.size() - 1));
}

TEST(collective_mpi, all_reduce_sums_in_rank_order_bitwise) {
    collective_mpi comm(MPI_COMM_WORLD);
    const int64_t n = 1000;
    std::vector<float> data = rank_values(comm.rank(), n);
    comm.all_reduce_sum(data.data(), n);
    std::vector<float> want = rank_values(0, n);
    for (int r = 1; r < comm.size(); ++r) {
        const std::vector<float> v = rank_values(r, n);
        for (int64_t i = 0; i < n; ++i)
            want[i] += v[i];
    }
    EXPECT_EQ(std::memcmp(data.data(), want.data(), n * 4), 0);
    // Every rank holds the same bits.
    std::vector<float> all((size_t)n * comm.size());
    comm.all_gather(data.data(), n, all.data());
    for (int r = 0; r < comm.size(); ++r)
        EXPECT_EQ(std::memcmp(all.data() + r * n, data.data(), n * 4), 0) << "rank " << r;
}

TEST(collective_mpi, broadcast_from_rank_0) {
    collective_mpi comm(MPI_COMM_WORLD);
    int64_t value[3] = {comm.rank() * 11, comm.rank() * 13, -comm.rank()};
    comm.broadcast(value, sizeof value);
    EXPECT_EQ(value[0], 0);
    EXPECT_EQ(value[1], 0);
    EXPECT_EQ(value[2], 0);
}

namespace {

// Small, but every sharded dimension splits over 1, 2 and 4 ranks; the vocabulary does not
// split evenly, and Q8_0 would need 32-column slices (F32 keeps the comparison exact-ish).
model_config small_config() {
    model_config c;
    c.dim = 64;
    c.hidden_dim = 96;
    c.n_layers = 3;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.head_dim = 16;
    c.vocab_size = 103;
    c.max_seq_len = 256;
    c.rope_theta = 10000.0f;
    return c;
}

std::vector<int32_t> prompt_tokens(int32_t n, int32_t vocab) {
    std::vector<int32_t> t(n);
    for (int32_t i = 0; i < n; ++i)
        t[i] = (i * 37 + 11) % vocab;
    return t;
}

// |a - b| <= 1e-5 * max|b| over the row: relative to the logits' scale.
void expect_logits_close(const std::vector<float>& a, const std::vector<float>& b,
                         const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    float scale = 0.0f;
    for (float v : b)
        scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < a.size(); ++i)
        ASSERT_NEAR(a[i], b[i], 1e-5f * scale) << what << " logit " << i;
}

int32_t argmax(const std::vector<float>& v) {
    return (int32_t)(std::max_element(v.begin(), v.end()) - v.begin());
}

struct model_pair {
    collective_mpi comm{MPI_COMM_WORLD};
    std::shared_ptr<model> one = model_create_random(small_config(), 7, WEIGHT_F32); // every head
    std::shared_ptr<model> split =
        model_create_random(small_config(), 7, WEIGHT_F32, &comm); // this rank's slice
};

} // namespace

TEST(tp_model, shard_holds_its_slice_of_the_weights) {
    model_pair p;
    const model_shard s = model_get_shard(*p.split);
    EXPECT_EQ(s.size, p.comm.size());
    EXPECT_EQ(s.n_kv_heads, 4 / p.comm.size());
    EXPECT_EQ(s.head_offset, p.comm.rank() * 8 / p.comm.size());
    EXPECT_EQ(model_get_config(*p.split).n_heads, 8); // the whole model's config
    EXPECT_EQ(model_new_cache(*p.split).n_heads, s.n_kv_heads);
    // Norms (7 vectors of dim) are replicated; everything else is split.
    const int64_t norms = (2 * 3 + 1) * 64 * 4, one = model_weight_bytes(*p.one);
    const int64_t vocab_rows = (103 + p.comm.size() - 1) / p.comm.size();
    const int64_t mine = model_weight_bytes(*p.split);
    EXPECT_LE(mine,
              norms + (one - norms - 2 * 103 * 64 * 4) / p.comm.size() + 2 * vocab_rows * 64 * 4);
    EXPECT_GE(mine, norms + (one - norms - 2 * 103 * 64 * 4) / p.comm.size());
}

TEST(tp_model, greedy_tokens_and_logits_match_one_rank) {
    model_pair p;
    const std::vector<int32_t> tokens = prompt_tokens(40, 103);
    kv_cache c1 = model_new_cache(*p.one), cs = model_new_cache(*p.split);
    std::vector<float> l1, ls;
    model_prefill(*p.one, c1, tokens, 0, {}, nullptr, l1);
    model_prefill(*p.split, cs, tokens, 0, {}, nullptr, ls);
    expect_logits_close(ls, l1, "prefill");
    // Two sequences in one decode batch: the greedy continuation and a fixed one.
    kv_cache d1 = model_new_cache(*p.one), ds = model_new_cache(*p.split);
    model_prefill(*p.one, d1, {tokens.begin(), tokens.begin() + 10}, 0, {}, nullptr, l1);
    model_prefill(*p.split, ds, {tokens.begin(), tokens.begin() + 10}, 0, {}, nullptr, ls);
    int32_t t1 = argmax(l1), ts = argmax(ls);
    for (int32_t step = 0; step < 24; ++step) {
        ASSERT_EQ(ts, t1) << "greedy token " << step;
        std::vector<decode_slot> b1 = {{&c1, t1, 40 + step}, {&d1, 5, 10 + step}};
        std::vector<decode_slot> bs = {{&cs, ts, 40 + step}, {&ds, 5, 10 + step}};
        model_decode(*p.one, b1, l1);
        model_decode(*p.split, bs, ls);
        expect_logits_close(ls, l1, "decode step " + std::to_string(step));
        t1 = argmax({l1.begin(), l1.begin() + 103});
        ts = argmax({ls.begin(), ls.begin() + 103});
    }
}

// A real Hugging Face file (BF16, untied head, rotate-half RoPE): logits match the one-rank load,
// and the per-rank estimate of `kvsweep inspect` is what rank 0 (the largest vocabulary share)
// holds.
TEST(tp_model, hf_file_slices_match_one_rank_and_the_estimate) {
    collective_mpi comm(MPI_COMM_WORLD);
    const std::string path = "data/models/kvsweep-tiny";
    if (2 % comm.size() != 0) GTEST_SKIP() << "kvsweep-tiny has 2 KV heads";
    load_options one_opt, split_opt;
    one_opt.weights = split_opt.weights = WEIGHT_BF16;
    split_opt.tp = &comm;
    const auto one = model_load(path, one_opt), split = model_load(path, split_opt);
    const std::vector<int32_t> tokens = prompt_tokens(30, 664);
    kv_cache c1 = model_new_cache(*one), cs = model_new_cache(*split);
    std::vector<float> l1, ls;
    model_prefill(*one, c1, tokens, 0, {}, nullptr, l1);
    model_prefill(*split, cs, tokens, 0, {}, nullptr, ls);
    expect_logits_close(ls, l1, "kvsweep-tiny prefill");
    const model_memory_estimate e = model_file_estimate_memory(model_file_open(path), comm.size());
    const int64_t norms_as_f32 = (2 * 4 + 1) * 96 * 2; // 9 norm vectors, BF16 in the file, F32 held
    if (comm.rank() == 0) {
        EXPECT_EQ(model_weight_bytes(*split), e.weight_bytes_per_rank + norms_as_f32);
    }
}

// Every method that works from the shared prefill's captures keeps the same positions per KV head
// on the split model as on one rank (PyramidInfer needs its own row-dropping prefill).
TEST(tp_model, kept_positions_match_one_rank_for_every_method) {
    model_pair p;
    const int32_t n = 120;
    const std::vector<int32_t> tokens = prompt_tokens(n, 103);
    std::vector<token_span> spans = {{SEGMENT_SYSTEM, 0, 8, -1}};
    for (int32_t i = 0; i < 4; ++i)
        spans.push_back({SEGMENT_SHOT, 8 + 22 * i, 30 + 22 * i, i});
    spans.push_back({SEGMENT_QUESTION, 96, n, -1});
    prefill_capture_request req;
    req.window_rows = n;
    req.column_sums = true;
    const model_shard sh = model_get_shard(*p.split);
    kv_cache c1 = model_new_cache(*p.one), cs = model_new_cache(*p.split);
    std::vector<layer_capture> cap1, caps;
    std::vector<float> l1, ls;
    model_prefill(*p.one, c1, tokens, 0, req, &cap1, l1);
    model_prefill(*p.split, cs, tokens, 0, req, &caps, ls);
    int tested = 0;
    for (const std::string& name : compressor_names()) {
        const auto c = compressor_create(name, nlohmann::json::object());
        const capture_needs nd = c->needs();
        if (nd.drops_prefill_rows) continue;
        auto views = [&](const std::vector<layer_capture>& caps_, int32_t n_heads, int32_t n_kv,
                         int32_t offset) {
            std::vector<layer_scores> v;
            for (int32_t l = 0; l < 3; ++l) {
                layer_scores s;
                s.layer = l;
                s.n_layers = 3;
                s.n = n;
                s.n_heads = n_heads;
                s.n_kv_heads = n_kv;
                s.head_offset = offset;
                s.window =
                    caps_[l].window; // every prompt row; methods read the last rows they need
                s.window_attn = caps_[l].window_attn.data();
                s.column_sums = caps_[l].column_sums.data();
                v.push_back(s);
            }
            return v;
        };
        for (double ratio : {0.5, 0.25, 0.1}) {
            const compress_context one_ctx{ratio, &spans, nullptr},
                split_ctx{ratio, &spans, &p.comm};
            const std::vector<head_selection> want =
                c->select_prefill_layers(one_ctx, views(cap1, 8, 4, 0));
            const std::vector<head_selection> got = c->select_prefill_layers(
                split_ctx, views(caps, sh.n_heads, sh.n_kv_heads, sh.head_offset));
            const int32_t offset = nd.per_query_head ? sh.head_offset : sh.kv_head_offset;
            for (int32_t l = 0; l < 3; ++l) {
                ASSERT_EQ(got[l].size(), want[l].size() / p.comm.size()) << name;
                for (size_t h = 0; h < got[l].size(); ++h)
                    EXPECT_EQ(got[l][h], want[l][offset + h])
                        << name << " ratio " << ratio << " layer " << l << " head " << h;
            }
        }
        ++tested;
    }
    EXPECT_GE(tested, 6);
}

TEST(tp_model, split_that_breaks_a_gqa_group_is_refused) {
    collective_mpi comm(MPI_COMM_WORLD);
    if (comm.size() == 1) GTEST_SKIP() << "every config splits over one rank";
    model_config c = small_config();
    c.n_kv_heads = comm.size() + 1;
    c.n_heads = 2 * c.n_kv_heads;
    try {
        model_create_random(c, 7, WEIGHT_F32, &comm);
        FAIL() << "no error";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(
            std::string(e.what()).find("must divide n_kv_heads = " + std::to_string(c.n_kv_heads)),
            std::string::npos)
            << e.what();
    }
}

TEST(tp_layout, groups_of_tp_ranks_after_the_master) {
    const int w = [] {
        int s = 1;
        MPI_Comm_size(MPI_COMM_WORLD, &s);
        return s;
    }();
    const int rank = world_rank();
    if (w > 1) {
        // One group of all workers.
        tp_layout l = tp_layout_split(MPI_COMM_WORLD, w - 1);
        EXPECT_EQ(l.n_groups, 1);
        EXPECT_EQ(l.group_index, rank == 0 ? -1 : 0);
        EXPECT_EQ(l.group == MPI_COMM_NULL, rank == 0);
        EXPECT_EQ(l.sched == MPI_COMM_NULL, rank > 1); // master and the leader (world rank 1)
        if (l.group != MPI_COMM_NULL) {
            int gr = -1, gs = 0;
            MPI_Comm_rank(l.group, &gr);
            MPI_Comm_size(l.group, &gs);
            EXPECT_EQ(gr, rank - 1);
            EXPECT_EQ(gs, w - 1);
        }
        tp_layout_free(l);
    }
    // A world that does not fit fails alike on every rank with one line.
    const int32_t bad_tp = w == 4 ? 2 : w + 1;
    try {
        tp_layout_split(MPI_COMM_WORLD, bad_tp);
        FAIL() << "no error";
    } catch (const std::invalid_argument& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("parallel.tp = " + std::to_string(bad_tp) + ": " + std::to_string(w) +
                           " MPI ranks do not make"),
                  std::string::npos)
            << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos);
    }
}

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    // One full report is enough; the other ranks print their failures only.
    if (world_rank() != 0) GTEST_FLAG_SET(brief, true);
    const int rc = RUN_ALL_TESTS();
    MPI_Finalize();
    return rc;
}
