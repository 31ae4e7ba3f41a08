#include "mpi_runner/progress.h"

#include <unistd.h>

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string hms(double s) {
    if (!(s >= 0) || s > 1e8) return "--:--:--";
    char buf[32];
    const long t = (long)(s + 0.5);
    std::snprintf(buf, sizeof buf, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    return buf;
}
} // namespace

progress_meter::progress_meter(int64_t total_items_, int64_t total_records_, double interval,
                               FILE* out_)
    : total_items(total_items_), total_records(total_records_), interval_s(interval), out(out_),
      tty(isatty(fileno(out_)) != 0), start(std::chrono::steady_clock::now()), last_print(start) {}

void progress_meter::add(int64_t n_items, int64_t n_records, int64_t n_tokens) {
    items += n_items;
    records += n_records;
    tokens += n_tokens;
}

std::string progress_meter::line() const {
    const double el = seconds_since(start);
    const double rec_s = el > 0 ? records / el : 0, tok_s = el > 0 ? tokens / el : 0;
    const double eta = records > 0 ? el * (double)(total_records - records) / records : -1;
    char buf[256];
    std::snprintf(buf, sizeof buf, "items %lld/%lld  records %lld/%lld  %.2f rec/s  %.1f tok/s  "
                  "elapsed %s  ETA %s", (long long)items, (long long)total_items,
                  (long long)records, (long long)total_records, rec_s, tok_s, hms(el).c_str(),
                  hms(eta).c_str());
    return buf;
}

void progress_meter::tick() {
    const double since = seconds_since(last_print);
    if (since < (tty ? 0.5 : interval_s)) return;
    last_print = std::chrono::steady_clock::now();
    if (tty) {
        const int width = 30;
        const int fill = total_records > 0 ? (int)(width * records / total_records) : width;
        std::fprintf(out, "\r[%s%s] %s\033[K", std::string(fill, '#').c_str(),
                     std::string(width - fill, '.').c_str(), line().c_str());
    } else {
        std::fprintf(out, "progress: %s\n", line().c_str());
    }
    std::fflush(out);
}

void progress_meter::finish() {
    std::fprintf(out, tty ? "\r%s\033[K\n" : "progress: %s\n", ("done: " + line()).c_str());
    std::fflush(out);
}
