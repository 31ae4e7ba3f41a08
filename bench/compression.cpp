// Compression-event cost and memory actually returned, per registered method, on a random
// Llama-3.2-1B-shaped model (dim 2048, 32/8 heads, FFN 8192, vocab 128256, tied output) with
// fewer layers by default so the bench stays short on a shared machine. Not a test.
//  1) event time (select_prefill_layers for all layers + kv_cache::keep) / time of the prefill it
//     follows, with that method's captures enabled; target <= 5 %.
//  2) prompt KV returned by compressing a FullKV fork: kv_cache::bytes(), heap in use
//     (mallinfo2().uordblks) and RSS (/proc/self/statm) before/after; target >= 85 %.
// PyramidInfer compresses inside its own prefill (row dropping), so it has no separate event: its
// "event" is the difference between its prefill and a plain one, and its memory is its cache
// against the FullKV cache of a plain prefill.
// Usage: bench_compression [--layers L] [--prompt N] [--methods a,b,...] [--ratio r]
#include "bench/bench_models.h"
#include "mpi_runner/fork_decode.h"
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "compression/compressor.h"
#include "engine/model.h"

namespace {

constexpr double event_target = 0.05; // event time / prefill time
constexpr double freed_target = 0.85; // fraction of the prompt KV memory returned

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t heap_in_use() { return (int64_t)mallinfo2().uordblks; }

int64_t rss_bytes() {
    std::ifstream f("/proc/self/statm");
    int64_t size = 0, resident = 0;
    f >> size >> resident;
    return resident * (int64_t)sysconf(_SC_PAGESIZE);
}

// Heap a cache holds: what destroying it returns (unlike a difference around a prefill, this
// ignores scratch the engine keeps).
int64_t heap_held(kv_cache cache) {
    const int64_t before = heap_in_use();
    cache = kv_cache();
    return before - heap_in_use();
}

// Entries the cache holds as a fraction of a FullKV cache of n positions.
double kept_entries(const kv_cache& cache, int32_t n) {
    int64_t total = 0;
    for (int64_t e : cache.entries_per_layer()) total += e;
    return (double)total / ((double)cache.n_layers * cache.n_heads * n);
}

std::vector<std::string> split_names(const std::string& list) {
    std::vector<std::string> out;
    std::stringstream ss(list);
    for (std::string s; std::getline(ss, s, ',');)
        if (!s.empty()) out.push_back(s);
    return out;
}

// A prefill with one capture request; methods with the same request share it.
struct prefill_run {
    kv_cache cache;
    std::vector<layer_capture> captures;
    std::vector<layer_scores> scores; // views into captures, as the runner builds them
    double seconds = 0;
};

prefill_run run_prefill(const model& m, const std::vector<int32_t>& tokens,
                        const prefill_capture_request& request) {
    const model_config& cfg = model_get_config(m);
    prefill_run r;
    r.cache = model_new_cache(m);
    std::vector<float> logits;
    const double t0 = now_s();
    model_prefill(m, r.cache, tokens, 0, request, &r.captures, logits);
    r.seconds = now_s() - t0;
    r.scores = layer_scores_from_captures(cfg, (int32_t)tokens.size(), r.captures);
    return r;
}

struct row {
    std::string method;
    double prefill_s = 0, event_s = 0;
    int64_t kv_full = 0, kv_kept = 0;     // kv_cache::bytes()
    double entries_kept = 1;              // kept entries / FullKV entries (bytes() counts capacity)
    int64_t heap_freed = 0, rss_freed = 0; // measured around compression of the fork
    bool rss_measured = true;
    std::string note;
};

// The compression event on a FullKV fork of `base`, as fork_decode applies it (selection for all
// layers, then keep per cache head). The fork copy itself is outside the timed and measured span.
row compress_fork(const model& m, const compressor& c, const compress_context& ctx,
                  const prefill_run& base, int32_t n) {
    const model_config& cfg = model_get_config(m);
    row r;
    r.method = c.name();
    r.prefill_s = base.seconds;
    kv_cache fork = base.cache;
    r.kv_full = fork.bytes();
    const int64_t heap0 = heap_in_use(), rss0 = rss_bytes();
    const double t0 = now_s();
    if (c.needs().per_query_head) fork.expand_heads(cfg.n_heads / cfg.n_kv_heads);
    const std::vector<head_selection> sel = c.select_prefill_layers(ctx, base.scores);
    for (int l = 0; l < cfg.n_layers; ++l)
        for (int h = 0; h < fork.n_heads; ++h) fork.keep(l, h, sel.at(l).at(h));
    r.event_s = now_s() - t0;
    r.heap_freed = heap0 - heap_in_use();
    r.rss_freed = rss0 - rss_bytes();
    r.kv_kept = fork.bytes();
    r.entries_kept = kept_entries(fork, n);
    // Guards against timing a method that silently did nothing (outside the timed span).
    std::vector<std::vector<int64_t>> kept(cfg.n_layers);
    for (int l = 0; l < cfg.n_layers; ++l)
        for (int h = 0; h < fork.n_heads; ++h) kept[l].push_back(fork.size(l, h));
    compressor_check_kept(c, ctx, n, kept);
    return r;
}

// PyramidInfer: its own row-dropping prefill against the plain one; memory is the heap its cache
// holds against what the FullKV cache of the plain prefill holds.
row pyramidinfer_prefill(const model& m, const compressor& c, const compress_context& ctx,
                         const std::vector<int32_t>& tokens, const prefill_run& plain) {
    const model_config& cfg = model_get_config(m);
    const int32_t n = (int32_t)tokens.size();
    prefill_capture_request own;
    own.recent_rows = c.prefill_recent_rows(n);
    own.drop_rows = [&](int32_t layer, const std::vector<int32_t>& positions, const float* mean,
                        int32_t n_recent) {
        return c.select_prefill_rows(ctx, layer, cfg.n_layers, n, positions, mean, n_recent);
    };
    row r;
    r.method = c.name();
    r.prefill_s = plain.seconds;
    r.kv_full = plain.cache.bytes();
    kv_cache cache = model_new_cache(m);
    std::vector<float> logits;
    const double t0 = now_s();
    model_prefill(m, cache, tokens, 0, own, nullptr, logits);
    r.event_s = now_s() - t0 - plain.seconds;
    r.kv_kept = cache.bytes();
    r.entries_kept = kept_entries(cache, n);
    // FullKV as a fork copy (what the runner decodes from); PyramidInfer's own cache as built,
    // so capacity left over from growing its vectors counts against it.
    r.heap_freed = heap_held(plain.cache) - heap_held(std::move(cache));
    r.rss_measured = false; // RSS after two prefills says nothing about one cache
    r.note = "in-prefill row dropping: event = own prefill - plain prefill";
    return r;
}

} // namespace

