// kvsweep score --task T --records FILE [--out FILE] [--data-dir DIR] [--shots N] [--base]
//               [--param key=value ...]
// Re-scores saved generations (JSONL records with an item id and the generated text, e.g. a run's
// journal.jsonl) with the task's current extraction and metrics, prints the mean of every metric
// per method@ratio group, and writes the re-scored records to --out.
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "mpi_runner/commands.h"
#include "tasks/rescore.h"
#include "tasks/task.h"

namespace {

void score_usage() {
    std::fprintf(
        stderr,
        "usage: kvsweep score --task T --records FILE [--out FILE] [--data-dir DIR] [--shots N]\n"
        "                     [--base] [--param key=value ...]\n"
        "  --base         the generations came from a base model (plain-text layouts)\n"
        "  --param k=v    task option (value parsed as JSON, else taken as a string)\n");
}

} // namespace

int cmd_score(int argc, char** argv) {
    std::string task_name, records, out_path;
    task_options options;
    try {
        for (int i = 0; i < argc; ++i) {
            const std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
                return argv[++i];
            };
            if (a == "--task")
                task_name = value();
            else if (a == "--records")
                records = value();
            else if (a == "--out")
                out_path = value();
            else if (a == "--data-dir")
                options.data_dir = value();
            else if (a == "--shots") {
                const std::string v = value();
                size_t used = 0;
                try {
                    options.shots = std::stoi(v, &used);
                } catch (const std::exception&) {
                    used = 0;
                }
                if (used == 0 || used != v.size())
                    throw std::invalid_argument("--shots expects an integer, got " + v);
            } else if (a == "--base")
                options.instruct = false;
            else if (a == "--param") {
                const std::string kv = value();
                const size_t eq = kv.find('=');
                if (eq == std::string::npos || eq == 0)
                    throw std::invalid_argument("--param expects key=value, got " + kv);
                const std::string v = kv.substr(eq + 1);
                options.params[kv.substr(0, eq)] =
                    nlohmann::json::accept(v) ? nlohmann::json::parse(v) : nlohmann::json(v);
            } else if (a == "-h" || a == "--help") {
                score_usage();
                return 0;
            } else {
                throw std::invalid_argument("unknown argument " + a);
            }
        }
        if (task_name.empty() || records.empty()) {
            score_usage();
            return 2;
        }
        const task_def& task = task_get(task_name);
        int64_t skipped = 0;
        const std::vector<nlohmann::json> scored =
            task_rescore_file(task, options, records, &skipped);
        const nlohmann::json summary = task_summarize(scored);
        std::printf("task %s (dataset %s, headline %s): %zu records from %s (%lld of other tasks "
                    "skipped)\n",
                    task.name.c_str(), task.dataset.c_str(), task.headline_metric.c_str(),
                    scored.size(), records.c_str(), static_cast<long long>(skipped));
        for (const auto& [group, g] : summary.items()) {
            std::printf("  %-28s n=%-6lld", group.c_str(),
                        static_cast<long long>(g.at("n").get<int64_t>()));
            for (const auto& [metric, v] : g.at("metrics").items())
                std::printf("  %s=%.4f", metric.c_str(), v.get<double>());
            std::printf("\n");
        }
        if (!out_path.empty()) {
            std::ofstream out(out_path);
            for (const nlohmann::json& r : scored)
                out << r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            if (!out) throw std::runtime_error(out_path + ": write failed");
            std::printf("re-scored records written to %s\n", out_path.c_str());
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvsweep score: %s\n", e.what());
        return 1;
    }
}
