#include "tasks/sandbox.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// Everything the child needs, prepared before clone(): after it the child only makes system calls
// (the parent may be multi-threaded, so no allocation or locking in the child).
struct sandbox_child_args {
    const char* dir = nullptr;
    const char* python = nullptr;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    const char* const* mounts = nullptr; // mount points to remount read-only
    size_t n_mounts = 0;
    int out_fd = -1;    // write end of the output pipe
    int status_fd = -1; // close-on-exec pipe: a setup failure is written here
    uid_t uid = 0;      // unprivileged uid to switch to (when running as root)
    bool isolate = false;
    const sandbox_options* options = nullptr;
};

// Reports "<stage>: errno N" to the parent with plain writes (no stdio or locale in the child).
[[noreturn]] void sandbox_child_fail(const sandbox_child_args& a, const char* stage) {
    int err = errno;
    char msg[160];
    size_t n = 0;
    for (const char* c = stage; *c && n < 120; ++c)
        msg[n++] = *c;
    for (const char* c = ": errno "; *c; ++c)
        msg[n++] = *c;
    char digits[12];
    size_t d = 0;
    do {
        digits[d++] = static_cast<char>('0' + err % 10);
        err /= 10;
    } while (err > 0 && d < sizeof(digits));
    while (d > 0)
        msg[n++] = digits[--d];
    if (write(a.status_fd, msg, n) < 0) _exit(126);
    _exit(127);
}

void sandbox_set_limit(const sandbox_child_args& a, int resource, rlim_t value, const char* stage) {
    const rlimit lim = {value, value};
    if (setrlimit(resource, &lim) != 0) sandbox_child_fail(a, stage);
}

int sandbox_child(void* p) {
    const sandbox_child_args& a = *static_cast<const sandbox_child_args*>(p);
    if (setpgid(0, 0) != 0) sandbox_child_fail(a, "setpgid");
    if (a.isolate) {
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            sandbox_child_fail(a, "make mounts private");
        // The temporary directory becomes a mount of its own so it stays writable.
        if (mount(a.dir, a.dir, nullptr, MS_BIND, nullptr) != 0)
            sandbox_child_fail(a, "bind temp dir");
        for (size_t i = 0; i < a.n_mounts; ++i)
            if (mount(nullptr, a.mounts[i], nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) !=
                    0 &&
                errno != ENOENT && errno != EACCES)
                sandbox_child_fail(a, "remount read-only");
    }
    const sandbox_options& o = *a.options;
    sandbox_set_limit(a, RLIMIT_CPU, static_cast<rlim_t>(o.cpu_s), "RLIMIT_CPU");
    sandbox_set_limit(a, RLIMIT_AS, static_cast<rlim_t>(o.memory_bytes), "RLIMIT_AS");
    sandbox_set_limit(a, RLIMIT_FSIZE, static_cast<rlim_t>(o.file_bytes), "RLIMIT_FSIZE");
    sandbox_set_limit(a, RLIMIT_NPROC, static_cast<rlim_t>(o.max_procs), "RLIMIT_NPROC");
    sandbox_set_limit(a, RLIMIT_NOFILE, 64, "RLIMIT_NOFILE");
    sandbox_set_limit(a, RLIMIT_CORE, 0, "RLIMIT_CORE");
    if (chdir(a.dir) != 0) sandbox_child_fail(a, "chdir");
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0) sandbox_child_fail(a, "stdin");
    if (dup2(a.out_fd, 1) < 0 || dup2(a.out_fd, 2) < 0) sandbox_child_fail(a, "stdout");
    if (geteuid() == 0) {
        // Root ignores RLIMIT_NPROC and may write anywhere: become a uid nobody else uses.
        if (setgroups(0, nullptr) != 0 || setgid(a.uid) != 0 || setuid(a.uid) != 0)
            sandbox_child_fail(a, "drop privileges");
    }
    execve(a.python, a.argv, a.envp);
    sandbox_child_fail(a, "exec python");
}

// Mount points of this process (field 5 of /proc/self/mountinfo, octal escapes decoded).
std::vector<std::string> sandbox_mount_points() {
    std::ifstream in("/proc/self/mountinfo");
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        size_t pos = 0;
        for (int f = 0; f < 4 && pos != std::string::npos; ++f)
            pos = line.find(' ', pos + 1);
        if (pos == std::string::npos) continue;
        const size_t end = line.find(' ', pos + 1);
        const std::string raw = line.substr(pos + 1, end - pos - 1);
        std::string path;
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '\\' && i + 3 < raw.size()) {
                path += static_cast<char>(std::stoi(raw.substr(i + 1, 3), nullptr, 8));
                i += 3;
            } else {
                path += raw[i];
            }
        }
        out.push_back(path);
    }
    return out;
}

uid_t sandbox_pick_uid() {
    static std::atomic<uint32_t> counter{0};
    return static_cast<uid_t>(100000 + (static_cast<uint32_t>(getpid()) % 50000) * 16 +
                              counter++ % 16);
}

// RAII owner of the pipe ends and the temporary directory.
struct sandbox_resources {
    std::string dir;
    int fds[4] = {-1, -1, -1, -1}; // output read/write, status read/write
    ~sandbox_resources() {
        for (int fd : fds)
            if (fd >= 0) close(fd);
        if (!dir.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    }
};

} // namespace

