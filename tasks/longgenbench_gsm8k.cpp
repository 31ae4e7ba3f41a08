// LongGenBench-GSM8K (Liu et al. 2024, arXiv 2410.04199): K GSM8K test questions answered in one
// long generation. Spec: docs/evaluation-protocol.md §7. Items = T consecutive batches of K of the
// first K*T test questions (params.k = 35, params.t = 20), ids "batch-<t>".
// System message = system_prompt of LongGenBench_GSM8K_system_prompt.json, verbatim. User message =
// "Examples: \n" + LongGenBench_GSM8K_prompt.txt + "\n\nFollowing Question: \n" +
// "Question_{i}:\n{q}\n" for i = 9..8+K + "\n", exactly as the reference runner builds it.
// Segments: "Examples: \n" is SEGMENT_SYSTEM; exemplar j is two non-contiguous SEGMENT_SHOT pieces
// (Question_j and Answer_j) sharing shot_id j-1, each ending with its blank-line separator; the
// rest is SEGMENT_QUESTION.
// Scoring: an answer is right when its last number equals the gold's (LongGenBench test_answer).
// acc_index (DECISION, headline): answers found by their "Answer_{i}:" label, i = 9..8+K, first
// occurrence wins, text up to the next label or blank line. acc_order: the reference runner's
// parse, answers taken in order of appearance and matched to the questions by position.
#include <regex>
#include <stdexcept>

#include "tasks/gsm8k.h"
#include "tasks/task_data.h"

static const char* LGB_NAME = "longgenbench_gsm8k";
static constexpr int32_t LGB_SHOTS = 8;
static constexpr int32_t LGB_FIRST_INDEX = LGB_SHOTS + 1; // test questions are numbered from 9

// The exemplar file cut at its "Question_j:" / "Answer_j:" labels into 2 * 8 shot segments.
static std::vector<text_segment> lgb_shot_segments(const std::string& path,
                                                   const std::string& text) {
    static const std::regex label(R"((^|\n)(Question|Answer)_(\d+):)");
    std::vector<size_t> starts;
    std::vector<int32_t> ids;
    std::vector<bool> seen_q(LGB_SHOTS, false), seen_a(LGB_SHOTS, false);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), label);
         it != std::sregex_iterator(); ++it) {
        const std::smatch& m = *it;
        const int32_t j = std::stoi(m[3].str());
        if (j < 1 || j > LGB_SHOTS)
            throw std::runtime_error(path + ": exemplar label " + m[0].str() + " out of 1..8");
        std::vector<bool>& seen = m[2].str() == "Question" ? seen_q : seen_a;
        if (seen[j - 1])
            throw std::runtime_error(path + ": duplicate exemplar label " + m[2].str() + "_" +
                                     m[3].str());
        seen[j - 1] = true;
        starts.push_back(static_cast<size_t>(m.position(0) + m[1].length()));
        ids.push_back(j - 1);
    }
    if (starts.size() != 2 * LGB_SHOTS || starts[0] != 0)
        throw std::runtime_error(
            path + ": expected Question_1..8 and Answer_1..8 labels, the first at the start");
    std::vector<text_segment> segments;
    for (size_t s = 0; s < starts.size(); ++s) {
        const size_t end = s + 1 < starts.size() ? starts[s + 1] : text.size();
        // The last exemplar gets the "\n\n" the runner puts after the file.
        segments.push_back(
            {SEGMENT_SHOT,
             text.substr(starts[s], end - starts[s]) + (s + 1 == starts.size() ? "\n\n" : ""),
             ids[s]});
    }
    return segments;
}