int main(int argc, char** argv) {
    int32_t n_layers = 4, n_prompt = 4096;
    double ratio = 0.1;
    std::vector<std::string> names = compressor_names();
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--layers" && i + 1 < argc) n_layers = std::atoi(argv[++i]);
        else if (a == "--prompt" && i + 1 < argc) n_prompt = std::atoi(argv[++i]);
        else if (a == "--methods" && i + 1 < argc) names = split_names(argv[++i]);
        else if (a == "--ratio" && i + 1 < argc) ratio = std::atof(argv[++i]);
        else {
            std::fprintf(stderr, "usage: bench_compression [--layers L] [--prompt N] "
                                 "[--methods a,b,...] [--ratio keep_ratio]\n");
            return 2;
        }
    }
    if (n_layers < 1 || n_prompt < 16 || !(ratio > 0 && ratio <= 1)) {
        std::fprintf(stderr, "bench_compression: need --layers >= 1, --prompt >= 16, 0 < --ratio <= 1\n");
        return 2;
    }
    const model_config c = bench_llama32_1b(n_layers, n_prompt + 1);
    const auto m = model_create_random(c, 42, WEIGHT_F32);

    std::vector<int32_t> tokens;
    std::mt19937 rng(1);
    for (int i = 0; i < n_prompt; ++i) tokens.push_back((int32_t)(rng() % c.vocab_size));
    // ShotKV reads prompt structure: a short instruction, 8 shots, a short question. ShotKV keeps
    // every non-shot token whatever the budget, so long ones would hide what it frees of the shots.
    std::vector<token_span> spans;
    const int edge = std::min(64, n_prompt / 16), shot = (n_prompt - 2 * edge) / 8;
    spans.push_back({SEGMENT_SYSTEM, 0, edge, -1});
    for (int s = 0; s < 8; ++s) spans.push_back({SEGMENT_SHOT, edge + shot * s, edge + shot * (s + 1), s});
    spans.push_back({SEGMENT_QUESTION, edge + shot * 8, n_prompt, -1});
    const compress_context ctx{ratio, &spans, nullptr};

    std::printf("bench_compression: llama-3.2-1b shape, %d layers, f32 weights, prompt %d, keep_ratio %g\n",
                n_layers, n_prompt, ratio);
    std::fflush(stdout);

    // One prefill per distinct capture request (what each method's prefill would capture); the
    // plain one (no captures) is also PyramidInfer's baseline.
    std::map<std::tuple<int32_t, bool>, prefill_run> prefills;
    auto prefill_for = [&](const capture_needs& nd) -> const prefill_run& {
        prefill_capture_request req;
        req.window_rows = std::min(nd.window_rows, n_prompt);
        req.column_sums = nd.column_sums;
        const auto key = std::make_tuple(req.window_rows, req.column_sums);
        auto it = prefills.find(key);
        if (it == prefills.end()) {
            it = prefills.emplace(key, run_prefill(*m, tokens, req)).first;
            std::printf("  prefill (window_rows %d, column_sums %d): %.2f s\n", req.window_rows,
                        (int)req.column_sums, it->second.seconds);
            std::fflush(stdout);
        }
        return it->second;
    };
    const prefill_run& plain = prefill_for(capture_needs{});

    std::vector<row> rows;
    for (const std::string& name : names) {
        const auto method = compressor_create(name, nlohmann::json::object());
        const capture_needs nd = method->needs();
        rows.push_back(nd.drops_prefill_rows
                           ? pyramidinfer_prefill(*m, *method, ctx, tokens, plain)
                           : compress_fork(*m, *method, ctx, prefill_for(nd), n_prompt));
        if (name == "full_kv") rows.back().note = "keeps everything: memory target n/a";
        std::printf("  %s done\n", name.c_str());
        std::fflush(stdout);
    }

    const double mib = 1024.0 * 1024.0;
    std::printf("\n%-14s %9s %9s %8s %5s | %9s %9s %7s %7s %7s %7s %5s  %s\n", "method", "prefill_s",
                "event_s", "event%", "<=5%", "kv_MiB", "kept_MiB", "entries", "kv_frd", "heap_fr", "rss_fr",
                ">=85%", "note");
    for (const row& r : rows) {
        const double event_frac = r.event_s / r.prefill_s;
        const double kv_frac = 1.0 - (double)r.kv_kept / (double)r.kv_full;
        const double heap_frac = (double)r.heap_freed / (double)r.kv_full;
        const bool memory_na = r.method == "full_kv";
        char rss[16];
        if (!r.rss_measured) std::snprintf(rss, sizeof rss, "%7s", "-");
        else std::snprintf(rss, sizeof rss, "%6.1f%%", 100.0 * r.rss_freed / (double)r.kv_full);
        std::printf("%-14s %9.3f %9.4f %7.2f%% %5s | %9.1f %9.1f %6.1f%% %6.1f%% %6.1f%% %7s %5s  %s\n",
                    r.method.c_str(), r.prefill_s, r.event_s, 100.0 * event_frac,
                    event_frac <= event_target ? "PASS" : "FAIL", r.kv_full / mib, r.kv_kept / mib,
                    100.0 * r.entries_kept, 100.0 * kv_frac, 100.0 * heap_frac, rss, memory_na ? "n/a"
                    : std::min(kv_frac, heap_frac) >= freed_target ? "PASS" : "FAIL",
                    r.note.c_str());
    }
    std::printf("\nentries = prompt KV entries kept (kv_cache::bytes() counts vector capacity).\n");
    std::printf("event%% = (scoring + selection for all layers + kv_cache::keep) / prefill with that "
                "method's captures.\nkv_frd / heap_fr / rss_fr = prompt KV memory returned by "
                "compressing a FullKV fork, as a share of its kv_cache::bytes(): from bytes(), from "
                "mallinfo2().uordblks, from RSS. Memory PASS needs both kv_frd and heap_fr >= 85%%.\n");
    return 0;
}
