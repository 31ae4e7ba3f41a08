// kvsweep generate --model PATH --prompt TEXT [--method M --ratio R] [--params JSON] [-n N]
//                  [--chat] [--template NAME] [--weights f32|bf16|q8_0] [--dump-selection FILE]
// Greedy generation for one prompt, with FullKV or one compression method; the FullKV fork is
// always decoded alongside so the output says whether compression changed the generation.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/chat_template.h"
#include "engine/tokenizer.h"
#include "mpi_runner/commands.h"
#include "mpi_runner/fork_decode.h"

using json = nlohmann::json;

int cmd_generate(int argc, char** argv) {
    std::string model_path, prompt_text, method, params = "{}", dump_path, templ, weights = "f32";
    double ratio = 1.0;
    int n_new = 64;
    bool chat = false;
    try {
        for (int i = 0; i < argc; ++i) {
            const std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(a + ": missing value");
                return argv[++i];
            };
            if (a == "--model") model_path = value();
            else if (a == "--prompt") prompt_text = value();
            else if (a == "--method") method = value();
            else if (a == "--params") params = value();
            else if (a == "--ratio") {
                const std::string v = value();
                char* end = nullptr;
                ratio = std::strtod(v.c_str(), &end);
                if (*end || !(ratio > 0 && ratio <= 1))
                    throw std::invalid_argument("--ratio: expected a number in (0, 1], got \"" + v + "\"");
            } else if (a == "-n") {
                const std::string v = value();
                char* end = nullptr;
                n_new = (int)std::strtol(v.c_str(), &end, 10);
                if (*end || n_new < 1) throw std::invalid_argument("-n: expected a positive integer, got \"" + v + "\"");
            } else if (a == "--chat") chat = true;
            else if (a == "--template") templ = value();
            else if (a == "--weights") weights = value();
            else if (a == "--dump-selection") dump_path = value();
            else throw std::invalid_argument("unknown option " + a);
        }
        if (model_path.empty() || prompt_text.empty())
            throw std::invalid_argument("usage: kvsweep generate --model PATH --prompt TEXT [--method M "
                                        "--ratio R] [--params JSON] [-n N] [--chat] [--template NAME] "
                                        "[--weights TYPE] [--dump-selection FILE]");
        json method_params;
        try {
            method_params = json::parse(params);
        } catch (const json::exception& e) {
            throw std::invalid_argument("--params: invalid JSON: " + std::string(e.what()));
        }
        std::unique_ptr<compressor> comp;
        if (!method.empty() && method != "fullkv") comp = compressor_create(method, method_params);

        load_options lo;
        lo.weights = weight_type_from_name(weights);
        const auto m = model_load(model_path, lo);
        const tokenizer& tok = model_get_tokenizer(*m);
        task_prompt tp;
        tp.user.push_back({SEGMENT_QUESTION, prompt_text, -1});
        const std::string name = !templ.empty() ? templ : chat ? model_get_chat_template_name(*m) : "plain";
        const tokenized_prompt prompt =
            tokenizer_encode_segments(tok, chat_apply(name, tp), tokenizer_add_bos(tok));

        fork_request req;
        req.m = m.get();
        req.tok = &tok;
        req.prompt = &prompt;
        req.max_new_tokens = n_new;
        std::vector<fork_spec> forks = {{nullptr, 1.0, !comp && !dump_path.empty()}};
        if (comp) forks.push_back({comp.get(), ratio, !dump_path.empty()});
        const auto res = fork_decode(req, forks);
        const fork_result& r = res.back();
        std::printf("%s\n", r.text.c_str());
        std::fprintf(stderr, "[%s ratio %g] prompt %zu tokens, generated %zu (%s), kept %.4f of prompt KV, "
                     "KV %.1f KiB, prefill %.3f s, decode %.3f s%s\n",
                     comp ? method.c_str() : "fullkv", ratio, prompt.tokens.size(), r.tokens.size(),
                     r.stop_reason.c_str(), r.kept_fraction, r.kv_bytes_final / 1024.0, r.prefill_s,
                     r.decode_s, comp ? (r.tokens == res[0].tokens ? ", same tokens as FullKV" : ", differs from FullKV") : "");
        if (!dump_path.empty()) {
            const json dump = {{"prompt_tokens", prompt.tokens.size()},
                               {"method", comp ? comp->name() : "fullkv"},
                               {"ratio", ratio},
                               {"events", r.selection}};
            std::ofstream out(dump_path);
            if (!(out << dump.dump() << "\n")) throw std::runtime_error(dump_path + ": cannot write selection dump");
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvsweep generate: %s\n", e.what());
        return 1;
    }
}
