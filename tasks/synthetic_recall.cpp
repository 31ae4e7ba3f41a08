// synth_recall: in-context retrieval. Each shot lists `facts_per_shot` facts "Box B holds C." and
// asks one fact seen so far; the question asks any fact of the prompt, so answering needs the KV
// entries of one early fact (the most compression-sensitive task). Format: tools/tinymodel/FORMAT.md.
#include <stdexcept>

#include "tasks/synthetic_common.h"

static const char* RECALL_NAME = "synth_recall";
static const char* RECALL_SYSTEM = "Remember the code of every box. Answer with the code of the box asked.";
static constexpr int32_t RECALL_BOXES = 99; // box numbers 1..99, all distinct within an item

static std::vector<task_item> recall_load(const task_options& options) {
    const synth_setup setup = synth_read_setup(options, RECALL_NAME, 4, RECALL_BOXES);
    const int32_t per_shot = synth_param(options, "facts_per_shot", 3, 1, RECALL_BOXES);
    if (setup.shots < 1) throw std::invalid_argument("shots=0: synth_recall keeps its facts in the shots");
    const int32_t n_facts = setup.shots * per_shot;
    if (n_facts > RECALL_BOXES)
        throw std::invalid_argument("shots * params.facts_per_shot = " + std::to_string(n_facts) +
                                    " exceeds the 99 distinct boxes");
    std::vector<task_item> items;
    for (int32_t i = 0; i < setup.n_items; ++i) {
        synth_rng r = synth_item_rng(setup.seed, 2, static_cast<uint64_t>(i));
        std::vector<int32_t> boxes = synth_numbers(1, RECALL_BOXES);
        r.shuffle(boxes);
        std::vector<int32_t> codes(n_facts);
        for (int32_t& c : codes) c = r.between(10, 99);
        auto ask = [&](int32_t j) { return "Q: What does box " + std::to_string(boxes[j]) + " hold?"; };
        // restating the fact first makes the lookup a plain induction-head copy for a tiny model
        auto reply = [&](int32_t j) {
            const std::string code = std::to_string(codes[j]);
            return "Box " + std::to_string(boxes[j]) + " holds " + code + ". The answer is " + code + ".";
        };
        std::vector<text_segment> user;
        for (int32_t s = 0; s < setup.shots; ++s) {
            std::string text;
            for (int32_t j = s * per_shot; j < (s + 1) * per_shot; ++j)
                text += (text.empty() ? "" : " ") + ("Box " + std::to_string(boxes[j]) + " holds " +
                                                     std::to_string(codes[j]) + ".");
            const int32_t j = static_cast<int32_t>(r.below(static_cast<uint64_t>((s + 1) * per_shot)));
            user.push_back({SEGMENT_SHOT, text + "\n" + ask(j) + "\nA: " + reply(j) + "\n\n", s});
        }
        const int32_t j = static_cast<int32_t>(r.below(static_cast<uint64_t>(n_facts)));
        user.push_back({SEGMENT_QUESTION, ask(j), -1});
        items.push_back(synth_make_item(RECALL_NAME, RECALL_SYSTEM, setup.seed, i, std::move(user), reply(j),
                                        std::to_string(codes[j])));
    }
    return synth_select(std::move(items), options, RECALL_NAME);
}

static generation_settings recall_generation(const task_options&) { return synth_generation(16); }

extern const task_def task_synth_recall;
const task_def task_synth_recall = {RECALL_NAME, "synthetic", "exact_match", recall_load, recall_generation,
                                    synth_score_single};
