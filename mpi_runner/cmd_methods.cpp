// kvsweep methods: the registry names configs refer to, with each method's default parameters
// and each task's headline metric.
#include <cstdio>
#include <exception>

#include "compression/compressor.h"
#include "mpi_runner/commands.h"
#include "tasks/task.h"

int cmd_methods(int argc, char** argv) {
    (void)argv;
    if (argc != 0) {
        std::fprintf(stderr, "usage: kvsweep methods\n");
        return 2;
    }
    try {
        std::printf("methods (name: default params):\n");
        for (const auto& name : compressor_names())
            std::printf("  %-14s %s\n", name.c_str(), compressor_create(name, nlohmann::json::object())->params().dump().c_str());
        std::printf("tasks (name: headline metric):\n");
        for (const auto& name : task_names())
            std::printf("  %-22s %s\n", name.c_str(), task_get(name).headline_metric.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvsweep methods: %s\n", e.what());
        return 1;
    }
}
