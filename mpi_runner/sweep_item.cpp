#include "mpi_runner/sweep_item.h"

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/chat_template.h"
#include "engine/model_file.h"
#include "engine/tp.h"
#include "engine/weights.h"
#include "engine/tokenizer.h"
#include "mpi_runner/fork_decode.h"
#include "mpi_runner/safety_judge_model.h"

using json = nlohmann::json;

config_registry sweep_registry() {
    config_registry r;
    r.tasks = task_names();
    r.methods = compressor_names();
    r.chat_templates = chat_template_names();
    r.check_method = [](const method_spec& m) { compressor_create(m.name, m.params); };
    r.check_model = [](const model_spec& m) {
        if (!std::filesystem::exists(m.path))
            throw std::invalid_argument("model not found: " + m.path);
    };
    r.check_tp = sweep_check_tp;
    return r;
}

void sweep_check_tp(const sweep_config& c) {
    const std::string tp = std::to_string(c.tp);
    for (size_t i = 0; i < c.models.size(); ++i) {
        const model_spec& s = c.models[i];
        const std::string what = "model " + s.name + " (models[" + std::to_string(i) + "])";
        const model_config mc = model_file_open(s.path).config; // metadata only
        tp_check(mc, c.tp, what);
        // A column slice holds (n_heads / tp) * head_dim or hidden_dim / tp columns; when those
        // do not fill whole Q8_0 blocks the engine keeps the slice in F32 and results would differ
        // from tp = 1.
        const weight_type w = weight_type_from_name(s.weights);
        for (const int64_t cols : {(int64_t)mc.n_heads * mc.head_dim, (int64_t)mc.hidden_dim})
            if (weight_type_fits(w, cols) != weight_type_fits(w, cols / c.tp))
                throw std::invalid_argument(what + ": tp = " + tp + " splits " + std::to_string(cols) +
                                            " columns into slices of " + std::to_string(cols / c.tp) +
                                            ", which " + s.weights + " cannot hold (blocks of 32)");
    }
    for (size_t i = 0; i < c.methods.size(); ++i)
        if (compressor_create(c.methods[i].name, c.methods[i].params)->needs().drops_prefill_rows)
            throw std::invalid_argument(
                "tp = " + tp + ": method " + c.methods[i].label + " (methods[" + std::to_string(i) +
                "], " + c.methods[i].name + ") drops prompt rows inside the prefill, which the engine "
                "does not support under tensor parallelism; run it in a job with parallel.tp = 1");
}

sweep_runtime sweep_runtime_init(const sweep_config& c, int rank) {
    sweep_runtime rt;
    rt.config = &c;
    rt.rank = rank;
    for (size_t i = 0; i < c.models.size(); ++i) {
        const model_spec& m = c.models[i];
        if (m.chat_template != "auto") {
            rt.chat_templates.push_back(m.chat_template);
            continue;
        }
        try {
            rt.chat_templates.push_back(model_file_open(m.path).chat_template_name);
        } catch (const std::exception& e) {
            throw std::invalid_argument("models[" + std::to_string(i) + "].path: " + e.what());
        }
    }
    for (const auto& m : c.methods) rt.methods.push_back(compressor_create(m.name, m.params));
    return rt;
}

task_options sweep_task_options(const sweep_runtime& rt, int32_t model, int32_t task) {
    const task_spec& t = rt.config->tasks[task];
    task_options o;
    o.data_dir = t.data_dir;
    o.shots = t.shots;
    o.limit = t.limit;
    o.items_file = t.items_file;
    o.instruct = rt.chat_templates[model] != "plain";
    o.params = t.params;
    return o;
}

const std::vector<task_item>& sweep_items(sweep_runtime& rt, int32_t model, int32_t task) {
    auto it = rt.items.find({model, task});
    if (it != rt.items.end()) return it->second;
    const task_def& def = task_get(rt.config->tasks[task].name);
    try {
        return rt.items[{model, task}] = def.load(sweep_task_options(rt, model, task));
    } catch (const std::exception& e) {
        throw std::runtime_error("tasks[" + std::to_string(task) + "] (" + def.name + "): " + e.what());
    }
}

