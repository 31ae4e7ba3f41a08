// Chat templates: wrap a task prompt in a model's chat layout, as typed segments. Template
// pieces become SEGMENT_TEMPLATE segments (tokenized with special tokens parsed); the task's own
// segments are kept as they are, except for the whitespace the template trims at the edges of
// a message (Jinja `|trim`, Python `.strip()`).
//
// BOS is not part of the segments: every template starts with it, so encode the result with
// tokenizer_encode_segments(tok, segments, /*add_bos=*/true).
#pragma once
#include <string>
#include <vector>

#include "common/prompt.h"

// Templates:
//   "llama3"        Llama-3.1/3.2 Instruct: system block with "Cutting Knowledge Date: December
//                   2023\nToday Date: 26 Jul 2024\n\n" (always present, also with no system text),
//                   then the user turn and the assistant header.
//   "llama3-nodate" Llama-3 (3.0) Instruct: no date lines; the system block only when there is
//                   system text.
//   "llama2"        [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] (Llama-2-chat).
//   "mistral"       [INST] {system}\n\n{user} [/INST] (Mistral-Instruct v0.1: system prepended).
//   "plain"         system, user and assistant prefix concatenated; the only template text is a
//                   "\n\n" between system and user text when the system text does not end a line.
// The assistant prefix (pre-filled answer start) becomes a SEGMENT_QUESTION segment at the end.
// Unknown names throw std::invalid_argument listing the valid ones.
std::vector<text_segment> chat_apply(const std::string& template_name, const task_prompt& prompt);

const std::vector<std::string>& chat_template_names();
