// synth_choice: multiple choice A-E answerable from the item's own facts ("Box 17 holds 48. ...",
// "Q: What does box 17 hold?", "Options: A 12, B 48, ..., E 33." among which every fact's code).
// Format: tools/tinymodel/FORMAT.md.
#include <algorithm>

#include "tasks/synthetic_common.h"

static const char* CHOICE_NAME = "synth_choice";
static const char* CHOICE_SYSTEM =
    "Read the facts and pick the option that matches. End with: The answer is X.";
static const char* LETTERS = "ABCDE";
static constexpr int32_t N_OPTIONS = 5;

struct choice_problem {
    std::string text;   // facts, question and options A-E
    std::string answer; // the fact marked " 1", the walk to the matching option, "The answer is L."
    char letter = 'A';
};

// The reply walks the options up to the one holding `code` ("A 12 0, B 48 1."), each option's
// number followed by 1 if it is the code, else 0. Every step is a forward lookup (recall's copy of
// a number two tokens after its key): the option's number after its letter, then the digit after
// that number: only the code was followed by " 1" before, where the reply restated the asked fact
// ("Box 17 holds 48 1."). The letters come in their fixed order, so the answer's letter is the
// last one written, never a copied letter (which the small model did not learn).
static std::string choice_walk(const std::vector<int32_t>& options, int32_t code) {
    std::string walk;
    for (size_t i = 0; i < options.size(); ++i) {
        const bool match = options[i] == code;
        walk += (i ? ", " : "") + std::string(1, LETTERS[i]) + " " + std::to_string(options[i]) +
                (match ? " 1" : " 0");
        if (match) break;
    }
    return walk + ".";
}

// Box i holds codes[i]; the options are the five codes (every fact's code plus spare ones).
static choice_problem make_problem(synth_rng& r, const std::vector<int32_t>& boxes,
                                   const std::vector<int32_t>& codes) {
    const int32_t n = static_cast<int32_t>(boxes.size());
    const int32_t asked = static_cast<int32_t>(r.below(static_cast<uint64_t>(n)));
    std::vector<int32_t> options = codes;
    r.shuffle(options);
    choice_problem p;
    for (int32_t i = 0; i < n; ++i)
        p.text += (i ? " Box " : "Box ") + std::to_string(boxes[i]) + " holds " +
                  std::to_string(codes[i]) + ".";
    p.text += "\nQ: What does box " + std::to_string(boxes[asked]) + " hold?\nOptions:";
    for (int32_t i = 0; i < N_OPTIONS; ++i)
        p.text += (i ? ", " : " ") + std::string(1, LETTERS[i]) + " " + std::to_string(options[i]);
    p.text += ".";
    const int32_t code = codes[asked];
    p.letter = LETTERS[std::find(options.begin(), options.end(), code) - options.begin()];
    p.answer = "Box " + std::to_string(boxes[asked]) + " holds " + std::to_string(code) + " 1. " +
               choice_walk(options, code) + " The answer is " + std::string(1, p.letter) + ".";
    return p;
}

static std::vector<task_item> choice_load(const task_options& options) {
    const synth_setup setup = synth_read_setup(options, CHOICE_NAME, 2, 8);
    const int32_t n_facts = synth_param(options, "facts", 4, 2, 5); // (8 + 1) * 5 <= 99 boxes
    const int32_t problems = setup.shots + 1;
    std::vector<task_item> items;
    for (int32_t i = 0; i < setup.n_items; ++i) {
        synth_rng r = synth_item_rng(setup.seed, 3, static_cast<uint64_t>(i));
        // Boxes and codes are distinct across the prompt and no code is a box number: no shot
        // contradicts the question, and a number in the walk was followed by " 1" before only if
        // it is the asked code. At most 45 boxes leave at least 45 = 9 * 5 codes of 10..99.
        std::vector<int32_t> boxes = synth_numbers(1, 99);
        r.shuffle(boxes);
        boxes.resize(static_cast<size_t>(problems * n_facts));
        std::vector<int32_t> codes;
        for (int32_t c = 10; c <= 99; ++c)
            if (std::find(boxes.begin(), boxes.end(), c) == boxes.end()) codes.push_back(c);
        r.shuffle(codes);
        auto slice = [](const std::vector<int32_t>& v, int32_t k, int32_t n) {
            return std::vector<int32_t>(v.begin() + k * n, v.begin() + (k + 1) * n);
        };
        std::vector<text_segment> user;
        choice_problem p;
        for (int32_t k = 0; k < problems; ++k) {
            p = make_problem(r, slice(boxes, k, n_facts), slice(codes, k, N_OPTIONS));
            if (k < setup.shots) user.push_back({SEGMENT_SHOT, p.text + "\n" + p.answer + "\n\n", k});
        }
        user.push_back({SEGMENT_QUESTION, p.text, -1});
        items.push_back(synth_make_item(CHOICE_NAME, CHOICE_SYSTEM, setup.seed, i, std::move(user),
                                        p.answer, std::string(1, p.letter)));
    }
    return synth_select(std::move(items), options, CHOICE_NAME);
}

static generation_settings choice_generation(const task_options&) {
    return synth_generation(48); // a walk through all five options is ~36 tokens
}

extern const task_def task_synth_choice;
const task_def task_synth_choice = {CHOICE_NAME, "synthetic",       "exact_match",
                                    choice_load, choice_generation, synth_score_single};
