#include "mpi_runner/sweep.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <ctime>
#include <fstream>
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

// Completes a non-blocking request, sleeping between tests (blocking MPI calls spin); false when
// `give_up` turns true first (the request is left behind: the caller ends the run right after).
bool idle_wait(MPI_Request& req, const std::function<bool()>& give_up = nullptr) {
    idle_backoff backoff;
    for (;;) {
        int done = 0;
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) return true;
        if (give_up && give_up()) return false;
        backoff.wait();
    }
}

// Receives the probed message into `buf`; false when `give_up` turns true first: a sender killed
// in the middle of a large message never completes it, and rank 0 must still report the death.
bool recv_bytes(MPI_Comm comm, const MPI_Status& probed, std::string& buf,
                const std::function<bool()>& give_up = nullptr) {
    int count = 0;
    MPI_Get_count(&probed, MPI_CHAR, &count);
    buf.assign((size_t)count, '\0');
    MPI_Request req;
    MPI_Irecv(buf.data(), count, MPI_CHAR, probed.MPI_SOURCE, probed.MPI_TAG, comm, &req);
    return idle_wait(req, give_up);
}

void send_bytes(MPI_Comm comm, int dest, int tag, const std::string& bytes) {
    MPI_Send(bytes.data(), (int)bytes.size(), MPI_CHAR, dest, tag, comm);
}

// A local process that has exited: gone from the process table, or a zombie its parent (the MPI
// daemon) has not reaped yet; mpirun's SIGTERM can reach rank 0 before that reaping.
bool process_gone(pid_t pid) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')'); // the command name may hold spaces and parentheses
    return close != std::string::npos && close + 2 < line.size() &&
           (line[close + 2] == 'Z' || line[close + 2] == 'X');
}

std::string host_name() {
    char buf[256] = {0};
    gethostname(buf, sizeof buf - 1);
    return buf;
}

// The leader's message (tag and bytes) to every rank of its group; the others idle meanwhile.
void group_broadcast(MPI_Comm group, int& tag, std::string& bytes) {
    int64_t header[2] = {tag, (int64_t)bytes.size()};
    MPI_Request req;
    MPI_Ibcast(header, 2, MPI_INT64_T, 0, group, &req);
    idle_wait(req);
    tag = (int)header[0];
    bytes.resize((size_t)header[1]);
    MPI_Ibcast(bytes.data(), (int)header[1], MPI_CHAR, 0, group, &req);
    idle_wait(req);
}

