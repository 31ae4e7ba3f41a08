// kvsweep report DIR: rebuild results.csv, summary.md and plot.svg from DIR/journal.jsonl.
#include <cstdio>
#include <exception>
#include <string>

#include "mpi_runner/commands.h"
#include "mpi_runner/report.h"

int cmd_report(int argc, char** argv) {
    if (argc != 1 || std::string(argv[0]).rfind("-", 0) == 0) {
        std::fprintf(stderr, "usage: kvsweep report DIR\n");
        return 2;
    }
    try {
        const int64_t n = report_write_dir(argv[0]);
        std::printf("%s: %lld records -> results.csv, summary.md, plot.svg\n", argv[0], (long long)n);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvsweep report: %s\n", e.what());
        return 1;
    }
}
