// MMLU (Hendrycks et al.), generation-based. Spec: docs/evaluation-protocol.md §3.
// Files: mmlu/dev/<subject>_dev.csv and mmlu/test/<subject>_test.csv(.gz), no header, columns
// question,A,B,C,D,answer. Subjects = the dev files in name order. Shots: the first k dev rows of
// the item's subject in file order (default 5; 0 for the zero-shot setting). Layout (lm-eval
// generative template): a subject header line and a blank line (SEGMENT_SYSTEM), each shot
// "{question}\nA. ..\nD. ..\nAnswer: {letter}\n\n", then the test item ending at "Answer:".
// Scores: acc per item; the subject is stored in extracted.subject so reports can add the
// subject-macro mean next to the micro mean.
#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "tasks/multiple_choice.h"
#include "tasks/task_data.h"

static const char* MMLU_NAME = "mmlu";
static constexpr int32_t MMLU_CHOICES = 4;
static constexpr int32_t MMLU_MAX_SHOTS = 5;

struct mmlu_row {
    std::string question;
    std::vector<std::string> choices; // [4]
    std::string answer;               // "A".."D"
};

static std::vector<mmlu_row> mmlu_read_csv(const std::string& path) {
    std::vector<mmlu_row> rows;
    for (const csv_record& rec : csv_read_file(path)) {
        const std::string where = task_where(path, rec.line);
        if (rec.fields.size() != 6)
            throw std::runtime_error(where +
                                     ": expected 6 columns (question,A,B,C,D,answer), got " +
                                     std::to_string(rec.fields.size()));
        mmlu_row r;
        r.question = rec.fields[0];
        r.choices.assign(rec.fields.begin() + 1, rec.fields.begin() + 5);
        r.answer = text_trim(rec.fields[5]);
        if (r.answer.size() != 1 || r.answer[0] < 'A' || r.answer[0] >= 'A' + MMLU_CHOICES)
            throw std::runtime_error(where + ": field 'answer': unknown label '" + r.answer +
                                     "' (expected A, B, C or D)");
        rows.push_back(std::move(r));
    }
    return rows;
}

static std::vector<std::string> mmlu_subjects(const std::string& dir) {
    const std::string dev = dir + "/mmlu/dev";
    if (!std::filesystem::is_directory(dev))
        throw std::runtime_error("MMLU dev folder not found: " + dev + "; set the task's data_dir");
    std::vector<std::string> subjects;
    const std::string suffix = "_dev.csv";
    for (const auto& entry : std::filesystem::directory_iterator(dev)) {
        const std::string name = entry.path().filename().string();
        if (name.size() > suffix.size() && name.ends_with(suffix))
            subjects.push_back(name.substr(0, name.size() - suffix.size()));
    }
    std::sort(subjects.begin(), subjects.end());
    if (subjects.empty()) throw std::runtime_error(dev + ": no <subject>_dev.csv files");
    return subjects;
}

static std::vector<task_item> mmlu_load(const task_options& options) {
    task_check_params(options, {"max_new_tokens"}, MMLU_NAME);
    const int32_t k = task_shot_count(options, MMLU_MAX_SHOTS, MMLU_MAX_SHOTS, MMLU_NAME);
    const std::string dir = task_data_dir(options);
    std::vector<task_item> items;
    for (const std::string& subject : mmlu_subjects(dir)) {
        const std::string dev_path = task_resolve_file(dir, "mmlu/dev/" + subject + "_dev.csv");
        const std::vector<mmlu_row> dev = mmlu_read_csv(dev_path);
        if (static_cast<int32_t>(dev.size()) < k)
            throw std::runtime_error(dev_path + ": " + std::to_string(dev.size()) + " rows, " +
                                     std::to_string(k) + " shots requested");
        std::string spaced = subject;
        std::replace(spaced.begin(), spaced.end(), '_', ' ');
        std::vector<text_segment> head = {
            {SEGMENT_SYSTEM,
             "The following are multiple choice questions (with answers) about " + spaced + ".\n\n",
             -1}};
        for (int32_t s = 0; s < k; ++s) {
            const mmlu_row& r = dev[static_cast<size_t>(s)];
            head.push_back(
                {SEGMENT_SHOT,
                 choice_format_question("", r.question, r.choices) + " " + r.answer + "\n\n", s});
        }
        const std::vector<mmlu_row> test =
            mmlu_read_csv(task_resolve_file(dir, "mmlu/test/" + subject + "_test.csv"));
        for (size_t i = 0; i < test.size(); ++i) {
            task_item item;
            item.id = subject + "/" + std::to_string(i);
            item.prompt.user = head;
            item.prompt.user.push_back(
                {SEGMENT_QUESTION, choice_format_question("", test[i].question, test[i].choices),
                 -1});
            item.gold = test[i].answer;
            item.extra["subject"] = subject;
            items.push_back(std::move(item));
        }
    }
    return task_select_items(std::move(items), options, MMLU_NAME);
}

static task_score mmlu_score(const task_item& item, const std::string& output,
                             const task_options&) {
    task_score s = choice_score(item, output, MMLU_CHOICES);
    s.extracted["subject"] = item.extra.value("subject", "");
    return s;
}

extern const task_def task_mmlu;
const task_def task_mmlu = {MMLU_NAME, "mmlu", "acc", mmlu_load, choice_generation, mmlu_score};
