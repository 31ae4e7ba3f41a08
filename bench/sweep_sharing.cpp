// Sweep sharing: one item decoded for S (method, ratio) configs with ONE shared prefill and one
// batched decode, against S separate runs of the same item. Default: the Llama-3.2-1B shape with
// random weights, a ~900-token prompt (8 shots + question), 128 new tokens, S = 46 (FullKV +
// StreamingLLM, H2O, SnapKV, PyramidKV, ChunkKV x 9 ratios). The separate runs are timed for
// `--separate K` configs spread over the list and scaled to S (each costs one prefill + one
// decode of the same length). --quick: a small model, 256-token prompt, 32 tokens.
#include "bench/bench_models.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "mpi_runner/fork_decode.h"

namespace {
double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
} // namespace

int main(int argc, char** argv) {
    bool quick = false;
    int separate = 3;
    std::string weights = "bf16";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (a == "--separate" && i + 1 < argc) separate = std::atoi(argv[++i]);
        else if (a == "--weights" && i + 1 < argc) weights = argv[++i];
        else {
            std::fprintf(stderr, "usage: bench_sweep_sharing [--quick] [--separate K] [--weights f32|bf16|q8_0]\n");
            return 2;
        }
    }
    model_config c;
    if (quick) {
        c.dim = 512, c.hidden_dim = 1536, c.n_layers = 4, c.n_heads = 8, c.n_kv_heads = 2;
        c.head_dim = 64, c.vocab_size = 8192, c.max_seq_len = 1024;
    } else {
        c = bench_llama32_1b(16, 2048);
    }
    const int n_prompt = quick ? 256 : 900, n_new = quick ? 32 : 128;
    const auto m = model_create_random(c, 42, weight_type_from_name(weights));

    tokenized_prompt prompt;
    std::mt19937 rng(1);
    for (int i = 0; i < n_prompt; ++i) prompt.tokens.push_back((int32_t)(rng() % c.vocab_size));
    const int shot = n_prompt / 10; // 8 shots, then the question
    prompt.spans.push_back({SEGMENT_SYSTEM, 0, shot, -1});
    for (int s = 0; s < 8; ++s) prompt.spans.push_back({SEGMENT_SHOT, shot * (s + 1), shot * (s + 2), s});
    prompt.spans.push_back({SEGMENT_QUESTION, shot * 9, n_prompt, -1});

    std::vector<std::unique_ptr<compressor>> methods;
    for (const char* name : {"streaming_llm", "h2o", "snapkv", "pyramidkv", "chunkkv"})
        methods.push_back(compressor_create(name, nlohmann::json::object()));
    std::vector<fork_spec> forks = {{nullptr, 1.0, false}};
    for (const auto& mth : methods)
        for (double r : {0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1}) forks.push_back({mth.get(), r, false});
    const int S = (int)forks.size();

    fork_request req;
    req.m = m.get();
    req.prompt = &prompt;
    req.max_new_tokens = n_new;
    std::printf("model %s: dim %d, %d layers, %d/%d heads, vocab %d, %s weights; prompt %d, new %d, S = %d\n",
                quick ? "quick" : "llama-3.2-1b-shape", c.dim, c.n_layers, c.n_heads, c.n_kv_heads,
                c.vocab_size, weights.c_str(), n_prompt, n_new, S);
    double t0 = now_s();
    fork_decode(req, forks);
    const double shared = now_s() - t0;
    std::printf("shared: one item, %d configs: %.2f s\n", S, shared);
    double sum = 0;
    for (int k = 0; k < separate; ++k) {
        const fork_spec& f = forks[(size_t)k * (S - 1) / std::max(1, separate - 1)];
        t0 = now_s();
        fork_decode(req, {f});
        const double t = now_s() - t0;
        sum += t;
        std::printf("separate: %s ratio %.1f: %.2f s\n", f.method ? f.method->name().c_str() : "fullkv", f.ratio, t);
    }
    const double separate_total = sum / separate * S;
    std::printf("S separate runs (estimated from %d): %.2f s; shared / separate = %.3f (target <= 0.2)\n",
                separate, separate_total, shared / separate_total);
    return 0;
}