static std::vector<task_item> lgb_load(const task_options& options) {
    if (options.shots >= 0 && options.shots != LGB_SHOTS)
        throw std::invalid_argument("shots=" + std::to_string(options.shots) +
                                    ": longgenbench_gsm8k uses its 8 fixed exemplars");
    task_check_params(options, {"k", "t", "max_new_tokens"}, LGB_NAME);
    const int32_t k = task_param_int(options, "k", 35);
    const int32_t t = task_param_int(options, "t", 20);
    if (k < 1 || t < 1) throw std::invalid_argument("params.k and params.t must be >= 1");
    const std::string dir = task_data_dir(options);
    const std::string sys_path =
        task_resolve_file(dir, "longgenbench/LongGenBench_GSM8K_system_prompt.json");
    nlohmann::json sys;
    try {
        sys = nlohmann::json::parse(task_read_file(sys_path));
    } catch (const nlohmann::json::parse_error& e) {
        throw std::runtime_error(sys_path + ": malformed JSON (" + e.what() + ")");
    }
    const std::string system_prompt = json_string(sys, "system_prompt", sys_path);
    const std::string ex_path =
        task_resolve_file(dir, "longgenbench/LongGenBench_GSM8K_prompt.txt");
    const std::vector<text_segment> shots = lgb_shot_segments(ex_path, task_read_file(ex_path));

    const std::vector<gsm8k_problem> test = gsm8k_read(options, "gsm8k/test.jsonl", k * t);
    if (static_cast<int32_t>(test.size()) < k * t)
        throw std::runtime_error("gsm8k/test.jsonl has " + std::to_string(test.size()) +
                                 " items; k*t = " + std::to_string(k * t) + " needed");
    std::vector<task_item> items;
    for (int32_t b = 0; b < t; ++b) {
        task_item item;
        item.id = "batch-" + std::to_string(b);
        item.prompt.system = {{SEGMENT_SYSTEM, system_prompt, -1}};
        item.prompt.user = {{SEGMENT_SYSTEM, "Examples: \n", -1}};
        item.prompt.user.insert(item.prompt.user.end(), shots.begin(), shots.end());
        std::string questions = "Following Question: \n";
        nlohmann::json golds = nlohmann::json::array();
        std::string gold_text;
        for (int32_t q = 0; q < k; ++q) {
            const gsm8k_problem& p = test[static_cast<size_t>(b * k + q)];
            questions +=
                "Question_" + std::to_string(LGB_FIRST_INDEX + q) + ":\n" + p.question + "\n";
            golds.push_back(p.gold);
            gold_text += (q ? "," : "") + p.gold;
        }
        item.prompt.user.push_back({SEGMENT_QUESTION, questions + "\n", -1});
        item.gold = gold_text;
        item.extra["golds"] = golds;
        item.extra["first_question"] = b * k;
        items.push_back(std::move(item));
    }
    return task_select_items(std::move(items), options, LGB_NAME);
}

static generation_settings lgb_generation(const task_options& options) {
    generation_settings g;
    g.max_new_tokens = task_param_int(options, "max_new_tokens", 4096);
    return g;
}

// DECISION parse: answer i = text after the first "Answer_{i}:" up to the next label or blank line.
static std::vector<std::string> lgb_answers_by_index(const std::string& output, int32_t k,
                                                     std::vector<bool>& found) {
    static const std::regex label(R"(Answer_(\d+)\s*:)");
    std::vector<std::pair<size_t, size_t>> labels; // (label start, text start)
    std::vector<int32_t> index;
    for (auto it = std::sregex_iterator(output.begin(), output.end(), label);
         it != std::sregex_iterator(); ++it) {
        labels.push_back({static_cast<size_t>(it->position(0)),
                          static_cast<size_t>(it->position(0) + it->length(0))});
        index.push_back((*it)[1].length() > 6 ? -1 : std::stoi((*it)[1].str()));
    }
    std::vector<std::string> answers(static_cast<size_t>(k));
    found.assign(static_cast<size_t>(k), false);
    for (size_t l = 0; l < labels.size(); ++l) {
        const int32_t q = index[l] - LGB_FIRST_INDEX;
        if (q < 0 || q >= k || found[static_cast<size_t>(q)]) continue;
        const size_t end = l + 1 < labels.size() ? labels[l + 1].first : output.size();
        std::string text = output.substr(labels[l].second, end - labels[l].second);
        const size_t body = text.find_first_not_of(" \t\r\n");
        const size_t blank =
            body == std::string::npos ? std::string::npos : text.find("\n\n", body);
        if (blank != std::string::npos) text.resize(blank);
        answers[static_cast<size_t>(q)] = text_trim(text);
        found[static_cast<size_t>(q)] = true;
    }
    return answers;
}

