// Hyper-parameters from JSON: user values over a method's defaults, with every bad value
// rejected by name (std::invalid_argument listing what is valid).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compression/scoring.h"

struct param_reader {
    std::string method;
    nlohmann::json merged; // defaults overridden by the given values

    // Rejects keys missing from `defaults` (listing the valid ones) and non-object params.
    param_reader(const std::string& method, const nlohmann::json& defaults,
                 const nlohmann::json& given);

    int32_t get_int(const std::string& key, int32_t lo, int32_t hi) const;
    double get_double(const std::string& key, double lo, double hi) const; // closed range
    bool get_bool(const std::string& key) const;
    // Index of the value in `choices`.
    int32_t get_choice(const std::string& key, const std::vector<std::string>& choices) const;

    // Reads the window_params fields (window, kernel, pooling, gqa_mode, protect_question) present
    // in the defaults.
    window_params get_window() const;
};

// JSON of the window_params fields a method uses, for its params().
void params_put_window(nlohmann::json& j, const window_params& p, bool pooling, bool gqa,
                       bool protect);
