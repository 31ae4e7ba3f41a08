// Read-only memory mapping of a whole file. The mapping lives as long as the object; model files
// hand out raw pointers into it (tensor_view::data), so loaders keep a shared_ptr to it.
#pragma once
#include <cstdint>
#include <string>

struct mapped_file {
    std::string path;
    const uint8_t* data = nullptr; // [size] the file's bytes
    uint64_t size = 0;

    // Maps `path`; throws std::runtime_error naming the file when it is missing, unreadable,
    // a directory or empty.
    explicit mapped_file(const std::string& path);
    ~mapped_file();
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
};