// Every rank of the group, gathered on its leader (rank 0), leader first.
std::vector<worker_hello> group_hellos(MPI_Comm group) {
    struct fixed_hello {
        int32_t rank, pid;
        char host[256];
    };
    fixed_hello me{0, (int32_t)getpid(), {0}};
    MPI_Comm_rank(MPI_COMM_WORLD, &me.rank);
    std::snprintf(me.host, sizeof me.host, "%s", host_name().c_str());
    int size = 1;
    MPI_Comm_size(group, &size);
    std::vector<fixed_hello> all((size_t)size);
    MPI_Gather(&me, sizeof me, MPI_BYTE, all.data(), sizeof me, MPI_BYTE, 0, group);
    std::vector<worker_hello> out;
    for (const fixed_hello& h : all) out.push_back({h.rank, h.pid, h.host});
    return out;
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

    std::map<int, std::vector<worker_hello>> hellos; // worker -> its ranks, leader first
    // A worker by its MPI_COMM_WORLD ranks: "rank 3", or "ranks 3-4" for a tensor-parallel group.
    auto worker_name = [&](int src) {
        const auto h = hellos.find(src);
        if (h == hellos.end()) return "worker " + std::to_string(src);
        const std::vector<worker_hello>& r = h->second;
        return r.size() == 1 ? "rank " + std::to_string(r[0].rank)
                             : "ranks " + std::to_string(r.front().rank) + "-" +
                                   std::to_string(r.back().rank);
    };
    std::vector<int32_t> in_flight(size, -1);
    size_t next = 0;
    int running = size - 1; // workers that have not been sent STOP
    auto stop_requested = [&] { return g_stop != 0; };
    while (running > 0) {
        MPI_Status st;
        std::string bytes;
        const auto tick_and_check = [&] {
            progress.tick();
            return stop_requested();
        };
        if (!wait_message(comm, MPI_ANY_SOURCE, st, tick_and_check) ||
            !recv_bytes(comm, st, bytes, tick_and_check)) {
            // Name the rank that died: mpirun signals every process when one dies, and workers
            // ignore SIGTERM, so a worker process already gone on this host is the culprit.
            std::string dead, busy;
            const std::string here = host_name();
            for (int r = 1; r < size; ++r) {
                if (in_flight[r] < 0) continue;
                std::string gone;
                for (const worker_hello& w : hellos[r])
                    if (w.host == here && process_gone(w.pid))
                        gone += (gone.empty() ? "rank " : ", rank ") + std::to_string(w.rank) +
                                " (pid " + std::to_string(w.pid) + ")";
                if (gone.empty())
                    busy += "; " + worker_name(r) + (hellos[r].size() == 1 ? " was" : " were") +
                            " running " + describe(in_flight[r]);
                else
                    dead += (dead.empty() ? "" : "; ") + gone + " died while running " +
                            describe(in_flight[r]);
            }
            out.status = dead.empty() ? SWEEP_INTERRUPTED : SWEEP_FAILED;
            out.error = (dead.empty() ? "stopped by signal " + std::to_string((int)g_stop) +
                                            " (a rank may have died)" + busy
                                      : dead + busy) +
                        "; the journal is intact, finish with --resume";
            return finish();
        }
        const int src = st.MPI_SOURCE;
        if (st.MPI_TAG == TAG_HELLO) {
            hellos[src] = message_unpack<std::vector<worker_hello>>(bytes);
            for (const worker_hello& h : hellos[src])
                spdlog::info("rank {} ready (pid {} on {}), {}", h.rank, h.pid, h.host, worker_name(src));
        } else if (st.MPI_TAG == TAG_RESULT) {
            record(message_unpack<unit_result>(bytes));
            in_flight[src] = -1;
        } else if (st.MPI_TAG == TAG_ERROR) {
            const auto e = message_unpack<worker_error>(bytes);
            out.status = SWEEP_FAILED;
            out.error = worker_name(src) + " failed on " + describe(e.unit) + ": " +
                        e.message + "; the journal is intact, finish with --resume";
            return finish();
        } else {
            out.status = SWEEP_FAILED;
            out.error = "unexpected message tag " + std::to_string(st.MPI_TAG) + " from " +
                        worker_name(src);
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

void sweep_worker(MPI_Comm sched, MPI_Comm group, const unit_executor& run) {
    int group_rank = 0, world_rank = 0;
    MPI_Comm_rank(group, &group_rank);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    const bool leader = group_rank == 0;
    const std::vector<worker_hello> ranks = group_hellos(group);
    if (leader) send_bytes(sched, 0, TAG_HELLO, message_pack(ranks));
    for (;;) {
        int tag = 0;
        std::string bytes;
        if (leader) {
            MPI_Status st;
            wait_message(sched, 0, st, nullptr);
            recv_bytes(sched, st, bytes);
            tag = st.MPI_TAG;
        }
        group_broadcast(group, tag, bytes);
        if (tag == TAG_STOP) return;
        const auto unit = message_unpack<work_unit>(bytes);
        try {
            unit_result r = run(unit);
            r.rank = world_rank;
            if (leader) send_bytes(sched, 0, TAG_RESULT, message_pack(r));
        } catch (const std::exception& e) {
            spdlog::error("unit {} ({}) failed: {}", unit.unit, unit.item_id, e.what());
            if (leader) {
                send_bytes(sched, 0, TAG_ERROR,
                           message_pack(worker_error{unit.unit, world_rank, e.what()}));
                return;
            }
            // The same failure on the leader reaches the master, which ends the job; a failure
            // of this rank alone leaves the leader waiting in a collective that only an abort ends.
            std::this_thread::sleep_for(std::chrono::seconds(10));
            std::fprintf(stderr, "kvsweep run: rank %d failed on item %s: %s; aborting the job\n",
                         world_rank, unit.item_id.c_str(), e.what());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
}

void mpi_idle_barrier(MPI_Comm comm) {
    MPI_Request req;
    MPI_Ibarrier(comm, &req);
    idle_wait(req);
}
