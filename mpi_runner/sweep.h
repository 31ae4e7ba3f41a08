// The master/worker loop of a sweep. Rank 0 hands out work units one at a time to whichever
// worker asks (dynamic scheduling: generation lengths vary wildly), appends the records it gets
// back to the journal (fsync'd) and shows progress. With one rank, rank 0 runs the units itself.
// A worker is one rank or a tensor-parallel group (mpi_runner/collective_mpi.h tp_layout): its
// leader talks to the master and broadcasts every message to the group, whose ranks all run
// the unit; only the leader's result goes back.
// Waiting is done with MPI_Iprobe/MPI_Test plus short sleeps: Open MPI's blocking calls spin and
// would take a core from the workers.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <mpi.h>

#include "mpi_runner/journal.h"
#include "mpi_runner/messages.h"

using unit_executor = std::function<unit_result(const work_unit&)>;

struct sweep_options {
    double progress_interval_s = 10;
    FILE* progress_out = stderr;
    std::function<std::string(const work_unit&)> describe; // names a unit in messages
};

enum sweep_status {
    SWEEP_DONE = 0,        // every unit recorded
    SWEEP_FAILED = 1,      // a rank failed or died; `error` names the rank and the item
    SWEEP_INTERRUPTED = 2, // drained after SIGUSR1 / stopped by SIGTERM or SIGINT; resume later
};

struct sweep_outcome {
    sweep_status status = SWEEP_DONE;
    std::string error;
    int64_t units_done = 0;
    int64_t records_done = 0;
    int64_t generated_tokens = 0;
    double wall_s = 0;
    double master_cpu_s = 0; // user + system CPU time of rank 0 during the loop
};

// Signals: SIGUSR1 asks rank 0 to stop handing out work and finish what is in flight (Slurm's
// pre-timeout signal); SIGTERM/SIGINT stop at once. Workers ignore SIGTERM so that rank 0 can
// still tell which rank died first when mpirun tears the job down.
void sweep_install_signal_handlers(bool master);

// `sched` holds the master (rank 0) and one rank per worker (its leader).
sweep_outcome sweep_master(MPI_Comm sched, const std::vector<work_unit>& units,
                           int64_t total_records, journal_writer& journal,
                           const unit_executor& run_local, const sweep_options& options);
// Every rank of a worker calls this: `group` is the worker's ranks (MPI_COMM_SELF for one rank),
// `sched` the master's communicator on the group's rank 0 (ignored elsewhere).
void sweep_worker(MPI_Comm sched, MPI_Comm group, const unit_executor& run);

// A barrier that sleeps instead of spinning (ranks that finish early wait here).
void mpi_idle_barrier(MPI_Comm comm);
