#include "tasks/task_data.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unordered_map>

#include <zlib.h>

// ---- files
// ---------------------------------------------------------------------------------------

std::string task_data_dir(const task_options& options) {
    return options.data_dir.empty() ? std::string(TASK_DEFAULT_DATA_DIR) : options.data_dir;
}

std::string task_resolve_file(const std::string& dir, const std::string& rel) {
    const std::string plain = dir + "/" + rel;
    if (std::filesystem::is_regular_file(plain)) return plain;
    const std::string gz = plain + ".gz";
    if (std::filesystem::is_regular_file(gz)) return gz;
    throw std::runtime_error("task data file not found: " + plain + " (nor " + gz +
                             "); set the task's data_dir");
}

std::string task_read_file(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error(path + ": cannot open");
    std::string out;
    char buf[1 << 16];
    for (;;) {
        const int n = gzread(f, buf, sizeof(buf));
        if (n < 0) {
            int err = 0;
            const std::string msg = gzerror(f, &err);
            gzclose(f);
            throw std::runtime_error(path + ": corrupt or unreadable (" + msg + ")");
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    int err = 0;
    const std::string msg = gzerror(f, &err);
    // Z_BUF_ERROR from gzclose: the file ended inside a gzip stream (truncated).
    if (gzclose(f) == Z_BUF_ERROR || (err != Z_OK && err != Z_STREAM_END))
        throw std::runtime_error(path + ": corrupt or truncated gzip data" +
                                 (msg.empty() ? "" : " (" + msg + ")"));
    return out;
}

std::string task_where(const std::string& path, int32_t line) {
    return path + ":" + std::to_string(line);
}

// ---- JSONL
// ---------------------------------------------------------------------------------------

std::vector<jsonl_record> task_read_jsonl(const std::string& path, int32_t max_records) {
    const std::string text = task_read_file(path);
    std::vector<jsonl_record> out;
    size_t pos = 0;
    int32_t line = 0;
    while (pos < text.size() &&
           (max_records < 0 || static_cast<int32_t>(out.size()) < max_records)) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        ++line;
        const std::string_view raw(text.data() + pos, end - pos);
        pos = end + 1;
        if (text_trim(std::string(raw)).empty()) continue;
        jsonl_record rec;
        rec.line = line;
        try {
            rec.value = nlohmann::json::parse(raw);
        } catch (const nlohmann::json::parse_error& e) {
            throw std::runtime_error(task_where(path, line) + ": malformed JSON (" + e.what() +
                                     ")");
        }
        if (!rec.value.is_object())
            throw std::runtime_error(task_where(path, line) + ": expected a JSON object");
        out.push_back(std::move(rec));
    }
    return out;
}

const nlohmann::json& json_field(const nlohmann::json& obj, const std::string& field,
                                 const std::string& where) {
    if (!obj.is_object() || !obj.contains(field))
        throw std::runtime_error(where + ": missing field '" + field + "'");
    return obj.at(field);
}

std::string json_string(const nlohmann::json& obj, const std::string& field,
                        const std::string& where) {
    const nlohmann::json& v = json_field(obj, field, where);
    if (!v.is_string()) throw std::runtime_error(where + ": field '" + field + "' is not a string");
    return v.get<std::string>();
}

// ---- CSV
// -----------------------------------------------------------------------------------------

std::vector<csv_record> csv_parse(const std::string& text, const std::string& name) {
    std::vector<csv_record> out;
    csv_record rec;
    std::string field;
    int32_t line = 1;
    size_t i = 0;
    const size_t n = text.size();
    bool record_open = false; // some field of the current record has been started
    auto end_field = [&]() {
        rec.fields.push_back(std::move(field));
        field.clear();
    };
    auto end_record = [&]() {
        end_field();
        out.push_back(std::move(rec));
        rec = csv_record();
        record_open = false;
    };
    while (i < n) {
        if (!record_open) {
            // Skip blank lines between records.
            if (text[i] == '\n') {
                ++line;
                ++i;
                continue;
            }
            if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') {
                ++line;
                i += 2;
                continue;
            }
            rec.line = line;
            record_open = true;
        }
        if (text[i] == '"' && field.empty()) {
            // Quoted field: runs to the closing quote; "" is a literal quote.
            const int32_t start_line = line;
            ++i;
            for (;;) {
                if (i >= n)
                    throw std::runtime_error(task_where(name, start_line) +
                                             ": unterminated quoted field");
                const char c = text[i];
                if (c == '"') {
                    if (i + 1 < n && text[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                if (c == '\n') ++line;
                field += c;
                ++i;
            }
            const bool at_end_of_field = i >= n || text[i] == ',' || text[i] == '\n' ||
                                         (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n');
            if (!at_end_of_field)
                throw std::runtime_error(task_where(name, line) +
                                         ": unexpected character after closing quote");
            if (i >= n) break;
        }
        const char c = text[i];
        if (c == ',') {
            end_field();
            ++i;
        } else if (c == '\n') {
            end_record();
            ++line;
            ++i;
        } else if (c == '\r' && i + 1 < n && text[i + 1] == '\n') {
            end_record();
            ++line;
            i += 2;
        } else {
            field += c;
            ++i;
        }
    }
    if (record_open) end_record();
    return out;
}

std::vector<csv_record> csv_read_file(const std::string& path) {
    return csv_parse(task_read_file(path), path);
}

int32_t csv_column(const csv_record& header, const std::string& column, const std::string& path) {
    for (size_t i = 0; i < header.fields.size(); ++i)
        if (text_trim(header.fields[i]) == column) return static_cast<int32_t>(i);
    std::string have;
    for (const auto& f : header.fields)
        have += (have.empty() ? "" : ", ") + f;
    throw std::runtime_error(task_where(path, header.line) + ": missing column '" + column +
                             "' (header has: " + have + ")");
}

// ---- items and options
// ---------------------------------------------------------------------------

std::vector<task_item> task_select_items(std::vector<task_item> items, const task_options& options,
                                         const std::string& task_name) {
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < items.size(); ++i)
        if (!index.emplace(items[i].id, i).second)
            throw std::runtime_error(task_name + ": duplicate item id '" + items[i].id + "'");
    if (!options.items_file.empty()) {
        std::ifstream in(options.items_file);
        if (!in) throw std::runtime_error(options.items_file + ": cannot open items_file");
        std::vector<bool> keep(items.size(), false);
        std::string line;
        int32_t line_no = 0;
        while (std::getline(in, line)) {
            ++line_no;
            const std::string id = text_trim(line);
            if (id.empty() || id[0] == '#') continue;
            auto it = index.find(id);
            if (it == index.end())
                throw std::runtime_error(task_where(options.items_file, line_no) +
                                         ": unknown item id '" + id + "' for task " + task_name);
            if (keep[it->second])
                throw std::runtime_error(task_where(options.items_file, line_no) + ": item id '" +
                                         id + "' listed twice");
            keep[it->second] = true;
        }
        std::vector<task_item> kept;
        for (size_t i = 0; i < items.size(); ++i)
            if (keep[i]) kept.push_back(std::move(items[i]));
        items = std::move(kept);
    }
    if (options.limit >= 0 && static_cast<size_t>(options.limit) < items.size())
        items.resize(static_cast<size_t>(options.limit));
    return items;
}

int32_t task_shot_count(const task_options& options, int32_t default_shots, int32_t max_shots,
                        const std::string& task_name) {
    const int32_t shots = options.shots < 0 ? default_shots : options.shots;
    if (shots > max_shots)
        throw std::invalid_argument("shots=" + std::to_string(shots) + " out of range [0, " +
                                    std::to_string(max_shots) + "] for task " + task_name);
    return shots;
}

void task_check_params(const task_options& options, std::initializer_list<const char*> known,
                       const std::string& task_name) {
    if (options.params.is_null()) return;
    if (!options.params.is_object())
        throw std::invalid_argument("params of task " + task_name + ": expected an object");
    for (const auto& [key, value] : options.params.items()) {
        bool ok = false;
        std::string valid;
        for (const char* k : known) {
            ok = ok || key == k;
            valid += (valid.empty() ? "" : ", ") + std::string(k);
        }
        if (!ok)
            throw std::invalid_argument("params." + key + ": unknown option for task " + task_name +
                                        " (valid: " + (valid.empty() ? "none" : valid) + ")");
    }
}

static const nlohmann::json* param_get(const task_options& options, const std::string& key) {
    if (!options.params.is_object() || !options.params.contains(key)) return nullptr;
    return &options.params.at(key);
}

int32_t task_param_int(const task_options& options, const std::string& key, int32_t fallback) {
    const nlohmann::json* v = param_get(options, key);
    if (!v) return fallback;
    if (!v->is_number_integer())
        throw std::invalid_argument("params." + key + ": expected an integer");
    return v->get<int32_t>();
}

std::string task_param_string(const task_options& options, const std::string& key,
                              const std::string& fallback) {
    const nlohmann::json* v = param_get(options, key);
    if (!v) return fallback;
    if (!v->is_string()) throw std::invalid_argument("params." + key + ": expected a string");
    return v->get<std::string>();
}

bool task_param_bool(const task_options& options, const std::string& key, bool fallback) {
    const nlohmann::json* v = param_get(options, key);
    if (!v) return fallback;
    if (!v->is_boolean()) throw std::invalid_argument("params." + key + ": expected true or false");
    return v->get<bool>();
}

// ---- text
// ----------------------------------------------------------------------------------------

std::string task_hash_fnv1a64(const std::string& text) {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

std::string text_trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
        ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
        --e;
    return s.substr(b, e - b);
}

std::string text_lower(const std::string& s) {
    std::string out = s;
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

void text_replace_all(std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) return;
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
        s.replace(pos, from.size(), to);
        pos += to.size();
    }
}
