// Runs an untrusted Python program (HumanEval completions) in a contained child process.
//
// Containment (Linux, needs root / CAP_SYS_ADMIN): the child gets new PID, network, mount and IPC
// namespaces. PID namespace: killing the child kills every process it forked. Network namespace:
// only a downed loopback, so sockets cannot reach anything. Mount namespace: every mount is
// remounted read-only except a fresh temporary directory (the working directory, removed
// afterwards). The child also drops to an unused uid (so RLIMIT_NPROC counts only its own
// processes and root-owned files are not writable) and gets RLIMIT_CPU / AS / FSIZE / NPROC /
// NOFILE / CORE limits, stdin from /dev/null, stdout+stderr captured and truncated, and a
// wall-clock timeout after which the whole process group (and namespace) is SIGKILLed.
// Without the privileges for this, sandbox_run_python refuses unless allow_unsafe is set, in
// which case only the rlimits, the temporary directory and the timeout apply.
#pragma once
#include <cstdint>
#include <string>

struct sandbox_options {
    double timeout_s = 3.0;           // wall clock (OpenAI human-eval uses 3 s)
    int32_t cpu_s = 3;                // RLIMIT_CPU, seconds
    int64_t memory_bytes = 1LL << 30; // RLIMIT_AS (address space)
    int64_t file_bytes = 16LL << 20;  // RLIMIT_FSIZE (largest file it may write)
    int32_t max_procs = 16;           // RLIMIT_NPROC for the sandbox uid
    size_t output_limit = 16 << 10;   // captured stdout+stderr bytes kept
    bool allow_unsafe = false;        // run without namespaces when they are unavailable
    std::string python = "/usr/bin/python3";
};

struct sandbox_result {
    bool passed = false; // exited with status 0 before the timeout
    bool timed_out = false;
    int32_t exit_code = -1; // exit status, or -1 when killed by a signal
    int32_t signal = 0;     // terminating signal, 0 when it exited
    bool isolated = false;  // namespaces, read-only mounts and uid drop were applied
    std::string output;     // stdout + stderr, truncated to output_limit
    double seconds = 0.0;   // wall-clock run time
};

// Writes `program` to program.py in a fresh temporary directory and runs `python program.py`
// there. Throws std::runtime_error when the sandbox cannot be set up (never for a failing
// program: crashes, timeouts and limit violations come back as passed = false).
sandbox_result sandbox_run_python(const std::string& program, const sandbox_options& options);
