// engine/collective.h over an MPI communicator: the tensor-parallel group of one worker.
// all_reduce_sum gathers every rank's buffer and sums in rank order on each rank, so all ranks get
// bitwise-identical sums that do not depend on MPI's reduction algorithm or the network.
#pragma once
#include <mpi.h>

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

  private:
    MPI_Comm comm_;
    int rank_ = 0;
    int size_ = 1;
    int64_t bytes_sent_ = 0;
    std::vector<float> gathered_; // [size][count] scratch of all_reduce_sum
};
