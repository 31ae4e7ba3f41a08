#include "mpi_runner/run_config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

using json = nlohmann::json;

// ---- schema -------------------------------------------------------------------------------------
// Every object of the config is checked against a list of fields: unknown keys are errors (they are
// usually typos that would otherwise be silently ignored), missing optional keys get defaults.

namespace {

enum field_type { FIELD_STRING, FIELD_INT, FIELD_NUMBER, FIELD_BOOL, FIELD_OBJECT, FIELD_ARRAY };

struct field_rule {
    const char* key;
    field_type type;
    bool required;
    json default_value; // used when absent and not required
};

const char* field_type_name(field_type t) {
    switch (t) {
    case FIELD_STRING: return "a string";
    case FIELD_INT: return "an integer";
    case FIELD_NUMBER: return "a number";
    case FIELD_BOOL: return "true or false";
    case FIELD_OBJECT: return "an object";
    case FIELD_ARRAY: return "an array";
    }
    return "?";
}

bool field_type_matches(field_type t, const json& v) {
    switch (t) {
    case FIELD_STRING: return v.is_string();
    case FIELD_INT: return v.is_number_integer();
    case FIELD_NUMBER: return v.is_number();
    case FIELD_BOOL: return v.is_boolean();
    case FIELD_OBJECT: return v.is_object();
    case FIELD_ARRAY: return v.is_array();
    }
    return false;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
    return out;
}

struct config_error_context {
    std::string source;
    [[noreturn]] void fail(const std::string& field, const std::string& what) const {
        throw std::invalid_argument(source + ": " + field + ": " + what);
    }
};

// Checks `obj` (at `path`) against `rules` and returns it with defaults filled in.
json check_object(const config_error_context& ctx, const json& obj, const std::string& path,
                  const std::vector<field_rule>& rules) {
    if (!obj.is_object()) ctx.fail(path, "expected an object, got " + obj.dump());
    json out = json::object();
    std::vector<std::string> valid;
    for (const auto& r : rules) valid.push_back(r.key);
    for (const auto& [key, value] : obj.items()) {
        auto it = std::find_if(rules.begin(), rules.end(),
                               [&](const field_rule& r) { return key == r.key; });
        const std::string field = path.empty() ? key : path + "." + key;
        if (it == rules.end())
            ctx.fail(field, "unknown field (valid: " + join(valid) + ")");
        if (!field_type_matches(it->type, value))
            ctx.fail(field, std::string("expected ") + field_type_name(it->type) + ", got " +
                                value.dump());
        out[key] = value;
    }
    for (const auto& r : rules) {
        if (out.contains(r.key)) continue;
        const std::string field = path.empty() ? r.key : path + "." + r.key;
        if (r.required) ctx.fail(field, "missing (required)");
        out[r.key] = r.default_value;
    }
    return out;
}

void check_name(const config_error_context& ctx, const std::string& field, const std::string& kind,
                const std::string& name, const std::vector<std::string>& valid) {
    if (std::find(valid.begin(), valid.end(), name) == valid.end())
        ctx.fail(field, "unknown " + kind + " \"" + name + "\" (valid: " + join(valid) + ")");
}

std::string indexed(const std::string& name, size_t i) {
    return name + "[" + std::to_string(i) + "]";
}

const std::vector<std::string> k_weight_types = {"f32", "bf16", "q8_0"};

} // namespace

// ---- parsing ------------------------------------------------------------------------------------

