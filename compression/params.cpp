#include "compression/params.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

static std::string join_keys(const nlohmann::json& obj) {
    std::string out;
    for (auto it = obj.begin(); it != obj.end(); ++it)
        out += (out.empty() ? "" : ", ") + it.key();
    return out;
}

static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v)
        out += (out.empty() ? "" : ", ") + s;
    return out;
}

param_reader::param_reader(const std::string& method_, const nlohmann::json& defaults,
                           const nlohmann::json& given)
    : method(method_), merged(defaults) {
    if (given.is_null()) return;
    if (!given.is_object()) {
        throw std::invalid_argument(method + ": parameters must be a JSON object, got " +
                                    given.dump());
    }
    for (auto it = given.begin(); it != given.end(); ++it) {
        if (!defaults.contains(it.key())) {
            throw std::invalid_argument(method + ": unknown parameter '" + it.key() +
                                        "'; valid: " + join_keys(defaults));
        }
        merged[it.key()] = it.value();
    }
}

int32_t param_reader::get_int(const std::string& key, int32_t lo, int32_t hi) const {
    const nlohmann::json& v = merged.at(key);
    const bool integral = v.is_number_integer() ||
                          (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    if (!integral || v.get<double>() < lo || v.get<double>() > hi) {
        std::ostringstream msg;
        msg << method << ": parameter '" << key << "' = " << v.dump() << " must be an integer in ["
            << lo << ", " << hi << "]";
        throw std::invalid_argument(msg.str());
    }
    return (int32_t)v.get<double>();
}

double param_reader::get_double(const std::string& key, double lo, double hi) const {
    const nlohmann::json& v = merged.at(key);
    if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi)) {
        std::ostringstream msg;
        msg << method << ": parameter '" << key << "' = " << v.dump() << " must be a number in ["
            << lo << ", " << hi << "]";
        throw std::invalid_argument(msg.str());
    }
    return v.get<double>();
}

bool param_reader::get_bool(const std::string& key) const {
    const nlohmann::json& v = merged.at(key);
    if (!v.is_boolean()) {
        throw std::invalid_argument(method + ": parameter '" + key + "' = " + v.dump() +
                                    " must be true or false");
    }
    return v.get<bool>();
}

int32_t param_reader::get_choice(const std::string& key,
                                 const std::vector<std::string>& choices) const {
    const nlohmann::json& v = merged.at(key);
    for (size_t i = 0; i < choices.size(); ++i) {
        if (v.is_string() && v.get<std::string>() == choices[i]) return (int32_t)i;
    }
    throw std::invalid_argument(method + ": parameter '" + key + "' = " + v.dump() +
                                " is not one of: " + join(choices));
}

window_params param_reader::get_window() const {
    window_params p;
    p.window = get_int("window", 1, 1 << 20);
    if (merged.contains("kernel")) {
        p.kernel = get_int("kernel", 1, 1 << 10);
        if (p.kernel % 2 == 0) {
            throw std::invalid_argument(
                method + ": parameter 'kernel' = " + std::to_string(p.kernel) + " must be odd");
        }
        p.pooling = (pool_kind)get_choice("pooling", pool_kind_names);
    } else {
        p.kernel = 1;
        p.pooling = POOL_NONE;
    }
    if (merged.contains("gqa_mode")) p.gqa = (gqa_mode)get_choice("gqa_mode", gqa_mode_names);
    if (merged.contains("protect_question")) p.protect_question = get_bool("protect_question");
    return p;
}

void params_put_window(nlohmann::json& j, const window_params& p, bool pooling, bool gqa,
                       bool protect) {
    j["window"] = p.window;
    if (pooling) {
        j["kernel"] = p.kernel;
        j["pooling"] = pool_kind_name(p.pooling);
    }
    if (gqa) j["gqa_mode"] = gqa_mode_name(p.gqa);
    if (protect) j["protect_question"] = p.protect_question;
}
