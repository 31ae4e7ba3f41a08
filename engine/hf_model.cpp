#include "engine/hf_model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/mapped_file.h"
#include "engine/safetensors.h"
#include "engine/tokenizer.h"

namespace {

using json = nlohmann::json;

json hf_read_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw std::runtime_error(path + ": bad JSON: " + e.what());
    }
}

// config.json field access: absent (or null) fields take the fallback; a present field of the
// wrong type or out of range is an error naming the field.
struct hf_config_reader {
    const json& j;
    const std::string& path;

    const json* find(const char* field) const {
        auto it = j.find(field);
        return it == j.end() || it->is_null() ? nullptr : &*it;
    }
    [[noreturn]] void fail(const char* field, const std::string& what) const {
        throw std::runtime_error(path + ": field '" + field + "' " + what);
    }
    int32_t i32(const char* field, std::optional<int64_t> fallback = std::nullopt) const {
        const json* v = find(field);
        if (!v) {
            if (!fallback) fail(field, "missing");
            return (int32_t)*fallback;
        }
        if (!v->is_number_integer()) fail(field, "must be an integer, got " + v->dump());
        if (v->is_number_unsigned()
                ? v->get<uint64_t>() > INT32_MAX
                : (v->get<int64_t>() < INT32_MIN || v->get<int64_t>() > INT32_MAX)) {
            fail(field, "out of int32 range: " + v->dump());
        }
        return v->get<int32_t>();
    }
    float f32(const char* field, double fallback) const {
        const json* v = find(field);
        if (!v) return (float)fallback;
        if (!v->is_number()) fail(field, "must be a number, got " + v->dump());
        return v->get<float>();
    }
    bool boolean(const char* field, bool fallback) const {
        const json* v = find(field);
        if (!v) return fallback;
        if (!v->is_boolean()) fail(field, "must be true or false, got " + v->dump());
        return v->get<bool>();
    }
    std::string str(const char* field, const std::string& fallback) const {
        const json* v = find(field);
        if (!v) return fallback;
        if (!v->is_string()) fail(field, "must be a string, got " + v->dump());
        return v->get<std::string>();
    }
};

model_config hf_read_config(const std::string& path) {
    json j = hf_read_json(path);
    if (!j.is_object()) throw std::runtime_error(path + ": not a JSON object");
    hf_config_reader r{j, path};

    std::string arch;
    if (const json* a = r.find("architectures")) {
        if (!a->is_array() || a->empty() || !(*a)[0].is_string()) {
            r.fail("architectures", "must be a non-empty array of strings");
        }
        arch = (*a)[0].get<std::string>();
    }
    if (arch != "LlamaForCausalLM" && arch != "MistralForCausalLM") {
        throw std::runtime_error(path + ": unsupported architecture '" + arch +
                                 "' (supported: LlamaForCausalLM, MistralForCausalLM)");
    }
    model_config c;
    c.arch = arch == "LlamaForCausalLM" ? "llama" : "mistral";
    c.dim = r.i32("hidden_size");
    c.hidden_dim = r.i32("intermediate_size");
    c.n_layers = r.i32("num_hidden_layers");
    c.n_heads = r.i32("num_attention_heads");
    c.n_kv_heads = r.i32("num_key_value_heads", c.n_heads);
    const bool explicit_head_dim = r.find("head_dim") != nullptr;
    if (!explicit_head_dim && (c.n_heads < 1 || c.dim % c.n_heads != 0)) {
        r.fail("num_attention_heads", "must divide hidden_size when head_dim is absent");
    }
    c.head_dim = r.i32("head_dim", explicit_head_dim ? 0 : c.dim / c.n_heads);
    c.vocab_size = r.i32("vocab_size");
    c.max_seq_len = r.i32("max_position_embeddings", 2048);
    c.norm_eps = r.f32("rms_norm_eps", 1e-6);
    c.rope_theta = r.f32("rope_theta", 10000.0);
    c.tied_output = r.boolean("tie_word_embeddings", false);
    c.rope_interleaved = false; // HF checkpoints use rotate-half (i, i + head_dim/2) pairs

    if (const json* rs = r.find("rope_scaling")) {
        if (!rs->is_object()) r.fail("rope_scaling", "must be an object or null");
        hf_config_reader s{*rs, path};
        std::string type = s.str("rope_type", s.str("type", ""));
        if (type == "llama3") {
            c.rope_scaling.type = type;
            c.rope_scaling.factor = s.f32("factor", 1.0);
            c.rope_scaling.low_freq_factor = s.f32("low_freq_factor", 1.0);
            c.rope_scaling.high_freq_factor = s.f32("high_freq_factor", 4.0);
            c.rope_scaling.original_max_position = s.i32("original_max_position_embeddings", 8192);
        } else if (type != "default") {
            r.fail("rope_scaling", "type '" + type + "' is unsupported (supported: llama3)");
        }
    }
    return c;
}

// Shard files named by model.safetensors.index.json, each once, in index order.
std::vector<std::string> hf_shard_files(const std::string& index_path) {
    json j = hf_read_json(index_path);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
        throw std::runtime_error(index_path + ": needs an object 'weight_map'");
    }
    std::vector<std::string> shards;
    for (const auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string()) {
            throw std::runtime_error(index_path + ": weight_map['" + name + "'] is not a string");
        }
        std::string f = file.get<std::string>();
        // Shards must sit in the model folder itself.
        if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..") {
            throw std::runtime_error(index_path + ": weight_map['" + name + "'] = '" + f +
                                     "' is not a file name in the model folder");
        }
        if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
    }
    return shards;
}

