// GSM8K pieces shared by the three GSM8K-based tasks (gsm8k, gsm8k_manyshot, longgenbench_gsm8k):
// reading the original JSONL, the classic chain-of-thought layout, and lm-eval's answer extraction.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task.h"

// One line of gsm8k/{test,train}.jsonl.
struct gsm8k_problem {
    std::string question;
    std::string answer; // worked solution with <<calculator>> annotations, ending "#### N"
    std::string gold;   // text after the last "####", trimmed, commas removed
};

// Reads `rel` ("gsm8k/test.jsonl") under the task data folder; at most max_records (-1 = all).
// Missing fields or a solution without "####" throw "file:line: field ...".
std::vector<gsm8k_problem> gsm8k_read(const task_options& options, const std::string& rel,
                                      int32_t max_records = -1);

// A worked exemplar in the classic layout: "Q: {question}\nA: {target}".
struct gsm8k_shot {
    std::string question;
    std::string target; // rationale ending "The answer is N."
};

// Items of the GSM8K test set (ids "test-<line index>"), each prompt = the given shots
// followed by the test question, as SEGMENT_SHOT / SEGMENT_QUESTION segments.
std::vector<task_item> gsm8k_build_items(const std::vector<gsm8k_shot>& shots,
                                         const task_options& options, const std::string& task_name);

// Stop sequences of lm-eval gsm8k-cot; 256 new tokens (params.max_new_tokens overrides, e.g.
// 2048 for R1-Distill).
generation_settings gsm8k_generation(const task_options& options);

// strict-match, flexible-extract and the author's last-number rule; headline "exact_match"
// (= flexible-extract).
task_score gsm8k_score(const task_item& item, const std::string& output,
                       const task_options& options);

// ---- extraction (lm-eval gsm8k-cot semantics) ---------------------------------------------------

constexpr const char* GSM8K_INVALID = "[invalid]"; // lm-eval's fallback when nothing matches

// First match of `The answer is (\-?[0-9\.\,]+).`, group 1.
std::string gsm8k_extract_strict(const std::string& output);
// Last match of `(-?[$0-9.,]{2,})|(-?[0-9]+)`, stripped.
std::string gsm8k_extract_flexible(const std::string& output);
// Exact-match normalisation applied to prediction and gold: drop "," and "$", everything up to
// the last "#### ", one trailing ".", then lower-case.
std::string gsm8k_normalize(const std::string& text);
// Last match of `\d*\.?\d+` after removing commas ("" when none): LongGenBench's test_answer.
std::string gsm8k_last_number(const std::string& text);
