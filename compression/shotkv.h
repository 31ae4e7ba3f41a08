// ShotKV's shot bookkeeping (spec section 8), exposed for tests and the runner's checks.
#pragma once
#include <cstdint>
#include <vector>

#include "common/prompt.h"

struct shot_info {
    int32_t shot_id = -1;
    std::vector<int32_t> positions; // [k_i] every token of the shot (all its spans), ascending
};

struct shot_layout {
    std::vector<shot_info> shots;   // ordered by first position (the tie-break order)
    std::vector<int32_t> mandatory; // [|M|] positions in no shot span: always kept, ascending
};

// Groups SEGMENT_SHOT spans by shot_id (non-contiguous ranges join one shot); positions covered
// by no span are mandatory. Throws std::invalid_argument naming the span for spans out of
// [0, n), out of order or overlapping, or shot spans without a shot_id.
shot_layout shotkv_layout(const std::vector<token_span>& spans, int32_t n);

// Shots to keep (indices into layout.shots, ascending) by descending score (ties: earlier shot),
// adding a shot when its tokens fit the remaining budget; a misfit is skipped (first-fit) or
// ends the walk (stop_at_first_misfit).
std::vector<int32_t> shotkv_choose(const shot_layout& layout, const std::vector<double>& score,
                                   int32_t shot_budget, bool stop_at_first_misfit);
