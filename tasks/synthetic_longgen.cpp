// synth_longgen: LongGenBench-style. `shots` worked problems laid out as Question_1..m then
// Answer_1..m (each exemplar = two non-contiguous SEGMENT_SHOT pieces sharing a shot_id), then K
// = params.questions problems numbered m+1..m+K, all answered in one generation as
// "Answer_i:\n<chain of thought>" lines. Headline "accuracy" = fraction of the K answers right,
// each found by its "Answer_i:" label. Format: tools/tinymodel/FORMAT.md.
#include "tasks/synthetic_common.h"
#include "tasks/task_data.h"

static const char* LONGGEN_NAME = "synth_longgen";
static const char* LONGGEN_SYSTEM =
    "Answer every question in order. Start each answer with Answer_i: and end it with The answer is N.";

static std::vector<task_item> longgen_load(const task_options& options) {
    const synth_setup setup = synth_read_setup(options, LONGGEN_NAME, 1, 8);
    const int32_t k = synth_param(options, "questions", 3, 1, 64);
    const int32_t m = setup.shots;
    std::vector<task_item> items;
    for (int32_t i = 0; i < setup.n_items; ++i) {
        synth_rng r = synth_item_rng(setup.seed, 4, static_cast<uint64_t>(i));
        std::vector<synth_problem> shots, asked;
        for (int32_t s = 0; s < m; ++s) shots.push_back(synth_arith_problem(r));
        for (int32_t q = 0; q < k; ++q) asked.push_back(synth_arith_problem(r));
        std::vector<text_segment> user = {{SEGMENT_SYSTEM, "Examples:\n", -1}};
        for (int32_t s = 0; s < m; ++s)
            user.push_back({SEGMENT_SHOT, "Question_" + std::to_string(s + 1) + ":\n" + shots[s].question + "\n", s});
        for (int32_t s = 0; s < m; ++s)
            user.push_back({SEGMENT_SHOT, "Answer_" + std::to_string(s + 1) + ":\n" + shots[s].cot + "\n\n", s});
        std::string questions = "Following Question:", answer, gold;
        for (int32_t q = 0; q < k; ++q) {
            const std::string n = std::to_string(m + q + 1);
            questions += "\nQuestion_" + n + ":\n" + asked[q].question;
            answer += (q ? "\n" : "") + ("Answer_" + n + ":\n" + asked[q].cot);
            gold += (q ? "," : "") + std::to_string(asked[q].answer);
        }
        user.push_back({SEGMENT_QUESTION, questions, -1});
        task_item item = synth_make_item(LONGGEN_NAME, LONGGEN_SYSTEM, setup.seed, i, std::move(user), answer, gold);
        item.extra["first_index"] = m + 1;
        items.push_back(std::move(item));
    }
    return synth_select(std::move(items), options, LONGGEN_NAME);
}

static generation_settings longgen_generation(const task_options& options) {
    return synth_generation(40 * synth_param(options, "questions", 3, 1, 64));
}

static task_score longgen_score(const task_item& item, const std::string& output, const task_options&) {
    std::vector<std::string> gold;
    for (size_t from = 0;;) {
        const size_t comma = item.gold.find(',', from);
        gold.push_back(item.gold.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
        if (comma == std::string::npos) break;
        from = comma + 1;
    }
    const int32_t first = item.extra.at("first_index").get<int32_t>();
    task_score s;
    s.extracted["answers"] = nlohmann::json::array();
    int32_t right = 0;
    for (size_t q = 0; q < gold.size(); ++q) {
        // the answer of question n is the text after the first "Answer_n:" up to the next label
        const std::string label = "Answer_" + std::to_string(first + static_cast<int32_t>(q)) + ":";
        const size_t at = output.find(label);
        std::string got;
        if (at != std::string::npos) {
            const size_t end = output.find("Answer_", at + label.size());
            got = synth_extract_answer(output.substr(at + label.size(), end == std::string::npos ? std::string::npos
                                                                                               : end - at - label.size()));
        }
        s.extracted["answers"].push_back(got);
        right += got == gold[q] ? 1 : 0;
    }
    s.scores["accuracy"] = static_cast<double>(right) / static_cast<double>(gold.size());
    s.scores["all_correct"] = right == static_cast<int32_t>(gold.size()) ? 1.0 : 0.0;
    return s;
}

extern const task_def task_synth_longgen;
const task_def task_synth_longgen = {LONGGEN_NAME, "synthetic", "accuracy", longgen_load, longgen_generation,
                                     longgen_score};
