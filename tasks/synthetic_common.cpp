#include "tasks/synthetic_common.h"

#include <numeric>
#include <stdexcept>

#include "tasks/task_data.h"

uint64_t synth_rng::next() {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t synth_rng::below(uint64_t n) { return next() % n; }

int32_t synth_rng::between(int32_t lo, int32_t hi) {
    return lo + static_cast<int32_t>(below(static_cast<uint64_t>(hi - lo + 1)));
}

synth_rng synth_item_rng(uint64_t seed, uint64_t tag, uint64_t index) {
    const uint64_t lcg = 6364136223846793005ull; // unsigned arithmetic wraps like synth.py's mask
    synth_rng r;
    r.state = (seed * lcg + tag) * lcg + index;
    return r;
}

const std::vector<std::string> SYNTH_NAMES = {"Ann",  "Ben", "Cara", "Dan",  "Eva",  "Finn", "Gina",
                                              "Hugo", "Ivy", "Jack", "Kate", "Leo",  "Mia",  "Nick",
                                              "Olga", "Paul", "Rosa", "Sam", "Tina", "Will"};
const std::vector<std::string> SYNTH_ITEMS = {"apples", "pens",  "books",  "cards", "eggs",
                                              "shells", "coins", "stamps", "toys",  "cups"};

std::vector<int32_t> synth_numbers(int32_t lo, int32_t hi) {
    std::vector<int32_t> v(static_cast<size_t>(hi - lo + 1));
    std::iota(v.begin(), v.end(), lo);
    return v;
}

static const std::string& pick(synth_rng& r, const std::vector<std::string>& v) { return v[r.below(v.size())]; }

synth_problem synth_arith_problem(synth_rng& r) {
    // Draw order is part of the format (FORMAT.md): kind, name, item, then the numbers.
    const uint64_t kind = r.below(4);
    const std::string name = pick(r, SYNTH_NAMES);
    const std::string item = pick(r, SYNTH_ITEMS);
    const std::string how_many = " How many " + item + " does " + name;
    auto s = [](int32_t v) { return std::to_string(v); };
    synth_problem p;
    std::string cot;
    if (kind == 0) {
        const int32_t a = r.between(2, 30), b = r.between(2, 20);
        p.answer = a + b;
        p.question = name + " has " + s(a) + " " + item + ". " + name + " buys " + s(b) + " more " + item + "." +
                     how_many + " have now?";
        cot = name + " has " + s(a) + " + " + s(b) + " = " + s(p.answer) + " " + item + ".";
    } else if (kind == 1) {
        const int32_t a = r.between(5, 30);
        const int32_t b = r.between(1, a - 1);
        const std::string other = pick(r, SYNTH_NAMES);
        p.answer = a - b;
        p.question = name + " has " + s(a) + " " + item + ". " + name + " gives " + s(b) + " " + item + " to " + other +
                     "." + how_many + " have now?";
        cot = name + " has " + s(a) + " - " + s(b) + " = " + s(p.answer) + " " + item + ".";
    } else if (kind == 2) {
        const int32_t a = r.between(2, 9), b = r.between(2, 9);
        p.answer = a * b;
        p.question = name + " buys " + s(a) + " boxes of " + item + ". Each box has " + s(b) + " " + item + "." +
                     how_many + " buy?";
        cot = name + " buys " + s(a) + " * " + s(b) + " = " + s(p.answer) + " " + item + ".";
    } else {
        const int32_t a = r.between(2, 20), b = r.between(2, 15);
        const int32_t sum = a + b;
        const int32_t c = r.between(1, sum - 1);
        const std::string other = pick(r, SYNTH_NAMES);
        p.answer = sum - c;
        p.question = name + " has " + s(a) + " " + item + ". " + name + " buys " + s(b) + " more " + item +
                     " and gives " + s(c) + " " + item + " to " + other + "." + how_many + " have now?";
        cot = name + " has " + s(a) + " + " + s(b) + " = " + s(sum) + " " + item + ". Then " + s(sum) + " - " + s(c) +
              " = " + s(p.answer) + ".";
    }
    p.cot = cot + " The answer is " + s(p.answer) + ".";
    return p;
}

int32_t synth_param(const task_options& options, const std::string& key, int32_t fallback, int32_t lo, int32_t hi) {
    const int32_t v = task_param_int(options, key, fallback);
    if (v < lo || v > hi)
        throw std::invalid_argument("params." + key + "=" + std::to_string(v) + " out of range [" + std::to_string(lo) +
                                    ", " + std::to_string(hi) + "]");
    return v;
}

synth_setup synth_read_setup(const task_options& options, const std::string& task_name, int32_t default_shots,
                             int32_t max_shots) {
    synth_setup s;
    s.seed = static_cast<uint64_t>(synth_param(options, "seed", SYNTH_DEFAULT_SEED, 0, INT32_MAX));
    s.n_items = options.limit < 0 ? SYNTH_DEFAULT_ITEMS : options.limit;
    s.shots = task_shot_count(options, default_shots, max_shots, task_name);
    return s;
}

task_item synth_make_item(const std::string& task_name, const std::string& system, uint64_t seed, int32_t index,
                          std::vector<text_segment> user, const std::string& answer, const std::string& gold) {
    task_item item;
    item.id = task_name + "-" + std::to_string(seed) + "-" + std::to_string(index);
    item.prompt.system = {{SEGMENT_SYSTEM, system, -1}};
    item.prompt.user = std::move(user);
    item.gold = gold;
    item.extra["answer"] = answer;
    return item;
}

std::vector<task_item> synth_select(std::vector<task_item> items, const task_options& options,
                                    const std::string& task_name) {
    task_options subset = options;
    subset.limit = -1; // already generated exactly `limit` items
    return task_select_items(std::move(items), subset, task_name);
}

std::string synth_extract_answer(const std::string& output) {
    static const std::string mark = "The answer is ";
    const size_t at = output.find(mark);
    if (at == std::string::npos) return "";
    const size_t from = at + mark.size();
    const size_t to = output.find_first_of(".\n", from);
    return text_trim(output.substr(from, to == std::string::npos ? std::string::npos : to - from));
}

task_score synth_score_single(const task_item& item, const std::string& output, const task_options&) {
    task_score s;
    const std::string got = synth_extract_answer(output);
    s.extracted["answer"] = got;
    s.scores["exact_match"] = got == item.gold ? 1.0 : 0.0;
    return s;
}

generation_settings synth_generation(int32_t max_new_tokens) {
    generation_settings g;
    g.max_new_tokens = max_new_tokens;
    g.stop = {"\n\n"};
    return g;
}
