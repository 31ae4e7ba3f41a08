// HumanEval (Chen et al. 2021), greedy pass@1. Spec: docs/evaluation-protocol.md §5.
// 0-shot (DECISION; the paper's "8 shots" are unexplained). Layouts after lm-eval:
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

static std::vector<task_item> humaneval_load(const task_options& options) {
    task_shot_count(options, 0, 0, HUMANEVAL_NAME);
    const std::string path = task_resolve_file(task_data_dir(options), "humaneval/HumanEval.jsonl");
    std::vector<task_item> items;
    for (const jsonl_record& rec : task_read_jsonl(path)) {
        const std::string where = task_where(path, rec.line);
        task_item item;
        item.id = json_string(rec.value, "task_id", where);
        const std::string prompt = json_string(rec.value, "prompt", where);
        item.extra["prompt"] = prompt;
        item.extra["test"] = json_string(rec.value, "test", where);
        item.extra["entry_point"] = json_string(rec.value, "entry_point", where);
        item.gold = json_string(rec.value, "canonical_solution", where);
        if (options.instruct) {
            item.prompt.user = {{SEGMENT_QUESTION,
                                 "Write a solution to the following problem and make sure that it passes the tests:\n```" + prompt, -1}};
            item.prompt.assistant_prefix = "Here is the completed function:\n```python\n" + prompt + "\n";
        } else {
            item.prompt.user = {{SEGMENT_QUESTION, prompt + "\nHere is the completed function:\n\n```python\n", -1}};
        }
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
static std::string humaneval_program(const task_item& item, const std::string& output, bool instruct) {
    std::string completion = output;
    if (instruct) {
        const size_t fence = completion.find("```");
        if (fence != std::string::npos) completion.resize(fence);
    } else {
        text_replace_all(completion, "```python\n", "");
    }
    return item.extra.at("prompt").get<std::string>() + completion + "\n" + item.extra.at("test").get<std::string>() +
           "\ncheck(" + item.extra.at("entry_point").get<std::string>() + ")\n";
}

static task_score humaneval_score(const task_item& item, const std::string& output, const task_options& options) {
    sandbox_options so;
    so.allow_unsafe = task_param_bool(options, "allow_unsafe_sandbox", false);
    const sandbox_result r = sandbox_run_python(humaneval_program(item, output, options.instruct), so);
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
const task_def task_humaneval = {HUMANEVAL_NAME, "humaneval", "pass@1", humaneval_load, humaneval_generation,
                                 humaneval_score};
