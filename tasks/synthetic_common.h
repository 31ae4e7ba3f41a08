// Synthetic tasks for the bundled kvsweep-tiny model (synth_arith, synth_recall, synth_choice,
// synth_longgen): items generated from a seed, so the demo needs no data files.
// The format contract is tools/tinymodel/FORMAT.md; tools/tinymodel/synth.py is the Python twin
// the model was trained on, and tests/synthetic checks that both produce byte-identical items.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task.h"

// splitmix64. below(n) is a plain modulo: its bias does not matter, equality with synth.py does.
struct synth_rng {
    uint64_t state = 0;
    uint64_t next();
    uint64_t below(uint64_t n);
    int32_t between(int32_t lo, int32_t hi); // inclusive
    template <typename T> void shuffle(std::vector<T>& v) {
        for (size_t i = v.size(); i-- > 1;) std::swap(v[i], v[below(i + 1)]);
    }
};

// The stream of item `index` of task `tag` (1 arith, 2 recall, 3 choice, 4 longgen).
synth_rng synth_item_rng(uint64_t seed, uint64_t tag, uint64_t index);

extern const std::vector<std::string> SYNTH_NAMES;  // 20 first names
extern const std::vector<std::string> SYNTH_ITEMS;  // 10 plural nouns

// {lo, lo + 1, ..., hi}
std::vector<int32_t> synth_numbers(int32_t lo, int32_t hi);

// One arithmetic word problem (GSM8K layout).
struct synth_problem {
    std::string question;
    std::string cot; // worked answer ending "The answer is N."
    int32_t answer = 0;
};
synth_problem synth_arith_problem(synth_rng& r);

// What every synthetic task reads from task_options: the seed (params.seed, default
// SYNTH_DEFAULT_SEED = the training script's held-out seed), the item count (options.limit,
// default SYNTH_DEFAULT_ITEMS) and the shots.
constexpr int32_t SYNTH_DEFAULT_SEED = 2025;
constexpr int32_t SYNTH_DEFAULT_ITEMS = 200;
struct synth_setup {
    uint64_t seed = SYNTH_DEFAULT_SEED;
    int32_t n_items = SYNTH_DEFAULT_ITEMS;
    int32_t shots = 0;
};
synth_setup synth_read_setup(const task_options& options, const std::string& task_name, int32_t default_shots,
                             int32_t max_shots);

// options.params[key] checked to lie in [lo, hi]; the error names "params.<key>".
int32_t synth_param(const task_options& options, const std::string& key, int32_t fallback, int32_t lo, int32_t hi);

// An item with the task's system text; id "<task>-<seed>-<index>"; extra.answer = the reference
// completion the model was trained to produce.
task_item synth_make_item(const std::string& task_name, const std::string& system, uint64_t seed, int32_t index,
                          std::vector<text_segment> user, const std::string& answer, const std::string& gold);

// Applies options.items_file (ids of the generated items) after generation; limit is the count.
std::vector<task_item> synth_select(std::vector<task_item> items, const task_options& options,
                                    const std::string& task_name);

// The text after the first "The answer is " up to the next "." or end of line ("" if absent).
std::string synth_extract_answer(const std::string& output);

// Score of a single-answer task: extracted answer vs gold, metric "exact_match".
task_score synth_score_single(const task_item& item, const std::string& output, const task_options& options);

// Generation settings shared by the tasks: a token cap, stopping at a blank line.
generation_settings synth_generation(int32_t max_new_tokens);
