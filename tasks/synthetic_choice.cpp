// synth_choice: multiple choice A-E answerable from the item's own facts ("Box 17 holds 48. ...",
// "Q: What does box 17 hold?", five options "The code 48 is option B." among which every fact's
// code). Format: tools/tinymodel/FORMAT.md.
#include <algorithm>

#include "tasks/synthetic_common.h"

static const char* CHOICE_NAME = "synth_choice";
static const char* CHOICE_SYSTEM =
    "Read the facts and pick the option that matches. End with: The answer is X.";
static const char* LETTERS = "ABCDE";

struct choice_problem {
    std::string text;   // facts, question and options A-E
    std::string answer; // the fact, then the option, then "The answer is L."
    char letter = 'A';
};

// Options name the value first ("The code 48 is option B."): the letter is then found by the same
// forward lookup as the code (an induction-head copy for a small model), not a backward search.
static choice_problem make_problem(synth_rng& r, const std::vector<int32_t>& boxes) {
    const int32_t n = static_cast<int32_t>(boxes.size());
    std::vector<int32_t> codes = synth_numbers(10, 99);
    r.shuffle(codes);
    const int32_t asked = static_cast<int32_t>(r.below(static_cast<uint64_t>(n)));
    // codes[0..n) are the facts' codes; the first five include them all
    std::vector<int32_t> options(codes.begin(), codes.begin() + 5);
    r.shuffle(options);
    choice_problem p;
    for (int32_t i = 0; i < n; ++i)
        p.text += (i ? " Box " : "Box ") + std::to_string(boxes[i]) + " holds " +
                  std::to_string(codes[i]) + ".";
    p.text += "\nQ: What does box " + std::to_string(boxes[asked]) + " hold?";
    for (int32_t i = 0; i < 5; ++i)
        p.text += "\nThe code " + std::to_string(options[i]) + " is option " + LETTERS[i] + ".";
    const std::string code = std::to_string(codes[asked]);
    p.letter = LETTERS[std::find(options.begin(), options.end(), codes[asked]) - options.begin()];
    const std::string letter(1, p.letter);
    p.answer = "Box " + std::to_string(boxes[asked]) + " holds " + code + ". The code " + code +
               " is option " + letter + ". The answer is " + letter + ".";
    return p;
}

static std::vector<task_item> choice_load(const task_options& options) {
    const synth_setup setup = synth_read_setup(options, CHOICE_NAME, 2, 8);
    const int32_t n_facts = synth_param(options, "facts", 4, 2, 5); // (8 + 1) * 5 <= 99 boxes
    std::vector<task_item> items;
    for (int32_t i = 0; i < setup.n_items; ++i) {
        synth_rng r = synth_item_rng(setup.seed, 3, static_cast<uint64_t>(i));
        // boxes are distinct across the prompt (as in recall): no shot contradicts the question
        std::vector<int32_t> boxes = synth_numbers(1, 99);
        r.shuffle(boxes);
        auto problem_boxes = [&](int32_t k) {
            return std::vector<int32_t>(boxes.begin() + k * n_facts,
                                        boxes.begin() + (k + 1) * n_facts);
        };
        std::vector<text_segment> user;
        for (int32_t s = 0; s < setup.shots; ++s) {
            const choice_problem p = make_problem(r, problem_boxes(s));
            user.push_back({SEGMENT_SHOT, p.text + "\n" + p.answer + "\n\n", s});
        }
        const choice_problem p = make_problem(r, problem_boxes(setup.shots));
        user.push_back({SEGMENT_QUESTION, p.text, -1});
        items.push_back(synth_make_item(CHOICE_NAME, CHOICE_SYSTEM, setup.seed, i, std::move(user),
                                        p.answer, std::string(1, p.letter)));
    }
    return synth_select(std::move(items), options, CHOICE_NAME);
}

static generation_settings choice_generation(const task_options&) {
    return synth_generation(24);
}

extern const task_def task_synth_choice;
const task_def task_synth_choice = {CHOICE_NAME, "synthetic",       "exact_match",
                                    choice_load, choice_generation, synth_score_single};
