// Helpers for the format tests: scratch folders, whole-file I/O, the random HF model tool, and a
// small GGUF writer (independent of the reader under test) for files the converter never makes.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

namespace formats_test {

// A fresh folder, removed with its contents on destruction. In /dev/shm when there is one: the
// fuzz test writes hundreds of model-sized files.
struct scratch_dir {
    std::string path;
    scratch_dir() {
        std::string tmpl = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
        tmpl += "/kvsweep-formats-XXXXXX";
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
        path = tmpl;
    }
    ~scratch_dir() { std::filesystem::remove_all(path); }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

inline std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), (std::streamsize)bytes.size());
    if (!out) throw std::runtime_error("cannot write " + path);
}

// Runs tools/make_random_hf_model.py (tests run from the repo root) into `dir`.
inline void make_random_hf_model(const std::string& dir, const std::string& args) {
    std::string cmd = "/usr/bin/python3 tools/make_random_hf_model.py " + dir + " " + args;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

// `f` must throw std::runtime_error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
    try {
        f();
        ADD_FAILURE() << "no exception; expected one mentioning '" << parts.front() << "'";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        for (const std::string& p : parts) {
            EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
        }
    }
}

inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// GPT-2's byte -> unicode table: printable bytes stand for themselves, the rest map to 256+n.
inline std::vector<std::string> gpt2_byte_tokens() {
    std::vector<std::string> out;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        uint32_t cp = printable ? b : 256 + n++;
        std::string s;
        if (cp < 0x80)
            s += (char)cp;
        else if (cp < 0x800)
            s += {(char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F))};
        out.push_back(s);
    }
    return out;
}

// ---- a GGUF v3 writer for synthetic files ------------------------------------------------------

struct gguf_builder {
    struct tensor {
        std::string name;
        std::vector<uint64_t> ne; // ggml order (fastest first)
        uint32_t type = 0;
        std::string data;
    };
    std::string kv;
    uint64_t n_kv = 0;
    std::vector<tensor> tensors;
    uint32_t alignment = 32;

    static std::string str(const std::string& s) {
        uint64_t n = s.size();
        return std::string((const char*)&n, 8) + s;
    }
    template <class T> static std::string raw(T v) {
        return std::string((const char*)&v, sizeof v);
    }

    void add(const std::string& key, uint32_t type, const std::string& value) {
        kv += str(key) + raw<uint32_t>(type) + value;
        ++n_kv;
    }
    void add_u32(const std::string& k, uint32_t v) { add(k, 4, raw(v)); }
    void add_f32(const std::string& k, float v) { add(k, 6, raw(v)); }
    void add_bool(const std::string& k, bool v) { add(k, 7, raw<uint8_t>(v)); }
    void add_str(const std::string& k, const std::string& v) { add(k, 8, str(v)); }
    void add_str_array(const std::string& k, const std::vector<std::string>& v) {
        std::string body = raw<uint32_t>(8) + raw<uint64_t>(v.size());
        for (const std::string& s : v)
            body += str(s);
        add(k, 9, body);
    }
    void add_f32_array(const std::string& k, const std::vector<float>& v) {
        std::string body = raw<uint32_t>(6) + raw<uint64_t>(v.size());
        for (float x : v)
            body += raw(x);
        add(k, 9, body);
    }
    void add_i32_array(const std::string& k, const std::vector<int32_t>& v) {
        std::string body = raw<uint32_t>(5) + raw<uint64_t>(v.size());
        for (int32_t x : v)
            body += raw(x);
        add(k, 9, body);
    }
    void add_tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                    std::string data) {
        tensors.push_back({name, std::move(ne), type, std::move(data)});
    }
    tensor& find(const std::string& name) {
        for (tensor& t : tensors) {
            if (t.name == name) return t;
        }
        throw std::runtime_error("no tensor " + name);
    }

    // `offset_shift` is added to the stored offset of the last tensor (to point it elsewhere).
    std::string build(uint64_t offset_shift = 0) const {
        auto pad = [&](uint64_t n) {
            return std::string((alignment - n % alignment) % alignment, '\0');
        };
        std::string out =
            "GGUF" + raw<uint32_t>(3) + raw<uint64_t>(tensors.size()) + raw(n_kv) + kv;
        std::string data;
        for (size_t i = 0; i < tensors.size(); ++i) {
            const tensor& t = tensors[i];
            uint64_t offset = data.size() + (i + 1 == tensors.size() ? offset_shift : 0);
            out += str(t.name) + raw<uint32_t>((uint32_t)t.ne.size());
            for (uint64_t d : t.ne)
                out += raw(d);
            out += raw(t.type) + raw(offset);
            data += t.data + pad(t.data.size());
        }
        return out + pad(out.size()) + data;
    }
};

