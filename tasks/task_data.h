// Helpers every task shares: reading the original data files (plain or gzip), JSONL and RFC-4180
// CSV parsing with file:line errors, item subsets (limit / items_file), option checks and a stable
// hash. Nothing here knows a particular dataset.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/task.h"

// ---- files
// ---------------------------------------------------------------------------------------

// The folder the bundled data lives in, relative to the repository root (the working directory of
// the kvsweep executable and of the tests).
constexpr const char* TASK_DEFAULT_DATA_DIR = "data/tasks";

// options.data_dir, or the bundled folder when empty.
std::string task_data_dir(const task_options& options);

// `dir/rel` if it exists, else `dir/rel.gz`; throws std::runtime_error naming both paths.
std::string task_resolve_file(const std::string& dir, const std::string& rel);

// Whole file contents; gzip files are inflated (zlib reads plain files unchanged).
std::string task_read_file(const std::string& path);

// ---- JSONL
// ---------------------------------------------------------------------------------------

struct jsonl_record {
    int32_t line = 0; // 1-based line in the file
    nlohmann::json value;
};

// Non-empty lines of a JSON-lines file (gzip or plain), at most `max_records` (-1 = all).
// A line that is not a JSON object throws "file:line: ...".
std::vector<jsonl_record> task_read_jsonl(const std::string& path, int32_t max_records = -1);

// Field access with errors of the form "file:line: field 'name': missing / not a string".
const nlohmann::json& json_field(const nlohmann::json& obj, const std::string& field,
                                 const std::string& where);
std::string json_string(const nlohmann::json& obj, const std::string& field,
                        const std::string& where);

// "path:line"
std::string task_where(const std::string& path, int32_t line);

// ---- CSV (RFC 4180)
// ------------------------------------------------------------------------------

struct csv_record {
    int32_t line = 0; // physical line the record starts on (1-based)
    std::vector<std::string> fields;
};

// Parses RFC-4180 CSV: quoted fields with doubled quotes, embedded commas / LF / CRLF, records
// ended by LF or CRLF, blank lines skipped. A quote inside an unquoted field is kept literally (as
// Python's csv module does); text after a closing quote or an unterminated quote throws
// "name:line: ...".
std::vector<csv_record> csv_parse(const std::string& text, const std::string& name);

// Reads and parses a CSV file (gzip or plain).
std::vector<csv_record> csv_read_file(const std::string& path);

// Column index by header name; throws naming the file and the missing column.
int32_t csv_column(const csv_record& header, const std::string& column, const std::string& path);

// ---- items and options
// ---------------------------------------------------------------------------

// Applies options.items_file (keep the listed ids, in dataset order; an unknown or duplicated id
// throws "items_file:line") and then options.limit (first N). Duplicate item ids in `items`
// throw, because every item must have a stable unique id.
std::vector<task_item> task_select_items(std::vector<task_item> items, const task_options& options,
                                         const std::string& task_name);

// options.shots resolved against the task's default, checked to lie in [0, max_shots].
int32_t task_shot_count(const task_options& options, int32_t default_shots, int32_t max_shots,
                        const std::string& task_name);

// Throws std::invalid_argument naming the first key of options.params that is not in `known`
// (a misspelt option must not be ignored silently).
void task_check_params(const task_options& options, std::initializer_list<const char*> known,
                       const std::string& task_name);

// options.params[key] as an int / string / bool, `fallback` when absent; wrong type throws
// naming "params.<key>".
int32_t task_param_int(const task_options& options, const std::string& key, int32_t fallback);
std::string task_param_string(const task_options& options, const std::string& key,
                              const std::string& fallback);
bool task_param_bool(const task_options& options, const std::string& key, bool fallback);

// ---- text
// ----------------------------------------------------------------------------------------

// Stable 64-bit FNV-1a of the bytes, as 16 lowercase hex digits (record hashes of prompt / gold).
std::string task_hash_fnv1a64(const std::string& text);

std::string text_trim(const std::string& s);
std::string text_lower(const std::string& s);
void text_replace_all(std::string& s, const std::string& from, const std::string& to);
