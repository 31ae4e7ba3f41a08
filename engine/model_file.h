// A model file opened for reading: the architecture, the tensors (memory-mapped views, validated
// against the file size and the expected shapes) and the tokenizer. Produced by the GGUF and
// Hugging Face loaders; engine/model.cpp builds the run-time weights from it.
#pragma once
#include <cstdint>
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
