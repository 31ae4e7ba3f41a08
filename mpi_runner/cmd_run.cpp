// kvsweep run CONFIG [--out DIR] [--resume] [--limit N] [--set key=value ...]
// The same under plain execution, mpirun -np N and srun: rank 0 validates the config, prepares the
// run directory, plans the units missing from the journal and schedules them; the other ranks
// run units. Exit codes: 0 done, 1 failed (message names rank and item), 2 bad input,
// 3 interrupted (drained on SIGUSR1 or stopped by a signal; finish with --resume).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <dlfcn.h>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <mpi.h>
#include <spdlog/spdlog.h>

#include "engine/ops.h"
#include "engine/weights.h"
#include "mpi_runner/collective_mpi.h"
#include "mpi_runner/commands.h"
#include "mpi_runner/journal.h"
#include "mpi_runner/report.h"
#include "mpi_runner/run_dir.h"
#include "mpi_runner/sweep.h"
#include "mpi_runner/sweep_item.h"
#include "mpi_runner/sweep_plan.h"

using json = nlohmann::json;

namespace {

struct run_args {
    std::string config;
    std::string out;
    bool resume = false;
    int limit = -1;
    std::vector<std::string> sets;
    std::string split_key;   // --split KEY:INDEX keeps one entry of a list (Slurm arrays)
    int split_index = -1;
    std::string count_key;   // --split-count KEY prints the entries of a list and exits
};

run_args parse_run_args(int argc, char** argv) {
    run_args a;
    for (int i = 0; i < argc; ++i) {
        const std::string s = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(s + ": missing value");
            return argv[++i];
        };
        if (s == "--out") a.out = value();
        else if (s == "--resume") a.resume = true;
        else if (s == "--limit") {
            const std::string v = value();
            char* end = nullptr;
            a.limit = (int)std::strtol(v.c_str(), &end, 10);
            if (*end || a.limit < 1) throw std::invalid_argument("--limit: expected a positive integer, got \"" + v + "\"");
        } else if (s == "--set") a.sets.push_back(value());
        else if (s == "--split") {
            const std::string v = value();
            const size_t colon = v.find(':');
            char* end = nullptr;
            a.split_index = colon == std::string::npos ? -1 : (int)std::strtol(v.c_str() + colon + 1, &end, 10);
            if (colon == std::string::npos || *end || a.split_index < 0)
                throw std::invalid_argument("--split: expected KEY:INDEX (e.g. tasks:2), got \"" + v + "\"");
            a.split_key = v.substr(0, colon);
        } else if (s == "--split-count") a.count_key = value();
        else if (s.rfind("--", 0) == 0) throw std::invalid_argument("unknown option " + s);
        else if (a.config.empty()) a.config = s;
        else throw std::invalid_argument("unexpected argument " + s);
    }
    if (a.config.empty())
        throw std::invalid_argument("usage: kvsweep run CONFIG [--out DIR] [--resume] [--limit N] "
                                    "[--set key=value ...] [--split KEY:INDEX] [--split-count KEY]");
    return a;
}

std::string now_iso() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

std::string git_sha() {
    FILE* p = popen("git -C " KVSWEEP_SOURCE_DIR " rev-parse HEAD 2>/dev/null", "r");
    if (!p) return "unknown";
    char buf[64] = {0};
    const bool ok = std::fgets(buf, sizeof buf, p) != nullptr;
    pclose(p);
    std::string s = ok ? buf : "unknown";
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

// OpenBLAS is looked up at run time: the BLAS the engine links may be another implementation.
json blas_info() {
    using config_fn = char* (*)();
    using threads_fn = int (*)();
    auto cfg = (config_fn)dlsym(RTLD_DEFAULT, "openblas_get_config");
    auto threads = (threads_fn)dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    return {{"openblas_config", cfg ? cfg() : "not OpenBLAS"},
            {"openblas_threads", threads ? threads() : 0}};
}

json slurm_info() {
    json s = json::object();
    for (const char* v : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
                          "SLURM_RESTART_COUNT", "SLURM_JOB_NODELIST", "SLURM_NTASKS"})
        if (const char* x = std::getenv(v)) s[v] = x;
    return s;
}

