// synth_choice: multiple choice A-E answerable from the item's own facts ("Ann likes red. ...",
// "Q: What color does Ann like?" with five colour options, every liked colour among them).
// Format: tools/tinymodel/FORMAT.md.
#include <algorithm>

#include "tasks/synthetic_common.h"

static const char* CHOICE_NAME = "synth_choice";
static const char* CHOICE_SYSTEM = "Read the facts and pick the right option. End with: The answer is X.";
static const char* LETTERS = "ABCDE";

struct choice_problem {
    std::string text;   // facts, question and options A-E
    std::string answer; // the asked fact restated, then "The answer is L."
    char letter = 'A';
};

static choice_problem make_problem(synth_rng& r, int32_t n_people) {
    std::vector<std::string> names = SYNTH_NAMES;
    r.shuffle(names);
    std::vector<std::string> colors = SYNTH_COLORS;
    r.shuffle(colors);
    const int32_t asked = static_cast<int32_t>(r.below(static_cast<uint64_t>(n_people)));
    // colors[0..n_people) are the liked ones; the first five include them all
    std::vector<std::string> options(colors.begin(), colors.begin() + 5);
    r.shuffle(options);
    choice_problem p;
    for (int32_t i = 0; i < n_people; ++i) p.text += (i ? " " : "") + names[i] + " likes " + colors[i] + ".";
    p.text += "\nQ: What color does " + names[asked] + " like?";
    for (int32_t i = 0; i < 5; ++i) p.text += std::string("\n") + LETTERS[i] + ". " + options[i];
    p.letter = LETTERS[std::find(options.begin(), options.end(), colors[asked]) - options.begin()];
    p.answer = names[asked] + " likes " + colors[asked] + ". The answer is " + p.letter + ".";
    return p;
}

static std::vector<task_item> choice_load(const task_options& options) {
    const synth_setup setup = synth_read_setup(options, CHOICE_NAME, 2, 8);
    const int32_t n_people = synth_param(options, "people", 4, 2, 5);
    std::vector<task_item> items;
    for (int32_t i = 0; i < setup.n_items; ++i) {
        synth_rng r = synth_item_rng(setup.seed, 3, static_cast<uint64_t>(i));
        std::vector<text_segment> user;
        for (int32_t s = 0; s < setup.shots; ++s) {
            const choice_problem p = make_problem(r, n_people);
            user.push_back({SEGMENT_SHOT, p.text + "\n" + p.answer + "\n\n", s});
        }
        const choice_problem p = make_problem(r, n_people);
        user.push_back({SEGMENT_QUESTION, p.text, -1});
        items.push_back(synth_make_item(CHOICE_NAME, CHOICE_SYSTEM, setup.seed, i, std::move(user), p.answer,
                                        std::string(1, p.letter)));
    }
    return synth_select(std::move(items), options, CHOICE_NAME);
}

static generation_settings choice_generation(const task_options&) { return synth_generation(12); }

extern const task_def task_synth_choice;
const task_def task_synth_choice = {CHOICE_NAME, "synthetic", "exact_match", choice_load, choice_generation,
                                    synth_score_single};
