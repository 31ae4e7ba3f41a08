// GSM8K, 8-shot chain of thought (Wei et al. 2022 exemplars as shipped in lm-eval gsm8k-cot.yaml).
// Spec: docs/evaluation-protocol.md §1. Layout: the classic "Q: ...\nA: <target>" blocks joined by
// a blank line (DECISION), k < 8 shots = the first k exemplars. Headline = flexible-extract exact
// match; strict-match and the LongGenBench last-number rule are stored alongside.
#include "tasks/gsm8k.h"

#include <regex>
#include <stdexcept>

#include "tasks/task_data.h"

static const char* GSM8K_NAME = "gsm8k";
static const char* GSM8K_EXEMPLARS = "gsm8k_cot_exemplars/gsm8k_cot_8shot.json";
static constexpr int32_t GSM8K_MAX_SHOTS = 8;

std::vector<gsm8k_problem> gsm8k_read(const task_options& options, const std::string& rel,
                                      int32_t max_records) {
    const std::string path = task_resolve_file(task_data_dir(options), rel);
    std::vector<gsm8k_problem> out;
    for (const jsonl_record& rec : task_read_jsonl(path, max_records)) {
        const std::string where = task_where(path, rec.line);
        gsm8k_problem p;
        p.question = json_string(rec.value, "question", where);
        p.answer = json_string(rec.value, "answer", where);
        const size_t mark = p.answer.rfind("####");
        if (mark == std::string::npos)
            throw std::runtime_error(where + ": field 'answer' has no '####' final answer");
        p.gold = text_trim(p.answer.substr(mark + 4));
        text_replace_all(p.gold, ",", "");
        if (p.gold.empty())
            throw std::runtime_error(where + ": field 'answer' has an empty final answer");
        out.push_back(std::move(p));
    }
    return out;
}

std::vector<task_item> gsm8k_build_items(const std::vector<gsm8k_shot>& shots,
                                         const task_options& options,
                                         const std::string& task_name) {
    std::vector<text_segment> shot_segments;
    for (size_t i = 0; i < shots.size(); ++i) {
        // The blank line that joins blocks ends each shot, so the next segment starts with "Q".
        shot_segments.push_back({SEGMENT_SHOT,
                                 "Q: " + shots[i].question + "\nA: " + shots[i].target + "\n\n",
                                 static_cast<int32_t>(i)});
    }
    std::vector<task_item> items;
    const std::vector<gsm8k_problem> test = gsm8k_read(options, "gsm8k/test.jsonl");
    items.reserve(test.size());
    for (size_t i = 0; i < test.size(); ++i) {
        task_item item;
        item.id = "test-" + std::to_string(i);
        item.prompt.user = shot_segments;
        item.prompt.user.push_back({SEGMENT_QUESTION, "Q: " + test[i].question + "\nA:", -1});
        item.gold = test[i].gold;
        item.extra["solution"] = test[i].answer;
        items.push_back(std::move(item));
    }
    return task_select_items(std::move(items), options, task_name);
}

generation_settings gsm8k_generation(const task_options& options) {
    generation_settings g;
    g.max_new_tokens = task_param_int(options, "max_new_tokens", 256);
    g.stop = {"Q:", "</s>", "<|im_end|>"};
    return g;
}

std::string gsm8k_extract_strict(const std::string& output) {
    static const std::regex re(R"(The answer is (\-?[0-9\.\,]+).)");
    std::smatch m;
    if (!std::regex_search(output, m, re)) return GSM8K_INVALID;
    return m[1].str();
}

std::string gsm8k_extract_flexible(const std::string& output) {
    static const std::regex re(R"((-?[$0-9.,]{2,})|(-?[0-9]+))");
    std::string last;
    for (auto it = std::sregex_iterator(output.begin(), output.end(), re);
         it != std::sregex_iterator(); ++it)
        last = (*it)[1].matched ? (*it)[1].str() : (*it)[2].str();
    return last.empty() ? std::string(GSM8K_INVALID) : text_trim(last);
}

std::string gsm8k_normalize(const std::string& text) {
    std::string s;
    for (char c : text)
        if (c != ',' && c != '$') s += c;
    const size_t mark = s.rfind("#### ");
    if (mark != std::string::npos) s = s.substr(mark + 5);
    // Python's `\.$` also matches before a final newline.
    if (!s.empty() && s.back() == '.')
        s.pop_back();
    else if (s.size() >= 2 && s.back() == '\n' && s[s.size() - 2] == '.')
        s.erase(s.size() - 2, 1);
    return text_lower(s);
}

std::string gsm8k_last_number(const std::string& text) {
    static const std::regex re(R"(\d*\.?\d+)");
    std::string s;
    for (char c : text)
        if (c != ',') s += c;
    std::string last;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
        last = it->str();
    return last;
}

task_score gsm8k_score(const task_item& item, const std::string& output, const task_options&) {
    task_score s;
    const std::string strict = gsm8k_extract_strict(output);
    const std::string flexible = gsm8k_extract_flexible(output);
    const std::string last = gsm8k_last_number(output);
    const std::string gold = gsm8k_normalize(item.gold);
    s.extracted["strict_match"] = strict;
    s.extracted["flexible_extract"] = flexible;
    s.extracted["last_number"] = last;
    s.scores["exact_match"] = gsm8k_normalize(flexible) == gold ? 1.0 : 0.0;
    s.scores["strict_match"] = gsm8k_normalize(strict) == gold ? 1.0 : 0.0;
    s.scores["last_number"] = !last.empty() && last == gsm8k_last_number(item.gold) ? 1.0 : 0.0;
    return s;
}

// The 8 exemplars, in file order; `target` is lm-eval's exact target string.
static std::vector<gsm8k_shot> gsm8k_read_exemplars(const task_options& options) {
    const std::string path = task_resolve_file(task_data_dir(options), GSM8K_EXEMPLARS);
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(task_read_file(path));
    } catch (const nlohmann::json::parse_error& e) {
        throw std::runtime_error(path + ": malformed JSON (" + e.what() + ")");
    }
    const nlohmann::json& list = json_field(doc, "exemplars", path);
    if (!list.is_array() || list.size() != GSM8K_MAX_SHOTS)
        throw std::runtime_error(path + ": field 'exemplars' must be an array of 8");
    std::vector<gsm8k_shot> shots;
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string where = path + ": exemplars[" + std::to_string(i) + "]";
        shots.push_back(
            {json_string(list[i], "question", where), json_string(list[i], "target", where)});
    }
    return shots;
}

static std::vector<task_item> gsm8k_load(const task_options& options) {
    task_check_params(options, {"max_new_tokens"}, GSM8K_NAME);
    const int32_t k = task_shot_count(options, GSM8K_MAX_SHOTS, GSM8K_MAX_SHOTS, GSM8K_NAME);
    std::vector<gsm8k_shot> shots = gsm8k_read_exemplars(options);
    shots.resize(static_cast<size_t>(k));
    return gsm8k_build_items(shots, options, GSM8K_NAME);
}

extern const task_def task_gsm8k;
const task_def task_gsm8k = {GSM8K_NAME, "gsm8k",          "exact_match",
                             gsm8k_load, gsm8k_generation, gsm8k_score};