sweep_config config_parse(const json& j, const std::string& source, const config_registry& reg) {
    const config_error_context ctx{source};
    json r = check_object(ctx, j, "",
                          {{"name", FIELD_STRING, true, {}},
                           {"models", FIELD_ARRAY, true, {}},
                           {"tasks", FIELD_ARRAY, true, {}},
                           {"methods", FIELD_ARRAY, false, json::array()},
                           {"ratios", FIELD_ARRAY, false, json::array()},
                           {"generation", FIELD_OBJECT, false, json::object()},
                           {"parallel", FIELD_OBJECT, false, json::object()},
                           {"fidelity", FIELD_OBJECT, false, json::object()},
                           {"safety", FIELD_OBJECT, false, json::object()},
                           {"output", FIELD_OBJECT, false, json::object()}});
    sweep_config c;
    c.name = r["name"].get<std::string>();
    if (c.name.empty() || c.name.find_first_of("/ \t") != std::string::npos)
        ctx.fail("name", "must be a non-empty word without '/' or spaces, got \"" + c.name + "\"");

    if (r["models"].empty()) ctx.fail("models", "at least one model is required");
    std::set<std::string> labels;
    std::vector<std::string> chat_templates = {"auto"};
    chat_templates.insert(chat_templates.end(), reg.chat_templates.begin(), reg.chat_templates.end());
    for (size_t i = 0; i < r["models"].size(); ++i) {
        const std::string f = indexed("models", i);
        json m = check_object(ctx, r["models"][i], f,
                              {{"name", FIELD_STRING, true, {}},
                               {"path", FIELD_STRING, true, {}},
                               {"chat_template", FIELD_STRING, false, "auto"},
                               {"weights", FIELD_STRING, false, "f32"}});
        model_spec s{m["name"], m["path"], m["chat_template"], m["weights"]};
        if (s.path.empty()) ctx.fail(f + ".path", "missing model path (fill in where the model is)");
        check_name(ctx, f + ".chat_template", "chat template", s.chat_template, chat_templates);
        check_name(ctx, f + ".weights", "weight type", s.weights, k_weight_types);
        if (!labels.insert(s.name).second) ctx.fail(f + ".name", "duplicate model name \"" + s.name + "\"");
        if (reg.check_model) {
            try {
                reg.check_model(s);
            } catch (const std::exception& e) {
                ctx.fail(f + ".path", e.what());
            }
        }
        r["models"][i] = m;
        c.models.push_back(s);
    }

    if (r["tasks"].empty()) ctx.fail("tasks", "at least one task is required");
    labels.clear();
    for (size_t i = 0; i < r["tasks"].size(); ++i) {
        const std::string f = indexed("tasks", i);
        json t = check_object(ctx, r["tasks"][i], f,
                              {{"name", FIELD_STRING, true, {}},
                               {"label", FIELD_STRING, false, ""},
                               {"shots", FIELD_INT, false, -1},
                               {"limit", FIELD_INT, false, -1},
                               {"data_dir", FIELD_STRING, false, ""},
                               {"items_file", FIELD_STRING, false, ""},
                               {"params", FIELD_OBJECT, false, json::object()}});
        task_spec s;
        s.name = t["name"];
        check_name(ctx, f + ".name", "task", s.name, reg.tasks);
        s.label = t["label"].get<std::string>().empty() ? s.name : t["label"].get<std::string>();
        t["label"] = s.label;
        s.shots = t["shots"];
        s.limit = t["limit"];
        if (s.shots < -1) ctx.fail(f + ".shots", "must be >= 0 (or -1 for the task default)");
        if (s.limit < -1 || s.limit == 0) ctx.fail(f + ".limit", "must be >= 1 (or -1 for all items)");
        s.data_dir = t["data_dir"];
        s.items_file = t["items_file"];
        s.params = t["params"];
        if (!labels.insert(s.label).second)
            ctx.fail(f + ".label", "duplicate task label \"" + s.label +
                                       "\" (set \"label\" to tell the entries apart)");
        r["tasks"][i] = t;
        c.tasks.push_back(s);
    }

    labels = {"fullkv"};
    std::vector<std::string> method_names = reg.methods;
    if (std::find(method_names.begin(), method_names.end(), "fullkv") == method_names.end())
        method_names.push_back("fullkv");
    for (size_t i = 0; i < r["methods"].size(); ++i) {
        const std::string f = indexed("methods", i);
        json m = check_object(ctx, r["methods"][i], f,
                              {{"name", FIELD_STRING, true, {}},
                               {"label", FIELD_STRING, false, ""},
                               {"params", FIELD_OBJECT, false, json::object()}});
        method_spec s;
        s.name = m["name"];
        check_name(ctx, f + ".name", "method", s.name, method_names);
        // FullKV is always decoded as the reference; listing it is allowed and changes nothing.
        if (s.name == "fullkv" || s.name == "full_kv") {
            r["methods"][i] = nullptr;
            continue;
        }
        s.label = m["label"].get<std::string>().empty() ? s.name : m["label"].get<std::string>();
        m["label"] = s.label;
        s.params = m["params"];
        if (!labels.insert(s.label).second)
            ctx.fail(f + ".label", "duplicate method label \"" + s.label +
                                       "\" (set \"label\" to tell the entries apart)");
        if (reg.check_method) {
            try {
                reg.check_method(s);
            } catch (const std::exception& e) {
                ctx.fail(f + ".params", e.what());
            }
        }
        r["methods"][i] = m;
        c.methods.push_back(s);
    }
    json methods = json::array();
    for (const auto& m : r["methods"])
        if (!m.is_null()) methods.push_back(m);
    r["methods"] = methods;

    if (!c.methods.empty() && r["ratios"].empty())
        ctx.fail("ratios", "at least one ratio is required when methods are listed");
    for (size_t i = 0; i < r["ratios"].size(); ++i) {
        const json& v = r["ratios"][i];
        if (!v.is_number()) ctx.fail(indexed("ratios", i), "expected a number, got " + v.dump());
        const double x = v.get<double>();
        if (!(x > 0.0 && x <= 1.0))
            ctx.fail(indexed("ratios", i),
                     "ratio " + v.dump() + " outside (0, 1] (fraction of prompt KV kept)");
        if (std::find(c.ratios.begin(), c.ratios.end(), x) != c.ratios.end())
            ctx.fail(indexed("ratios", i), "duplicate ratio " + v.dump());
        c.ratios.push_back(x);
    }
    std::sort(c.ratios.rbegin(), c.ratios.rend());
    r["ratios"] = c.ratios;

    json g = check_object(ctx, r["generation"], "generation",
                          {{"max_new_tokens", FIELD_INT, false, 0},
                           {"stop", FIELD_ARRAY, false, json::array()}});
    c.max_new_tokens = g["max_new_tokens"];
    if (c.max_new_tokens < 0)
        ctx.fail("generation.max_new_tokens", "must be >= 1 (or 0 for each task's default)");
    for (size_t i = 0; i < g["stop"].size(); ++i) {
        if (!g["stop"][i].is_string() || g["stop"][i].get<std::string>().empty())
            ctx.fail(indexed("generation.stop", i), "expected a non-empty string");
        c.stop.push_back(g["stop"][i]);
    }
    r["generation"] = g;

    json p = check_object(ctx, r["parallel"], "parallel", {{"tp", FIELD_INT, false, 1}});
    c.tp = p["tp"];
    if (c.tp < 1) ctx.fail("parallel.tp", "must be >= 1 (ranks per worker group), got " + p["tp"].dump());
    if (c.tp > 1 && reg.check_tp) {
        try {
            reg.check_tp(c);
        } catch (const std::exception& e) {
            ctx.fail("parallel.tp", e.what());
        }
    }
    r["parallel"] = p;

    json fid = check_object(ctx, r["fidelity"], "fidelity", {{"kl", FIELD_BOOL, false, false}});
    c.fidelity_kl = fid["kl"];
    r["fidelity"] = fid;

    json sf = check_object(ctx, r["safety"], "safety",
                           {{"judge_model", FIELD_STRING, false, ""},
                            {"judge_weights", FIELD_STRING, false, "f32"}});
    c.judge_model = sf["judge_model"];
    c.judge_weights = sf["judge_weights"];
    if (std::find(k_weight_types.begin(), k_weight_types.end(), c.judge_weights) == k_weight_types.end())
        ctx.fail("safety.judge_weights", "unknown weight type \"" + c.judge_weights + "\" (valid: f32, bf16, q8_0)");
    if (!c.judge_model.empty() && !std::filesystem::exists(c.judge_model))
        ctx.fail("safety.judge_model", "no such file or folder: " + c.judge_model);
    r["safety"] = sf;

    json o = check_object(ctx, r["output"], "output",
                          {{"dir", FIELD_STRING, false, "runs/" + c.name},
                           {"progress_interval_s", FIELD_NUMBER, false, 10.0}});
    c.out_dir = o["dir"];
    c.progress_interval_s = o["progress_interval_s"];
    if (!(c.progress_interval_s > 0)) ctx.fail("output.progress_interval_s", "must be > 0");
    r["output"] = o;

    c.resolved = r;
    c.hash = hex_u64(fnv1a_64(config_result_part(r).dump()));
    return c;
}

