// The task registry: one table, one line per task. To add a task, declare its task_def below and
// add it to the table (docs/HOWTO-add-task.md).
#include <stdexcept>

#include "tasks/task.h"

extern const task_def task_gsm8k;
extern const task_def task_gsm8k_manyshot;
extern const task_def task_mmlu;
extern const task_def task_commonsenseqa;
extern const task_def task_humaneval;
extern const task_def task_jailbreakv;
extern const task_def task_advbench_gptfuzz;
extern const task_def task_longgenbench_gsm8k;
extern const task_def task_synth_arith;
extern const task_def task_synth_recall;
extern const task_def task_synth_choice;
extern const task_def task_synth_longgen;

static const task_def* const k_tasks[] = {
    &task_gsm8k,
    &task_gsm8k_manyshot,
    &task_mmlu,
    &task_commonsenseqa,
    &task_humaneval,
    &task_jailbreakv,
    &task_advbench_gptfuzz,
    &task_longgenbench_gsm8k,
    &task_synth_arith,
    &task_synth_recall,
    &task_synth_choice,
    &task_synth_longgen,
};

std::vector<std::string> task_names() {
    std::vector<std::string> names;
    for (const task_def* t : k_tasks)
        names.push_back(t->name);
    return names;
}

const task_def& task_get(const std::string& name) {
    for (const task_def* t : k_tasks)
        if (t->name == name) return *t;
    std::string valid;
    for (const std::string& n : task_names())
        valid += (valid.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown task '" + name + "' (valid: " + valid + ")");
}
