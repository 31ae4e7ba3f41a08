#include "tasks/rescore.h"

#include <map>
#include <stdexcept>
#include <unordered_map>

#include "tasks/task_data.h"

namespace {

// The first of `names` the record has, as a string.
std::string record_string(const nlohmann::json& rec, std::initializer_list<const char*> names,
                          const std::string& where) {
    for (const char* n : names)
        if (rec.contains(n) && rec.at(n).is_string()) return rec.at(n).get<std::string>();
    std::string list;
    for (const char* n : names)
        list += std::string(list.empty() ? "'" : " or '") + n + "'";
    throw std::runtime_error(where + ": missing string field " + list);
}

} // namespace

std::vector<nlohmann::json> task_rescore_file(const task_def& task, task_options options,
                                              const std::string& records_path, int64_t* skipped) {
    options.limit = -1;
    options.items_file.clear();
    const std::vector<task_item> items = task.load(options);
    std::unordered_map<std::string, const task_item*> by_id;
    for (const task_item& it : items)
        by_id[it.id] = &it;
    std::vector<nlohmann::json> out;
    if (skipped) *skipped = 0;
    for (jsonl_record& rec : task_read_jsonl(records_path)) {
        const std::string where = task_where(records_path, rec.line);
        if (rec.value.contains("task_name") && rec.value.at("task_name") != task.name) {
            if (skipped) ++*skipped;
            continue;
        }
        const std::string id = record_string(rec.value, {"item_id", "item"}, where);
        const std::string text = record_string(rec.value, {"text", "output"}, where);
        auto it = by_id.find(id);
        if (it == by_id.end())
            throw std::runtime_error(where + ": field 'item_id': no item '" + id + "' in task " +
                                     task.name);
        const task_score s = task.score(*it->second, text, options);
        rec.value["extracted"] = s.extracted;
        rec.value["scores"] = s.scores;
        rec.value["gold"] = it->second->gold;
        out.push_back(std::move(rec.value));
    }
    return out;
}

nlohmann::json task_summarize(const std::vector<nlohmann::json>& records) {
    struct acc {
        int64_t n = 0;
        std::map<std::string, double> sum;
        std::map<std::string, std::map<std::string, std::pair<double, int64_t>>>
            by_subject; // metric -> subject
        // breakdown key ("format") -> value ("Template") -> metric -> (sum, n)
        std::map<std::string,
                 std::map<std::string, std::map<std::string, std::pair<double, int64_t>>>>
            breakdown;
    };
    static const char* breakdown_keys[] = {"format", "policy"};
    std::map<std::string, acc> groups;
    for (const nlohmann::json& r : records) {
        std::string group = "all";
        if (r.contains("method") && r.at("method").is_string())
            group =
                r.at("method").get<std::string>() + "@" + r.value("ratio_text", std::string("?"));
        acc& a = groups[group];
        ++a.n;
        const std::string subject =
            r.contains("extracted") ? r.at("extracted").value("subject", "") : "";
        for (const auto& [name, v] : r.at("scores").items()) {
            if (!v.is_number()) continue;
            a.sum[name] += v.get<double>();
            if (!subject.empty()) {
                auto& s = a.by_subject[name][subject];
                s.first += v.get<double>();
                ++s.second;
            }
            for (const char* key : breakdown_keys) {
                const std::string value =
                    r.contains("extracted") ? r.at("extracted").value(key, "") : "";
                if (value.empty()) continue;
                auto& s = a.breakdown[key][value][name];
                s.first += v.get<double>();
                ++s.second;
            }
        }
    }
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [group, a] : groups) {
        nlohmann::json metrics = nlohmann::json::object();
        for (const auto& [name, sum] : a.sum)
            metrics[name] = sum / static_cast<double>(a.n);
        for (const auto& [name, subjects] : a.by_subject) {
            double macro = 0.0;
            for (const auto& [subject, s] : subjects)
                macro += s.first / static_cast<double>(s.second);
            metrics[name + "_subject_macro"] = macro / static_cast<double>(subjects.size());
        }
        out[group] = {{"n", a.n}, {"metrics", metrics}};
        for (const auto& [key, values] : a.breakdown)
            for (const auto& [value, per_metric] : values)
                for (const auto& [name, s] : per_metric)
                    out[group]["breakdown"][key][value][name] =
                        s.first / static_cast<double>(s.second);
    }
    return out;
}
