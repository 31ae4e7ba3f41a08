#include "mpi_runner/journal.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

using json = nlohmann::json;

std::string record_key(const std::string& model, const std::string& task, const std::string& item,
                       const std::string& method, const std::string& ratio) {
    // A JSON array cannot be ambiguous whatever characters the ids hold.
    return json::array({model, task, item, method, ratio}).dump();
}

std::string record_key(const json& r) {
    try {
        return record_key(r.at("model").get<std::string>(), r.at("task").get<std::string>(),
                          r.at("item").get<std::string>(), r.at("method").get<std::string>(),
                          r.at("ratio_text").get<std::string>());
    } catch (const json::exception& e) {
        throw std::runtime_error(std::string("record lacks a key field: ") + e.what());
    }
}

json record_stable_part(const json& record) {
    json r = record;
    r.erase("timing");
    r.erase("rank");
    r.erase("config_hash");
    return r;
}

journal_contents journal_read(const std::string& path) {
    journal_contents out;
    std::ifstream in(path, std::ios::binary);
    if (!in) return out;
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    std::set<std::string> keys;
    size_t at = 0;
    int64_t line_no = 0;
    while (at < text.size()) {
        ++line_no;
        const size_t nl = text.find('\n', at);
        const bool complete = nl != std::string::npos;
        const std::string line = text.substr(at, complete ? nl - at : std::string::npos);
        const size_t next = complete ? nl + 1 : text.size();
        json rec;
        std::string problem;
        if (!complete) {
            problem = "line without its newline";
        } else {
            try {
                rec = json::parse(line);
                record_key(rec);
            } catch (const std::exception& e) {
                problem = e.what();
            }
        }
        if (!problem.empty()) {
            // A kill during an append can only damage the last line.
            if (next == text.size()) {
                out.torn_tail = true;
                return out;
            }
            throw std::runtime_error(path + ":" + std::to_string(line_no) + ": corrupt record (" +
                                     problem + ")");
        }
        if (!keys.insert(record_key(rec)).second)
            throw std::runtime_error(path + ":" + std::to_string(line_no) + ": duplicate record " +
                                     record_key(rec));
        out.records.push_back(std::move(rec));
        at = next;
        out.valid_bytes = (int64_t)next;
    }
    return out;
}

journal_writer::journal_writer(const std::string& p) : path(p) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        throw std::runtime_error(path + ": cannot open journal for appending: " + strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        fd = -1;
        throw std::runtime_error(path + ": another kvsweep run is writing this journal; wait for it "
                                        "to end (or stop it) before resuming");
    }
}

void journal_writer::truncate(int64_t valid_bytes) {
    if (::ftruncate(fd, valid_bytes) != 0 || ::fsync(fd) != 0)
        throw std::runtime_error(path + ": cannot truncate torn tail: " + strerror(errno));
}

journal_writer::~journal_writer() { close(); }

void journal_writer::append(const std::vector<std::string>& lines) {
    // One write per batch, so a kill leaves at most one torn line at the very end.
    std::string buf;
    for (const auto& l : lines) buf += l + "\n";
    size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error(path + ": write failed: " + strerror(errno));
        done += (size_t)n;
    }
    if (::fsync(fd) != 0) throw std::runtime_error(path + ": fsync failed: " + strerror(errno));
}

void journal_writer::close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
}
