// GGUF (llama architecture) -> model_file: config from llama.* metadata, tensors under their
// canonical names, tokenizer from tokenizer.ggml.*.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/gguf.h"
#include "engine/mapped_file.h"
#include "engine/tokenizer.h"

namespace {

int32_t gguf_get_i32(const gguf_file& g, const std::string& key,
                     std::optional<int64_t> fallback = std::nullopt) {
    int64_t v = fallback ? gguf_get_int(g, key, *fallback) : gguf_get_int(g, key);
    if (v < INT32_MIN || v > INT32_MAX) {
        throw std::runtime_error(g.file->path + ": metadata key '" + key +
                                 "' = " + std::to_string(v) + " out of int32 range");
    }
    return (int32_t)v;
}

// llama.cpp stores Llama 3.x frequency scaling as a per-frequency factor tensor (rope_freqs,
// [head_dim/2]) rather than as parameters. We recover the parameters: factor = the largest
// entry, low/high = Meta's 1 and 4, and check that they reproduce every entry.
rope_scaling_params gguf_rope_scaling_from_freqs(const gguf_file& g, const gguf_tensor_info& t,
                                                 const model_config& c) {
    const std::string& path = g.file->path;
    if (t.dtype != DTYPE_F32 || t.ne.size() != 1 || t.ne[0] != c.head_dim / 2) {
        throw std::runtime_error(path + ": tensor 'rope_freqs.weight' must be F32 [head_dim/2 = " +
                                 std::to_string(c.head_dim / 2) + "]");
    }
    std::vector<float> f(t.ne[0]); // [head_dim/2]
    std::memcpy(f.data(), g.file->data + g.data_offset + t.offset, t.bytes);
    rope_scaling_params rs;
    rs.type = "llama3";
    rs.factor = 1.0f;
    for (float x : f) {
        if (!std::isfinite(x) || x <= 0.0f) {
            throw std::runtime_error(path +
                                     ": tensor 'rope_freqs.weight' has a non-positive entry");
        }
        rs.factor = std::max(rs.factor, x);
    }
    if (rs.factor == 1.0f) return rope_scaling_params{};
    rs.original_max_position =
        gguf_get_i32(g, c.arch + ".rope.scaling.original_context_length", rs.original_max_position);
    const double low_wavelen = rs.original_max_position / rs.low_freq_factor;
    const double high_wavelen = rs.original_max_position / rs.high_freq_factor;
    for (size_t i = 0; i < f.size(); ++i) {
        double freq = std::pow((double)c.rope_theta, -2.0 * (double)i / c.head_dim);
        double wavelen = 2.0 * M_PI / freq;
        double want = 1.0;
        if (wavelen > low_wavelen) {
            want = rs.factor;
        } else if (wavelen >= high_wavelen) {
            double smooth = (rs.original_max_position / wavelen - rs.low_freq_factor) /
                            (rs.high_freq_factor - rs.low_freq_factor);
            want = 1.0 / ((1.0 - smooth) / rs.factor + smooth);
        }
        if (std::fabs(f[i] - want) > 1e-3 * want) {
            throw std::runtime_error(path + ": tensor 'rope_freqs.weight' entry " +
                                     std::to_string(i) + " = " + std::to_string(f[i]) +
                                     " does not match Llama 3 scaling (factor " +
                                     std::to_string(rs.factor) + ", low 1, high 4, original " +
                                     std::to_string(rs.original_max_position) + ")");
        }
    }
    return rs;
}

model_config gguf_read_config(const gguf_file& g) {
    const std::string& path = g.file->path;
    model_config c;
    c.arch = gguf_get_string(g, "general.architecture");
    if (c.arch != "llama") {
        throw std::runtime_error(path + ": unsupported architecture '" + c.arch +
                                 "' (supported: llama)");
    }
    const std::string p = c.arch + ".";
    c.dim = gguf_get_i32(g, p + "embedding_length");
    c.hidden_dim = gguf_get_i32(g, p + "feed_forward_length");
    c.n_layers = gguf_get_i32(g, p + "block_count");
    c.n_heads = gguf_get_i32(g, p + "attention.head_count");
    c.n_kv_heads = gguf_get_i32(g, p + "attention.head_count_kv", c.n_heads);
    if (c.n_heads < 1 || c.dim % c.n_heads != 0) {
        throw std::runtime_error(path + ": " + p +
                                 "attention.head_count = " + std::to_string(c.n_heads) +
                                 " does not divide embedding_length = " + std::to_string(c.dim));
    }
    c.head_dim = gguf_get_i32(g, p + "attention.key_length", c.dim / c.n_heads);
    if (gguf_get_i32(g, p + "attention.value_length", c.head_dim) != c.head_dim) {
        throw std::runtime_error(path + ": attention.value_length != key_length is unsupported");
    }
    if (gguf_get_i32(g, p + "rope.dimension_count", c.head_dim) != c.head_dim) {
        throw std::runtime_error(path + ": partial rotary embedding (rope.dimension_count != "
                                        "head dim) is unsupported");
    }
    c.max_seq_len = gguf_get_i32(g, p + "context_length");
    c.norm_eps = (float)gguf_get_float(g, p + "attention.layer_norm_rms_epsilon", 1e-5);
    c.rope_theta = (float)gguf_get_float(g, p + "rope.freq_base", 10000.0);
    c.rope_interleaved = true; // GGUF llama weights are permuted for pairwise (2i, 2i+1) RoPE
    if (gguf_find(g, p + "rope.scaling.type")) {
        std::string type = gguf_get_string(g, p + "rope.scaling.type");
        if (type != "none") {
            throw std::runtime_error(path + ": unsupported rope scaling type '" + type + "'");
        }
    }
    if (gguf_find(g, p + "vocab_size")) {
        c.vocab_size = gguf_get_i32(g, p + "vocab_size");
    } else if (const gguf_value* toks = gguf_find(g, "tokenizer.ggml.tokens")) {
        c.vocab_size = (int32_t)std::min<size_t>(toks->strs.size(), INT32_MAX);
    } else {
        for (const gguf_tensor_info& t : g.tensors) {
            if (t.name == "token_embd.weight" && t.ne.size() == 2) c.vocab_size = (int32_t)t.ne[1];
        }
    }
    return c;
}

const gguf_value& gguf_get_array(const gguf_file& g, const std::string& key, bool strings) {
    const gguf_value* v = gguf_find(g, key);
    if (!v) throw std::runtime_error(g.file->path + ": metadata key '" + key + "' missing");
    bool ok = v->type == GGUF_TYPE_ARRAY && (v->elem_type == GGUF_TYPE_STRING) == strings;
    if (!ok) {
        throw std::runtime_error(g.file->path + ": metadata key '" + key +
                                 "' must be an array of " + (strings ? "strings" : "numbers"));
    }
    return *v;
}

// tokenizer.ggml.* -> tokenizer: "llama" (SentencePiece BPE with scores) or "gpt2" (byte-level
// BPE with merges). A file without tokenizer.ggml.model has no tokenizer (tok stays null).
std::shared_ptr<tokenizer> gguf_load_tokenizer(const gguf_file& g, int32_t vocab_size) {
    const std::string& path = g.file->path;
    if (!gguf_find(g, "tokenizer.ggml.model")) {
        spdlog::warn("{}: no tokenizer.ggml.model metadata: the model has no tokenizer", path);
        return nullptr;
    }
    const std::string model = gguf_get_string(g, "tokenizer.ggml.model");
    const std::vector<std::string>& tokens = gguf_get_array(g, "tokenizer.ggml.tokens", true).strs;
    if (tokens.size() > (size_t)vocab_size) {
        throw std::runtime_error(path + ": tokenizer.ggml.tokens has " +
                                 std::to_string(tokens.size()) + " tokens, more than the " +
                                 std::to_string(vocab_size) + " rows of token_embd");
    }
    std::vector<int32_t> types;
    if (gguf_find(g, "tokenizer.ggml.token_type")) {
        for (double t : gguf_get_array(g, "tokenizer.ggml.token_type", false).nums) {
            types.push_back((int32_t)std::clamp(t, -1.0, 1e6));
        }
    }
    const int64_t no_id = -1;
    const int32_t bos = gguf_get_i32(g, "tokenizer.ggml.bos_token_id", no_id);
    const int32_t eos = gguf_get_i32(g, "tokenizer.ggml.eos_token_id", no_id);
    try {
        if (model == "llama") {
            spm_vocab v;
            v.pieces = tokens;
            if (gguf_find(g, "tokenizer.ggml.scores")) {
                for (double s : gguf_get_array(g, "tokenizer.ggml.scores", false).nums) {
                    v.scores.push_back((float)s);
                }
            } else {
                v.scores.assign(tokens.size(), 0.0f);
            }
            v.types = types;
            v.bos = bos;
            v.eos = eos;
            v.unk = gguf_get_i32(g, "tokenizer.ggml.unknown_token_id", 0);
            v.add_bos = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", true);
            v.add_space_prefix = gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", true);
            return tokenizer_from_spm(v);
        }
        if (model == "gpt2") {
            // tokenizer_from_bpe implements the Llama 3 pre-tokenizer only.
            if (gguf_find(g, "tokenizer.ggml.pre")) {
                const std::string pre = gguf_get_string(g, "tokenizer.ggml.pre");
                if (pre != "llama-bpe") {
                    throw std::runtime_error(path + ": unsupported tokenizer.ggml.pre '" + pre +
                                             "' (supported: llama-bpe)");
                }
            }
            const std::vector<std::string>& merges =
                gguf_get_array(g, "tokenizer.ggml.merges", true).strs;
            return tokenizer_from_bpe(tokens, merges, types, bos, eos,
                                      gguf_get_bool(g, "tokenizer.ggml.add_bos_token", false));
        }
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(path + ": tokenizer: " + e.what());
    }
    throw std::runtime_error(path + ": unsupported tokenizer.ggml.model '" + model +
                             "' (supported: llama, gpt2)");
}

} // namespace

