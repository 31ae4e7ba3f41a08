// `kvsweep merge`: joins the run directories of several jobs of one sweep (e.g. a Slurm array
// split by task or method) into one run directory with one journal and fresh reports. Runs must
// agree on everything but one split key (models, tasks, methods or ratios).
#pragma once
#include <string>
#include <vector>

struct merge_summary {
    std::string split_key; // "" when the inputs share one config (e.g. a requeued job)
    int64_t records = 0;
    int64_t duplicates = 0; // identical records found in more than one input
};

// Throws std::runtime_error naming the inputs and the field that disagrees.
merge_summary merge_runs(const std::string& out_dir, const std::vector<std::string>& in_dirs);
