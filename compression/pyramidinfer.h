// PyramidInfer's schedule (spec section 7), exposed for the runner (achieved keep fraction) and
// tests.
#pragma once
#include <cstdint>
#include <vector>

struct pyramidinfer_params {
    double recent_ratio = 0.2;        // R = int(n * recent_ratio); the last R+1 rows are "recent"
    double distance_weight = 1.2;     // weight of the newest recent row (oldest: 1.0)
    int32_t sinks = 4;                // first context rows always kept
    int32_t min_ctx = 64;             // contexts this short are never reduced
    bool match_ratio = true;          // DECISION: choose prefill_decay_ratio from keep_ratio
    double prefill_decay_ratio = 0.9; // used when match_ratio is false (PInfer-orig default 0.9)
    bool decode_compression = true;   // reduce each block of generated tokens (PInfer-orig)
    int32_t gen_block = 16;           // exceed_length_to_compress
    double gen_keep_ratio =
        0.9; // a block keeps max(1, int(gen_block * gen_keep_ratio * rho_gen_l))
    double gen_decay_ratio = 0.1; // floor of the cosine schedule rho_gen_l
};

// rho_l = (1 - d) * (cos(pi * l / L) + 1) / 2 + d: 1 at layer 0, about d at the last layer.
double pyramidinfer_decay(double d, int32_t layer, int32_t n_layers);

struct pyramidinfer_plan {
    double decay = 1.0;         // prefill_decay_ratio in use
    int32_t recent = 0;         // R + 1 rows never dropped (the last token and the R before it)
    int32_t min_ctx = 0;        // min(params.min_ctx, n - recent)
    std::vector<int32_t> rows;  // [n_layers] prompt rows held by layer l's cache (rows[0] = n)
    double kept_fraction = 1.0; // mean over layers of rows[l] / n: the achieved keep ratio
};

// The row counts depend on n, L, R and the schedule only, so the plan (and with match_ratio the
// decay whose kept_fraction is closest to keep_ratio, searched on a 0.001 grid, ties to the larger
// decay) is known before the prefill. keep_ratio = 1 gives the identity plan.
pyramidinfer_plan pyramidinfer_make_plan(const pyramidinfer_params& p, int32_t n, int32_t n_layers,
                                         double keep_ratio);

// Context rows that go on after a layer with decay factor rho (spec 7 step 6).
int32_t pyramidinfer_context_after(int32_t ctx, int32_t min_ctx, double rho);
