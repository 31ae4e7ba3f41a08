// engine/collective.h over an MPI communicator: the tensor-parallel group of one worker.
// all_reduce_sum gathers every rank's buffer and sums in rank order on each rank, so all ranks get
// bitwise-identical sums that do not depend on MPI's reduction algorithm or the network.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <vector>

#include "engine/collective.h"

struct collective_mpi : collective {
    // Borrows `comm` (the caller frees it after this object is gone).
    explicit collective_mpi(MPI_Comm comm);
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void all_reduce_sum(float* data, int64_t count) override;
    void all_gather(const float* data, int64_t count, float* out) override;
    void broadcast(void* data, int64_t bytes) override;
    // Bytes this rank has sent so far (for benchmarks), counted as a ring all-gather sends them:
    // (size - 1) * count * 4 per all-gather or all-reduce; a broadcast counts on its root.
    int64_t bytes_sent() const { return bytes_sent_; }
    // Seconds spent inside MPI calls so far, waiting for the slowest rank included (benchmarks).
    double seconds_in_mpi() const { return seconds_in_mpi_; }

  private:
    MPI_Comm comm_;
    int rank_ = 0;
    int size_ = 1;
    int64_t bytes_sent_ = 0;
    double seconds_in_mpi_ = 0.0;
    std::vector<float> gathered_; // [size][count] scratch of all_reduce_sum
};

// ---- worker groups of a sweep
// ---------------------------------------------------------------------

// The ranks of a sweep with tensor parallelism: rank 0 of `world` is the master, the others form
// groups of tp consecutive ranks, each group one worker whose rank 0 (the leader) talks to the
// master and broadcasts the work to its group.
struct tp_layout {
    MPI_Comm sched = MPI_COMM_NULL; // master + group leaders, master = rank 0; NULL elsewhere
    MPI_Comm group = MPI_COMM_NULL; // this worker's tp ranks, leader = rank 0; NULL on the master
    int32_t tp = 1;
    int32_t n_groups = 0;
    int32_t group_index = -1; // -1 on the master
};
// Throws std::invalid_argument (one line, naming parallel.tp) when tp < 1 or world_size is not
// 1 + k * tp with k >= 1.
void tp_layout_check(int32_t world_size, int32_t tp);
// Collective over `world`. Throws as tp_layout_check on every rank alike, before any split.
tp_layout tp_layout_split(MPI_Comm world, int32_t tp);
void tp_layout_free(tp_layout& l);
