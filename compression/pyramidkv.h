// PyramidKV's per-layer budget (spec section 5), exposed for the runner's checks and the tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

enum pyramid_schedule : int32_t {
    PYRAMID_KVCF = 0,    // integer arithmetic of KVCF PyramidKVCluster (default)
    PYRAMID_KVPRESS = 1, // float steps and round() of kvpress PyramidKVPress
};
extern const std::vector<std::string> pyramid_schedule_names; // index = enum value

// Prompt tokens layer `layer` keeps (observation window of w included), before the small-budget
// rules: KVCF gives C_l + w, or B in its SnapKV regime (n < 2(B-w)); n when nothing is compressed.
int32_t pyramidkv_layer_budget(pyramid_schedule schedule, double keep_ratio, int32_t n, int32_t w,
                               int32_t beta, int32_t n_layers, int32_t layer);