model_file gguf_load_model(const std::string& path) {
    auto file = std::make_shared<mapped_file>(path);
    gguf_file g = gguf_read(file);
    model_file mf;
    mf.path = path;
    mf.mappings.push_back(file);
    mf.config = gguf_read_config(g);

    for (const gguf_tensor_info& t : g.tensors) {
        std::string name = t.name;
        const std::string suffix = ".weight";
        if (name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
            name.resize(name.size() - suffix.size());
        }
        if (name == "rope_freqs") {
            mf.config.rope_scaling = gguf_rope_scaling_from_freqs(g, t, mf.config);
            continue;
        }
        tensor_view v;
        v.name = name;
        v.dtype = t.dtype;
        v.shape.assign(t.ne.rbegin(), t.ne.rend()); // ggml {in, out} -> {out, in}
        v.data = file->data + g.data_offset + t.offset;
        v.bytes = t.bytes;
        if (!mf.tensors.emplace(name, v).second) {
            throw std::runtime_error(path + ": duplicate tensor '" + t.name + "'");
        }
    }
    mf.config.tied_output = mf.tensors.count("output") == 0;
    model_file_validate(mf);

    mf.tok = gguf_load_tokenizer(g, mf.config.vocab_size);
    std::string template_text;
    if (gguf_find(g, "tokenizer.chat_template")) {
        template_text = gguf_get_string(g, "tokenizer.chat_template");
    }
    const gguf_value* toks = gguf_find(g, "tokenizer.ggml.tokens");
    mf.chat_template_name =
        model_file_guess_chat_template(template_text, [&](const std::string& s) {
            return toks && std::find(toks->strs.begin(), toks->strs.end(), s) != toks->strs.end();
        });
    return mf;
}
