// Hostile programs stay contained: each fails within the limits and never hangs the caller.
#include <chrono>
#include <filesystem>

#include <gtest/gtest.h>

#include "tasks/sandbox.h"

namespace {

sandbox_result run(const std::string& program) {
    return sandbox_run_python(program, sandbox_options{});
}

} // namespace

TEST(Sandbox, CleanProgramPassesAndOutputIsCaptured) {
    const sandbox_result r =
        run("import os\nprint('hi', os.getcwd().startswith('/tmp/kvsweep-sandbox-'))\n");
    EXPECT_TRUE(r.passed) << r.output;
    EXPECT_TRUE(r.isolated);
    EXPECT_EQ(r.output, "hi True\n");
}

TEST(Sandbox, FailingAssertFails) {
    const sandbox_result r = run("assert 1 == 2\n");
    EXPECT_FALSE(r.passed);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("AssertionError"), std::string::npos);
}

TEST(Sandbox, InfiniteLoopTimesOut) {
    const sandbox_result r = run("while True:\n    pass\n");
    EXPECT_FALSE(r.passed);
    EXPECT_TRUE(r.timed_out || r.signal != 0);
    EXPECT_LT(r.seconds, 4.0);
}

TEST(Sandbox, SleepingForeverIsKilledAtTheWallClock) {
    const sandbox_result r = run("import time\ntime.sleep(100)\n");
    EXPECT_TRUE(r.timed_out);
    EXPECT_FALSE(r.passed);
    EXPECT_LT(r.seconds, 4.0);
}

TEST(Sandbox, ForkBombIsContained) {
    const auto start = std::chrono::steady_clock::now();
    const sandbox_result r = run(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n");
    EXPECT_FALSE(r.passed);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
    // Nothing of it survives: a fresh program runs normally right after.
    EXPECT_TRUE(run("print(1)\n").passed);
}

TEST(Sandbox, ChildThatOutlivesParentIsKilled) {
    // The parent exits 0 at once; its daemonised child would keep running without the namespace.
    const sandbox_result r =
        run("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(30)\n");
    EXPECT_TRUE(r.passed);
    EXPECT_LT(r.seconds, 4.0);
}

TEST(Sandbox, HugeAllocationFails) {
    const sandbox_result r = run("x = bytearray(8 * 1024 ** 3)\nprint(len(x))\n");
    EXPECT_FALSE(r.passed);
    EXPECT_NE(r.output.find("MemoryError"), std::string::npos) << r.output;
}

TEST(Sandbox, WritingOutsideTheTempDirFails) {
    const std::string victim = "/tmp/kvsweep-sandbox-escape-test";
    std::filesystem::remove(victim);
    const sandbox_result r = run("open('" + victim + "', 'w').write('x')\n");
    EXPECT_FALSE(r.passed);
    EXPECT_FALSE(std::filesystem::exists(victim));
    for (const char* path :
         {"/work/sandbox-escape", "/dev/shm/sandbox-escape", "/root/sandbox-escape"}) {
        EXPECT_FALSE(run(std::string("open('") + path + "', 'w').write('x')\n").passed) << path;
        EXPECT_FALSE(std::filesystem::exists(path)) << path;
    }
    // Inside its own directory it may write, up to RLIMIT_FSIZE.
    EXPECT_TRUE(run("open('ok.txt', 'w').write('x' * 1000)\n").passed);
    EXPECT_FALSE(run("open('big.bin', 'wb').write(b'x' * (64 << 20))\n").passed);
}

TEST(Sandbox, NetworkIsUnreachable) {
    const sandbox_result r =
        run("import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=1)\n");
    EXPECT_FALSE(r.passed);
    EXPECT_LT(r.seconds, 4.0);
    // Only a downed loopback exists: even a server inside the sandbox cannot be reached.
    const sandbox_result local =
        run("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
            "socket.create_connection(s.getsockname(), timeout=1)\n");
    EXPECT_FALSE(local.passed);
    EXPECT_NE(local.output.find("unreachable"), std::string::npos) << local.output;
}

TEST(Sandbox, OutputIsTruncated) {
    sandbox_options o;
    o.output_limit = 100;
    const sandbox_result r = sandbox_run_python("print('x' * 100000)\n", o);
    EXPECT_TRUE(r.passed);
    EXPECT_EQ(r.output.size(), 100u);
}

TEST(Sandbox, StdinIsClosed) {
    const sandbox_result r = run("import sys\nassert sys.stdin.read() == ''\n");
    EXPECT_TRUE(r.passed) << r.output;
}

TEST(Sandbox, SetupFailureIsAnErrorNotAFailedProgram) {
    sandbox_options o;
    o.python = "/nonexistent/python3";
    try {
        sandbox_run_python("print(1)\n", o);
        ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("exec python: errno 2"), std::string::npos)
            << e.what();
    }
}