json config_read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::invalid_argument(path + ": cannot open config file");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        // Report the line of the byte offset nlohmann gives.
        const size_t at = std::min<size_t>(e.byte, text.size());
        const long line = 1 + std::count(text.begin(), text.begin() + (long)at, '\n');
        throw std::invalid_argument(path + ":" + std::to_string(line) + ": invalid JSON: " +
                                    e.what());
    }
}

sweep_config config_load(const std::string& path, const config_registry& registry,
                         const std::vector<std::string>& overrides) {
    json j = config_read_json(path);
    for (const auto& o : overrides) {
        try {
            config_apply_override(j, o);
        } catch (const std::exception& e) {
            throw std::invalid_argument(path + ": --set " + o + ": " + e.what());
        }
    }
    return config_parse(j, path, registry);
}

int config_split_count(const json& j, const std::string& key) {
    static const std::vector<std::string> keys = {"models", "tasks", "methods", "ratios"};
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
        throw std::invalid_argument("split key \"" + key + "\" (valid: " + join(keys) + ")");
    if (!j.contains(key) || !j[key].is_array() || j[key].empty())
        throw std::invalid_argument(key + ": no entries to split over");
    return (int)j[key].size();
}

void config_apply_split(json& j, const std::string& key, int index) {
    const int n = config_split_count(j, key);
    if (index < 0 || index >= n)
        throw std::invalid_argument(key + ": split index " + std::to_string(index) +
                                    " outside 0.." + std::to_string(n - 1));
    j[key] = json::array({j[key][index]});
}

