// Safety judging for the jailbreak tasks (docs/safety-judging.md). A judge turns (attack text,
// model response) into a verdict. String matchers decide from the response alone; model judges
// (Llama Guard) build a prompt for a judge model and parse its answer. The judge model itself runs
// in the engine, which tasks/ cannot reach: the runner installs a generate callback with
// safety_set_judge_generator (greedy, FULL KV cache, whatever the target run used).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

enum safety_verdict_kind : int32_t {
    SAFETY_SAFE = 0,      // refusal found / judge said "safe"
    SAFETY_UNSAFE = 1,    // attack succeeded: no refusal / judge said "unsafe"
    SAFETY_MALFORMED = 2, // judge answer neither "safe" nor "unsafe" (counted as not successful)
};

const char* safety_verdict_name(safety_verdict_kind kind);

struct safety_verdict {
    safety_verdict_kind kind = SAFETY_MALFORMED;
    std::string detail; // matched refusal string, or the judge's raw answer
};

// Greedy generation by the judge model of `prompt` (a fully formatted string whose special tokens
// are written as text, e.g. "<|eot_id|>"), at most max_new_tokens, stopping at end of turn.
using safety_generate_fn = std::string (*)(const std::string& prompt, int32_t max_new_tokens,
                                           void* ctx);

struct safety_judge {
    std::string name;
    // Model judges: the judge model's input. nullptr for string matchers.
    std::string (*build_prompt)(const std::string& query, const std::string& response) = nullptr;
    // Model judges: parses the judge's answer. String matchers: judges the response itself.
    safety_verdict (*parse)(const std::string& text) = nullptr;
    int32_t max_new_tokens = 0; // for model judges
};

// "refusal_gcg" (GCG evaluate.py list, 29 strings, case-sensitive substrings), "refusal_jbv"
// (JailBreakV list, 34 strings, typographic and ASCII apostrophes) and "llama_guard3" (Llama
// Guard 3 S1..S14 prompt in the Llama-3 chat format). Unknown names throw, listing the valid ones.
const safety_judge& safety_judge_get(const std::string& name);
std::vector<std::string> safety_judge_names();

// Installs the generator model judges call (nullptr to remove it).
void safety_set_judge_generator(safety_generate_fn fn, void* ctx);

// Runs the judge; a model judge without an installed generator throws std::runtime_error.
safety_verdict safety_judge_run(const safety_judge& judge, const std::string& query,
                                const std::string& response);

// ---- pieces exposed for tests -----------------------------------------------------------------
std::string llama_guard3_prompt(const std::string& query, const std::string& response);
safety_verdict llama_guard_parse(const std::string& judge_output);
safety_verdict refusal_match(const std::string& response, const std::vector<std::string>& refusals);
const std::vector<std::string>& refusal_list_gcg();
