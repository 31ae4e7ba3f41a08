#include "mpi_runner/merge.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "mpi_runner/journal.h"
#include "mpi_runner/report.h"
#include "mpi_runner/run_config.h"
#include "mpi_runner/run_dir.h"

using json = nlohmann::json;

namespace {
const char* const k_split_keys[] = {"models", "tasks", "methods", "ratios"};

// Union of list entries in order of first appearance; entries with the same label must agree.
json merge_list(const std::string& key, const std::vector<json>& lists,
                const std::vector<std::string>& dirs) {
    json out = json::array();
    std::map<std::string, std::pair<json, std::string>> by_label;
    for (size_t i = 0; i < lists.size(); ++i) {
        for (const auto& e : lists[i]) {
            const std::string label =
                e.is_object() ? e.value("label", e.value("name", std::string())) : e.dump();
            json cmp = e;
            if (cmp.is_object()) cmp.erase("limit");
            auto it = by_label.find(label);
            if (it == by_label.end()) {
                by_label[label] = {cmp, dirs[i]};
                out.push_back(e);
            } else if (it->second.first != cmp) {
                throw std::runtime_error("cannot merge: " + key + " entry \"" + label +
                                         "\" differs between " + it->second.second + " and " +
                                         dirs[i] + " (at " +
                                         json_first_difference(it->second.first, cmp) + ")");
            }
        }
    }
    if (key == "ratios") std::sort(out.begin(), out.end(), std::greater<json>());
    return out;
}
} // namespace

merge_summary merge_runs(const std::string& out_dir, const std::vector<std::string>& in_dirs) {
    if (in_dirs.empty()) throw std::runtime_error("merge: no input run directories");
    std::vector<json> configs;
    for (const auto& d : in_dirs) configs.push_back(run_dir_read_config(d));

    merge_summary summary;
    json base = config_result_part(configs[0]);
    for (const char* k : k_split_keys) base.erase(k);
    for (size_t i = 1; i < configs.size(); ++i) {
        json other = config_result_part(configs[i]);
        for (const char* k : k_split_keys) other.erase(k);
        const std::string diff = json_first_difference(base, other);
        if (!diff.empty())
            throw std::runtime_error("cannot merge: " + in_dirs[i] + "/config.json differs from " +
                                     in_dirs[0] + "/config.json at " + diff +
                                     " (only one of models, tasks, methods, ratios may differ)");
        for (const char* k : k_split_keys) {
            json a = configs[0][k], b = configs[i][k];
            if (std::string(k) == "tasks")
                for (json* t : {&a, &b})
                    for (auto& e : *t) e.erase("limit");
            if (a == b) continue;
            if (!summary.split_key.empty() && summary.split_key != k)
                throw std::runtime_error("cannot merge: the inputs differ in both " +
                                         summary.split_key + " and " + k +
                                         " (only one split key is allowed)");
            summary.split_key = k;
        }
    }

    json merged = configs[0];
    for (const char* k : k_split_keys) {
        std::vector<json> lists;
        for (const auto& c : configs) lists.push_back(c[k]);
        merged[k] = merge_list(k, lists, in_dirs);
    }
    merged["output"]["dir"] = out_dir;

    std::map<std::string, json> records;
    for (const auto& d : in_dirs) {
        for (auto& r : journal_read(d + "/journal.jsonl").records) {
            const std::string key = record_key(r);
            auto it = records.find(key);
            if (it == records.end()) {
                records.emplace(key, std::move(r));
            } else if (record_stable_part(it->second) != record_stable_part(r)) {
                throw std::runtime_error("cannot merge: record " + key + " in " + d +
                                         " differs from an earlier input at " +
                                         json_first_difference(record_stable_part(it->second),
                                                               record_stable_part(r)));
            } else {
                ++summary.duplicates;
            }
        }
    }

    run_dir_prepare(out_dir);
    std::string journal_text;
    for (const auto& [key, r] : records) journal_text += r.dump() + "\n";
    write_file_atomic(out_dir + "/config.json", merged.dump(2) + "\n");
    write_file_atomic(out_dir + "/journal.jsonl", journal_text);
    json meta = {{"merged_from", in_dirs}, {"split_key", summary.split_key}};
    write_file_atomic(out_dir + "/merge_meta.json", meta.dump(2) + "\n");
    summary.records = report_write_dir(out_dir);
    return summary;
}