// Threads per worker: the engine's kernels get the cores of a node shared by the workers on it
// (rank 0 only schedules), unless KVSWEEP_THREADS says otherwise; their results do not depend on
// the thread count. Nor do the engine's GEMMs: OpenBLAS runs single-threaded inside the engine's
// threads, in slices fixed by the shapes (weight_gemm), so records do not depend on the number of
// ranks. Set here already, so that the run's metadata shows it.
int set_worker_threads(MPI_Comm comm, int rank) {
    blas_single_thread();
    if (std::getenv("KVSWEEP_THREADS")) return ops_n_threads();
    MPI_Comm node;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    int local = 1, has_master = rank == 0 ? 1 : 0;
    MPI_Comm_size(node, &local);
    MPI_Allreduce(MPI_IN_PLACE, &has_master, 1, MPI_INT, MPI_MAX, node);
    MPI_Comm_free(&node);
    const int workers = std::max(1, local - (local > 1 ? has_master : 0));
    const int threads = std::max(1, (int)std::thread::hardware_concurrency() / workers);
    ops_set_n_threads(threads);
    return threads;
}

std::vector<std::string> gather_hosts(MPI_Comm comm, int rank, int size) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    std::vector<char> all(rank == 0 ? 256 * (size_t)size : 0);
    MPI_Gather(host, 256, MPI_CHAR, all.data(), 256, MPI_CHAR, 0, comm);
    std::vector<std::string> out;
    for (int r = 0; rank == 0 && r < size; ++r) out.emplace_back(all.data() + 256 * (size_t)r);
    return out;
}

void broadcast_string(MPI_Comm comm, std::string& s) {
    int64_t n = (int64_t)s.size();
    MPI_Bcast(&n, 1, MPI_INT64_T, 0, comm);
    s.resize((size_t)n);
    MPI_Bcast(s.data(), (int)n, MPI_CHAR, 0, comm);
}

// Rank 0's preparation: everything that can reject the input happens here, before any work.
struct prepared_run {
    sweep_config config;
    std::unique_ptr<journal_writer> writer; // holds the run directory's lock from the start
    journal_contents journal;
};

prepared_run prepare_on_master(const run_args& a, int world_size) {
    json j = config_read_json(a.config);
    std::vector<std::string> sets = a.sets;
    if (!a.out.empty()) sets.push_back("output.dir=" + json(a.out).dump());
    for (const auto& o : sets) {
        try {
            config_apply_override(j, o);
        } catch (const std::exception& e) {
            throw std::invalid_argument(a.config + ": --set " + o + ": " + e.what());
        }
    }
    if (!a.split_key.empty()) {
        try {
            config_apply_split(j, a.split_key, a.split_index);
        } catch (const std::exception& e) {
            throw std::invalid_argument(a.config + ": --split: " + e.what());
        }
    }
    // --limit applies to every task; the limit is not part of the config hash.
    if (a.limit > 0 && j.contains("tasks") && j["tasks"].is_array())
        for (auto& t : j["tasks"])
            if (t.is_object()) t["limit"] = a.limit;
    prepared_run p;
    p.config = config_parse(j, a.config, sweep_registry());
    try {
        if (p.config.tp > 1) tp_layout_check(world_size, p.config.tp); // tp = 1 runs on any size
    } catch (const std::exception& e) {
        throw std::invalid_argument(a.config + ": " + e.what());
    }
    const std::string dir = p.config.out_dir;
    run_dir_prepare(dir);
    // Locked before reading, so no other run appends between the read and this run's writes.
    p.writer = std::make_unique<journal_writer>(dir + "/journal.jsonl");
    p.journal = journal_read(dir + "/journal.jsonl");
    const bool has_run = std::filesystem::exists(dir + "/config.json");
    if (has_run && !a.resume)
        throw std::invalid_argument("output.dir: " + dir + " already holds a run (" +
                                    std::to_string(p.journal.records.size()) +
                                    " records); add --resume to finish it or choose another --out");
    if (has_run) {
        const json old = run_dir_read_config(dir);
        const std::string diff = json_first_difference(config_result_part(old),
                                                       config_result_part(p.config.resolved));
        if (!diff.empty())
            throw std::invalid_argument(a.config + ": " + diff + ": differs from the run in " + dir +
                                        "/config.json; --resume needs the same sweep");
    }
    return p;
}

} // namespace

