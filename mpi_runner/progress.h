// Progress of a sweep on rank 0: items done / total, records/s, generated tokens/s and ETA.
// A live bar redrawn in place on a terminal; plain periodic lines otherwise (Slurm logs).
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

struct progress_meter {
    progress_meter(int64_t total_items, int64_t total_records, double interval_s, FILE* out);

    void add(int64_t items, int64_t records, int64_t tokens);
    void tick();   // prints when due (every 0.5 s on a terminal, every interval_s otherwise)
    void finish(); // final line
    std::string line() const;

    int64_t total_items, total_records;
    int64_t items = 0, records = 0, tokens = 0;
    double interval_s;
    FILE* out;
    bool tty;
    std::chrono::steady_clock::time_point start, last_print;
};
