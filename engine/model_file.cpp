#include "engine/model_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>

#include "engine/gguf.h"
#include "engine/hf_model.h"

const char* tensor_dtype_name(tensor_dtype t) {
    switch (t) {
    case DTYPE_F32:
        return "F32";
    case DTYPE_F16:
        return "F16";
    case DTYPE_BF16:
        return "BF16";
    case DTYPE_Q8_0:
        return "Q8_0";
    }
    return "invalid";
}

const tensor_view& model_file::get(const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw std::runtime_error(path + ": tensor '" + name + "' missing");
    return it->second;
}

int64_t tensor_nbytes(tensor_dtype t, const std::vector<int64_t>& shape) {
    if (shape.empty()) return -1;
    // Bound every product by 2^62 so nothing overflows on the way.
    const int64_t limit = (int64_t)1 << 62;
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 1 || d > limit / n) return -1;
        n *= d;
    }
    switch (t) {
    case DTYPE_F32:
        return n <= limit / 4 ? n * 4 : -1;
    case DTYPE_F16:
    case DTYPE_BF16:
        return n * 2;
    case DTYPE_Q8_0:
        return shape.back() % 32 == 0 ? n / 32 * 34 : -1;
    }
    return -1;
}

std::vector<expected_tensor> model_file_expected_tensors(const model_config& c) {
    const int64_t dim = c.dim, q_dim = (int64_t)c.n_heads * c.head_dim,
                  kv_dim = (int64_t)c.n_kv_heads * c.head_dim, hidden = c.hidden_dim;
    std::vector<expected_tensor> out = {{"token_embd", {c.vocab_size, dim}},
                                        {"output_norm", {dim}}};
    if (!c.tied_output) out.push_back({"output", {c.vocab_size, dim}});
    for (int32_t l = 0; l < c.n_layers; ++l) {
        std::string b = "blk." + std::to_string(l) + ".";
        out.push_back({b + "attn_norm", {dim}});
        out.push_back({b + "attn_q", {q_dim, dim}});
        out.push_back({b + "attn_k", {kv_dim, dim}});
        out.push_back({b + "attn_v", {kv_dim, dim}});
        out.push_back({b + "attn_output", {dim, q_dim}});
        out.push_back({b + "ffn_norm", {dim}});
        out.push_back({b + "ffn_gate", {hidden, dim}});
        out.push_back({b + "ffn_up", {hidden, dim}});
        out.push_back({b + "ffn_down", {dim, hidden}});
    }
    return out;
}

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "{";
    for (size_t i = 0; i < s.size(); ++i)
        r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "}";
}

// Limits far above any Llama-family model, so that a corrupt size fails here instead of as a
// huge allocation in the engine.
void check_range(const std::string& path, const char* field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
        throw std::runtime_error(path + ": config " + field + " = " + std::to_string(v) +
                                 " out of range [" + std::to_string(lo) + ", " +
                                 std::to_string(hi) + "]");
    }
}

void check_positive_finite(const std::string& path, const char* field, double v) {
    if (!std::isfinite(v) || v <= 0.0) {
        throw std::runtime_error(path + ": config " + field + " = " + std::to_string(v) +
                                 " must be finite and > 0");
    }
}

void validate_config(const std::string& path, const model_config& c) {
    check_range(path, "dim", c.dim, 1, 1 << 16);
    check_range(path, "hidden_dim", c.hidden_dim, 1, 1 << 20);
    check_range(path, "n_layers", c.n_layers, 1, 1 << 10);
    check_range(path, "n_heads", c.n_heads, 1, 1 << 10);
    check_range(path, "n_kv_heads", c.n_kv_heads, 1, c.n_heads);
    check_range(path, "head_dim", c.head_dim, 2, 1 << 10);
    check_range(path, "vocab_size", c.vocab_size, 1, 1 << 24);
    check_range(path, "max_seq_len", c.max_seq_len, 1, 1 << 24);
    if (c.n_heads % c.n_kv_heads != 0) {
        throw std::runtime_error(path + ": config n_kv_heads = " + std::to_string(c.n_kv_heads) +
                                 " does not divide n_heads = " + std::to_string(c.n_heads));
    }
    if (c.head_dim % 2 != 0) {
        throw std::runtime_error(path + ": config head_dim = " + std::to_string(c.head_dim) +
                                 " must be even for RoPE");
    }
    check_positive_finite(path, "norm_eps", c.norm_eps);
    check_positive_finite(path, "rope_theta", c.rope_theta);
    const rope_scaling_params& rs = c.rope_scaling;
    if (!rs.type.empty()) {
        if (rs.type != "llama3") {
            throw std::runtime_error(path + ": unsupported rope scaling type '" + rs.type + "'");
        }
        check_positive_finite(path, "rope_scaling.factor", rs.factor);
        check_positive_finite(path, "rope_scaling.low_freq_factor", rs.low_freq_factor);
        check_positive_finite(path, "rope_scaling.high_freq_factor", rs.high_freq_factor);
        check_range(path, "rope_scaling.original_max_position", rs.original_max_position, 1,
                    1 << 24);
        if (rs.high_freq_factor <= rs.low_freq_factor) {
            throw std::runtime_error(path + ": rope_scaling high_freq_factor must exceed "
                                            "low_freq_factor");
        }
    }
}

} // namespace

