// Re-scoring saved generations (kvsweep score): records are JSON objects holding an item id
// ("item_id", or the journal's "item") and the generated text ("text", or the journal's "output").
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/task.h"

// Each record with "extracted", "scores" and "gold" (re)computed by `task`. Items are looked up
// by id in the task's full data (options.limit / items_file are ignored); an unknown id or a
// missing field throws "records_path:line: ...". Records of another task (a run journal's
// "task_name" field) are skipped and counted in *skipped.
std::vector<nlohmann::json> task_rescore_file(const task_def& task, task_options options,
                                              const std::string& records_path,
                                              int64_t* skipped = nullptr);

// Mean of every metric per group ("<method>@<ratio_text>" when the records carry a method, else
// "all"): {group: {"n": N, "metrics": {name: mean}}}. Records whose extracted answer names a
// subject (MMLU) also get "<metric>_subject_macro", the mean of the per-subject means; records
// whose extracted answer names a "format" or "policy" (jailbreak tasks) get per-value means under
// "breakdown": {"policy": {"Fraud": {metric: mean}}}.
nlohmann::json task_summarize(const std::vector<nlohmann::json>& records);
