// kvsweep merge OUT IN...: join the run directories of several jobs of one sweep.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "mpi_runner/commands.h"
#include "mpi_runner/merge.h"

int cmd_merge(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: kvsweep merge OUT_DIR IN_DIR...\n");
        return 2;
    }
    try {
        const std::vector<std::string> ins(argv + 1, argv + argc);
        const merge_summary s = merge_runs(argv[0], ins);
        std::printf("%s: merged %zu runs (split by %s): %lld records, %lld duplicates dropped\n",
                    argv[0], ins.size(), s.split_key.empty() ? "nothing" : s.split_key.c_str(),
                    (long long)s.records, (long long)s.duplicates);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvsweep merge: %s\n", e.what());
        return 1;
    }
}
