// kvsweep inspect --model PATH [--ctx N] [--tp N]
// Prints the architecture and config, every tensor (name, dtype, shape, bytes), the weight memory,
// the F32 KV-cache memory for N tokens (default: the model's context length) and the memory per
// rank under tensor parallelism: for --tp N only, otherwise for every tp that divides n_kv_heads.
#include <cstdio>
#include <exception>
#include <string>

#include "engine/model_file.h"
#include "engine/tokenizer.h"
#include "mpi_runner/commands.h"

namespace {

std::string human_bytes(int64_t b) {
    char buf[64];
    if (b < 1024)
        std::snprintf(buf, sizeof buf, "%lld B", (long long)b);
    else if (b < (1 << 20))
        std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    else if (b < (1LL << 30))
        std::snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
    else
        std::snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
    return buf;
}

std::string shape_text(const std::vector<int64_t>& s) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i)
        r += (i ? " x " : "") + std::to_string(s[i]);
    return r;
}

void print_model(const model_file& mf) {
    const model_config& c = mf.config;
    std::printf("model: %s\n", mf.path.c_str());
    std::printf("architecture: %s\n", c.arch.c_str());
    std::printf("  dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, head_dim %d\n",
                c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim);
    std::printf("  vocab %d, context %d, norm_eps %g, output %s\n", c.vocab_size, c.max_seq_len,
                c.norm_eps, c.tied_output ? "tied to token_embd" : "separate");
    std::printf("  rope: theta %g, %s pairs", c.rope_theta,
                c.rope_interleaved ? "interleaved (2i, 2i+1)" : "rotate-half (i, i+d/2)");
    const rope_scaling_params& rs = c.rope_scaling;
    if (rs.type.empty())
        std::printf(", no scaling\n");
    else
        std::printf(", %s scaling (factor %g, low %g, high %g, original %d)\n", rs.type.c_str(),
                    rs.factor, rs.low_freq_factor, rs.high_freq_factor, rs.original_max_position);
    if (mf.tok) {
        std::printf("tokenizer: %s, %d tokens, bos %d, eos %d; chat template: %s\n",
                    tokenizer_model_name(*mf.tok), tokenizer_n_vocab(*mf.tok),
                    tokenizer_bos(*mf.tok), tokenizer_eos(*mf.tok), mf.chat_template_name.c_str());
    } else {
        std::printf("tokenizer: none; chat template: %s\n", mf.chat_template_name.c_str());
    }
    std::printf("tensors (%zu):\n", mf.tensors.size());
    std::printf("  %-24s %-5s %-16s %12s\n", "name", "dtype", "shape", "bytes");
    for (const auto& [name, t] : mf.tensors) {
        std::printf("  %-24s %-5s %-16s %12llu\n", name.c_str(), tensor_dtype_name(t.dtype),
                    shape_text(t.shape).c_str(), (unsigned long long)t.bytes);
    }
}

void print_memory(const model_file& mf, int64_t ctx, int32_t tp) {
    model_memory_estimate m = model_file_estimate_memory(mf, tp);
    std::printf("  tp %d: weights %s, KV cache %s (%lld bytes per token)\n", tp,
                human_bytes(m.weight_bytes_per_rank).c_str(),
                human_bytes(m.kv_bytes_per_token_per_rank * ctx).c_str(),
                (long long)m.kv_bytes_per_token_per_rank);
}

} // namespace

int cmd_inspect(int argc, char** argv) {
    const char* usage = "usage: kvsweep inspect --model PATH [--ctx N] [--tp N]";
    std::string model_path;
    int64_t ctx = -1;
    int32_t tp = 0;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a != "--model" && a != "--ctx" && a != "--tp") {
            std::fprintf(stderr, "kvsweep inspect: unknown option %s\n%s\n", a.c_str(), usage);
            return 2;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "kvsweep inspect: %s: missing value\n%s\n", a.c_str(), usage);
            return 2;
        }
        const std::string v = argv[++i];
        if (a == "--model") {
            model_path = v;
            continue;
        }
        size_t used = 0;
        long long n = -1;
        try {
            n = std::stoll(v, &used);
        } catch (const std::exception&) {
        }
        if (used != v.size() || n < 1 || (a == "--tp" && n > 4096)) {
            std::fprintf(stderr, "kvsweep inspect: %s: '%s' is not a positive integer\n", a.c_str(),
                         v.c_str());
            return 2;
        }
        if (a == "--ctx")
            ctx = n;
        else
            tp = (int32_t)n;
    }
    if (model_path.empty()) {
        std::fprintf(stderr, "%s\n", usage);
        return 2;
    }
    try {
        model_file mf = model_file_open(model_path);
        if (ctx < 0) ctx = mf.config.max_seq_len;
        if (tp > 0) model_file_estimate_memory(mf, tp); // reject a bad --tp before printing
        print_model(mf);
        model_memory_estimate one = model_file_estimate_memory(mf, 1);
        std::printf("weights: %s (%lld bytes)\n", human_bytes(one.weight_bytes).c_str(),
                    (long long)one.weight_bytes);
        std::printf("KV cache (F32) for %lld tokens: %s (%lld bytes per token: 2 x %d layers x "
                    "%d KV heads x %d dims x 4 B, plus a 4 B position per layer and head)\n",
                    (long long)ctx, human_bytes(one.kv_bytes_per_token * ctx).c_str(),
                    (long long)one.kv_bytes_per_token, mf.config.n_layers, mf.config.n_kv_heads,
                    mf.config.head_dim);
        std::printf("per rank (attention/FFN matrices sharded by heads and FFN rows, embedding "
                    "and output head by vocabulary rows, norms replicated; largest share):\n");
        if (tp > 0) {
            print_memory(mf, ctx, tp);
        } else {
            for (int32_t t = 1; t <= mf.config.n_kv_heads; ++t) {
                if (mf.config.n_kv_heads % t == 0 && mf.config.hidden_dim % t == 0) {
                    print_memory(mf, ctx, t);
                }
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvsweep inspect: %s\n", e.what());
        return 1;
    }
    return 0;
}
