// A model file opened for reading: the architecture, the tensors (memory-mapped views, validated
// against the file size and the expected shapes) and the tokenizer. Produced by the GGUF and
// Hugging Face loaders; engine/model.cpp builds the run-time weights from it.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"

enum tensor_dtype : int32_t { DTYPE_F32 = 0, DTYPE_F16 = 1, DTYPE_BF16 = 2, DTYPE_Q8_0 = 3 };
const char* tensor_dtype_name(tensor_dtype t);

struct mapped_file; // engine/mapped_file.h: read-only mmap of a whole file, unmapped on destruction

// Canonical tensor names (GGUF's): "token_embd", "output_norm", "output" (absent when tied),
// "blk.N.attn_norm", "blk.N.attn_q", "blk.N.attn_k", "blk.N.attn_v", "blk.N.attn_output",
// "blk.N.ffn_norm", "blk.N.ffn_gate", "blk.N.ffn_up", "blk.N.ffn_down".
// Matrices are [out][in] row-major (y = W x); vectors are [n]. Q8_0 rows are blocks of 32:
// one fp16 scale then 32 int8 (34 bytes per block), as in ggml.
struct tensor_view {
    std::string name;
    tensor_dtype dtype = DTYPE_F32;
    std::vector<int64_t> shape;   // outermost first: matrices {out, in}, vectors {n}
    const uint8_t* data = nullptr;
    uint64_t bytes = 0;
};

struct model_file {
    std::string path;
    model_config config;
    std::map<std::string, tensor_view> tensors;
    std::shared_ptr<tokenizer> tok;           // may be null when the file carries none
    std::string chat_template_name;           // "llama3", "llama2", "plain" (best guess from the file)
    std::vector<std::shared_ptr<mapped_file>> mappings; // keep the views alive
    const tensor_view& get(const std::string& name) const; // throws naming the file and tensor
};

// Opens a GGUF file or a Hugging Face folder (config.json + safetensors). Throws
// std::runtime_error naming the file and what is wrong.
model_file model_file_open(const std::string& path);

// ---- helpers shared by the loaders and `kvsweep inspect` ---------------------------------------

// Bytes of a tensor of this dtype and shape; -1 when the shape is invalid (a dimension < 1, an
// overflowing size, or Q8_0 rows that are not a whole number of 32-element blocks).
int64_t tensor_nbytes(tensor_dtype t, const std::vector<int64_t>& shape);

// The canonical tensors a config needs, with their shapes ("output" only when not tied).
struct expected_tensor {
    std::string name;
    std::vector<int64_t> shape; // outermost first
};
std::vector<expected_tensor> model_file_expected_tensors(const model_config& c);

// Checks the config (positive sizes, heads dividing evenly, finite eps/theta) and that every
// expected tensor is present with its expected shape and byte size. Throws naming mf.path.
void model_file_validate(const model_file& mf);

// Best guess of the chat format from the file's chat template text (may be empty) and whether
// the vocabulary has a given token: "deepseek-r1" (<｜Assistant｜>), "llama3"
// (<|start_header_id|>), "llama2" (<<SYS>>), "mistral" ([INST]) or "plain".
std::string model_file_guess_chat_template(const std::string& template_text,
                                           const std::function<bool(const std::string&)>& has_token);

// Memory needed to run the model, for `kvsweep inspect` and capacity planning.
struct model_memory_estimate {
    int64_t weight_bytes = 0;          // every tensor as stored
    int64_t weight_bytes_per_rank = 0; // under tp ranks: head/FFN-sharded matrices / tp, the
                                       // embeddings and output head by vocabulary rows (the largest
                                       // share, ceil(vocab / tp) rows), plus the replicated norms
    int64_t kv_bytes_per_token = 0;    // F32 K and V of every layer and KV head, plus one int32
                                       // position per layer and KV head
    int64_t kv_bytes_per_token_per_rank = 0; // KV heads sharded: n_kv_heads / tp
};
// Throws std::invalid_argument when tp < 1 or tp does not divide n_kv_heads and hidden_dim.
model_memory_estimate model_file_estimate_memory(const model_file& mf, int32_t tp);
