// bench_tp: tensor-parallel decoding on the random Llama-3.2-1B-shaped model. Run it once per
// tp size; every rank of MPI_COMM_WORLD is one rank of the group:
//   mpirun -np 1 bench_tp --threads 2     # tp = 1 on both cores
//   mpirun -np 2 bench_tp --threads 1     # tp = 2, one core each
// Prints per rank: weight bytes held, resident memory, decode tokens/s (batch 1), bytes sent per
// token; with one rank, a projection of the speed-up at tp = 2, 4 and 8 across such nodes
// (25 Gb/s, 20 us latency; the model is in docs/tensor-parallel.md).
//
//   bench_tp [--type f32|bf16|q8_0] [--layers 16] [--prompt 16] [--steps 8] [--threads N]
#include "bench/bench_models.h"
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/ops.h"
#include "engine/tp.h"
#include "mpi_runner/collective_mpi.h"

namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct options {
    weight_type type = WEIGHT_F32;
    int layers = 16;
    int prompt = 16;
    int steps = 8;
    int threads = 1;
};

int parse_int(const std::string& flag, const std::string& v, int lo) {
    char* end = nullptr;
    const long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || x < lo)
        throw std::invalid_argument(flag + ": expected an integer >= " + std::to_string(lo) +
                                    ", got '" + v + "'");
    return (int)x;
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc)
            throw std::invalid_argument(a + ": missing value (see the header of bench/tp.cpp)");
        const std::string v = argv[++i];
        if (a == "--type")
            o.type = weight_type_from_name(v);
        else if (a == "--layers")
            o.layers = parse_int(a, v, 1);
        else if (a == "--prompt")
            o.prompt = parse_int(a, v, 1);
        else if (a == "--steps")
            o.steps = parse_int(a, v, 1);
        else if (a == "--threads")
            o.threads = parse_int(a, v, 1);
        else
            throw std::invalid_argument("unknown flag " + a +
                                        " (valid: --type --layers --prompt --steps --threads)");
    }
    return o;
}

int64_t resident_bytes() {
    std::ifstream f("/proc/self/status");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
    return -1;
}

// Seconds one decode step spends in collectives at tp ranks over the network of the projection:
// every all-reduce and all-gather is a ring of (tp - 1) steps, each paying the latency and
// sending one rank's block.
double network_seconds(const model_config& c, int tp, double latency_s, double bytes_per_s) {
    if (tp == 1) return 0.0;
    const int n_reduce =
        2 * c.n_layers + 1; // after attention and FFN per layer, plus the embedding
    const double reduce = (tp - 1) * (latency_s + c.dim * 4.0 / bytes_per_s);
    const double gather =
        (tp - 1) * (latency_s + vocab_stride(c.vocab_size, tp) * 4.0 / bytes_per_s);
    return n_reduce * reduce + gather;
}

} // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rc = 0;
    try {
        const options o = parse(argc, argv);
        ops_set_n_threads(o.threads);
        collective_mpi comm(MPI_COMM_WORLD);
        const model_config cfg = bench_llama32_1b(o.layers);
        const int64_t rss0 = resident_bytes();
        const double t_build = now();
        const auto m = model_create_random(cfg, 1, o.type, &comm);
        const double build_s = now() - t_build;
        const int64_t rss_model = resident_bytes() - rss0;

        std::vector<int32_t> tokens(o.prompt);
        for (int i = 0; i < o.prompt; ++i)
            tokens[i] = (i * 7919 + 13) % cfg.vocab_size;
        kv_cache cache = model_new_cache(*m);
        std::vector<float> logits;
        model_prefill(*m, cache, tokens, 0, {}, nullptr, logits);
        // Warm-up step, then the timed ones (greedy tokens, so every rank agrees on the input).
        int32_t token = (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
        std::vector<decode_slot> batch = {{&cache, token, o.prompt}};
        model_decode(*m, batch, logits);
        MPI_Barrier(MPI_COMM_WORLD);
        const int64_t sent0 = comm.bytes_sent();
        const double mpi0 = comm.seconds_in_mpi();
        const double t0 = now();
        for (int s = 0; s < o.steps; ++s) {
            batch[0].token =
                (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
            batch[0].pos = o.prompt + 1 + s;
            model_decode(*m, batch, logits);
        }
        const double step_s = (now() - t0) / o.steps;
        const double sent_per_token = (double)(comm.bytes_sent() - sent0) / o.steps;
        const double mpi_per_token = (comm.seconds_in_mpi() - mpi0) / o.steps;
        const int64_t rss_end = resident_bytes();

        // Rank order printing through rank 0.
        char line[512];
        std::snprintf(
            line, sizeof line,
            "tp %d rank %d  threads %d  %s  weights held %.1f MiB  resident: model %.1f MiB, total "
            "%.1f MiB  "
            "build %.1f s  decode %.2f tok/s (%.1f ms/token, %.1f in MPI)  sent %.1f KiB/token",
            comm.size(), comm.rank(), o.threads, weight_type_name(o.type),
            model_weight_bytes(*m) / 1048576.0, rss_model / 1048576.0, rss_end / 1048576.0, build_s,
            1.0 / step_s, step_s * 1e3, mpi_per_token * 1e3, sent_per_token / 1024.0);
        std::vector<char> all((size_t)comm.size() * sizeof line);
        MPI_Gather(line, sizeof line, MPI_CHAR, all.data(), sizeof line, MPI_CHAR, 0,
                   MPI_COMM_WORLD);
        double slowest = step_s;
        MPI_Allreduce(&step_s, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (comm.rank() == 0) {
            for (int r = 0; r < comm.size(); ++r)
                std::printf("%s\n", all.data() + (size_t)r * sizeof line);
            // Projection from a one-rank run (a whole node): each of tp nodes streams 1/tp of the
            // weights at this node's speed, plus the network time of the collectives.
            if (comm.size() == 1) {
                std::printf("projection across nodes like this one (25 Gb/s, 20 us latency):\n");
                for (int tp : {2, 4, 8}) {
                    const double net = network_seconds(cfg, tp, 20e-6, 25e9 / 8);
                    const double t = slowest / tp + net;
                    std::printf("  tp %d: %.1f ms/token (network %.2f ms), speed-up %.2fx\n", tp,
                                t * 1e3, net * 1e3, slowest / t);
                }
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_tp: %s\n", e.what());
        rc = 1;
    }
    MPI_Finalize();
    return rc;
}
