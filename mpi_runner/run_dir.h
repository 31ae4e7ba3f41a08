// Files of a run directory: config.json (resolved config), journal.jsonl, reports, run_meta.json,
// logs/rank-N.log.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

// Creates DIR and DIR/logs and proves DIR is writable; throws "output.dir: <dir>: <reason>".
void run_dir_prepare(const std::string& dir);
// Sends spdlog's default logger to DIR/logs/rank-N.log (flushed on every line: a killed rank
// still leaves its log).
void run_dir_open_log(const std::string& dir, int rank);
// Reads DIR/config.json; throws naming the file.
nlohmann::json run_dir_read_config(const std::string& dir);