// tokenizer.json (or .json.gz) plus tokenizer_config.json (or .gz) when present; null with a
// warning when the folder has no tokenizer.
std::shared_ptr<tokenizer> hf_load_tokenizer(const std::string& dir) {
    namespace fs = std::filesystem;
    auto first_existing = [&](const char* name) {
        for (std::string p :
             {(fs::path(dir) / name).string(), (fs::path(dir) / name).string() + ".gz"}) {
            if (fs::exists(p)) return p;
        }
        return std::string();
    };
    const std::string tok_json = first_existing("tokenizer.json");
    if (tok_json.empty()) {
        spdlog::warn("{}: no tokenizer.json: the model has no tokenizer", dir);
        return nullptr;
    }
    return tokenizer_from_hf(tok_json, first_existing("tokenizer_config.json"));
}

// The chat template text of tokenizer_config.json ("chat_template" is a string or a list of
// {name, template}); "" when absent.
std::string hf_chat_template_text(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / "tokenizer_config.json").string();
    if (!std::filesystem::exists(path)) return "";
    json j = hf_read_json(path);
    std::string text;
    if (!j.is_object() || !j.contains("chat_template")) return text;
    const json& t = j["chat_template"];
    if (t.is_string()) text = t.get<std::string>();
    if (t.is_array()) {
        for (const json& e : t) {
            if (e.is_object() && e.contains("template") && e["template"].is_string()) {
                text += e["template"].get<std::string>();
            }
        }
    }
    return text;
}

} // namespace

std::string hf_canonical_name(const std::string& n) {
    static const std::pair<const char*, const char*> top[] = {
        {"model.embed_tokens.weight", "token_embd"},
        {"model.norm.weight", "output_norm"},
        {"lm_head.weight", "output"},
    };
    for (const auto& [hf, ours] : top) {
        if (n == hf) return ours;
    }
    static const std::pair<const char*, const char*> layer[] = {
        {"input_layernorm.weight", "attn_norm"},    {"self_attn.q_proj.weight", "attn_q"},
        {"self_attn.k_proj.weight", "attn_k"},      {"self_attn.v_proj.weight", "attn_v"},
        {"self_attn.o_proj.weight", "attn_output"}, {"post_attention_layernorm.weight", "ffn_norm"},
        {"mlp.gate_proj.weight", "ffn_gate"},       {"mlp.up_proj.weight", "ffn_up"},
        {"mlp.down_proj.weight", "ffn_down"},
    };
    const std::string prefix = "model.layers.";
    if (n.compare(0, prefix.size(), prefix) != 0) return "";
    size_t i = prefix.size(), j = i;
    while (j < n.size() && j - i < 6 && std::isdigit((unsigned char)n[j]))
        ++j;
    if (j == i || j >= n.size() || n[j] != '.') return "";
    const std::string rest = n.substr(j + 1);
    for (const auto& [hf, ours] : layer) {
        if (rest == hf) return "blk." + std::to_string(std::stol(n.substr(i, j - i))) + "." + ours;
    }
    return "";
}

model_file hf_load_model(const std::string& dir) {
    namespace fs = std::filesystem;
    model_file mf;
    mf.path = dir;
    mf.config = hf_read_config((fs::path(dir) / "config.json").string());

    std::vector<std::string> shards;
    const fs::path index = fs::path(dir) / "model.safetensors.index.json";
    if (fs::exists(fs::path(dir) / "model.safetensors")) {
        shards = {"model.safetensors"};
    } else if (fs::exists(index)) {
        shards = hf_shard_files(index.string());
    } else {
        throw std::runtime_error(dir + ": no model.safetensors or model.safetensors.index.json");
    }
    for (const std::string& shard : shards) {
        safetensors_file st = safetensors_read((fs::path(dir) / shard).string());
        mf.mappings.push_back(st.file);
        for (tensor_view& v : st.tensors) {
            std::string name = hf_canonical_name(v.name);
            if (name.empty()) {
                spdlog::debug("{}: ignoring tensor '{}'", st.file->path, v.name);
                continue;
            }
            // A tied head's stored copy (some exports keep it) is the embedding again: drop it.
            if (name == "output" && mf.config.tied_output) continue;
            const std::string hf_name = v.name;
            v.name = name;
            if (!mf.tensors.emplace(name, std::move(v)).second) {
                throw std::runtime_error(st.file->path + ": tensor '" + hf_name +
                                         "' appears more than once");
            }
        }
    }
    model_file_validate(mf);

    mf.tok = hf_load_tokenizer(dir);
    // Token ids index the embedding rows, so the vocabulary may not outgrow them.
    if (mf.tok && tokenizer_n_vocab(*mf.tok) > mf.config.vocab_size) {
        throw std::runtime_error(
            dir + ": the tokenizer has " + std::to_string(tokenizer_n_vocab(*mf.tok)) +
            " tokens, more than vocab_size = " + std::to_string(mf.config.vocab_size) +
            " in config.json");
    }
    // Mistral's [INST] is several pieces, so the architecture decides when the template is absent.
    const std::string template_text =
        hf_chat_template_text(dir) + (mf.config.arch == "mistral" ? "[INST]" : "");
    mf.chat_template_name =
        model_file_guess_chat_template(template_text, [&](const std::string& s) {
            return mf.tok && tokenizer_token_id(*mf.tok, s) >= 0;
        });
    return mf;
}
