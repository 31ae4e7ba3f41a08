#include "mpi_runner/safety_judge_model.h"

#include <stdexcept>
#include <vector>

#include "engine/model.h"
#include "engine/tokenizer.h"
#include "mpi_runner/fork_decode.h"
#include "tasks/jailbreakv.h"

namespace {

// Greedy, full-KV generation of `prompt` (special tokens written as text) until end of turn.
std::string judge_generate(const std::string& prompt, int32_t max_new_tokens, void* ctx) {
    const model& m = *static_cast<const model*>(ctx);
    const tokenizer& tok = model_get_tokenizer(m);
    const std::vector<int32_t> ids = tokenizer_encode(tok, prompt, false, true);
    kv_cache cache = model_new_cache(m);
    std::vector<float> logits;
    model_prefill(m, cache, ids, 0, prefill_capture_request{}, nullptr, logits);
    const int32_t vocab = model_get_config(m).vocab_size;
    std::vector<int32_t> out;
    int32_t pos = (int32_t)ids.size();
    for (int32_t t = 0; t < max_new_tokens; ++t) {
        const int32_t next = argmax_token(logits.data(), vocab);
        if (tokenizer_is_eog(tok, next)) break;
        out.push_back(next);
        std::vector<decode_slot> batch{{&cache, next, pos++}};
        model_decode(m, batch, logits);
    }
    return tokenizer_decode(tok, out);
}

} // namespace

std::shared_ptr<model> safety_judge_model_install(const std::string& path, const std::string& weights) {
    load_options lo;
    lo.weights = weight_type_from_name(weights);
    std::shared_ptr<model> judge = model_load(path, lo);
    if (!model_has_tokenizer(*judge))
        throw std::runtime_error(path + ": the safety judge model has no tokenizer");
    safety_set_judge_generator(judge_generate, judge.get());
    return judge;
}
