// kvsweep: one executable, one subcommand per file (mpi_runner/commands.h). MPI is initialised
// for every command so each works alone and under mpirun/srun; only `run` uses more than rank 0.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <mpi.h>

#include "mpi_runner/commands.h"

namespace {
struct command {
    const char* name;
    int (*fn)(int, char**);
    const char* help;
};

const command k_commands[] = {
    {"run", cmd_run, "CONFIG [--out DIR] [--resume] [--limit N] [--set key=value ...]"},
    {"generate", cmd_generate, "--model PATH --prompt TEXT [--method M --ratio R] [-n N] [--chat] [--dump-selection FILE]"},
    {"report", cmd_report, "DIR                 rebuild results.csv, summary.md, plot.svg"},
    {"merge", cmd_merge, "OUT_DIR IN_DIR...   join the runs of several jobs of one sweep"},
    {"methods", cmd_methods, "                   list compression methods and tasks"},
#ifdef KVSWEEP_HAVE_CMD_SCORE
    {"score", cmd_score, "--task T --records FILE"},
#endif
#ifdef KVSWEEP_HAVE_CMD_INSPECT
    {"inspect", cmd_inspect, "--model PATH"},
#endif
#ifdef KVSWEEP_HAVE_CMD_TOKENIZE
    {"tokenize", cmd_tokenize, "--model PATH --text TEXT"},
#endif
};

void usage() {
    std::fprintf(stderr, "usage: kvsweep COMMAND [ARGS]\n");
    for (const auto& c : k_commands) std::fprintf(stderr, "  kvsweep %-9s %s\n", c.name, c.help);
}
} // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    const command* cmd = nullptr;
    for (const auto& c : k_commands)
        if (argv[1] == std::string(c.name)) cmd = &c;
    if (!cmd) {
        std::fprintf(stderr, "kvsweep: unknown command \"%s\"\n", argv[1]);
        usage();
        return 2;
    }
    // Shared-memory messages through copy buffers, not by reading the sender's memory (CMA): a rank
    // killed while sending would otherwise make rank 0's receive abort inside Open MPI before the
    // master can name the dead rank and keep what was computed. A value set by the user wins.
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int code = 0;
    if (cmd->fn == cmd_run || rank == 0) code = cmd->fn(argc - 2, argv + 2);
    MPI_Finalize();
    return code;
}
