// The journal of a run: journal.jsonl, one JSON record per finished (item, method, ratio).
// It is the source of truth: only rank 0 appends, every append is followed by fsync, reports are
// rebuilt from it, and --resume skips the keys it holds. A kill can leave a torn last line, which
// journal_read drops (and, when repairing, truncates away); damage anywhere else is an error.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// The identity of a record: model, task label, item id, method label, ratio text.
std::string record_key(const nlohmann::json& record);
std::string record_key(const std::string& model, const std::string& task, const std::string& item,
                       const std::string& method, const std::string& ratio);

// The record without the fields that legitimately differ between runs of the same sweep
// (timings, the rank that ran it, the config hash of a split job).
nlohmann::json record_stable_part(const nlohmann::json& record);

struct journal_contents {
    std::vector<nlohmann::json> records;
    int64_t valid_bytes = 0;   // length of the file up to the end of the last good line
    bool torn_tail = false;    // a partial/corrupt last line was found after valid_bytes
};

// Reads a journal; a missing file is empty. Throws std::runtime_error "path:line: ..." for a
// corrupt line that is not the last, or for a duplicate key.
journal_contents journal_read(const std::string& path);

// Appends records to a journal and makes them durable before returning.
struct journal_writer {
    journal_writer() = default;
    // Opens (creating) and locks the journal for appending: two runs appending to one journal
    // would write the same keys twice. Throws naming the path when another run holds the lock.
    // Lock before journal_read, so what was read stays the whole journal.
    explicit journal_writer(const std::string& path);
    ~journal_writer();
    journal_writer(const journal_writer&) = delete;
    journal_writer& operator=(const journal_writer&) = delete;

    // Drops a torn tail: cuts the file to journal_read's valid_bytes.
    void truncate(int64_t valid_bytes);
    void append(const std::vector<std::string>& lines); // each a one-line JSON text, no '\n'
    void close();

    std::string path;
    int fd = -1;
};
