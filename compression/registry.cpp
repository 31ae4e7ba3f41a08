// The registry of methods by stable name (configs, records and `kvsweep methods` use these).
#include <stdexcept>

#include "compression/compressor.h"

// Defined in compression/<name>.cpp.
std::unique_ptr<compressor> full_kv_create(const nlohmann::json& params);
std::unique_ptr<compressor> streaming_llm_create(const nlohmann::json& params);
std::unique_ptr<compressor> h2o_create(const nlohmann::json& params);
std::unique_ptr<compressor> snapkv_create(const nlohmann::json& params);
std::unique_ptr<compressor> pyramidkv_create(const nlohmann::json& params);
std::unique_ptr<compressor> chunkkv_create(const nlohmann::json& params);
std::unique_ptr<compressor> pyramidinfer_create(const nlohmann::json& params);
std::unique_ptr<compressor> shotkv_create(const nlohmann::json& params);

namespace {

struct registry_entry {
    const char* name;
    std::unique_ptr<compressor> (*create)(const nlohmann::json& params);
};

const registry_entry registry[] = {
    {"full_kv", full_kv_create},
    {"streaming_llm", streaming_llm_create},
    {"h2o", h2o_create},
    {"snapkv", snapkv_create},
    {"pyramidkv", pyramidkv_create},
    {"chunkkv", chunkkv_create},
    {"pyramidinfer", pyramidinfer_create},
    {"shotkv", shotkv_create},
};

} // namespace

std::vector<std::string> compressor_names() {
    std::vector<std::string> out;
    for (const registry_entry& e : registry)
        out.push_back(e.name);
    return out;
}

std::unique_ptr<compressor> compressor_create(const std::string& name,
                                              const nlohmann::json& params) {
    for (const registry_entry& e : registry) {
        if (name == e.name) return e.create(params);
    }
    std::string valid;
    for (const registry_entry& e : registry)
        valid += (valid.empty() ? "" : ", ") + std::string(e.name);
    throw std::invalid_argument("unknown compression method '" + name + "'; valid: " + valid);
}
