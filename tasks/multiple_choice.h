// Generation-based multiple choice shared by MMLU (A-D) and CommonsenseQA (A-E): the lm-eval
// question layout, letter extraction from free text and accuracy.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task.h"

// "{question}\nA. {c0}\nB. {c1}...\nAnswer:" (the question stripped, as lm-eval does).
std::string choice_format_question(const std::string& prefix, const std::string& question,
                                   const std::vector<std::string>& choices);

// The answer letter in `output`, "" when there is none or it is ambiguous. Rules (DECISION, after
// the lm-eval generative filters): leading whitespace is skipped and only the first line is read;
// accepted are a bare or decorated letter ("B", "B.", "(B)", "B) text", "B. text") or a letter
// after an "answer is" / "answer:" / "option" lead-in (case-insensitive, e.g. "Answer: c"). Two
// letters joined by "and", "or", ",", "/" or "&" are ambiguous; a letter outside the first
// n_choices is wrong.
std::string choice_extract_letter(const std::string& output, int32_t n_choices);

// Stops at a newline; 32 new tokens (params.max_new_tokens overrides).
generation_settings choice_generation(const task_options& options);

// extracted.letter, scores.acc; `item.gold` is the letter.
task_score choice_score(const task_item& item, const std::string& output, int32_t n_choices);
