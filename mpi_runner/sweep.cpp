#include "mpi_runner/sweep.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <map>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "mpi_runner/progress.h"

namespace {

volatile std::sig_atomic_t g_drain = 0; // SIGUSR1: finish in-flight work, hand out no more
volatile std::sig_atomic_t g_stop = 0;  // SIGTERM/SIGINT: stop now (signal number)

void on_drain(int) { g_drain = 1; }
void on_stop(int sig) { g_stop = sig; }

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

// Sleeps with a growing back-off (50 us .. 5 ms) between polls: quick replies while messages
// flow, near-zero CPU while the ranks compute.
struct idle_backoff {
    int us = 50;
    void reset() { us = 50; }
    void wait() {
        std::this_thread::sleep_for(std::chrono::microseconds(us));
        us = std::min(us * 2, 5000);
    }
};

// Waits for a message from `source` (or any), returns its tag; false when `give_up` turns true.
bool wait_message(MPI_Comm comm, int source, MPI_Status& status,
                  const std::function<bool()>& give_up) {
    idle_backoff backoff;
    for (;;) {
        int flag = 0;
        MPI_Iprobe(source, MPI_ANY_TAG, comm, &flag, &status);
        if (flag) return true;
        if (give_up && give_up()) return false;
        backoff.wait();
    }
}

std::string recv_bytes(MPI_Comm comm, const MPI_Status& probed) {
    int count = 0;
    MPI_Get_count(&probed, MPI_CHAR, &count);
    std::string buf((size_t)count, '\0');
    MPI_Recv(buf.data(), count, MPI_CHAR, probed.MPI_SOURCE, probed.MPI_TAG, comm,
             MPI_STATUS_IGNORE);
    return buf;
}

void send_bytes(MPI_Comm comm, int dest, int tag, const std::string& bytes) {
    MPI_Send(bytes.data(), (int)bytes.size(), MPI_CHAR, dest, tag, comm);
}

std::string host_name() {
    char buf[256] = {0};
    gethostname(buf, sizeof buf - 1);
    return buf;
}

} // namespace

void sweep_install_signal_handlers(bool master) {
    struct sigaction sa{};
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_drain;
    sigaction(SIGUSR1, &sa, nullptr);
    sa.sa_handler = master ? on_stop : SIG_IGN;
    sigaction(SIGTERM, &sa, nullptr);
    if (master) sigaction(SIGINT, &sa, nullptr);
}