namespace {

void ensure_model(sweep_runtime& rt, int32_t index) {
    if (rt.model_index == index) return;
    rt.loaded.reset(); // one model in memory at a time
    const model_spec& s = rt.config->models[index];
    load_options lo;
    lo.weights = weight_type_from_name(s.weights);
    lo.tp = rt.tp;
    const auto t0 = std::chrono::steady_clock::now();
    rt.loaded = model_load(s.path, lo);
    rt.model_index = index;
    spdlog::info("loaded model {} ({}) in {:.2f} s", s.name, s.path,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// Index of the first token where two generations differ; -1 when identical.
int32_t first_divergence(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return (int32_t)i;
    return a.size() == b.size() ? -1 : (int32_t)n;
}

} // namespace

unit_result sweep_run_unit(sweep_runtime& rt, const work_unit& unit) {
    const auto t_unit = std::chrono::steady_clock::now();
    const sweep_config& c = *rt.config;
    ensure_model(rt, unit.model);
    if (rt.leader && !c.judge_model.empty() && !rt.judge) {
        try {
            rt.judge = safety_judge_model_install(c.judge_model, c.judge_weights);
        } catch (const std::exception& e) {
            throw std::runtime_error(std::string("safety.judge_model: ") + e.what());
        }
    }
    const model& m = *rt.loaded;
    const tokenizer& tok = model_get_tokenizer(m);
    const task_spec& ts = c.tasks[unit.task];
    const task_def& def = task_get(ts.name);
    const task_options opts = sweep_task_options(rt, unit.model, unit.task);
    const std::vector<task_item>& items = sweep_items(rt, unit.model, unit.task);
    if (unit.item < 0 || unit.item >= (int32_t)items.size() || items[unit.item].id != unit.item_id)
        throw std::runtime_error("item " + unit.item_id + " of task " + ts.label +
                                 " not found at index " + std::to_string(unit.item) +
                                 " on this rank (do all ranks see the same task data?)");
    const task_item& item = items[unit.item];

    const auto segments = chat_apply(rt.chat_templates[unit.model], item.prompt);
    const tokenized_prompt prompt = tokenizer_encode_segments(tok, segments, tokenizer_add_bos(tok));
    const generation_settings gen = def.generation(opts);
    fork_request req;
    req.m = &m;
    req.tok = &tok;
    req.prompt = &prompt;
    req.max_new_tokens = c.max_new_tokens > 0 ? c.max_new_tokens : gen.max_new_tokens;
    req.stop = gen.stop;
    req.stop.insert(req.stop.end(), c.stop.begin(), c.stop.end());
    req.kl = c.fidelity_kl;
    req.tp = rt.tp;

    // FullKV is always decoded (fork 0): it is the fidelity reference even when its own record
    // is already in the journal.
    const std::vector<sweep_point> points = c.points();
    std::vector<int32_t> run_points = {0};
    for (int32_t p : unit.points)
        if (p != 0) run_points.push_back(p);
    std::vector<fork_spec> forks;
    for (int32_t p : run_points) {
        const sweep_point& sp = points[p];
        forks.push_back({sp.method < 0 ? nullptr : rt.methods[sp.method].get(), sp.ratio, false});
    }
    std::vector<fork_result> res;
    try {
        res = fork_decode(req, forks);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string(e.what()) + " (prompt of " +
                                 std::to_string(prompt.tokens.size()) + " tokens)");
    }

    unit_result out;
    out.unit = unit.unit;
    out.rank = rt.rank;
    if (!rt.leader) return out;
    for (const auto& r : res) out.generated_tokens += (int64_t)r.tokens.size();
    for (int32_t p : unit.points) {
        const size_t f = (size_t)(std::find(run_points.begin(), run_points.end(), p) - run_points.begin());
        const fork_result& r = res[f];
        const sweep_point& sp = points[p];
        const task_score sc = def.score(item, r.text, opts);
        json fidelity = {{"match_fullkv", r.tokens == res[0].tokens},
                         {"first_divergence", first_divergence(res[0].tokens, r.tokens)}};
        if (c.fidelity_kl) fidelity["mean_kl"] = r.mean_kl;
        json rec = {{"model", c.models[unit.model].name},
                    {"task", ts.label},
                    {"task_name", ts.name},
                    {"dataset", def.dataset},
                    {"shots", ts.shots},
                    {"item", item.id},
                    {"item_index", unit.item},
                    {"method", c.point_method(sp)},
                    {"method_name", sp.method < 0 ? "fullkv" : c.methods[sp.method].name},
                    {"ratio", sp.ratio},
                    {"ratio_text", ratio_text(sp.ratio)},
                    {"config_hash", c.hash},
                    {"output", r.text},
                    {"stop_reason", r.stop_reason},
                    {"extracted", sc.extracted},
                    {"scores", sc.scores},
                    {"headline_metric", def.headline_metric},
                    {"gold", item.gold},
                    {"prompt_tokens", (int64_t)prompt.tokens.size()},
                    {"generated_tokens", (int64_t)r.tokens.size()},
                    {"kept_per_layer", r.kept_per_layer},
                    {"kept_fraction", r.kept_fraction},
                    {"kv_bytes_prefill", r.kv_bytes_prefill},
                    {"kv_bytes_final", r.kv_bytes_final},
                    {"fidelity", fidelity},
                    {"timing", {{"prefill_s", r.prefill_s}, {"decode_s", r.decode_s}}},
                    {"rank", rt.rank}};
        // Generated text can end inside a UTF-8 character: replace, never fail the record.
        out.records.push_back(rec.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    out.busy_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_unit).count();
    return out;
}
