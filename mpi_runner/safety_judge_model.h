// The model judge of the safety tasks (Llama Guard style), run by our own engine with a full KV
// cache and greedy decoding, whatever compression the judged run used (docs/safety-judging.md).
#pragma once
#include <memory>
#include <string>

struct model;

// Loads the judge model and installs it as the generator of tasks/jailbreakv.h's model judges.
// Throws naming the path when it cannot be loaded or has no tokenizer.
std::shared_ptr<model> safety_judge_model_install(const std::string& path, const std::string& weights);