// ---- overrides ----------------------------------------------------------------------------------

void config_apply_override(json& j, const std::string& assignment) {
    const size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
        throw std::invalid_argument("expected key=value with a dotted key (e.g. tasks[0].limit=5)");
    const std::string key = assignment.substr(0, eq);
    const std::string text = assignment.substr(eq + 1);
    json value;
    try {
        value = json::parse(text);
    } catch (const json::parse_error&) {
        value = text;
    }
    // "a.b[2].c" and "a.b.2.c" both name the same element.
    std::vector<std::string> parts;
    std::string cur;
    for (char ch : key) {
        if (ch == '.' || ch == '[' || ch == ']') {
            if (!cur.empty()) parts.push_back(cur);
            cur.clear();
        } else {
            cur += ch;
        }
    }
    if (!cur.empty()) parts.push_back(cur);
    json* node = &j;
    for (size_t i = 0; i < parts.size(); ++i) {
        const std::string& part = parts[i];
        const bool last = i + 1 == parts.size();
        if (node->is_array()) {
            if (part.find_first_not_of("0123456789") != std::string::npos)
                throw std::invalid_argument("\"" + part + "\" is not an index into an array");
            const size_t idx = std::stoul(part);
            if (idx >= node->size())
                throw std::invalid_argument("index " + part + " out of range (size " +
                                            std::to_string(node->size()) + ")");
            node = &(*node)[idx];
        } else {
            if (node->is_null()) *node = json::object();
            if (!node->is_object())
                throw std::invalid_argument("\"" + part + "\" reaches into a non-object");
            node = &(*node)[part];
        }
        if (last) *node = value;
    }
}

// ---- hashing and comparison ---------------------------------------------------------------------

json config_result_part(const json& resolved) {
    json r = resolved;
    r.erase("output");
    r.erase("name");
    // The item limit selects which items run, not what a record contains: resuming or merging
    // runs with different limits is legitimate.
    if (r.contains("tasks"))
        for (auto& t : r["tasks"]) t.erase("limit");
    return r;
}

std::string json_first_difference(const json& a, const json& b, const std::string& path) {
    const std::string here = path.empty() ? "(root)" : path;
    // A number read back from a file may be unsigned where the default was signed.
    if (a.is_number() && b.is_number()) return a == b ? "" : here;
    if (a.type() != b.type()) return here;
    if (a.is_object()) {
        std::set<std::string> keys;
        for (const auto& [k, v] : a.items()) keys.insert(k);
        for (const auto& [k, v] : b.items()) keys.insert(k);
        for (const auto& k : keys) {
            const std::string p = path.empty() ? k : path + "." + k;
            if (!a.contains(k) || !b.contains(k)) return p;
            std::string d = json_first_difference(a[k], b[k], p);
            if (!d.empty()) return d;
        }
        return "";
    }
    if (a.is_array()) {
        for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
            std::string d = json_first_difference(a[i], b[i], indexed(path, i));
            if (!d.empty()) return d;
        }
        return a.size() == b.size() ? "" : here;
    }
    return a == b ? "" : here;
}

uint64_t fnv1a_64(const std::string& bytes) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char ch : bytes) {
        h ^= ch;
        h *= 0x100000001b3ull;
    }
    return h;
}

std::string hex_u64(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
    return buf;
}

std::string ratio_text(double r) {
    char buf[32];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, r);
        if (std::strtod(buf, nullptr) == r) break;
    }
    return buf;
}

// ---- sweep points -------------------------------------------------------------------------------

std::vector<sweep_point> sweep_config::points() const {
    std::vector<sweep_point> out = {{-1, 1.0}};
    for (size_t m = 0; m < methods.size(); ++m)
        for (double r : ratios) out.push_back({(int32_t)m, r});
    return out;
}

std::string sweep_config::point_method(const sweep_point& p) const {
    return p.method < 0 ? "fullkv" : methods[p.method].label;
}