void model_file_validate(const model_file& mf) {
    validate_config(mf.path, mf.config);
    for (const expected_tensor& e : model_file_expected_tensors(mf.config)) {
        auto it = mf.tensors.find(e.name);
        if (it == mf.tensors.end()) {
            throw std::runtime_error(mf.path + ": tensor '" + e.name +
                                     "' missing (expected shape " + shape_str(e.shape) + ")");
        }
        const tensor_view& t = it->second;
        if (t.shape != e.shape) {
            throw std::runtime_error(mf.path + ": tensor '" + e.name + "' has shape " +
                                     shape_str(t.shape) + ", expected " + shape_str(e.shape));
        }
        int64_t bytes = tensor_nbytes(t.dtype, t.shape);
        if (bytes < 0 || (uint64_t)bytes != t.bytes || !t.data) {
            throw std::runtime_error(mf.path + ": tensor '" + e.name + "' has " +
                                     std::to_string(t.bytes) + " bytes of " +
                                     tensor_dtype_name(t.dtype) + " data, expected " +
                                     std::to_string(bytes));
        }
    }
}

std::string
model_file_guess_chat_template(const std::string& template_text,
                               const std::function<bool(const std::string&)>& has_token) {
    const auto mentions = [&](const std::string& marker) {
        return template_text.find(marker) != std::string::npos || has_token(marker);
    };
    // R1-Distill-Llama keeps Llama 3's vocabulary, header tokens included: test it first.
    if (mentions("<｜Assistant｜>")) return "deepseek-r1";
    if (mentions("<|start_header_id|>")) return "llama3";
    // Both wrap turns in [INST]; only Llama-2-chat puts the system prompt in <<SYS>>.
    if (template_text.find("<<SYS>>") != std::string::npos) return "llama2";
    if (mentions("[INST]")) return "mistral";
    return "plain";
}

model_memory_estimate model_file_estimate_memory(const model_file& mf, int32_t tp) {
    const model_config& c = mf.config;
    if (tp < 1 || c.n_kv_heads % tp != 0 || c.hidden_dim % tp != 0) {
        throw std::invalid_argument(mf.path + ": tensor-parallel size " + std::to_string(tp) +
                                    " must divide n_kv_heads = " + std::to_string(c.n_kv_heads) +
                                    " and hidden_dim = " + std::to_string(c.hidden_dim));
    }
    static const char* sharded[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                    "ffn_gate", "ffn_up", "ffn_down"};
    model_memory_estimate m;
    for (const auto& [name, t] : mf.tensors) {
        m.weight_bytes += (int64_t)t.bytes;
        size_t dot = name.rfind('.');
        std::string kind = dot == std::string::npos ? name : name.substr(dot + 1);
        bool is_sharded =
            std::find(std::begin(sharded), std::end(sharded), kind) != std::end(sharded);
        // The embedding and output head are split by vocabulary rows, ceil(vocab / tp) on the
        // first ranks (engine/tp.h slice_vocab); the per-rank figure is the largest share.
        const bool by_vocab = kind == "token_embd" || kind == "output";
        m.weight_bytes_per_rank +=
            is_sharded ? (int64_t)t.bytes / tp
            : by_vocab ? (int64_t)t.bytes / c.vocab_size * ((c.vocab_size + tp - 1) / tp)
                       : (int64_t)t.bytes;
    }
    const int64_t per_head = 2 * (int64_t)c.head_dim * 4 + 4; // K, V in F32 and a position
    m.kv_bytes_per_token = (int64_t)c.n_layers * c.n_kv_heads * per_head;
    m.kv_bytes_per_token_per_rank = m.kv_bytes_per_token / tp;
    return m;
}

model_file model_file_open(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw std::runtime_error(path + ": no such file or directory");
    }
    if (S_ISDIR(st.st_mode)) return hf_load_model(path);
    // A file of a Hugging Face folder stands for the folder.
    const std::string base = path.substr(path.find_last_of('/') + 1);
    if (base == "config.json" || base == "model.safetensors.index.json" ||
        (base.size() > 12 && base.compare(base.size() - 12, 12, ".safetensors") == 0)) {
        size_t slash = path.find_last_of('/');
        return hf_load_model(slash == std::string::npos ? "." : path.substr(0, slash));
    }
    char magic[4] = {};
    std::ifstream in(path, std::ios::binary);
    if (!in.read(magic, 4)) throw std::runtime_error(path + ": too short to be a model file");
    if (std::memcmp(magic, "GGUF", 4) == 0) return gguf_load_model(path);
    throw std::runtime_error(path + ": neither a GGUF file (no 'GGUF' magic) nor a Hugging Face "
                                    "folder (config.json + *.safetensors)");
}
