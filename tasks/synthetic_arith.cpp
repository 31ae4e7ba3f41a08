// synth_arith: arithmetic word problems in GSM8K's layout ("Q: ...\nA: <chain of thought> The
// answer is N."), k worked shots then the question. Format: tools/tinymodel/FORMAT.md.
#include "tasks/synthetic_common.h"

static const char* ARITH_NAME = "synth_arith";
static const char* ARITH_SYSTEM = "Solve the problem step by step. End with: The answer is N.";

static std::vector<task_item> arith_load(const task_options& options) {
    const synth_setup setup = synth_read_setup(options, ARITH_NAME, 2, 8);
    std::vector<task_item> items;
    for (int32_t i = 0; i < setup.n_items; ++i) {
        synth_rng r = synth_item_rng(setup.seed, 1, static_cast<uint64_t>(i));
        std::vector<text_segment> user;
        for (int32_t s = 0; s < setup.shots; ++s) {
            const synth_problem p = synth_arith_problem(r);
            user.push_back({SEGMENT_SHOT, "Q: " + p.question + "\nA: " + p.cot + "\n\n", s});
        }
        const synth_problem p = synth_arith_problem(r);
        user.push_back({SEGMENT_QUESTION, "Q: " + p.question, -1});
        items.push_back(synth_make_item(ARITH_NAME, ARITH_SYSTEM, setup.seed, i, std::move(user), p.cot,
                                        std::to_string(p.answer)));
    }
    return synth_select(std::move(items), options, ARITH_NAME);
}

static generation_settings arith_generation(const task_options&) { return synth_generation(48); }

extern const task_def task_synth_arith;
const task_def task_synth_arith = {ARITH_NAME, "synthetic", "exact_match", arith_load, arith_generation,
                                   synth_score_single};
