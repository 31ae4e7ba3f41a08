#include "mpi_runner/run_dir.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <unistd.h>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "mpi_runner/report.h"

namespace fs = std::filesystem;

void run_dir_prepare(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(fs::path(dir) / "logs", ec);
    if (ec) throw std::invalid_argument("output.dir: " + dir + ": cannot create: " + ec.message());
    // create_directories succeeds on an existing read-only folder; only writing proves access.
    const std::string probe = dir + "/.write-test";
    if (access(dir.c_str(), W_OK) != 0)
        throw std::invalid_argument("output.dir: " + dir + ": not writable: " + strerror(errno));
    try {
        write_file_atomic(probe, "");
    } catch (const std::exception& e) {
        throw std::invalid_argument("output.dir: " + dir + ": not writable (" + e.what() + ")");
    }
    fs::remove(probe, ec);
}

void run_dir_open_log(const std::string& dir, int rank) {
    auto logger = spdlog::basic_logger_mt("rank-" + std::to_string(rank),
                                          dir + "/logs/rank-" + std::to_string(rank) + ".log");
    logger->flush_on(spdlog::level::info);
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    spdlog::set_default_logger(logger);
}

nlohmann::json run_dir_read_config(const std::string& dir) {
    const std::string path = dir + "/config.json";
    try {
        return nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": invalid JSON: " + e.what());
    }
}
