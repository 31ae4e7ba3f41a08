// Reduction of journal records into the reports of a run: results.csv (long format), summary.md
// (method × ratio table per task, as in the paper, with Equation 1 deltas against FullKV) and
// plot.svg (accuracy versus ratio per task). Everything is a pure function of the records, so
// `kvsweep report DIR` can rebuild it at any time and the result does not depend on record order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct result_row {
    std::string model;
    std::string task;
    int32_t shots = -1;
    std::string method;
    double ratio = 1.0;
    std::string metric;
    double value = 0;         // mean over items
    double stderr_mean = 0;   // sample standard error of the mean
    double ci_low = 0;        // Wilson 95% interval of the mean (scores in [0, 1]; normal
                              // interval for unbounded metrics such as KL)
    double ci_high = 0;
    int64_t n = 0;            // items
    double delta_pct = 0;     // Equation 1: (P - P_FullKV) / P_FullKV * 100
    bool has_delta = false;   // false when FullKV is missing or 0
    double kept_fraction = 1; // realised prompt KV kept, mean over items
    double tokens_per_s = 0;  // generated tokens / (prefill + decode seconds) attributed to it
    bool headline = false;    // the task's reported metric
};

// Mean and Wilson score interval (z = 1.96) for a proportion-like mean p over n items.
void wilson_interval(double p, int64_t n, double& low, double& high);

std::vector<result_row> report_aggregate(const std::vector<nlohmann::json>& records);

std::string report_csv(const std::vector<result_row>& rows);
std::string report_summary_md(const std::vector<result_row>& rows);
std::string report_plot_svg(const std::vector<result_row>& rows);

// Reads DIR/journal.jsonl and writes results.csv, summary.md and plot.svg next to it.
// Returns the number of records reduced.
int64_t report_write_dir(const std::string& dir);

// Writes `text` to `path` atomically (temporary file + rename), so a kill never leaves half a report.
void write_file_atomic(const std::string& path, const std::string& text);
std::string read_file(const std::string& path); // throws naming the path
