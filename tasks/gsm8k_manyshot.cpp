// Many-shot GSM8K (paper Obs 4 / Table 3, the ShotKV setting): 50 shots.
// Spec: docs/evaluation-protocol.md §2. DECISION (paper silent): the shots are the first 50 items
// of gsm8k/train.jsonl in file order; the rationale is the solution before "####" with the <<...>>
// calculator annotations removed and its lines joined by spaces (the style of the 8 CoT
// exemplars), followed by "The answer is N." so the 8-shot extraction applies unchanged.
// Layout, test set and scoring are those of gsm8k.
#include <regex>

#include "tasks/gsm8k.h"
#include "tasks/task_data.h"

static const char* MANYSHOT_NAME = "gsm8k_manyshot";
static constexpr int32_t MANYSHOT_MAX_SHOTS = 50;

static std::string manyshot_rationale(const std::string& solution) {
    static const std::regex annotation(R"(<<[^>]*>>)");
    std::string body =
        std::regex_replace(solution.substr(0, solution.rfind("####")), annotation, "");
    std::string joined;
    size_t pos = 0;
    while (pos <= body.size()) {
        size_t end = body.find('\n', pos);
        if (end == std::string::npos) end = body.size();
        const std::string line = text_trim(body.substr(pos, end - pos));
        if (!line.empty()) joined += (joined.empty() ? "" : " ") + line;
        pos = end + 1;
    }
    return joined;
}

static std::vector<task_item> manyshot_load(const task_options& options) {
    task_check_params(options, {"max_new_tokens"}, MANYSHOT_NAME);
    const int32_t k =
        task_shot_count(options, MANYSHOT_MAX_SHOTS, MANYSHOT_MAX_SHOTS, MANYSHOT_NAME);
    std::vector<gsm8k_shot> shots;
    for (const gsm8k_problem& p : gsm8k_read(options, "gsm8k/train.jsonl", k))
        shots.push_back(
            {p.question, manyshot_rationale(p.answer) + " The answer is " + p.gold + "."});
    if (static_cast<int32_t>(shots.size()) < k)
        throw std::runtime_error("gsm8k/train.jsonl under " + task_data_dir(options) +
                                 " has only " + std::to_string(shots.size()) + " items; " +
                                 std::to_string(k) + " shots requested");
    return gsm8k_build_items(shots, options, MANYSHOT_NAME);
}

extern const task_def task_gsm8k_manyshot;
const task_def task_gsm8k_manyshot = {MANYSHOT_NAME, "gsm8k",          "exact_match",
                                      manyshot_load, gsm8k_generation, gsm8k_score};
