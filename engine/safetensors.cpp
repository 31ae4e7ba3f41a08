#include "engine/safetensors.h"

#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "engine/mapped_file.h"

namespace {

bool safetensors_dtype(const std::string& s, tensor_dtype* out) {
    if (s == "F32")
        *out = DTYPE_F32;
    else if (s == "F16")
        *out = DTYPE_F16;
    else if (s == "BF16")
        *out = DTYPE_BF16;
    else
        return false;
    return true;
}

// JSON integer that fits in int64 and is >= 0; false otherwise.
bool json_count(const nlohmann::json& j, int64_t* out) {
    if (j.is_number_unsigned()) {
        uint64_t v = j.get<uint64_t>();
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
        return true;
    }
    if (j.is_number_integer() && j.get<int64_t>() >= 0) {
        *out = j.get<int64_t>();
        return true;
    }
    return false;
}

} // namespace

safetensors_file safetensors_read(const std::string& path) {
    safetensors_file st;
    st.file = std::make_shared<mapped_file>(path);
    const mapped_file& f = *st.file;
    if (f.size < 8) throw std::runtime_error(path + ": truncated safetensors header length");
    uint64_t header_len;
    std::memcpy(&header_len, f.data, 8);
    if (header_len < 2 || header_len > f.size - 8) {
        throw std::runtime_error(path + ": safetensors header length " +
                                 std::to_string(header_len) + " does not fit the file (" +
                                 std::to_string(f.size) + " bytes)");
    }
    const uint8_t* data = f.data + 8 + header_len;
    const uint64_t data_size = f.size - 8 - header_len;

    nlohmann::json header;
    try {
        header = nlohmann::json::parse(f.data + 8, f.data + 8 + header_len);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": bad safetensors header JSON: " + e.what());
    }
    if (!header.is_object())
        throw std::runtime_error(path + ": safetensors header is not an object");

    for (const auto& [name, info] : header.items()) {
        if (name == "__metadata__") continue;
        const std::string where = path + ": tensor '" + name + "': ";
        if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() ||
            !info.contains("shape") || !info["shape"].is_array() ||
            !info.contains("data_offsets") || !info["data_offsets"].is_array() ||
            info["data_offsets"].size() != 2) {
            throw std::runtime_error(where + "entry needs dtype (string), shape (array) and "
                                             "data_offsets ([begin, end])");
        }
        tensor_view v;
        v.name = name;
        const std::string dtype = info["dtype"].get<std::string>();
        if (!safetensors_dtype(dtype, &v.dtype)) {
            throw std::runtime_error(where + "unsupported dtype " + dtype +
                                     " (supported: F32, F16, BF16)");
        }
        for (const auto& d : info["shape"]) {
            int64_t n;
            if (!json_count(d, &n)) throw std::runtime_error(where + "bad shape entry " + d.dump());
            v.shape.push_back(n);
        }
        int64_t begin, end;
        if (!json_count(info["data_offsets"][0], &begin) ||
            !json_count(info["data_offsets"][1], &end) || end < begin) {
            throw std::runtime_error(where + "bad data_offsets " + info["data_offsets"].dump());
        }
        int64_t bytes = tensor_nbytes(v.dtype, v.shape);
        if (bytes < 0) throw std::runtime_error(where + "bad shape " + info["shape"].dump());
        if (end - begin != bytes) {
            throw std::runtime_error(where + "data_offsets span " + std::to_string(end - begin) +
                                     " bytes, shape and dtype need " + std::to_string(bytes));
        }
        if ((uint64_t)end > data_size) {
            throw std::runtime_error(where + "data [" + std::to_string(begin) + ", " +
                                     std::to_string(end) + ") lies outside the file's " +
                                     std::to_string(data_size) + " data bytes");
        }
        v.data = data + begin;
        v.bytes = (uint64_t)bytes;
        st.tensors.push_back(std::move(v));
    }
    return st;
}
