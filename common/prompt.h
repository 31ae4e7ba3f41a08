// Prompt segments shared by tasks/ (which write text), engine/ (which tokenizes it while keeping
// segment boundaries) and compression/ (ShotKV needs the token span of every shot).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

enum segment_kind : int32_t {
    SEGMENT_SYSTEM = 0,   // system prompt / task instruction
    SEGMENT_SHOT = 1,     // one few-shot exemplar (question + worked answer + separator)
    SEGMENT_QUESTION = 2, // the item under test
    SEGMENT_TEMPLATE = 3, // chat-template tokens (headers, BOS, end-of-turn); never a shot
};

const char* segment_kind_name(segment_kind kind);

// A piece of prompt text. Consecutive segments are concatenated in order to form the prompt.
struct text_segment {
    segment_kind kind = SEGMENT_QUESTION;
    std::string text;
    int32_t shot_id = -1; // shot index for SEGMENT_SHOT; two segments with the same id form one
                          // (possibly non-contiguous) shot, as in LongGenBench's Question_i/Answer_i
};

// A segment after tokenization: token positions [start, end).
struct token_span {
    segment_kind kind = SEGMENT_QUESTION;
    int32_t start = 0;
    int32_t end = 0;
    int32_t shot_id = -1;
};

// The prompt of one item as the engine sees it.
struct tokenized_prompt {
    std::vector<int32_t> tokens;
    std::vector<token_span> spans; // cover [0, tokens.size()) in order
};

// A prompt before any chat template is applied. engine/chat_template turns it into the final
// segment list (template pieces become SEGMENT_TEMPLATE segments).
struct task_prompt {
    std::vector<text_segment> system; // system message; may be empty
    std::vector<text_segment> user;   // shots and the question, in order (one user turn)
    std::string assistant_prefix;     // pre-filled start of the answer (e.g. HumanEval); may be empty
};