sweep_outcome sweep_master(MPI_Comm comm, const std::vector<work_unit>& units,
                           int64_t total_records, journal_writer& journal,
                           const unit_executor& run_local, const sweep_options& options) {
    int size = 1;
    MPI_Comm_size(comm, &size);
    sweep_outcome out;
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds();
    progress_meter progress((int64_t)units.size(), total_records, options.progress_interval_s,
                            options.progress_out);
    auto describe = [&](int32_t unit) {
        return options.describe ? options.describe(units[unit]) : "unit " + std::to_string(unit);
    };
    auto record = [&](const unit_result& r) {
        journal.append(r.records);
        progress.add(1, (int64_t)r.records.size(), r.generated_tokens);
        out.units_done += 1;
        out.records_done += (int64_t)r.records.size();
        out.generated_tokens += r.generated_tokens;
        spdlog::info("recorded {} from rank {} ({} records, {:.2f} s)", describe(r.unit), r.rank,
                     r.records.size(), r.busy_s);
    };
    auto finish = [&] {
        out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        out.master_cpu_s = cpu_seconds() - cpu0;
        progress.finish();
        return out;
    };

    if (size == 1) {
        for (const auto& u : units) {
            if (g_drain || g_stop) {
                out.status = SWEEP_INTERRUPTED;
                out.error = "stopped by a signal before " + describe(u.unit) + "; resume with --resume";
                return finish();
            }
            try {
                record(run_local(u));
            } catch (const std::exception& e) {
                out.status = SWEEP_FAILED;
                out.error = "rank 0 failed on " + describe(u.unit) + ": " + e.what();
                return finish();
            }
            progress.tick();
        }
        return finish();
    }

    std::map<int, worker_hello> hellos;
    std::vector<int32_t> in_flight(size, -1);
    size_t next = 0;
    int running = size - 1; // workers that have not been sent STOP
    auto stop_requested = [&] { return g_stop != 0; };
    while (running > 0) {
        MPI_Status st;
        if (!wait_message(comm, MPI_ANY_SOURCE, st, [&] {
                progress.tick();
                return stop_requested();
            })) {
            // Name the rank that died: mpirun signals every process when one dies, and workers
            // ignore SIGTERM, so a worker process already gone on this host is the culprit.
            std::string dead, busy;
            const std::string here = host_name();
            for (int r = 1; r < size; ++r) {
                if (in_flight[r] < 0) continue;
                const auto h = hellos.find(r);
                const bool gone = h != hellos.end() && h->second.host == here &&
                                  kill(h->second.pid, 0) != 0 && errno == ESRCH;
                (gone ? dead : busy) += (gone ? "rank " + std::to_string(r) + " (pid " +
                                                    std::to_string(h->second.pid) +
                                                    ") died while running "
                                              : "; rank " + std::to_string(r) + " was running ") +
                                        describe(in_flight[r]);
            }
            out.status = dead.empty() ? SWEEP_INTERRUPTED : SWEEP_FAILED;
            out.error = (dead.empty() ? "stopped by signal " + std::to_string((int)g_stop) +
                                            " (a rank may have died)" + busy
                                      : dead + busy) +
                        "; the journal is intact, finish with --resume";
            return finish();
        }
        const std::string bytes = recv_bytes(comm, st);
        const int src = st.MPI_SOURCE;
        if (st.MPI_TAG == TAG_HELLO) {
            const auto h = message_unpack<worker_hello>(bytes);
            hellos[src] = h;
            spdlog::info("rank {} ready (pid {} on {})", src, h.pid, h.host);
        } else if (st.MPI_TAG == TAG_RESULT) {
            record(message_unpack<unit_result>(bytes));
            in_flight[src] = -1;
        } else if (st.MPI_TAG == TAG_ERROR) {
            const auto e = message_unpack<worker_error>(bytes);
            out.status = SWEEP_FAILED;
            out.error = "rank " + std::to_string(src) + " failed on " + describe(e.unit) + ": " +
                        e.message + "; the journal is intact, finish with --resume";
            return finish();
        } else {
            out.status = SWEEP_FAILED;
            out.error = "unexpected message tag " + std::to_string(st.MPI_TAG) + " from rank " +
                        std::to_string(src);
            return finish();
        }
        if (next < units.size() && !g_drain) {
            in_flight[src] = (int32_t)next;
            send_bytes(comm, src, TAG_UNIT, message_pack(units[next]));
            ++next;
        } else {
            send_bytes(comm, src, TAG_STOP, "");
            --running;
        }
        progress.tick();
    }
    if (next < units.size()) {
        out.status = SWEEP_INTERRUPTED;
        out.error = "drained after SIGUSR1 with " + std::to_string(units.size() - next) +
                    " items left; finish with --resume";
    }
    return finish();
}

void sweep_worker(MPI_Comm comm, const unit_executor& run) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    send_bytes(comm, 0, TAG_HELLO, message_pack(worker_hello{rank, (int32_t)getpid(), host_name()}));
    for (;;) {
        MPI_Status st;
        wait_message(comm, 0, st, nullptr);
        const std::string bytes = recv_bytes(comm, st);
        if (st.MPI_TAG == TAG_STOP) return;
        const auto unit = message_unpack<work_unit>(bytes);
        try {
            unit_result r = run(unit);
            r.rank = rank;
            send_bytes(comm, 0, TAG_RESULT, message_pack(r));
        } catch (const std::exception& e) {
            spdlog::error("unit {} ({}) failed: {}", unit.unit, unit.item_id, e.what());
            send_bytes(comm, 0, TAG_ERROR, message_pack(worker_error{unit.unit, rank, e.what()}));
            return;
        }
    }
}

void mpi_idle_barrier(MPI_Comm comm) {
    MPI_Request req;
    MPI_Ibarrier(comm, &req);
    idle_backoff backoff;
    for (;;) {
        int done = 0;
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) return;
        backoff.wait();
    }
}