int cmd_run(int argc, char** argv) {
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    sweep_install_signal_handlers(rank == 0);

    // ---- validation on rank 0, then the resolved config goes to every rank ----
    run_args args;
    prepared_run prep;
    std::string resolved_text, error;
    if (rank == 0) {
        try {
            args = parse_run_args(argc, argv);
            if (!args.count_key.empty()) {
                std::printf("%d\n", config_split_count(config_read_json(args.config), args.count_key));
                error = "-"; // nothing to run
            } else {
                prep = prepare_on_master(args, size);
            }
            resolved_text = prep.config.resolved.dump();
        } catch (const std::exception& e) {
            error = e.what();
        }
    }
    broadcast_string(comm, error);
    if (error == "-") return 0;
    if (!error.empty()) {
        if (rank == 0) std::fprintf(stderr, "kvsweep run: %s\n", error.c_str());
        return 2;
    }
    broadcast_string(comm, resolved_text);
    sweep_config config = rank == 0 ? prep.config
                                    : config_parse(json::parse(resolved_text), "config from rank 0",
                                                   sweep_registry());
    run_dir_open_log(config.out_dir, rank);
    spdlog::info("rank {} of {} (pid {}), config hash {}", rank, size, (int)getpid(), config.hash);

    // ---- workers: single ranks (tp = 1), or groups of tp ranks sharing one model ----
    tp_layout layout; // tp = 1: no split, the master schedules every other rank
    if (config.tp > 1) layout = tp_layout_split(comm, config.tp); // rank 0 checked the world size
    const struct layout_release {
        tp_layout& l;
        ~layout_release() { tp_layout_free(l); }
    } release{layout};
    const MPI_Comm sched = config.tp > 1 ? layout.sched : comm;
    const MPI_Comm group = config.tp > 1 ? layout.group : MPI_COMM_SELF;
    std::unique_ptr<collective_mpi> group_collective;
    if (config.tp > 1 && rank != 0) group_collective = std::make_unique<collective_mpi>(group);

    sweep_runtime rt;
    int init_ok = 1;
    try {
        rt = sweep_runtime_init(config, rank);
        rt.tp = group_collective.get();
        rt.leader = !group_collective || group_collective->rank() == 0;
    } catch (const std::exception& e) {
        error = e.what();
        init_ok = 0;
    }
    MPI_Allreduce(MPI_IN_PLACE, &init_ok, 1, MPI_INT, MPI_MIN, comm);
    if (!init_ok) {
        if (!error.empty()) std::fprintf(stderr, "kvsweep run: %s: %s\n", config.out_dir.c_str(), error.c_str());
        return 2;
    }
    const std::vector<std::string> hosts = gather_hosts(comm, rank, size);
    const int threads = set_worker_threads(comm, rank);
    const unit_executor exec = [&rt](const work_unit& u) { return sweep_run_unit(rt, u); };

    if (rank != 0) {
        sweep_worker(sched, group, exec);
        mpi_idle_barrier(comm);
        return 0;
    }

    // ---- rank 0: plan the missing units, write the run files, schedule ----
    std::vector<work_unit> units;
    int64_t total_records = 0;
    int status = 0;
    try {
        std::vector<std::vector<std::vector<std::string>>> ids(config.models.size());
        for (size_t m = 0; m < config.models.size(); ++m)
            for (size_t t = 0; t < config.tasks.size(); ++t) {
                ids[m].emplace_back();
                for (const auto& item : sweep_items(rt, (int32_t)m, (int32_t)t))
                    ids[m].back().push_back(item.id);
            }
        std::set<std::string> done;
        for (const auto& r : prep.journal.records) done.insert(record_key(r));
        units = sweep_plan_units(config, ids, done, total_records);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvsweep run: %s\n", e.what());
        status = 2;
    }
    if (status != 0) {
        MPI_Abort(comm, status);
        return status;
    }
    const std::string dir = config.out_dir;
    if (prep.journal.torn_tail)
        spdlog::warn("{}/journal.jsonl: dropping a torn last line left by a kill", dir);
    write_file_atomic(dir + "/config.json", config.resolved.dump(2) + "\n");
    json meta = std::filesystem::exists(dir + "/run_meta.json")
                    ? json::parse(read_file(dir + "/run_meta.json"))
                    : json::object();
    char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
    int len = 0;
    MPI_Get_library_version(mpi_version, &len);
    json methods = json::array();
    for (size_t i = 0; i < rt.methods.size(); ++i)
        methods.push_back({{"label", config.methods[i].label},
                           {"name", config.methods[i].name},
                           {"params", rt.methods[i]->params()}});
    meta["config_hash"] = config.hash;
    meta["name"] = config.name;
    meta["git_sha"] = git_sha();
    meta["compiler"] = KVSWEEP_CXX_COMPILER;
    meta["mpi_library"] = std::string(mpi_version, (size_t)len);
    meta["blas"] = blas_info();
    meta["hardware_threads"] = std::thread::hardware_concurrency();
    meta["methods"] = methods;
    json session = {{"started", now_iso()}, {"ranks", size}, {"tp", config.tp}, {"hosts", hosts},
                    {"slurm", slurm_info()}, {"resume", args.resume}, {"threads_per_rank", threads},
                    {"records_before", prep.journal.records.size()},
                    {"units_planned", units.size()}, {"records_planned", total_records}};
    if (!meta.contains("sessions")) meta["sessions"] = json::array();
    meta["sessions"].push_back(session);
    write_file_atomic(dir + "/run_meta.json", meta.dump(2) + "\n");

    const std::string groups = config.tp > 1 ? " in " + std::to_string(layout.n_groups) +
                                                   " tensor-parallel groups of " +
                                                   std::to_string(config.tp)
                                             : "";
    std::fprintf(stderr, "kvsweep run: %s: %zu items (%lld records) to do, %zu already recorded, %d rank(s)%s\n",
                 dir.c_str(), units.size(), (long long)total_records, prep.journal.records.size(), size,
                 groups.c_str());
    journal_writer& journal = *prep.writer;
    journal.truncate(prep.journal.valid_bytes);
    sweep_options so;
    so.progress_interval_s = config.progress_interval_s;
    so.describe = [&config](const work_unit& u) {
        return "item " + u.item_id + " (#" + std::to_string(u.item) + ") of task " +
               config.tasks[u.task].label + ", model " + config.models[u.model].name;
    };
    const sweep_outcome out = sweep_master(sched, units, total_records, journal, exec, so);
    journal.close();

    meta["sessions"].back()["finished"] = now_iso();
    meta["sessions"].back()["status"] =
        out.status == SWEEP_DONE ? "done" : out.status == SWEEP_FAILED ? "failed" : "interrupted";
    meta["sessions"].back()["records_written"] = out.records_done;
    meta["sessions"].back()["wall_s"] = out.wall_s;
    meta["sessions"].back()["master_cpu_s"] = out.master_cpu_s;
    meta["sessions"].back()["generated_tokens"] = out.generated_tokens;
    write_file_atomic(dir + "/run_meta.json", meta.dump(2) + "\n");
    if (out.status == SWEEP_FAILED) {
        std::fprintf(stderr, "kvsweep run: %s\n", out.error.c_str());
        spdlog::error("{}", out.error);
        MPI_Abort(comm, 1);
        return 1;
    }
    const int64_t n = report_write_dir(dir);
    if (out.status == SWEEP_INTERRUPTED) {
        std::fprintf(stderr, "kvsweep run: %s\n", out.error.c_str());
        // Workers may be mid-unit after SIGTERM; a drain (SIGUSR1) has already stopped them.
        if (out.error.rfind("drained", 0) != 0) MPI_Abort(comm, 3);
        mpi_idle_barrier(comm);
        return 3;
    }
    std::fprintf(stderr, "kvsweep run: done, %lld records in %s (results.csv, summary.md, plot.svg)\n",
                 (long long)n, dir.c_str());
    mpi_idle_barrier(comm);
    return 0;
}
