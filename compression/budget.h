// Ratio -> token budget and the small-budget rules every token method shares (spec section 0.2).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compression/compressor.h"

// Throws std::invalid_argument naming the value unless 0 < keep_ratio <= 1.
void budget_check_ratio(double keep_ratio);

// B = round(keep_ratio * n), half to even like Python's round (KVCF): n=25, r=0.1 gives 2.
int32_t budget_tokens(double keep_ratio, int32_t n);

// Positions begin..end-1.
std::vector<int32_t> budget_range(int32_t begin, int32_t end);

// The same kept positions for every one of n_heads cache heads.
head_selection budget_same_for_heads(int32_t n_heads, const std::vector<int32_t>& positions);

// Kept set of a token method keeping `total` prompt tokens (window of w included) when no
// scores are needed: all n when total >= n, the last `total` when total <= w. Returns false
// when scores must decide.
bool budget_shortcut(int32_t n, int32_t total, int32_t w, std::vector<int32_t>& kept);

// Prompt tokens a method may evict from: all n, or with protect_question (kvpress: the question
// and the template after it are never evicted; spec 0.3) the context before the first
// SEGMENT_QUESTION span of ctx.spans. Throws naming the method when no question span exists.
int32_t budget_compressible(const compress_context& ctx, int32_t n, bool protect_question,
                            const std::string& method);

// A token method's kept set when it keeps `total` of the nc compressible tokens (window of w
// included): budget_shortcut's sets, else choose() per cache head; then the protected suffix
// [nc, n) for every head.
head_selection budget_select(int32_t nc, int32_t n, int32_t total, int32_t w, int32_t heads,
                             const std::function<head_selection()>& choose);

// Prompt entries such a selection holds per head: min(nc, total) + (n - nc).
int32_t budget_kept(int32_t nc, int32_t n, int32_t total);

// Prompt entries a token method with the plain ratio budget keeps per head (StreamingLLM, H2O,
// SnapKV): budget_kept over budget_compressible with B = budget_tokens(r, nc).
int32_t budget_prompt_kept(const compress_context& ctx, int32_t n, bool protect_question,
                           const std::string& method);

// StreamingLLM's set: min(sinks, total) first positions + the rest from the end (spec 2, 12).
std::vector<int32_t> budget_sinks_and_recent(int32_t n, int32_t total, int32_t sinks);
