// Hugging Face safetensors reader: u64 header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the data; offsets are relative to the end of the header. Every entry is checked against
// the file size and its dtype/shape before a view is handed out.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/model_file.h"

struct safetensors_file {
    std::shared_ptr<mapped_file> file;
    std::vector<tensor_view> tensors; // names as stored ("model.layers.0.mlp.up_proj.weight")
};

// Maps and parses `path`. Supported dtypes: F32, F16, BF16. Throws std::runtime_error
// "<path>: <problem>" (bad header length, bad JSON, unsupported dtype, data outside the file).
safetensors_file safetensors_read(const std::string& path);
