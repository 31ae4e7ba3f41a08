// MPI collectives for tensor parallelism (see collective_mpi.h). Counts above INT_MAX elements go
// in pieces, since MPI counts are int.
#include "mpi_runner/collective_mpi.h"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

namespace {
void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS)
        throw std::runtime_error(std::string("collective_mpi: ") + what + " failed (MPI error " +
                                 std::to_string(rc) + ")");
}
constexpr int64_t max_piece = INT_MAX / 8; // elements per MPI call
} // namespace

collective_mpi::collective_mpi(MPI_Comm comm) : comm_(comm) {
    check(MPI_Comm_rank(comm, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm, &size_), "MPI_Comm_size");
}

void collective_mpi::all_gather(const float* data, int64_t count, float* out) {
    if (size_ == 1) {
        std::copy(data, data + count, out);
        return;
    }
    const double t0 = MPI_Wtime();
    if (count <= max_piece) {
        check(MPI_Allgather(data, (int)count, MPI_FLOAT, out, (int)count, MPI_FLOAT, comm_),
              "MPI_Allgather");
    } else {
        // Piecewise, then reorder into [size][count].
        std::vector<float> piece;
        for (int64_t off = 0; off < count; off += max_piece) {
            const int64_t n = std::min(max_piece, count - off);
            piece.resize((size_t)n * size_);
            check(MPI_Allgather(data + off, (int)n, MPI_FLOAT, piece.data(), (int)n, MPI_FLOAT,
                                comm_),
                  "MPI_Allgather");
            for (int r = 0; r < size_; ++r)
                std::copy(piece.begin() + (int64_t)r * n, piece.begin() + (int64_t)(r + 1) * n,
                          out + (int64_t)r * count + off);
        }
    }
    seconds_in_mpi_ += MPI_Wtime() - t0;
    bytes_sent_ += count * (int64_t)sizeof(float) * (size_ - 1);
}

void collective_mpi::all_reduce_sum(float* data, int64_t count) {
    if (size_ == 1) return;
    gathered_.resize((size_t)count * size_);
    all_gather(data, count, gathered_.data());
    // Rank order, starting from rank 0's values, exactly as the comment of collective.h promises.
    std::copy(gathered_.begin(), gathered_.begin() + count, data);
    for (int r = 1; r < size_; ++r) {
        const float* src = gathered_.data() + (int64_t)r * count;
        for (int64_t i = 0; i < count; ++i)
            data[i] += src[i];
    }
}

void collective_mpi::broadcast(void* data, int64_t bytes) {
    if (size_ == 1) return;
    const double t0 = MPI_Wtime();
    char* p = static_cast<char*>(data);
    for (int64_t off = 0; off < bytes; off += max_piece) {
        const int64_t n = std::min(max_piece, bytes - off);
        check(MPI_Bcast(p + off, (int)n, MPI_BYTE, 0, comm_), "MPI_Bcast");
    }
    seconds_in_mpi_ += MPI_Wtime() - t0;
    if (rank_ == 0) bytes_sent_ += bytes * (size_ - 1);
}

void tp_layout_check(int32_t size, int32_t tp) {
    const std::string at = "parallel.tp = " + std::to_string(tp) + ": ";
    if (tp < 1) throw std::invalid_argument(at + "must be >= 1");
    if (size < 1 + tp || (size - 1) % tp != 0)
        throw std::invalid_argument(
            at + std::to_string(size) + " MPI ranks do not make 1 master + k groups of " +
            std::to_string(tp) + " (run with 1 + k*" + std::to_string(tp) + " ranks, e.g. " +
            std::to_string(1 + tp) + " or " + std::to_string(1 + 2 * tp) + ")");
}

tp_layout tp_layout_split(MPI_Comm world, int32_t tp) {
    int rank = 0, size = 1;
    check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
    check(MPI_Comm_size(world, &size), "MPI_Comm_size");
    tp_layout_check(size, tp);
    tp_layout l;
    l.tp = tp;
    l.n_groups = (size - 1) / tp;
    const bool master = rank == 0, leader = !master && (rank - 1) % tp == 0;
    l.group_index = master ? -1 : (rank - 1) / tp;
    check(MPI_Comm_split(world, master || leader ? 0 : MPI_UNDEFINED, rank, &l.sched),
          "MPI_Comm_split");
    check(MPI_Comm_split(world, master ? MPI_UNDEFINED : l.group_index, rank, &l.group),
          "MPI_Comm_split");
    return l;
}

void tp_layout_free(tp_layout& l) {
    if (l.sched != MPI_COMM_NULL) MPI_Comm_free(&l.sched);
    if (l.group != MPI_COMM_NULL) MPI_Comm_free(&l.group);
}