struct tiny_llama {
    uint32_t dim = 64, hidden = 96, n_layers = 2, n_heads = 4, n_kv_heads = 2, vocab = 48;
};

// Bytes of a random tensor of ggml `type` (0 F32, 1 F16, 30 BF16, 8 Q8_0) with n elements.
inline std::string random_tensor_bytes(uint32_t type, uint64_t n, std::mt19937& rng) {
    std::string out;
    std::uniform_int_distribution<int> byte(0, 255);
    if (type == 8) {
        for (uint64_t b = 0; b < n / 32; ++b) {
            out += gguf_builder::raw<uint16_t>(0x2C00); // fp16 scale 1/16
            for (int i = 0; i < 32; ++i)
                out += (char)byte(rng);
        }
        return out;
    }
    std::normal_distribution<float> normal(0.0f, 0.1f);
    for (uint64_t i = 0; i < n; ++i) {
        float f = normal(rng);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        if (type == 0)
            out += gguf_builder::raw(f);
        else if (type == 30)
            out += gguf_builder::raw<uint16_t>(u >> 16);
        else
            out +=
                gguf_builder::raw<uint16_t>(0x3C00 ^ (uint16_t)(byte(rng) & 0x3FF)); // F16 ~[1,2)
    }
    return out;
}

// A complete, valid llama GGUF: F32 norms, matrices of ggml `matrix_type`, an SPM vocabulary.
inline gguf_builder make_llama_gguf(const tiny_llama& c, uint32_t matrix_type, uint32_t seed = 1) {
    std::mt19937 rng(seed);
    gguf_builder g;
    g.add_str("general.architecture", "llama");
    g.add_u32("llama.context_length", 256);
    g.add_u32("llama.embedding_length", c.dim);
    g.add_u32("llama.feed_forward_length", c.hidden);
    g.add_u32("llama.block_count", c.n_layers);
    g.add_u32("llama.attention.head_count", c.n_heads);
    g.add_u32("llama.attention.head_count_kv", c.n_kv_heads);
    g.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
    g.add_f32("llama.rope.freq_base", 500000.0f);
    std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    for (uint32_t i = 3; i < c.vocab; ++i) {
        pieces.push_back(std::string("\xE2\x96\x81") + (char)('a' + i % 26) + std::to_string(i));
        types.push_back(1);
    }
    g.add_str("tokenizer.ggml.model", "llama");
    g.add_str_array("tokenizer.ggml.tokens", pieces);
    g.add_f32_array("tokenizer.ggml.scores", std::vector<float>(c.vocab, 0.0f));
    g.add_i32_array("tokenizer.ggml.token_type", types);
    g.add_u32("tokenizer.ggml.bos_token_id", 1);
    g.add_u32("tokenizer.ggml.eos_token_id", 2);

    const uint64_t hd = c.dim / c.n_heads, kv = c.n_kv_heads * hd;
    auto vec = [&](const std::string& name, uint64_t n) {
        g.add_tensor(name, {n}, 0, random_tensor_bytes(0, n, rng));
    };
    auto mat = [&](const std::string& name, uint64_t out, uint64_t in) {
        g.add_tensor(name, {in, out}, matrix_type, random_tensor_bytes(matrix_type, in * out, rng));
    };
    mat("token_embd.weight", c.vocab, c.dim);
    for (uint32_t l = 0; l < c.n_layers; ++l) {
        std::string b = "blk." + std::to_string(l) + ".";
        vec(b + "attn_norm.weight", c.dim);
        mat(b + "attn_q.weight", c.dim, c.dim);
        mat(b + "attn_k.weight", kv, c.dim);
        mat(b + "attn_v.weight", kv, c.dim);
        mat(b + "attn_output.weight", c.dim, c.dim);
        vec(b + "ffn_norm.weight", c.dim);
        mat(b + "ffn_gate.weight", c.hidden, c.dim);
        mat(b + "ffn_up.weight", c.hidden, c.dim);
        mat(b + "ffn_down.weight", c.dim, c.hidden);
    }
    vec("output_norm.weight", c.dim);
    mat("output.weight", c.vocab, c.dim);
    return g;
}

} // namespace formats_test
