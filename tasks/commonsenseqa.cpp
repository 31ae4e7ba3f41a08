// CommonsenseQA v1.11, generation-based. Spec: docs/evaluation-protocol.md §4.
// Test = dev_rand_split.jsonl (the labelled validation split, 1221 items; ids are the dataset's).
// Shots (DECISION): the first k (default 4) items of train_rand_split.jsonl. Layout (lm-eval
// commonsense_qa prompt used generatively): "Question: {stem}\nA. ..\nE. ..\nAnswer:", shots
// followed by " {answerKey}" and a blank line. Extraction = the MMLU rules with letters A-E.
#include <stdexcept>

#include "tasks/multiple_choice.h"
#include "tasks/task_data.h"

static const char* CSQA_NAME = "commonsenseqa";
static constexpr int32_t CSQA_CHOICES = 5;
static constexpr int32_t CSQA_DEFAULT_SHOTS = 4;
static constexpr int32_t CSQA_MAX_SHOTS = 8; // bundled train lines

struct csqa_row {
    std::string id;
    std::string stem;
    std::vector<std::string> choices; // [5], labels A..E in order
    std::string answer;               // "A".."E"
};

static std::vector<csqa_row> csqa_read(const std::string& path, int32_t max_records) {
    std::vector<csqa_row> rows;
    for (const jsonl_record& rec : task_read_jsonl(path, max_records)) {
        const std::string where = task_where(path, rec.line);
        csqa_row r;
        r.id = json_string(rec.value, "id", where);
        r.answer = json_string(rec.value, "answerKey", where);
        if (r.answer.size() != 1 || r.answer[0] < 'A' || r.answer[0] > 'E')
            throw std::runtime_error(where + ": field 'answerKey': unknown label '" + r.answer +
                                     "' (expected A..E)");
        const nlohmann::json& q = json_field(rec.value, "question", where);
        r.stem = json_string(q, "stem", where + ": question");
        const nlohmann::json& choices = json_field(q, "choices", where + ": question");
        if (!choices.is_array() || choices.size() != CSQA_CHOICES)
            throw std::runtime_error(where + ": field 'question.choices' must hold 5 choices");
        for (size_t i = 0; i < choices.size(); ++i) {
            const std::string cw = where + ": question.choices[" + std::to_string(i) + "]";
            const std::string label = json_string(choices[i], "label", cw);
            if (label != std::string(1, static_cast<char>('A' + i)))
                throw std::runtime_error(cw + ": field 'label': expected '" +
                                         std::string(1, static_cast<char>('A' + i)) + "', got '" +
                                         label + "'");
            r.choices.push_back(json_string(choices[i], "text", cw));
        }
        rows.push_back(std::move(r));
    }
    return rows;
}

static std::vector<task_item> csqa_load(const task_options& options) {
    task_check_params(options, {"max_new_tokens"}, CSQA_NAME);
    const int32_t k = task_shot_count(options, CSQA_DEFAULT_SHOTS, CSQA_MAX_SHOTS, CSQA_NAME);
    const std::string dir = task_data_dir(options);
    const std::string train_path = task_resolve_file(dir, "commonsenseqa/train_rand_split.jsonl");
    const std::vector<csqa_row> train = csqa_read(train_path, k);
    if (static_cast<int32_t>(train.size()) < k)
        throw std::runtime_error(train_path + ": " + std::to_string(train.size()) + " items, " +
                                 std::to_string(k) + " shots requested");
    std::vector<text_segment> shots;
    for (int32_t s = 0; s < k; ++s) {
        const csqa_row& r = train[static_cast<size_t>(s)];
        shots.push_back(
            {SEGMENT_SHOT,
             choice_format_question("Question: ", r.stem, r.choices) + " " + r.answer + "\n\n", s});
    }
    std::vector<task_item> items;
    for (const csqa_row& r :
         csqa_read(task_resolve_file(dir, "commonsenseqa/dev_rand_split.jsonl"), -1)) {
        task_item item;
        item.id = r.id;
        item.prompt.user = shots;
        item.prompt.user.push_back(
            {SEGMENT_QUESTION, choice_format_question("Question: ", r.stem, r.choices), -1});
        item.gold = r.answer;
        items.push_back(std::move(item));
    }
    return task_select_items(std::move(items), options, CSQA_NAME);
}

static task_score csqa_score(const task_item& item, const std::string& output,
                             const task_options&) {
    return choice_score(item, output, CSQA_CHOICES);
}

extern const task_def task_commonsenseqa;
const task_def task_commonsenseqa = {CSQA_NAME, "commonsenseqa",   "acc",
                                     csqa_load, choice_generation, csqa_score};
