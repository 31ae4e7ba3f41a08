#include "mpi_runner/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "mpi_runner/journal.h"

using json = nlohmann::json;

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// FullKV sorts first so it leads every table; the rest alphabetically (independent of run order).
bool method_less(const std::string& a, const std::string& b) {
    if ((a == "fullkv") != (b == "fullkv")) return a == "fullkv";
    return a < b;
}

struct group_key {
    std::string model, task;
    int32_t shots;
    std::string method;
    double ratio;
    std::string metric;
    bool operator<(const group_key& o) const {
        if (model != o.model) return model < o.model;
        if (task != o.task) return task < o.task;
        if (shots != o.shots) return shots < o.shots;
        if (method != o.method) return method_less(method, o.method);
        if (ratio != o.ratio) return ratio > o.ratio;
        return metric < o.metric;
    }
};

struct group_acc {
    std::vector<double> values;
    double kept = 0;
    double tokens = 0;
    double seconds = 0;
    bool headline = false;
};

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string xml_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

// Rows of one (model, task, shots) with the headline metric, in table order.
struct task_table {
    std::string model, task, metric;
    int32_t shots = -1;
    std::vector<const result_row*> rows;
};

std::vector<task_table> headline_tables(const std::vector<result_row>& rows) {
    std::vector<task_table> out;
    for (const auto& r : rows) {
        if (!r.headline) continue;
        if (out.empty() || out.back().model != r.model || out.back().task != r.task ||
            out.back().shots != r.shots)
            out.push_back({r.model, r.task, r.metric, r.shots, {}});
        out.back().rows.push_back(&r);
    }
    return out;
}

} // namespace

void wilson_interval(double p, int64_t n, double& low, double& high) {
    if (n <= 0) {
        low = 0;
        high = 1;
        return;
    }
    const double z = 1.959963984540054, z2 = z * z, nn = (double)n;
    p = std::clamp(p, 0.0, 1.0);
    const double denom = 1 + z2 / nn;
    const double center = (p + z2 / (2 * nn)) / denom;
    const double half = z / denom * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    low = std::max(0.0, center - half);
    high = std::min(1.0, center + half);
}

std::vector<result_row> report_aggregate(const std::vector<json>& records_in) {
    // Sum in a canonical record order so the floating-point results do not depend on which rank
    // finished first.
    std::vector<const json*> records;
    for (const auto& r : records_in) records.push_back(&r);
    std::sort(records.begin(), records.end(), [](const json* a, const json* b) {
        return std::make_tuple((*a)["item_index"].get<int64_t>(), record_key(*a)) <
               std::make_tuple((*b)["item_index"].get<int64_t>(), record_key(*b));
    });
    std::map<group_key, group_acc> groups;
    for (const json* rp : records) {
        const json& r = *rp;
        std::vector<std::pair<std::string, double>> metrics;
        for (const auto& [name, v] : r.at("scores").items())
            if (v.is_number()) metrics.push_back({name, v.get<double>()});
        if (r.contains("fidelity")) {
            const json& f = r["fidelity"];
            if (f.contains("match_fullkv")) metrics.push_back({"fidelity_match", f["match_fullkv"].get<bool>() ? 1.0 : 0.0});
            if (f.contains("mean_kl") && f["mean_kl"].is_number())
                metrics.push_back({"fidelity_kl", f["mean_kl"].get<double>()});
        }
        const std::string headline = r.value("headline_metric", "");
        const json timing = r.value("timing", json::object());
        for (const auto& [metric, v] : metrics) {
            group_key k{r.at("model"), r.at("task"), r.value("shots", -1), r.at("method"),
                        r.at("ratio").get<double>(), metric};
            group_acc& g = groups[k];
            g.values.push_back(v);
            g.kept += r.value("kept_fraction", 1.0);
            g.tokens += r.value("generated_tokens", 0.0);
            g.seconds += timing.value("prefill_s", 0.0) + timing.value("decode_s", 0.0);
            g.headline = metric == headline;
        }
    }
    std::vector<result_row> rows;
    std::map<std::tuple<std::string, std::string, int32_t, std::string>, double> fullkv;
    for (const auto& [k, g] : groups) {
        result_row row;
        row.model = k.model;
        row.task = k.task;
        row.shots = k.shots;
        row.method = k.method;
        row.ratio = k.ratio;
        row.metric = k.metric;
        row.n = (int64_t)g.values.size();
        double sum = 0;
        for (double v : g.values) sum += v;
        row.value = sum / (double)row.n;
        double ss = 0;
        for (double v : g.values) ss += (v - row.value) * (v - row.value);
        row.stderr_mean = row.n > 1 ? std::sqrt(ss / (double)(row.n - 1) / (double)row.n) : 0.0;
        const bool proportion = std::all_of(g.values.begin(), g.values.end(),
                                            [](double v) { return v >= 0 && v <= 1; });
        if (proportion) {
            wilson_interval(row.value, row.n, row.ci_low, row.ci_high);
        } else { // unbounded metrics (KL): normal interval
            row.ci_low = row.value - 1.959963984540054 * row.stderr_mean;
            row.ci_high = row.value + 1.959963984540054 * row.stderr_mean;
        }
        row.kept_fraction = g.kept / (double)row.n;
        row.tokens_per_s = g.seconds > 0 ? g.tokens / g.seconds : 0.0;
        row.headline = g.headline;
        if (k.method == "fullkv") fullkv[{k.model, k.task, k.shots, k.metric}] = row.value;
        rows.push_back(row);
    }
    for (auto& row : rows) {
        auto it = fullkv.find({row.model, row.task, row.shots, row.metric});
        if (it != fullkv.end() && it->second != 0) {
            row.delta_pct = (row.value - it->second) / it->second * 100.0;
            row.has_delta = true;
        }
    }
    return rows;
}

