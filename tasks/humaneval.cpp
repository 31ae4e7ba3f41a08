// HumanEval (Chen et al. 2021), greedy pass@1. Spec: docs/evaluation-protocol.md §5.
// 0-shot by default (DECISION; the paper's "8 shots" are unexplained). VARIANT shots = k (<= 8):
// leave-one-out exemplars, the k problems after the item (cyclically), each written as its own
// question followed by its canonical solution in a closed code fence and a blank line.
// Layouts after lm-eval:
//   base     (humaneval.yaml):          "{prompt}\nHere is the completed function:\n\n```python\n"
//   instruct (humaneval_instruct.yaml): user "Write a solution to the following problem and make
//            sure that it passes the tests:\n```{prompt}", assistant pre-filled with
//            "Here is the completed function:\n```python\n{prompt}\n" (gen_prefix; real newlines).
// Program = prompt + completion (base: every "```python\n" removed; instruct: cut at the first
// "```") + "\n" + test + "\ncheck(entry_point)\n", run in tasks/sandbox with a 3 s timeout.
#include <stdexcept>

#include "tasks/sandbox.h"
#include "tasks/task_data.h"

static const char* HUMANEVAL_NAME = "humaneval";

static constexpr int32_t HUMANEVAL_MAX_SHOTS = 8;

struct humaneval_problem {
    std::string id;
    std::string prompt;   // signature + docstring
    std::string solution; // canonical body
    std::string test;     // def check(candidate): ...
    std::string entry_point;
};

// The user text of a problem and the start of its answer (the assistant pre-fill for instruct,
// "" for base, whose lead-in is part of the user text).
static std::string humaneval_question(const humaneval_problem& p, bool instruct) {
    return instruct ? "Write a solution to the following problem and make sure that it passes the "
                      "tests:\n```" +
                          p.prompt
                    : p.prompt + "\nHere is the completed function:\n\n```python\n";
}

static std::string humaneval_answer_lead(const humaneval_problem& p, bool instruct) {
    return instruct ? "Here is the completed function:\n```python\n" + p.prompt + "\n" : p.prompt;
}

static std::vector<task_item> humaneval_load(const task_options& options) {
    task_check_params(options, {"max_new_tokens", "allow_unsafe_sandbox"}, HUMANEVAL_NAME);
    task_param_bool(options, "allow_unsafe_sandbox", false); // type check before any generation
    const int32_t k = task_shot_count(options, 0, HUMANEVAL_MAX_SHOTS, HUMANEVAL_NAME);
    const std::string path = task_resolve_file(task_data_dir(options), "humaneval/HumanEval.jsonl");
    std::vector<humaneval_problem> problems;
    for (const jsonl_record& rec : task_read_jsonl(path)) {
        const std::string where = task_where(path, rec.line);
        problems.push_back(
            {json_string(rec.value, "task_id", where), json_string(rec.value, "prompt", where),
             json_string(rec.value, "canonical_solution", where),
             json_string(rec.value, "test", where), json_string(rec.value, "entry_point", where)});
    }
    const bool instruct = options.instruct;
    std::vector<task_item> items;
    for (size_t i = 0; i < problems.size(); ++i) {
        const humaneval_problem& p = problems[i];
        task_item item;
        item.id = p.id;
        for (int32_t s = 0; s < k; ++s) {
            const humaneval_problem& e =
                problems[(i + 1 + static_cast<size_t>(s)) % problems.size()];
            item.prompt.user.push_back({SEGMENT_SHOT,
                                        humaneval_question(e, instruct) + (instruct ? "\n" : "") +
                                            humaneval_answer_lead(e, instruct) + e.solution +
                                            "```\n\n",
                                        s});
        }
        item.prompt.user.push_back({SEGMENT_QUESTION, humaneval_question(p, instruct), -1});
        if (instruct) item.prompt.assistant_prefix = humaneval_answer_lead(p, instruct);
        item.gold = p.solution;
        item.extra = {{"prompt", p.prompt}, {"test", p.test}, {"entry_point", p.entry_point}};
        items.push_back(std::move(item));
    }
    return task_select_items(std::move(items), options, HUMANEVAL_NAME);
}

static generation_settings humaneval_generation(const task_options& options) {
    generation_settings g;
    g.max_new_tokens = task_param_int(options, "max_new_tokens", 512);
    g.stop = {"\nclass", "\n#", "\nif", "\nprint", "\n```", "<|eot_id|>", "</s>"};
    return g;
}

// The program lm-eval's build_predictions / build_predictions_instruct would test.
static std::string humaneval_program(const task_item& item, const std::string& output,
                                     bool instruct) {
    std::string completion = output;
    if (instruct) {
        const size_t fence = completion.find("```");
        if (fence != std::string::npos) completion.resize(fence);
    } else {
        text_replace_all(completion, "```python\n", "");
    }
    return item.extra.at("prompt").get<std::string>() + completion + "\n" +
           item.extra.at("test").get<std::string>() + "\ncheck(" +
           item.extra.at("entry_point").get<std::string>() + ")\n";
}

static task_score humaneval_score(const task_item& item, const std::string& output,
                                  const task_options& options) {
    sandbox_options so;
    so.allow_unsafe = task_param_bool(options, "allow_unsafe_sandbox", false);
    const sandbox_result r =
        sandbox_run_python(humaneval_program(item, output, options.instruct), so);
    task_score s;
    s.extracted["exit_code"] = r.exit_code;
    s.extracted["signal"] = r.signal;
    s.extracted["timed_out"] = r.timed_out;
    s.extracted["isolated"] = r.isolated;
    s.extracted["output"] = r.output.substr(0, 2000);
    s.scores["pass@1"] = r.passed ? 1.0 : 0.0;
    return s;
}

extern const task_def task_humaneval;
const task_def task_humaneval = {HUMANEVAL_NAME, "humaneval",          "pass@1",
                                 humaneval_load, humaneval_generation, humaneval_score};
