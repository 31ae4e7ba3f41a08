#include "compression/budget.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

void budget_check_ratio(double keep_ratio) {
    if (!(keep_ratio > 0.0 && keep_ratio <= 1.0)) {
        std::ostringstream msg;
        msg << "keep_ratio " << keep_ratio
            << " outside (0, 1] (fraction of prompt KV kept; 0.1 is the most aggressive)";
        throw std::invalid_argument(msg.str());
    }
}

int32_t budget_tokens(double keep_ratio, int32_t n) {
    budget_check_ratio(keep_ratio);
    // nearbyint honours the default round-to-nearest-even mode; std::round would give 3 for 2.5.
    return (int32_t)std::nearbyint(keep_ratio * (double)n);
}

std::vector<int32_t> budget_range(int32_t begin, int32_t end) {
    std::vector<int32_t> out;
    for (int32_t p = begin; p < end; ++p)
        out.push_back(p);
    return out;
}

head_selection budget_same_for_heads(int32_t n_heads, const std::vector<int32_t>& positions) {
    return head_selection((size_t)n_heads, positions);
}

bool budget_shortcut(int32_t n, int32_t total, int32_t w, std::vector<int32_t>& kept) {
    if (total >= n) {
        kept = budget_range(0, n);
        return true;
    }
    if (total <= w) {
        kept = budget_range(n - std::max(total, 0), n);
        return true;
    }
    return false;
}

int32_t budget_compressible(const compress_context& ctx, int32_t n, bool protect_question,
                            const std::string& method) {
    if (!protect_question) return n;
    if (ctx.spans != nullptr) {
        for (const token_span& sp : *ctx.spans) {
            if (sp.kind == SEGMENT_QUESTION) return std::clamp(sp.start, 0, n);
        }
    }
    throw std::invalid_argument(method + ": protect_question needs a question segment in "
                                         "compress_context.spans");
}

head_selection budget_select(int32_t nc, int32_t n, int32_t total, int32_t w, int32_t heads,
                             const std::function<head_selection()>& choose) {
    std::vector<int32_t> kept;
    head_selection sel =
        budget_shortcut(nc, total, w, kept) ? budget_same_for_heads(heads, kept) : choose();
    for (std::vector<int32_t>& head : sel) {
        for (int32_t p = nc; p < n; ++p)
            head.push_back(p);
    }
    return sel;
}

int32_t budget_kept(int32_t nc, int32_t n, int32_t total) {
    return std::min(nc, std::max(total, 0)) + (n - nc);
}

int32_t budget_prompt_kept(const compress_context& ctx, int32_t n, bool protect_question,
                           const std::string& method) {
    const int32_t nc = budget_compressible(ctx, n, protect_question, method);
    return budget_kept(nc, n, budget_tokens(ctx.keep_ratio, nc));
}

std::vector<int32_t> budget_sinks_and_recent(int32_t n, int32_t total, int32_t sinks) {
    if (total >= n) return budget_range(0, n);
    const int32_t s = std::min(sinks, total);
    std::vector<int32_t> kept = budget_range(0, s);
    for (int32_t p = n - (total - s); p < n; ++p)
        kept.push_back(p);
    return kept;
}