std::string report_csv(const std::vector<result_row>& rows) {
    std::string out = "model,task,shots,method,ratio,metric,value,stderr,ci_low,ci_high,n,"
                      "delta_pct,kept_fraction,tokens_per_s\n";
    for (const auto& r : rows) {
        out += csv_field(r.model) + "," + csv_field(r.task) + "," + std::to_string(r.shots) + "," +
               csv_field(r.method) + "," + fmt("%.6g", r.ratio) + "," + csv_field(r.metric) + "," +
               fmt("%.6f", r.value) + "," + fmt("%.6f", r.stderr_mean) + "," +
               fmt("%.6f", r.ci_low) + "," + fmt("%.6f", r.ci_high) + "," + std::to_string(r.n) +
               "," + (r.has_delta ? fmt("%.4f", r.delta_pct) : std::string()) + "," +
               fmt("%.6f", r.kept_fraction) + "," + fmt("%.2f", r.tokens_per_s) + "\n";
    }
    return out;
}

std::string report_summary_md(const std::vector<result_row>& rows) {
    std::string out = "# Sweep summary\n\nValues are means over items of the task's headline "
                      "metric; in brackets the relative change against FullKV "
                      "(Equation 1: (P - P_FullKV) / P_FullKV). Ratio = fraction of prompt KV "
                      "kept.\n";
    for (const auto& t : headline_tables(rows)) {
        std::vector<std::string> methods;
        std::set<double, std::greater<double>> ratios;
        const result_row* full = nullptr;
        std::map<std::pair<std::string, double>, const result_row*> cell;
        for (const result_row* r : t.rows) {
            if (r->method == "fullkv") {
                full = r;
                continue;
            }
            if (std::find(methods.begin(), methods.end(), r->method) == methods.end())
                methods.push_back(r->method);
            ratios.insert(r->ratio);
            cell[{r->method, r->ratio}] = r;
        }
        out += "\n## " + t.model + " / " + t.task +
               (t.shots >= 0 ? " (" + std::to_string(t.shots) + "-shot)" : std::string()) +
               " — " + t.metric + "\n\n";
        if (full)
            out += "FullKV: " + fmt("%.4f", full->value) + " (n = " + std::to_string(full->n) +
                   ", 95% CI " + fmt("%.4f", full->ci_low) + "–" + fmt("%.4f", full->ci_high) +
                   ")\n\n";
        if (methods.empty()) continue;
        out += "| ratio |";
        for (const auto& m : methods) out += " " + m + " |";
        out += " Average |\n|---|";
        for (size_t i = 0; i <= methods.size(); ++i) out += "---|";
        out += "\n";
        auto with_delta = [&](double v) {
            std::string s = fmt("%.4f", v);
            if (full && full->value != 0)
                s += " (" + fmt("%+.1f", (v - full->value) / full->value * 100.0) + "%)";
            return s;
        };
        for (double ratio : ratios) {
            out += "| " + fmt("%.0f", ratio * 100) + "% |";
            double sum = 0;
            int count = 0;
            for (const auto& m : methods) {
                auto it = cell.find({m, ratio});
                if (it == cell.end()) {
                    out += " – |";
                    continue;
                }
                out += " " + with_delta(it->second->value) + " |";
                sum += it->second->value;
                ++count;
            }
            // The paper's Average column: mean of the method scores at that ratio.
            out += (count == (int)methods.size() ? " " + with_delta(sum / count) + " |"
                                                 : std::string(" – |")) + "\n";
        }
    }
    return out;
}

