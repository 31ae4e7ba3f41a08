// GGUF v2/v3 reader: header, typed metadata, tensor infos and the aligned data section, all
// bounds-checked against the mapping (a corrupt file throws, it never reads outside the file).
// Layout (ggml docs/gguf.md): "GGUF", u32 version, u64 n_tensors, u64 n_kv, n_kv key/value pairs,
// n_tensors tensor infos, padding to general.alignment (default 32), tensor data.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/model_file.h"

struct mapped_file;

enum gguf_type : uint32_t {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13,
};
const char* gguf_type_name(gguf_type t);

// ggml tensor type ids of the dtypes we read (ggml.h numbering).
enum ggml_type_id : uint32_t {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_BF16 = 30,
};

// GGUF token types (tokenizer.ggml.token_type).
enum gguf_token_type : int32_t {
    GGUF_TOKEN_NORMAL = 1,
    GGUF_TOKEN_UNKNOWN = 2,
    GGUF_TOKEN_CONTROL = 3,
    GGUF_TOKEN_USER_DEFINED = 4,
    GGUF_TOKEN_UNUSED = 5,
    GGUF_TOKEN_BYTE = 6,
};

// One metadata value. Integers of every width land in `i` (UINT64 above INT64_MAX is rejected),
// floats in `f`; arrays keep their elements in `nums` (numeric and bool) or `strs` (strings).
struct gguf_value {
    gguf_type type = GGUF_TYPE_UINT8;
    int64_t i = 0;
    double f = 0.0;
    std::string str;
    gguf_type elem_type = GGUF_TYPE_UINT8; // arrays only
    std::vector<double> nums;              // [n] numeric/bool array elements
    std::vector<std::string> strs;         // [n] string array elements
};

struct gguf_tensor_info {
    std::string name;        // as stored ("blk.0.attn_q.weight")
    std::vector<int64_t> ne; // ggml order: ne[0] is the fastest (input) dimension
    uint32_t type = 0;       // ggml_type_id
    tensor_dtype dtype = DTYPE_F32;
    uint64_t offset = 0; // relative to data_offset
    uint64_t bytes = 0;
};

struct gguf_file {
    std::shared_ptr<mapped_file> file;
    uint32_t version = 0;
    std::map<std::string, gguf_value> kv;
    std::vector<gguf_tensor_info> tensors; // in file order
    uint64_t alignment = 32;
    uint64_t data_offset = 0; // absolute offset of the tensor data section
};

// Parses and validates the whole structure (every tensor's bytes lie inside the file, offsets
// aligned, dtypes supported). Throws std::runtime_error "<path>: <problem>".
gguf_file gguf_read(std::shared_ptr<mapped_file> file);

// ---- typed metadata access; each throws naming the file and key on absence or wrong type ----
const gguf_value* gguf_find(const gguf_file& g, const std::string& key); // nullptr when absent
int64_t gguf_get_int(const gguf_file& g, const std::string& key);
int64_t gguf_get_int(const gguf_file& g, const std::string& key, int64_t fallback);
double gguf_get_float(const gguf_file& g, const std::string& key, double fallback);
std::string gguf_get_string(const gguf_file& g, const std::string& key);
bool gguf_get_bool(const gguf_file& g, const std::string& key, bool fallback);

// Builds the model file (llama architecture): config from llama.* metadata, tensors renamed to
// the canonical names and reshaped to {out, in}, tokenizer from tokenizer.ggml.*.
model_file gguf_load_model(const std::string& path);