sandbox_result sandbox_run_python(const std::string& program, const sandbox_options& options) {
    sandbox_resources res;
    std::string templ =
        (std::filesystem::temp_directory_path() / "kvsweep-sandbox-XXXXXX").string();
    if (!mkdtemp(templ.data()))
        throw std::runtime_error("sandbox: mkdtemp failed: " + std::string(strerror(errno)));
    res.dir = templ;
    const std::string script = res.dir + "/program.py";
    {
        std::ofstream out(script, std::ios::binary);
        out << program;
        if (!out) throw std::runtime_error("sandbox: cannot write " + script);
    }
    const uid_t uid = sandbox_pick_uid();
    if (geteuid() == 0 &&
        (chown(res.dir.c_str(), uid, uid) != 0 || chown(script.c_str(), uid, uid) != 0))
        throw std::runtime_error("sandbox: chown of " + res.dir + " failed: " + strerror(errno));
    if (pipe2(res.fds, O_CLOEXEC) != 0 || pipe2(res.fds + 2, O_CLOEXEC) != 0)
        throw std::runtime_error("sandbox: pipe failed: " + std::string(strerror(errno)));

    std::string arg0 = "python3", arg1 = "-I", arg2 = "program.py";
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
    std::vector<std::string> env = {"PATH=/usr/bin:/bin", "HOME=" + res.dir, "LANG=C.UTF-8",
                                    "PYTHONDONTWRITEBYTECODE=1", "PYTHONHASHSEED=0"};
    std::vector<char*> envp;
    for (std::string& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::vector<std::string> mounts = sandbox_mount_points();
    std::vector<const char*> mount_ptrs;
    for (const std::string& m : mounts)
        mount_ptrs.push_back(m.c_str());

    sandbox_child_args args;
    args.dir = res.dir.c_str();
    args.python = options.python.c_str();
    args.argv = argv;
    args.envp = envp.data();
    args.mounts = mount_ptrs.data();
    args.n_mounts = mount_ptrs.size();
    args.out_fd = res.fds[1];
    args.status_fd = res.fds[3];
    args.uid = uid;
    args.options = &options;

    constexpr size_t stack_size = 256 << 10;
    void* stack = mmap(nullptr, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) throw std::runtime_error("sandbox: cannot allocate the child stack");
    char* stack_top = static_cast<char*>(stack) + stack_size;
    const auto start = std::chrono::steady_clock::now();
    args.isolate = true;
    pid_t pid = clone(sandbox_child, stack_top,
                      CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | SIGCHLD, &args);
    if (pid < 0 && (errno == EPERM || errno == EINVAL || errno == ENOSPC || errno == EUSERS)) {
        const std::string why = strerror(errno);
        if (!options.allow_unsafe) {
            munmap(stack, stack_size);
            throw std::runtime_error("sandbox: cannot create PID/network/mount namespaces (" + why +
                                     "); run as root (CAP_SYS_ADMIN) or pass allow_unsafe");
        }
        args.isolate = false;
        pid = clone(sandbox_child, stack_top, SIGCHLD, &args);
    }
    const int clone_errno = errno;
    munmap(stack, stack_size);
    if (pid < 0)
        throw std::runtime_error("sandbox: clone failed: " + std::string(strerror(clone_errno)));
    close(res.fds[1]);
    close(res.fds[3]);
    res.fds[1] = res.fds[3] = -1;

    sandbox_result result;
    result.isolated = args.isolate;
    const auto deadline = start + std::chrono::duration<double>(options.timeout_s);
    bool exited = false, eof = false;
    char buf[4096];
    for (;;) {
        if (!exited) {
            // WNOWAIT leaves the child a zombie, so its pid (= process group id) cannot be reused
            // before the group is killed below.
            siginfo_t info = {};
            exited =
                waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                info.si_pid == pid;
        }
        const auto now = std::chrono::steady_clock::now();
        if (exited && (eof || now >= deadline)) break; // a stray child may hold the pipe open
        if (!exited && now >= deadline) {
            result.timed_out = true;
            break;
        }
        if (eof) {
            usleep(2000);
            continue;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
        pollfd pfd = {res.fds[0], POLLIN, 0};
        if (poll(&pfd, 1, static_cast<int>(std::min<long long>(std::max<long long>(left, 1), 20))) >
            0) {
            const ssize_t n = read(res.fds[0], buf, sizeof(buf));
            if (n <= 0) {
                eof = true;
            } else if (result.output.size() < options.output_limit) {
                result.output.append(buf, std::min(static_cast<size_t>(n),
                                                   options.output_limit - result.output.size()));
            }
        }
    }
    // Killing the first process of a PID namespace kills all of it; without a namespace the
    // process group is killed (whatever left it by setsid() survives: hence allow_unsafe).
    kill(pid, SIGKILL);
    killpg(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::string setup_error;
    ssize_t n;
    while ((n = read(res.fds[2], buf, sizeof(buf))) > 0)
        setup_error.append(buf, static_cast<size_t>(n));
    if (!setup_error.empty())
        throw std::runtime_error("sandbox: child setup failed at " + setup_error);

    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    result.passed = !result.timed_out && WIFEXITED(status) && result.exit_code == 0;
    return result;
}