std::string report_plot_svg(const std::vector<result_row>& rows) {
    const auto tables = headline_tables(rows);
    const int panel_w = 440, panel_h = 320, cols = std::max(1, std::min(2, (int)tables.size()));
    const int n_rows = std::max(1, ((int)tables.size() + cols - 1) / cols);
    const int ml = 56, mr = 130, mt = 34, mb = 44; // margins; legend on the right
    const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                             "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << panel_w * cols << "\" height=\""
      << panel_h * n_rows << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    for (size_t ti = 0; ti < tables.size(); ++ti) {
        const task_table& t = tables[ti];
        const int ox = (int)(ti % cols) * panel_w, oy = (int)(ti / cols) * panel_h;
        const int pw = panel_w - ml - mr, ph = panel_h - mt - mb;
        double lo = 1, hi = 0;
        for (const result_row* r : t.rows) {
            lo = std::min(lo, r->value);
            hi = std::max(hi, r->value);
        }
        lo = std::max(0.0, std::floor(lo * 10 - 1e-9) / 10);
        hi = std::min(1.0, std::ceil(hi * 10 + 1e-9) / 10);
        if (hi <= lo) hi = std::min(1.0, lo + 0.1), lo = hi - 0.1;
        auto px = [&](double ratio) { return ox + ml + ratio * pw; };
        auto py = [&](double v) { return oy + mt + (1 - (v - lo) / (hi - lo)) * ph; };
        s << "<text x=\"" << ox + ml << "\" y=\"" << oy + 20 << "\" font-size=\"13\">"
          << xml_escape(t.model + " / " + t.task + " — " + t.metric) << "</text>\n";
        s << "<rect x=\"" << ox + ml << "\" y=\"" << oy + mt << "\" width=\"" << pw
          << "\" height=\"" << ph << "\" fill=\"none\" stroke=\"#333\"/>\n";
        for (int i = 0; i <= 10; i += 2) {
            const double x = px(i / 10.0);
            s << "<line x1=\"" << x << "\" y1=\"" << oy + mt + ph << "\" x2=\"" << x << "\" y2=\""
              << oy + mt + ph + 4 << "\" stroke=\"#333\"/><text x=\"" << x << "\" y=\""
              << oy + mt + ph + 16 << "\" text-anchor=\"middle\">" << i * 10 << "%</text>\n";
        }
        for (int i = 0; i <= 4; ++i) {
            const double v = lo + (hi - lo) * i / 4, y = py(v);
            s << "<line x1=\"" << ox + ml - 4 << "\" y1=\"" << y << "\" x2=\"" << ox + ml + pw
              << "\" y2=\"" << y << "\" stroke=\"#ddd\"/><text x=\"" << ox + ml - 6 << "\" y=\""
              << y + 4 << "\" text-anchor=\"end\">" << fmt("%.2f", v) << "</text>\n";
        }
        s << "<text x=\"" << ox + ml + pw / 2 << "\" y=\"" << oy + panel_h - 8
          << "\" text-anchor=\"middle\">KV kept (ratio)</text>\n";
        std::vector<std::string> methods;
        for (const result_row* r : t.rows)
            if (std::find(methods.begin(), methods.end(), r->method) == methods.end())
                methods.push_back(r->method);
        int legend = 0;
        for (size_t mi = 0; mi < methods.size(); ++mi) {
            const std::string& m = methods[mi];
            const char* color = m == "fullkv" ? "#000" : palette[mi % std::size(palette)];
            const double ly = oy + mt + 8 + 16 * legend++;
            if (m == "fullkv") {
                // FullKV has one value: a dashed reference line across the whole range.
                for (const result_row* r : t.rows)
                    if (r->method == m)
                        s << "<line x1=\"" << px(0) << "\" y1=\"" << py(r->value) << "\" x2=\""
                          << px(1) << "\" y2=\"" << py(r->value)
                          << "\" stroke=\"#000\" stroke-dasharray=\"6,4\"/>\n";
                s << "<line x1=\"" << ox + ml + pw + 10 << "\" y1=\"" << ly << "\" x2=\""
                  << ox + ml + pw + 30 << "\" y2=\"" << ly
                  << "\" stroke=\"#000\" stroke-dasharray=\"6,4\"/>";
            } else {
                s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.8\" points=\"";
                for (const result_row* r : t.rows)
                    if (r->method == m) s << px(r->ratio) << "," << py(r->value) << " ";
                s << "\"/>\n";
                for (const result_row* r : t.rows)
                    if (r->method == m)
                        s << "<circle cx=\"" << px(r->ratio) << "\" cy=\"" << py(r->value)
                          << "\" r=\"2.5\" fill=\"" << color << "\"/>";
                s << "\n<line x1=\"" << ox + ml + pw + 10 << "\" y1=\"" << ly << "\" x2=\""
                  << ox + ml + pw + 30 << "\" y2=\"" << ly << "\" stroke=\"" << color
                  << "\" stroke-width=\"2\"/>";
            }
            s << "<text x=\"" << ox + ml + pw + 34 << "\" y=\"" << ly + 4 << "\">"
              << xml_escape(m) << "</text>\n";
        }
    }
    s << "</svg>\n";
    return s.str();
}

void write_file_atomic(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error(tmp + ": cannot write");
        out << text;
        if (!out.flush()) throw std::runtime_error(tmp + ": write failed");
    }
    std::filesystem::rename(tmp, path);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int64_t report_write_dir(const std::string& dir) {
    const journal_contents j = journal_read(dir + "/journal.jsonl");
    const auto rows = report_aggregate(j.records);
    write_file_atomic(dir + "/results.csv", report_csv(rows));
    write_file_atomic(dir + "/summary.md", report_summary_md(rows));
    write_file_atomic(dir + "/plot.svg", report_plot_svg(rows));
    return (int64_t)j.records.size();
}