// The reference runner: split on "Answer_", join with "\n", then Python's
// re.findall(r'(?<=:\n)(.*?)(?=\n\n|$)', ..., re.DOTALL), each match stripped.
static std::vector<std::string> lgb_answers_by_order(const std::string& output) {
    std::string s = output;
    text_replace_all(s, "Answer_", "\n");
    const size_t n = s.size();
    // Smallest q >= from where the lookahead holds: "\n\n" at q, the end, or a final "\n".
    auto lookahead_end = [&](size_t from) -> size_t {
        const size_t blank = s.find("\n\n", from);
        const size_t end = (n > 0 && s[n - 1] == '\n' && from <= n - 1) ? n - 1 : n;
        return std::min(blank, end);
    };
    std::vector<std::string> out;
    size_t pos = 0;
    size_t last_empty =
        std::string::npos; // after an empty match Python needs a non-empty one there
    while (pos <= n) {
        const size_t f = s.find(":\n", pos >= 2 ? pos - 2 : 0);
        if (f == std::string::npos) break;
        const size_t p = f + 2;
        const size_t min_q = p == last_empty ? p + 1 : p;
        if (min_q > n) break;
        const size_t q = lookahead_end(min_q);
        out.push_back(text_trim(s.substr(p, q - p)));
        if (q == p) {
            last_empty = p;
            pos = p;
        } else {
            last_empty = std::string::npos;
            pos = q;
        }
    }
    return out;
}

static task_score lgb_score(const task_item& item, const std::string& output, const task_options&) {
    const nlohmann::json& golds = item.extra.at("golds");
    const int32_t k = static_cast<int32_t>(golds.size());
    std::vector<bool> found;
    const std::vector<std::string> by_index = lgb_answers_by_index(output, k, found);
    const std::vector<std::string> by_order = lgb_answers_by_order(output);
    auto correct = [](const std::string& answer, const std::string& gold) {
        const std::string pred = gsm8k_last_number(answer);
        return !pred.empty() && pred == gsm8k_last_number(gold);
    };
    nlohmann::json ci = nlohmann::json::array(), co = nlohmann::json::array();
    nlohmann::json ai = nlohmann::json::array(), ao = nlohmann::json::array();
    int32_t n_index = 0, n_order = 0;
    for (int32_t q = 0; q < k; ++q) {
        const std::string gold = golds[static_cast<size_t>(q)].get<std::string>();
        const bool ok_i =
            found[static_cast<size_t>(q)] && correct(by_index[static_cast<size_t>(q)], gold);
        const bool has_o = q < static_cast<int32_t>(by_order.size());
        const bool ok_o = has_o && correct(by_order[static_cast<size_t>(q)], gold);
        ai.push_back(found[static_cast<size_t>(q)]
                         ? nlohmann::json(by_index[static_cast<size_t>(q)])
                         : nlohmann::json());
        ao.push_back(has_o ? nlohmann::json(by_order[static_cast<size_t>(q)]) : nlohmann::json());
        ci.push_back(ok_i ? 1 : 0);
        co.push_back(ok_o ? 1 : 0);
        n_index += ok_i;
        n_order += ok_o;
    }
    task_score s;
    s.extracted["answers_index"] = ai;
    s.extracted["answers_order"] = ao;
    s.extracted["correct_index"] = ci;
    s.extracted["correct_order"] = co;
    s.scores["acc_index"] = static_cast<double>(n_index) / k;
    s.scores["acc_order"] = static_cast<double>(n_order) / k;
    return s;
}

extern const task_def task_longgenbench_gsm8k;
const task_def task_longgenbench_gsm8k = {LGB_NAME, "longgenbench-gsm8k", "acc_index",
                                          lgb_load, lgb_generation,       lgb_score};
